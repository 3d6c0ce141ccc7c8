//! The HTTP harness of these tests: a request through a router and its answer ([`send`]), and
//! the portal as the account routes' tests drive it ([`Portal`]): the API router and layers the
//! functions and portal-local serve, on the test kit's app with a domain `portal_url` (for
//! passkeys) and two accounts, "kari" and "ola", with the password [`PASSWORD`]. Helpers that
//! only one subject needs stay in that subject's module (an `impl Portal` block of its own).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use portal_core::audit::AuditKind;
use portal_core::config::{Policy, Settings};
use portal_core::domain::{MobileNumber, Username};
use portal_core::services::sessions::LoginFactor;
use portal_core::store::sqlite::SqliteStore;
use portal_http::handlers::homeoffice::GatewayAuth;
use portal_http::routes::{api_router, with_common_layers, ApiState};
use portal_testkit::{PasskeyDevice, TestApp};
use serde_json::{json, Value};
use totp_rs::Totp;
use tower::ServiceExt;

/// The password of both accounts.
pub const PASSWORD: &str = "korrekt hest batteri stift";
/// The portal's origin: the passkeys' relying party.
pub const PORTAL: &str = "https://portal.example.test";
pub const KARI_MOBILE: &str = "+4791234567";
pub const OLA_MOBILE: &str = "+4791234568";
/// The home-office gateway's key.
pub const GATEWAY_KEY: &str = "the-gateway-key-123";

/// What the portal answered: the status, the JSON body (`Null` when there is none) and every
/// `Set-Cookie`.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub set_cookies: Vec<String>,
}

impl Answer {
    /// The problem document's `code` (empty when there is none).
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    /// The first `Set-Cookie`.
    pub fn set_cookie(&self) -> Option<&str> {
        self.set_cookies.first().map(String::as_str)
    }
}

/// `request` through `router`. A body that is there must be JSON.
pub async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let set_cookies = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
    };
    Answer {
        status,
        body,
        set_cookies,
    }
}

/// A request as the portal's pages send it: `token` as the bearer, `body` as JSON.
pub fn request(method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap()
}

/// The routes' state on `t`: a Buypass whose provider is down, the gateway's key [`GATEWAY_KEY`].
pub fn api_state(t: &TestApp) -> ApiState {
    ApiState::new(
        t.app.clone(),
        Arc::new(portal_testkit::unreachable_buypass()),
        GatewayAuth::key(GATEWAY_KEY).expect("a long enough key"),
    )
}

pub struct Portal {
    pub t: TestApp,
    pub router: Router,
}

impl Portal {
    pub async fn new() -> Self {
        Self::with_policy(Policy::default()).await
    }

    /// With `policy`, except that a forgotten-password answer is not held back to a minimum
    /// time (no test waits for it).
    pub async fn with_policy(policy: Policy) -> Self {
        let policy = Policy {
            forgot_password_min_response: std::time::Duration::ZERO,
            ..policy
        };
        Self::on(Arc::new(SqliteStore::in_memory().unwrap()), policy).await
    }

    /// On `store` (a counting one, say), with `policy` as given.
    pub async fn on(store: Arc<dyn portal_core::store::ItemStore>, policy: Policy) -> Self {
        let settings = Settings {
            portal_url: PORTAL.into(),
            ..Settings::default()
        };
        let t = TestApp::with_settings(store, policy, settings);
        t.account("kari", PASSWORD, KARI_MOBILE).await;
        t.account("ola", PASSWORD, OLA_MOBILE).await;
        let router = with_common_layers(api_router(api_state(&t)));
        Self { t, router }
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        send(&self.router, request(method, path, token, body)).await
    }

