//! Recovery that is never SMS-only (issue 17): a password reset of an account with a passkey
//! or an authenticator app needs that factor (or a recovery code) besides the SMS code, and
//! recovery codes themselves (generate, show once, use once, log in, "not me"). Driven through
//! the real HTTP routes, with a software authenticator and the user's app computed here.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use portal_core::audit::AuditKind;
use portal_core::config::{Policy, Settings};
use portal_core::domain::{MobileNumber, OneTimeCode, Password, RecoveryCode, Username};
use portal_core::services::sessions::LoginFactor;
use portal_core::store::sqlite::SqliteStore;
use portal_http::handlers::homeoffice::GatewayAuth;
use portal_http::routes::{api_router, with_common_layers, ApiState};
use portal_testkit::{PasskeyDevice, TestApp};
use serde_json::{json, Value};
use totp_rs::Totp;
use tower::ServiceExt;

const PASSWORD: &str = "korrekt hest batteri stift";
const NEW_PASSWORD: &str = "et helt nytt passord her";
const PORTAL: &str = "https://portal.example.test";
const KARI_MOBILE: &str = "+4791234567";

struct Portal {
    t: TestApp,
    router: axum::Router,
}

struct Answer {
    status: StatusCode,
    body: Value,
}

fn code_of(answer: &Answer) -> &str {
    answer.body["code"].as_str().unwrap_or_default()
}

fn kari() -> Username {
    Username::parse("kari").unwrap()
}

impl Portal {
    async fn new() -> Self {
        Self::with_policy(Policy::default()).await
    }

