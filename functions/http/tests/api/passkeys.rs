//! Passkeys through the real HTTP routes (the router and layers the functions and portal-local
//! serve), with a software authenticator doing what the browser and the user's device do. The
//! tests are the attacks: replayed and misdirected assertions, a phishing origin, a cloned
//! authenticator, a removed passkey, enrolment without the password, and another user's ids.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use portal_core::audit::AuditKind;
use portal_core::config::{Policy, Settings};
use portal_core::domain::Username;
use portal_core::store::sqlite::SqliteStore;
use portal_http::handlers::homeoffice::GatewayAuth;
use portal_http::routes::{api_router, with_common_layers, ApiState};
use portal_testkit::{PasskeyDevice, TestApp};
use serde_json::{json, Value};
use tower::ServiceExt;

const PASSWORD: &str = "korrekt hest batteri stift";
const PORTAL: &str = "https://portal.example.test";

struct Portal {
    t: TestApp,
    router: axum::Router,
}

struct Answer {
    status: StatusCode,
    body: Value,
    set_cookie: Option<String>,
}

impl Portal {
    async fn new() -> Self {
        let settings = Settings {
            portal_url: PORTAL.into(),
            ..Settings::default()
        };
        let store = Arc::new(SqliteStore::in_memory().unwrap());
        let t = TestApp::with_settings(store, Policy::default(), settings);
        t.account("kari", PASSWORD, "+4791234567").await;
        t.account("ola", PASSWORD, "+4791234568").await;
        let state = ApiState::new(
            t.app.clone(),
            Arc::new(portal_testkit::unreachable_buypass()),
            GatewayAuth::key("the-gateway-key-123").unwrap(),
        );
        let router = with_common_layers(api_router(state));
        Self { t, router }
    }

    async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let set_cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Answer {
            status,
            body,
            set_cookie,
        }
    }

    /// A session's access token, by SMS code (the way an account without passkeys logs in).
    async fn token(&self, user: &str) -> String {
        let username = Username::parse(user).unwrap();
        self.t
            .app
            .open_session(&username, false, None)
            .await
            .unwrap()
            .access_token
    }

    /// Steps `token`'s session up with `device`, one of the account's passkeys: the options,
    /// the device's assertion for them, and the step-up's answer.
    async fn step_up(&self, token: &str, device: &mut PasskeyDevice) -> Answer {
        let options = self
            .call(Method::POST, "/v1/account/step-up/options", Some(token), None)
            .await;
        assert_eq!(options.status, StatusCode::OK, "{}", options.body);
        let credential = device.sign(PORTAL, &options.body["passkey"]).unwrap();
        self.call(
            Method::POST,
            "/v1/account/step-up",
            Some(token),
            Some(json!({ "challenge_id": options.body["challenge_id"], "credential": credential })),
        )
        .await
    }

    /// Enrols a new passkey of `device` for `user` named `name`; returns its id.
    async fn enrol(&self, user: &str, device: &mut PasskeyDevice, name: &str) -> String {
        let token = self.token(user).await;
        let started = self
            .call(
                Method::POST,
                "/v1/account/passkeys",
                Some(&token),
                Some(json!({ "password": PASSWORD })),
            )
            .await;
        assert_eq!(started.status, StatusCode::OK, "{}", started.body);
        let credential = device.register(PORTAL, &started.body["options"]).unwrap();
        let confirmed = self
            .call(
                Method::POST,
                "/v1/account/passkeys/confirm",
                Some(&token),
                Some(json!({
                    "registration_id": started.body["registration_id"],
                    "name": name,
                    "credential": credential,
                })),
            )
            .await;
        assert_eq!(confirmed.status, StatusCode::CREATED, "{}", confirmed.body);
        confirmed.body["id"].as_str().unwrap().to_owned()
    }

    /// The password step: the login answer.
    async fn login(&self, user: &str) -> Value {
        let answer = self
            .call(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({ "username": user, "password": PASSWORD })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body
    }

    async fn verify(&self, challenge_id: &Value, credential: &Value) -> Answer {
        self.call(
            Method::POST,
            "/v1/auth/passkey/verify",
            None,
            Some(json!({ "challenge_id": challenge_id, "credential": credential })),
        )
        .await
    }

    async fn events(&self, user: &str) -> Vec<AuditKind> {
        let username = Username::parse(user).unwrap();
        let trail = self
            .t
            .app
            .repo
            .audit_trail(&username, self.t.clock.now_for_tests())
            .await
            .unwrap();
        trail.into_iter().map(|e| e.event).collect()
    }

    fn sms_count(&self) -> usize {
        self.t.sms.sent().len()
    }
}