    /// `POST` from `token`'s session.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// `POST` without a session.
    pub async fn post_anonymous(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, None, Some(body)).await
    }

    /// `GET` from `token`'s session.
    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// `DELETE` from `token`'s session.
    pub async fn delete(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::DELETE, path, Some(token), Some(body)).await
    }

    /// The test clock's time.
    pub fn now(&self) -> i64 {
        self.t.clock.now_for_tests()
    }

    /// A session's access token, opened without a strong factor (as an SMS login opens it).
    pub async fn sms_session(&self, user: &str) -> String {
        let username = Username::parse(user).unwrap();
        self.t
            .app
            .open_session(&username, false, None)
            .await
            .unwrap()
            .access_token
    }

    /// A session's access token, opened by a login with `factor`.
    pub async fn session_with(&self, user: &str, factor: LoginFactor) -> String {
        let username = Username::parse(user).unwrap();
        self.t
            .app
            .open_session_with(&username, false, factor, None)
            .await
            .unwrap()
            .access_token
    }

    /// The password step of a login with `password`: its answer, whatever it is.
    pub async fn login_with(&self, user: &str, password: &str) -> Answer {
        self.post_anonymous("/v1/auth/login", json!({ "username": user, "password": password }))
            .await
    }

    /// The password step of a login: its answer, which must be a challenge.
    pub async fn login(&self, user: &str) -> Value {
        let answer = self.login_with(user, PASSWORD).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body
    }

    /// The passkey step of a login: `credential` for the challenge `challenge_id`.
    pub async fn verify_passkey(&self, challenge_id: &Value, credential: &Value) -> Answer {
        self.post_anonymous(
            "/v1/auth/passkey/verify",
            json!({ "challenge_id": challenge_id, "credential": credential }),
        )
        .await
    }

    /// "Send me an SMS instead" on the login challenge `challenge_id` (which must send it),
    /// then the code texted to `mobile`: the verification's answer.
    pub async fn sms_instead(&self, challenge_id: &Value, mobile: &str) -> Answer {
        let resent = self
            .post_anonymous("/v1/auth/sms/resend", json!({ "challenge_id": challenge_id }))
            .await;
        assert_eq!(resent.status, StatusCode::OK, "{}", resent.body);
        let code = self.last_code_to(mobile).unwrap();
        self.post_anonymous(
            "/v1/auth/sms/verify",
            json!({ "challenge_id": challenge_id, "code": code }),
        )
        .await
    }

    /// Enrols a passkey of `device` named `name` from `token`'s session (the password, the
    /// options, the device's attestation, the confirmation); returns its id.
    pub async fn enrol_passkey(&self, token: &str, device: &mut PasskeyDevice, name: &str) -> String {
        let started = self
            .post("/v1/account/passkeys", token, json!({ "password": PASSWORD }))
            .await;
        assert_eq!(started.status, StatusCode::OK, "{}", started.body);
        let credential = device.register(PORTAL, &started.body["options"]).unwrap();
        let confirmed = self
            .post(
                "/v1/account/passkeys/confirm",
                token,
                json!({
                    "registration_id": started.body["registration_id"],
                    "name": name,
                    "credential": credential,
                }),
            )
            .await;
        assert_eq!(confirmed.status, StatusCode::CREATED, "{}", confirmed.body);
        confirmed.body["id"].as_str().unwrap().to_owned()
    }

    /// [`Self::enrol_passkey`] from a new SMS session of `user`.
    pub async fn enrol_passkey_as(&self, user: &str, device: &mut PasskeyDevice, name: &str) -> String {
        let token = self.sms_session(user).await;
        self.enrol_passkey(&token, device, name).await
    }

    /// Enrols an authenticator app from `token`'s session; returns the user's app.
    pub async fn enrol_app(&self, token: &str) -> Totp {
        let started = self
            .post("/v1/account/totp", token, json!({ "password": PASSWORD }))
            .await;
        assert_eq!(started.status, StatusCode::OK, "{}", started.body);
        let app = portal_testkit::authenticator_app(started.body["secret"].as_str().unwrap()).unwrap();
        let confirmed = self
            .post(
                "/v1/account/totp/confirm",
                token,
                json!({ "code": self.app_code(&app) }),
            )
            .await;
        assert_eq!(confirmed.status, StatusCode::NO_CONTENT, "{}", confirmed.body);
        app
    }

    /// The app's code at the test clock.
    pub fn app_code(&self, app: &Totp) -> String {
        app.generate(self.now() as u64).to_string()
    }

    /// A code no step around the test clock matches.
    pub fn wrong_app_code(&self, app: &Totp) -> String {
        let now = self.now();
        let taken: Vec<String> = (-2..=2)
            .map(|k| app.generate((now + 30 * k) as u64).to_string())
            .collect();
        (0..).map(|n| format!("{n:06}")).find(|c| !taken.contains(c)).unwrap()
    }

    /// The code in the newest SMS to `mobile`.
    pub fn last_code_to(&self, mobile: &str) -> Option<String> {
        self.t
            .sms
            .last_code_to(&MobileNumber::parse(mobile).unwrap())
            .map(|code| code.expose().to_owned())
    }

    pub async fn step_up_options(&self, token: &str) -> Answer {
        self.call(Method::POST, "/v1/account/step-up/options", Some(token), None)
            .await
    }

    /// Steps `token`'s session up with `device`, one of the account's passkeys: the options,
    /// the device's assertion for them, and the step-up's answer.
    pub async fn step_up_with_passkey(&self, token: &str, device: &mut PasskeyDevice) -> Answer {
        let options = self.step_up_options(token).await;
        assert_eq!(options.status, StatusCode::OK, "{}", options.body);
        let credential = device.sign(PORTAL, &options.body["passkey"]).unwrap();
        self.post(
            "/v1/account/step-up",
            token,
            json!({ "challenge_id": options.body["challenge_id"], "credential": credential }),
        )
        .await
    }

    /// The kinds of `user`'s audit trail.
    pub async fn events(&self, user: &str) -> Vec<AuditKind> {
        let username = Username::parse(user).unwrap();
        let trail = self.t.app.repo.audit_trail(&username, self.now()).await.unwrap();
        trail.into_iter().map(|e| e.event).collect()
    }
}