    async fn with_policy(policy: Policy) -> Self {
        let settings = Settings {
            portal_url: PORTAL.into(),
            ..Settings::default()
        };
        let policy = Policy {
            forgot_password_min_response: std::time::Duration::ZERO,
            ..policy
        };
        let store = Arc::new(SqliteStore::in_memory().unwrap());
        let t = TestApp::with_settings(store, policy, settings);
        t.account("kari", PASSWORD, KARI_MOBILE).await;
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
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Answer { status, body }
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::POST, path, token, Some(body)).await
    }

    async fn token(&self, user: &str) -> String {
        let username = Username::parse(user).unwrap();
        self.t
            .app
            .open_session(&username, false, None)
            .await
            .unwrap()
            .access_token
    }

    async fn enrol_passkey(&self, user: &str, device: &mut PasskeyDevice) {
        let token = self.token(user).await;
        let started = self
            .post("/v1/account/passkeys", Some(&token), json!({ "password": PASSWORD }))
            .await;
        assert_eq!(started.status, StatusCode::OK, "{}", started.body);
        let credential = device.register(PORTAL, &started.body["options"]).unwrap();
        let confirmed = self
            .post(
                "/v1/account/passkeys/confirm",
                Some(&token),
                json!({ "registration_id": started.body["registration_id"], "name": "Jobb-PC", "credential": credential }),
            )
            .await;
        assert_eq!(confirmed.status, StatusCode::CREATED, "{}", confirmed.body);
    }

    /// Enrols an authenticator app for kari; returns the user's app.
    async fn enrol_totp(&self) -> Totp {
        let pw = Password::new(PASSWORD.into());
        let enrolment = self.t.app.start_totp_enrolment(&kari(), None, &pw, None).await.unwrap();
        let app = portal_testkit::authenticator_app(&enrolment.secret).unwrap();
        let code = self.totp_code(&app);
        self.t
            .app
            .confirm_totp_enrolment(&kari(), None, &code, None)
            .await
            .unwrap();
        self.t.clock.advance(30);
        app
    }

    fn totp_code(&self, app: &Totp) -> OneTimeCode {
        OneTimeCode::parse(&app.generate(self.t.clock.now_for_tests() as u64).to_string()).unwrap()
    }

    /// A code no step around now matches.
    fn wrong_totp_code(&self, app: &Totp) -> String {
        let now = self.t.clock.now_for_tests();
        let taken: Vec<String> = (-2..=2)
            .map(|k| app.generate((now + 30 * k) as u64).to_string())
            .collect();
        (0..).map(|n| format!("{n:06}")).find(|c| !taken.contains(c)).unwrap()
    }

    /// Generated as the owner would: in a session that began with the account's app or
    /// passkey (a fresh second factor, which generating asks of such accounts).
    async fn generate_codes(&self, user: &str) -> Vec<String> {
        let token = self
            .t
            .app
            .open_session_with(&Username::parse(user).unwrap(), false, LoginFactor::Totp, None)
            .await
            .unwrap()
            .access_token;
        let answer = self
            .post(
                "/v1/account/recovery-codes",
                Some(&token),
                json!({ "password": PASSWORD }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.body["codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    }

    async fn remaining(&self, user: &str) -> Value {
        let token = self.token(user).await;
        let answer = self
            .call(Method::GET, "/v1/account/recovery-codes", Some(&token), None)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body
    }

    /// Forgot password for kari: the challenge id and the texted code.
    async fn forgot(&self, user: &str) -> (Value, String) {
        let answer = self
            .post("/v1/auth/password/forgot", None, json!({ "username": user }))
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        let code = self
            .t
            .sms
            .last_code_to(&MobileNumber::parse(KARI_MOBILE).unwrap())
            .map(|c| c.expose().to_owned())
            .unwrap_or_else(|| "000000".into());
        (answer.body["challenge_id"].clone(), code)
    }

    async fn reset(&self, challenge_id: &Value, code: &str, extra: Value) -> Answer {
        let mut body = json!({ "challenge_id": challenge_id, "code": code, "new_password": NEW_PASSWORD });
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        self.post("/v1/auth/password/reset", None, body).await
    }

    async fn login(&self, user: &str, password: &str) -> Answer {
        self.post(
            "/v1/auth/login",
            None,
            json!({ "username": user, "password": password }),
        )
        .await
    }

    async fn login_with_recovery_code(&self, user: &str, code: &str) -> Answer {
        self.login_with_recovery_code_and(user, PASSWORD, code).await
    }

    async fn login_with_recovery_code_and(&self, user: &str, password: &str, code: &str) -> Answer {
        let login = self.login(user, password).await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        self.post(
            "/v1/auth/recovery-code/verify",
            None,
            json!({ "challenge_id": login.body["challenge_id"], "code": code }),
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
}

#[tokio::test]
async fn reset_of_a_passkey_account_is_refused_with_sms_alone_and_done_with_the_passkey() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    p.enrol_passkey("kari", &mut device).await;
    let (id, code) = p.forgot("kari").await;

    let refused = p.reset(&id, &code, json!({})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(code_of(&refused), "second_factor_required");
    assert_eq!(refused.body["methods"], json!(["passkey"]));
    let passkey_challenge = refused.body["passkey_challenge_id"].clone();
    assert!(passkey_challenge.as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(refused.body["passkey"]["publicKey"]["rpId"], "portal.example.test");
    // The password is unchanged: the old one still logs in, the new one does not.
    assert_eq!(p.login("kari", PASSWORD).await.status, StatusCode::OK);
    assert_eq!(p.login("kari", NEW_PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    assert!(!p.events("kari").await.contains(&AuditKind::PasswordReset));

    // A passkey answer from a phishing origin is a wrong factor; the SMS code survives it.
    let phished = device.sign("https://portal.example.test.evil.example", &refused.body["passkey"]);
    if let Ok(phished) = phished {
        let wrong = p
            .reset(
                &id,
                &code,
                json!({ "passkey_challenge_id": passkey_challenge, "credential": phished }),
            )
            .await;
        assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.body);
        assert_eq!(code_of(&wrong), "invalid_code");
    }

    // The second submission: same SMS code, with the passkey.
    let assertion = device.sign(PORTAL, &refused.body["passkey"]).unwrap();
    let done = p
        .reset(
            &id,
            &code,
            json!({ "passkey_challenge_id": passkey_challenge, "credential": assertion.clone() }),
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
    assert_eq!(p.login("kari", NEW_PASSWORD).await.status, StatusCode::OK);
    assert_eq!(p.login("kari", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    let trail =
        p.t.app
            .repo
            .audit_trail(&kari(), p.t.clock.now_for_tests())
            .await
            .unwrap();
    let reset = trail.iter().find(|e| e.event == AuditKind::PasswordReset).unwrap();
    assert_eq!(reset.detail["second_factor"], "passkey");

    // The SMS code and the passkey challenge were single use.
    let again = p
        .reset(
            &id,
            &code,
            json!({ "passkey_challenge_id": passkey_challenge, "credential": assertion }),
        )
        .await;
    assert_eq!(again.status, StatusCode::GONE, "{}", again.body);
}

#[tokio::test]
async fn reset_of_an_app_account_needs_the_app_code_and_a_wrong_one_counts_and_locks() {
    let p = Portal::new().await;
    let app = p.enrol_totp().await;
    let (id, code) = p.forgot("kari").await;
    let refused = p.reset(&id, &code, json!({})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.body["methods"], json!(["totp"]));
    assert!(refused.body.get("passkey_challenge_id").is_none());

    // Wrong app codes count against the challenge's attempts like wrong reset codes.
    let wrong = p.wrong_totp_code(&app);
    let max = Policy::default().code_attempts_per_challenge;
    for n in 1..max {
        let answer = p.reset(&id, &code, json!({ "totp_code": wrong })).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
        assert_eq!(code_of(&answer), "invalid_code");
        assert_eq!(answer.body["attempts_left"], json!(max - n));
    }
    // The SMS code still works with the right factor while attempts are left.
    let right = p.totp_code(&app);
    let done = p.reset(&id, &code, json!({ "totp_code": right.expose() })).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
    assert_eq!(p.login("kari", NEW_PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn wrong_factors_use_up_the_reset_code_entry_budget_and_lock_it() {
    let p = Portal::with_policy(Policy {
        code_failures_per_account_hour: 3,
        ..Policy::default()
    })
    .await;
    let app = p.enrol_totp().await;
    let codes = p.generate_codes("kari").await;
    let (id, code) = p.forgot("kari").await;
    for factor in [
        json!({ "totp_code": p.wrong_totp_code(&app) }),
        json!({ "recovery_code": "ab2cd-3ef4g" }),
    ] {
        let answer = p.reset(&id, &code, factor).await;
        assert_eq!(code_of(&answer), "invalid_code", "{}", answer.body);
    }
    let locked = p
        .reset(&id, &code, json!({ "totp_code": p.wrong_totp_code(&app) }))
        .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS, "{}", locked.body);
    assert_eq!(code_of(&locked), "code_entry_locked");
    // Locked: even the right SMS code with a right factor is refused unseen.
    let refused = p.reset(&id, &code, json!({ "recovery_code": codes[0] })).await;
    assert_eq!(code_of(&refused), "code_entry_locked", "{}", refused.body);
    assert_eq!(p.remaining("kari").await["remaining"], 10, "the code was not looked at");
    assert_eq!(
        p.login("kari", PASSWORD).await.status,
        StatusCode::OK,
        "login is not locked"
    );
    assert!(p.events("kari").await.contains(&AuditKind::CodeLocked));
}

#[tokio::test]
async fn a_recovery_code_stands_in_for_the_factor_once() {
    let p = Portal::new().await;
    p.enrol_totp().await;
    let codes = p.generate_codes("kari").await;
    let (id, code) = p.forgot("kari").await;
    let refused = p.reset(&id, &code, json!({})).await;
    assert_eq!(
        refused.body["methods"],
        json!(["totp", "recovery_code"]),
        "{}",
        refused.body
    );

    let sent = p.t.sms.sent().len();
    // Typed in capitals without the dash: the same code.
    let typed = codes[3].replace('-', "").to_uppercase();
    let done = p.reset(&id, &code, json!({ "recovery_code": typed })).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
    let texts: Vec<String> = p.t.sms.sent()[sent..].iter().map(|(_, t)| t.clone()).collect();
    assert!(
        texts.iter().any(|t| t.starts_with("En gjenopprettingskode er brukt")),
        "{texts:?}"
    );
    assert_eq!(p.remaining("kari").await["remaining"], 9);
    assert!(p.events("kari").await.contains(&AuditKind::RecoveryCodeUsed));

    // That code is spent: neither a reset nor a login takes it again.
    p.t.clock.advance(31);
    let (id, code) = p.forgot("kari").await;
    let again = p.reset(&id, &code, json!({ "recovery_code": codes[3] })).await;
    assert_eq!(code_of(&again), "invalid_code", "{}", again.body);
    let login = p.login_with_recovery_code_and("kari", NEW_PASSWORD, &codes[3]).await;
    assert_eq!(code_of(&login), "invalid_code", "{}", login.body);
    // Another one still logs in.
    let login = p.login_with_recovery_code_and("kari", NEW_PASSWORD, &codes[4]).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
}

#[tokio::test]
async fn accounts_with_sms_only_reset_as_before_and_decoys_look_the_same() {
    let p = Portal::new().await;
    // Recovery codes alone are no strong factor: SMS-only accounts keep today's flow.
    p.generate_codes("ola").await;
    let forgot = p
        .post("/v1/auth/password/forgot", None, json!({ "username": "ola" }))
        .await;
    let code =
        p.t.sms
            .last_code_to(&MobileNumber::parse("+4791234568").unwrap())
            .unwrap();
    let done = p.reset(&forgot.body["challenge_id"], code.expose(), json!({})).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);

    // A factor sent along for a name without an account: a wrong code, as for a real one.
    let decoy = p
        .post("/v1/auth/password/forgot", None, json!({ "username": "nobody" }))
        .await;
    let real_app = p.enrol_totp().await;
    let (real, _) = p.forgot("kari").await;
    for id in [&decoy.body["challenge_id"], &real] {
        let answer = p
            .reset(id, "000000", json!({ "totp_code": p.totp_code(&real_app).expose() }))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
        assert_eq!(code_of(&answer), "invalid_code");
        assert_eq!(answer.body["attempts_left"], 4);
    }
}

#[tokio::test]
async fn more_than_one_factor_or_half_a_passkey_answer_is_malformed() {
    let p = Portal::new().await;
    let (id, code) = p.forgot("kari").await;
    for extra in [
        json!({ "totp_code": "123456", "recovery_code": "ab2cd-3ef4g" }),
        json!({ "passkey_challenge_id": "AAAAAAAAAAAAAAAAAAAAAA" }),
        json!({ "recovery_code": "not a code" }),
        json!({ "totp_code": "12345" }),
    ] {
        let answer = p.reset(&id, &code, extra.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{extra}: {}", answer.body);
        assert_eq!(code_of(&answer), "validation_failed", "{extra}");
    }
    // None of them used the code.
    let done = p.reset(&id, &code, json!({})).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
}

#[tokio::test]
async fn recovery_codes_are_ten_shown_once_replaced_by_the_next_set_and_need_the_password() {
    let p = Portal::new().await;
    let empty = p.remaining("kari").await;
    assert_eq!(empty, json!({ "remaining": 0, "created_at": null }));

    let token = p.token("kari").await;
    let wrong = p
        .post(
            "/v1/account/recovery-codes",
            Some(&token),
            json!({ "password": "feil passord her" }),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(code_of(&wrong), "wrong_password");
    let anonymous = p
        .post("/v1/account/recovery-codes", None, json!({ "password": PASSWORD }))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let first = p.generate_codes("kari").await;
    assert_eq!(first.len(), 10);
    let distinct: std::collections::HashSet<_> = first.iter().collect();
    assert_eq!(distinct.len(), 10);
    for code in &first {
        assert_eq!(code.len(), 11, "{code}");
        assert_eq!(&code[5..6], "-");
        assert_eq!(RecoveryCode::parse(code).unwrap().formatted(), *code);
    }
    let status = p.remaining("kari").await;
    assert_eq!(status["remaining"], 10);
    assert_eq!(status["created_at"], json!(portal_core::clock::rfc3339(p.t.clock.now_for_tests())));
    // Shown once: nothing stored or answered later holds a code.
    assert!(status.get("codes").is_none());
    let stored = serde_json::to_string(
        &p.t.store
            .get("ACCOUNT#kari", "RECOVERY_CODES", p.t.clock.now_for_tests())
            .await
            .unwrap()
            .unwrap()
            .data,
    )
    .unwrap();
    for code in &first {
        let canonical = RecoveryCode::parse(code).unwrap();
        assert!(!stored.contains(canonical.expose()) && !stored.contains(code.as_str()));
    }

    let second = p.generate_codes("kari").await;
    assert!(second.iter().all(|c| !first.contains(c)));
    p.enrol_totp().await;
    for old in &first[..2] {
        let answer = p.login_with_recovery_code("kari", old).await;
        assert_eq!(
            code_of(&answer),
            "invalid_code",
            "an earlier set is dead: {}",
            answer.body
        );
    }
    let history = p.events("kari").await;
    assert_eq!(
        history
            .iter()
            .filter(|e| **e == AuditKind::RecoveryCodesGenerated)
            .count(),
        2
    );
}

#[tokio::test]
async fn login_with_a_recovery_code_opens_a_session_once_and_shows_in_the_history() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    p.enrol_passkey("kari", &mut device).await;
    let codes = p.generate_codes("kari").await;
    let login = p.login("kari", PASSWORD).await;
    assert_eq!(login.body["methods"], json!(["passkey", "sms", "recovery_code"]));

    let sent = p.t.sms.sent().len();
    let opened = p
        .post(
            "/v1/auth/recovery-code/verify",
            None,
            json!({ "challenge_id": login.body["challenge_id"], "code": codes[0] }),
        )
        .await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
    let token = opened.body["access_token"].as_str().unwrap().to_owned();
    assert!(p.t.sms.sent()[sent..]
        .iter()
        .any(|(to, t)| to == KARI_MOBILE && t.starts_with("En gjenopprettingskode er brukt")));
    // The challenge is consumed, the code used.
    let replay = p
        .post(
            "/v1/auth/recovery-code/verify",
            None,
            json!({ "challenge_id": login.body["challenge_id"], "code": codes[1] }),
        )
        .await;
    assert_eq!(replay.status, StatusCode::GONE);
    let reused = p.login_with_recovery_code("kari", &codes[0]).await;
    assert_eq!(code_of(&reused), "invalid_code");
    assert_eq!(reused.body["attempts_left"], 4);
    assert_eq!(p.remaining("kari").await["remaining"], 9);

    let history = p
        .call(Method::GET, "/v1/account/security-events", Some(&token), None)
        .await;
    let kinds: Vec<&str> = history.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert!(kinds.contains(&"recovery_code_used"), "{kinds:?}");
    assert!(kinds.contains(&"recovery_codes_generated"), "{kinds:?}");
    let used = history.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "recovery_code_used")
        .unwrap();
    assert_eq!(used["detail"]["during"], "login");
    assert_eq!(used["detail"]["remaining"], 9);
    // Never a code in the history.
    let text = history.body.to_string();
    assert!(codes.iter().all(|c| !text.contains(c.as_str())));

    // An account with SMS only is not offered recovery codes, and its challenge takes none.
    let ola = p.login("ola", PASSWORD).await;
    assert_eq!(ola.body["methods"], json!(["sms"]));
    let refused = p
        .post(
            "/v1/auth/recovery-code/verify",
            None,
            json!({ "challenge_id": ola.body["challenge_id"], "code": codes[2] }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::GONE);
    // A malformed code is a malformed field.
    let malformed = p.login_with_recovery_code("kari", "abc").await;
    assert_eq!(code_of(&malformed), "validation_failed");
}

#[tokio::test]
async fn not_me_removes_the_recovery_codes() {
    let p = Portal::new().await;
    p.enrol_totp().await;
    let codes = p.generate_codes("kari").await;
    let token = p.token("kari").await;
    let answer = p
        .post("/v1/account/not-me", Some(&token), json!({ "password": PASSWORD }))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let status = p.t.app.recovery_codes_status(&kari()).await.unwrap();
    assert_eq!((status.remaining, status.created_at), (0, None));
    // Not-me removed the app too, so logins are SMS again; re-enrol to try the codes.
    let change = p
        .call(
            Method::PUT,
            "/v1/account/password",
            Some(&p.token("kari").await),
            Some(json!({ "old_password": PASSWORD, "new_password": "passordet etter innbruddet" })),
        )
        .await;
    assert_eq!(change.status, StatusCode::NO_CONTENT, "{}", change.body);
    let pw = Password::new("passordet etter innbruddet".into());
    let enrolment = p.t.app.start_totp_enrolment(&kari(), None, &pw, None).await.unwrap();
    let app = portal_testkit::authenticator_app(&enrolment.secret).unwrap();
    p.t.app
        .confirm_totp_enrolment(&kari(), None, &p.totp_code(&app), None)
        .await
        .unwrap();
    let login = p.login("kari", "passordet etter innbruddet").await;
    let verify = p
        .post(
            "/v1/auth/recovery-code/verify",
            None,
            json!({ "challenge_id": login.body["challenge_id"], "code": codes[0] }),
        )
        .await;
    assert_eq!(code_of(&verify), "invalid_code", "{}", verify.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_recovery_code_used_at_once_from_many_logins_opens_one_session() {
    let p = Portal::new().await;
    p.enrol_totp().await;
    let codes = p.generate_codes("kari").await;
    let mut challenges = Vec::new();
    for _ in 0..6 {
        let login = p.login("kari", PASSWORD).await;
        challenges.push(login.body["challenge_id"].clone());
    }
    let handles: Vec<_> = challenges
        .iter()
        .map(|id| {
            let request = Request::builder()
                .method(Method::POST)
                .uri("/v1/auth/recovery-code/verify")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json!({ "challenge_id": id, "code": codes[0] }).to_string()))
                .unwrap();
            let router = p.router.clone();
            tokio::spawn(async move {
                let response = router.oneshot(request).await.unwrap();
                let status = response.status();
                let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
                Answer {
                    status,
                    body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                }
            })
        })
        .collect();
    let mut answers = Vec::new();
    for handle in handles {
        answers.push(handle.await.unwrap());
    }
    let opened = answers.iter().filter(|a| a.status == StatusCode::OK).count();
    assert_eq!(opened, 1, "{:?}", answers.iter().map(|a| &a.body).collect::<Vec<_>>());
    assert!(answers
        .iter()
        .filter(|a| a.status != StatusCode::OK)
        .all(|a| code_of(a) == "invalid_code"));
    assert_eq!(p.remaining("kari").await["remaining"], 9);
}

/// Recovery codes stand in for the account's app or passkey, so a set made while the account
/// had neither (by whoever held the password and the SIM then: no step-up is asked of an
/// SMS-only account) must not outlive the owner's first strong factor. Otherwise the intruder
/// keeps a way in that the owner's new passkey does not close: the password and a planted
/// code open a session with a fresh second factor, which takes the passkey off and could
/// register a card; the SIM and a planted code reset the password.
#[tokio::test]
async fn codes_made_before_the_first_strong_factor_do_not_outlive_its_enrolment() {
    let p = Portal::new().await;
    // The intruder, in an SMS session of kari's SMS-only account, makes a set.
    let intruders = p.token("kari").await;
    let planted = p
        .post(
            "/v1/account/recovery-codes",
            Some(&intruders),
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(planted.status, StatusCode::CREATED, "{}", planted.body);
    let planted: Vec<String> = planted.body["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();

    // Later kari protects the account with a passkey.
    let mut device = PasskeyDevice::new();
    p.enrol_passkey("kari", &mut device).await;

    // The planted codes are gone: neither the password nor the SIM gets past the passkey with one.
    let login = p.login_with_recovery_code("kari", &planted[0]).await;
    assert_eq!(code_of(&login), "invalid_code", "{}", login.body);
    let (challenge_id, sms_code) = p.forgot("kari").await;
    let reset = p
        .reset(&challenge_id, &sms_code, json!({ "recovery_code": planted[1] }))
        .await;
    assert_eq!(code_of(&reset), "invalid_code", "{}", reset.body);
    assert_eq!(p.t.app.passkeys(&kari()).await.unwrap().len(), 1);
    assert_eq!(p.remaining("kari").await["remaining"], 0);
}