fn code(answer: &Answer) -> &str {
    answer.body["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_passkey_enrolled_after_the_password_logs_in_without_any_sms_and_sms_stays_a_fallback() {
    let p = Portal::new().await;
    let before = p.login("kari").await;
    assert_eq!(before["methods"], json!(["sms"]));
    assert!(before.get("passkey").is_none());

    let mut device = PasskeyDevice::new();
    let id = p.enrol("kari", &mut device, "  Jobb-PC ").await;
    let notice = p.t.sms.sent().last().cloned().unwrap();
    assert_eq!(notice.0, "+4791234567");
    assert!(notice.1.starts_with("En passnøkkel er lagt til"), "{}", notice.1);

    let sent = p.sms_count();
    let login = p.login("kari").await;
    assert_eq!(login["methods"], json!(["passkey", "sms", "recovery_code"]));
    assert_eq!(p.sms_count(), sent, "no SMS until the user asks for one");
    let options = &login["passkey"];
    assert_eq!(options["publicKey"]["rpId"], "portal.example.test");
    assert_eq!(options["publicKey"]["userVerification"], "preferred");
    assert_eq!(options["publicKey"]["allowCredentials"].as_array().unwrap().len(), 1);

    let assertion = device.sign(PORTAL, options).unwrap();
    let opened = p.verify(&login["challenge_id"], &assertion).await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
    assert!(opened.body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(opened.set_cookie.is_some_and(|c| c.starts_with("__Host-hk_refresh=")));

    let list = p
        .call(Method::GET, "/v1/account/passkeys", Some(&p.token("kari").await), None)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let passkeys = list.body["passkeys"].as_array().unwrap();
    assert_eq!(passkeys.len(), 1);
    assert_eq!(passkeys[0]["id"], id.as_str());
    assert_eq!(passkeys[0]["name"], "Jobb-PC");
    assert!(passkeys[0]["created_at"].is_string());
    assert!(passkeys[0]["last_used_at"].is_string(), "the login is the last use");

    // "Send me an SMS instead": the same challenge takes an SMS code.
    let other = p.login("kari").await;
    let resent = p
        .call(
            Method::POST,
            "/v1/auth/sms/resend",
            None,
            Some(json!({ "challenge_id": other["challenge_id"] })),
        )
        .await;
    assert_eq!(resent.status, StatusCode::OK, "{}", resent.body);
    let sms_code = p.t.sms.last_code_to(&"+4791234567".parse_mobile()).unwrap();
    let by_sms = p
        .call(
            Method::POST,
            "/v1/auth/sms/verify",
            None,
            Some(json!({ "challenge_id": other["challenge_id"], "code": sms_code.expose() })),
        )
        .await;
    assert_eq!(by_sms.status, StatusCode::OK, "{}", by_sms.body);

    let events = p.events("kari").await;
    assert!(events.contains(&AuditKind::PasskeyAdded));
    assert!(events.contains(&AuditKind::PasskeyVerified));
}

trait ParseMobile {
    fn parse_mobile(&self) -> portal_core::domain::MobileNumber;
}

impl ParseMobile for &str {
    fn parse_mobile(&self) -> portal_core::domain::MobileNumber {
        portal_core::domain::MobileNumber::parse(self).unwrap()
    }
}

#[tokio::test]
async fn a_replayed_assertion_opens_no_second_session() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    p.enrol("kari", &mut device, "Telefon").await;
    let login = p.login("kari").await;
    let assertion = device.sign(PORTAL, &login["passkey"]).unwrap();
    assert_eq!(
        p.verify(&login["challenge_id"], &assertion).await.status,
        StatusCode::OK
    );
    let replayed = p.verify(&login["challenge_id"], &assertion).await;
    assert_eq!(replayed.status, StatusCode::GONE, "{}", replayed.body);
    assert_eq!(code(&replayed), "challenge_expired");
    // Nor on a fresh challenge of the same account: it signed another challenge.
    let fresh = p.login("kari").await;
    let replayed = p.verify(&fresh["challenge_id"], &assertion).await;
    assert_eq!(replayed.status, StatusCode::BAD_REQUEST, "{}", replayed.body);
    assert_eq!(code(&replayed), "invalid_code");
}

#[tokio::test]
async fn an_assertion_answers_only_its_own_accounts_challenge() {
    let p = Portal::new().await;
    let (mut kari_device, mut ola_device) = (PasskeyDevice::new(), PasskeyDevice::new());
    p.enrol("kari", &mut kari_device, "Kari sin").await;
    p.enrol("ola", &mut ola_device, "Ola sin").await;
    let kari = p.login("kari").await;
    let ola = p.login("ola").await;

    // Ola's passkey, on Ola's own challenge, offered for Kari's login: refused.
    let olas = ola_device.sign(PORTAL, &ola["passkey"]).unwrap();
    let refused = p.verify(&kari["challenge_id"], &olas).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.body["attempts_left"], 4);
    // Kari's passkey on Kari's challenge, offered for Ola's login: refused too.
    let karis = kari_device.sign(PORTAL, &kari["passkey"]).unwrap();
    let refused = p.verify(&ola["challenge_id"], &karis).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    // Each still logs in with its own.
    assert_eq!(p.verify(&kari["challenge_id"], &karis).await.status, StatusCode::OK);
    assert_eq!(p.verify(&ola["challenge_id"], &olas).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_assertion_made_on_another_origin_is_refused() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    p.enrol("kari", &mut device, "Telefon").await;
    let login = p.login("kari").await;
    // A page on a subdomain may ask for the portal's passkeys (the browser allows a registrable
    // suffix), but only the portal's own origin counts.
    let phished = device
        .sign("https://login.portal.example.test", &login["passkey"])
        .unwrap();
    let refused = p.verify(&login["challenge_id"], &phished).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(code(&refused), "invalid_code");
    // A browser refuses an unrelated origin outright.
    assert!(device
        .sign("https://portal.example.test.evil.example", &login["passkey"])
        .is_err());
    let right = device.sign(PORTAL, &login["passkey"]).unwrap();
    assert_eq!(p.verify(&login["challenge_id"], &right).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_counter_that_goes_back_is_refused_and_audited() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    p.enrol("kari", &mut device, "Telefon").await;
    // Two logins; the first assertion (counter 1) is held back, as a clone would have it.
    let first = p.login("kari").await;
    let held_back = device.sign(PORTAL, &first["passkey"]).unwrap();
    let second = p.login("kari").await;
    let newer = device.sign(PORTAL, &second["passkey"]).unwrap();
    assert_eq!(p.verify(&second["challenge_id"], &newer).await.status, StatusCode::OK);

    let refused = p.verify(&first["challenge_id"], &held_back).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(p.events("kari").await.contains(&AuditKind::PasskeyCounterRegression));
    // The stored counter stayed where the newer assertion left it: the device goes on.
    let third = p.login("kari").await;
    let next = device.sign(PORTAL, &third["passkey"]).unwrap();
    assert_eq!(p.verify(&third["challenge_id"], &next).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_removed_passkey_no_longer_logs_in() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    let id = p.enrol("kari", &mut device, "Telefon").await;
    let login = p.login("kari").await;
    let assertion = device.sign(PORTAL, &login["passkey"]).unwrap();

    let token = p.token("kari").await;
    let stepped = p.step_up(&token, &mut device).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    let path = format!("/v1/account/passkeys/{id}");
    let wrong = p
        .call(
            Method::DELETE,
            &path,
            Some(&token),
            Some(json!({ "password": "feil passord her" })),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    let removed = p
        .call(
            Method::DELETE,
            &path,
            Some(&token),
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);

    // An assertion made before the removal, on a challenge opened before it: refused.
    let refused = p.verify(&login["challenge_id"], &assertion).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    let after = p.login("kari").await;
    assert_eq!(after["methods"], json!(["sms"]));
    assert!(p.events("kari").await.contains(&AuditKind::PasskeyRemoved));
}

#[tokio::test]
async fn enrolment_needs_the_password_and_an_enrolment_of_ones_own() {
    let p = Portal::new().await;
    let token = p.token("kari").await;
    let no_session = p
        .call(
            Method::POST,
            "/v1/account/passkeys",
            None,
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(no_session.status, StatusCode::UNAUTHORIZED);
    let no_password = p
        .call(Method::POST, "/v1/account/passkeys", Some(&token), Some(json!({})))
        .await;
    assert_eq!(no_password.status, StatusCode::BAD_REQUEST);
    let wrong = p
        .call(
            Method::POST,
            "/v1/account/passkeys",
            Some(&token),
            Some(json!({ "password": "feil passord her" })),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(code(&wrong), "wrong_password");

    // Ola started an enrolment; Kari's session cannot finish it, not even with her device.
    let ola = p.token("ola").await;
    let started = p
        .call(
            Method::POST,
            "/v1/account/passkeys",
            Some(&ola),
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK);
    let mut device = PasskeyDevice::new();
    let credential = device.register(PORTAL, &started.body["options"]).unwrap();
    let body = json!({
        "registration_id": started.body["registration_id"],
        "name": "Snikpasset",
        "credential": credential,
    });
    let stolen = p
        .call(
            Method::POST,
            "/v1/account/passkeys/confirm",
            Some(&token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(stolen.status, StatusCode::GONE, "{}", stolen.body);
    assert_eq!(code(&stolen), "passkey_enrolment_expired");
    // A name with a control character is refused before the enrolment is used up.
    let mut bad_name = body.clone();
    bad_name["name"] = json!("Jobb\u{202E}CP");
    let refused = p
        .call(Method::POST, "/v1/account/passkeys/confirm", Some(&ola), Some(bad_name))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&refused), "validation_failed");
    // Ola's own confirmation works once; the enrolment is single use.
    let own = p
        .call(
            Method::POST,
            "/v1/account/passkeys/confirm",
            Some(&ola),
            Some(body.clone()),
        )
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.body);
    // Ola has a passkey now: a further enrolment needs a step-up with it.
    let stepped = p.step_up(&ola, &mut device).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    let again = p
        .call(Method::POST, "/v1/account/passkeys/confirm", Some(&ola), Some(body))
        .await;
    assert_eq!(again.status, StatusCode::GONE);
    let karis = p.call(Method::GET, "/v1/account/passkeys", Some(&token), None).await;
    assert_eq!(karis.body["passkeys"], json!([]));
    // The enrolment state lasts 5 minutes.
    let late = p
        .call(
            Method::POST,
            "/v1/account/passkeys",
            Some(&ola),
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    let credential = PasskeyDevice::new().register(PORTAL, &late.body["options"]).unwrap();
    p.t.clock.advance(301);
    let ola = p.token("ola").await;
    let stepped = p.step_up(&ola, &mut device).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    let expired = p
        .call(
            Method::POST,
            "/v1/account/passkeys/confirm",
            Some(&ola),
            Some(json!({ "registration_id": late.body["registration_id"], "name": "Sen", "credential": credential })),
        )
        .await;
    assert_eq!(expired.status, StatusCode::GONE);
}

#[tokio::test]
async fn another_users_passkey_cannot_be_removed_and_is_not_found() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    let olas = p.enrol("ola", &mut device, "Ola sin").await;
    let kari = p.token("kari").await;
    for path in [
        format!("/v1/account/passkeys/{olas}"),
        "/v1/account/passkeys/not-an-id".to_owned(),
    ] {
        let answer = p
            .call(
                Method::DELETE,
                &path,
                Some(&kari),
                Some(json!({ "password": PASSWORD })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}: {}", answer.body);
    }
    let login = p.login("ola").await;
    assert_eq!(
        login["methods"],
        json!(["passkey", "sms", "recovery_code"]),
        "Ola's passkey is still there"
    );
}

#[tokio::test]
async fn the_same_authenticator_is_not_enrolled_twice_and_an_app_user_gets_all_three_methods() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    p.enrol("kari", &mut device, "Telefon").await;
    let token = p.token("kari").await;
    let stepped = p.step_up(&token, &mut device).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    let started = p
        .call(
            Method::POST,
            "/v1/account/passkeys",
            Some(&token),
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    let excluded = started.body["options"]["publicKey"]["excludeCredentials"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(excluded, 1, "the registered credential is excluded");

    let fresh = p.t.app.authenticate(&token).await.unwrap().second_factor_at;
    let enrolment =
        p.t.app
            .start_totp_enrolment(
                &Username::parse("kari").unwrap(),
                fresh,
                &portal_core::domain::Password::new(PASSWORD.into()),
                None,
            )
            .await
            .unwrap();
    let app = portal_testkit::authenticator_app(&enrolment.secret).unwrap();
    let now = p.t.clock.now_for_tests();
    let code = portal_core::domain::OneTimeCode::parse(&app.generate(now as u64).to_string()).unwrap();
    p.t.app
        .confirm_totp_enrolment(&Username::parse("kari").unwrap(), fresh, &code, None)
        .await
        .unwrap();
    let login = p.login("kari").await;
    assert_eq!(login["methods"], json!(["passkey", "totp", "sms", "recovery_code"]));
}

/// A passkey answer sent by a browser: its status, body and every `Set-Cookie`.
async fn verify_from(
    p: &Portal,
    user_agent: &str,
    challenge_id: &Value,
    credential: &Value,
) -> (StatusCode, Value, Vec<String>) {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/auth/passkey/verify")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, user_agent)
        .body(Body::from(
            json!({ "challenge_id": challenge_id, "credential": credential }).to_string(),
        ))
        .unwrap();
    let response = p.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let cookies = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap(), cookies)
}

#[tokio::test]
async fn a_passkey_login_is_a_session_of_its_browser_and_a_new_browser_is_texted() {
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
    const CHROME: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    p.enrol("kari", &mut device, "Telefon").await;

    let login = p.login("kari").await;
    let assertion = device.sign(PORTAL, &login["passkey"]).unwrap();
    let (status, body, cookies) = verify_from(&p, FIREFOX, &login["challenge_id"], &assertion).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(cookies.iter().any(|c| c.contains("hk_device=")), "{cookies:?}");
    let token = body["access_token"].as_str().unwrap();
    let sessions = p.call(Method::GET, "/v1/account/sessions", Some(token), None).await;
    assert_eq!(sessions.status, StatusCode::OK, "{}", sessions.body);
    let current: Vec<_> = sessions.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["current"] == true)
        .collect();
    assert_eq!(current.len(), 1, "{}", sessions.body);
    assert_eq!(current[0]["device"], "Firefox, Linux");
    // The owner's security history shows the passkey being added.
    let history = p
        .call(Method::GET, "/v1/account/security-events", Some(token), None)
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    let kinds: Vec<_> = history.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert!(kinds.contains(&"passkey_added"), "{kinds:?}");

    // The account's first browser is its baseline; a passkey login from another one is texted.
    let sent = p.sms_count();
    let login = p.login("kari").await;
    let assertion = device.sign(PORTAL, &login["passkey"]).unwrap();
    let (status, body, _) = verify_from(&p, CHROME, &login["challenge_id"], &assertion).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(p.sms_count(), sent + 1);
    let notice = p.t.sms.sent().last().cloned().unwrap();
    assert!(notice.1.starts_with("Ny innlogging"), "{}", notice.1);
}

/// A passkey the intruder enrolled must not outlive "this wasn't me": with it (and the
/// password they know) they would log in again without the owner's phone and make the
/// required password change themselves. Nor may it keep the owner from reporting: a passkey
/// younger than a day does not count for the step-up of "not me", so the owner's SMS session
/// reports with the password alone.
#[tokio::test]
async fn not_me_removes_the_passkeys_and_they_no_longer_log_in() {
    let p = Portal::new().await;
    let mut intruders = PasskeyDevice::new();
    p.enrol("kari", &mut intruders, "Min nøkkel").await;
    let before = p.login("kari").await;
    assert_eq!(before["methods"][0], "passkey");
    let assertion = intruders.sign(PORTAL, &before["passkey"]).unwrap();

    // The owner, signed in by SMS: the password, one click.
    let owner = p.token("kari").await;
    let reported = p
        .call(
            Method::POST,
            "/v1/account/not-me",
            Some(&owner),
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(reported.status, StatusCode::OK, "{}", reported.body);

    let refused = p.verify(&before["challenge_id"], &assertion).await;
    assert!(refused.status.is_client_error(), "{}", refused.body);
    let after = p.login("kari").await;
    assert_eq!(after["methods"], json!(["sms"]), "{after}");
    let kari = Username::parse("kari").unwrap();
    assert!(p.t.app.list_passkeys(&kari).await.unwrap().is_empty());
    assert!(p.events("kari").await.contains(&AuditKind::PasskeyRemoved));
}
