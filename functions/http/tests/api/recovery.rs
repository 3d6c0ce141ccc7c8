//! Recovery that is never SMS-only (issue 17): a password reset of an account with a passkey
//! or an authenticator app needs that factor (or a recovery code) besides the SMS code, and
//! recovery codes themselves (generate, show once, use once, log in, "not me"). Driven through
//! the real HTTP routes, with a software authenticator and the user's app computed here.

use axum::http::{Method, StatusCode};
use portal_core::audit::AuditKind;
use portal_core::config::Policy;
use portal_core::domain::{OneTimeCode, Password, RecoveryCode, Username};
use portal_core::services::sessions::LoginFactor;
use portal_testkit::PasskeyDevice;
use serde_json::{json, Value};
use totp_rs::Totp;

use crate::harness::{request, send, Answer, Portal, KARI_MOBILE, OLA_MOBILE, PASSWORD, PORTAL};

const NEW_PASSWORD: &str = "et helt nytt passord her";

fn kari() -> Username {
    Username::parse("kari").unwrap()
}

impl Portal {
    /// Enrols an authenticator app for kari; returns the user's app, its code used up.
    async fn enrol_totp(&self) -> Totp {
        let app = self.enrol_app(&self.sms_session("kari").await).await;
        self.t.clock.advance(30);
        app
    }

    /// Generated as the owner would: in a session that began with the account's app or
    /// passkey (a fresh second factor, which generating asks of such accounts).
    async fn generate_codes(&self, user: &str) -> Vec<String> {
        let token = self.session_with(user, LoginFactor::Totp).await;
        let answer = self
            .post("/v1/account/recovery-codes", &token, json!({ "password": PASSWORD }))
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
        let token = self.sms_session(user).await;
        let answer = self.get("/v1/account/recovery-codes", &token).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body
    }

    /// Forgot password for kari: the challenge id and the texted code.
    async fn forgot(&self, user: &str) -> (Value, String) {
        let answer = self
            .post_anonymous("/v1/auth/password/forgot", json!({ "username": user }))
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        let code = self.last_code_to(KARI_MOBILE).unwrap_or_else(|| "000000".into());
        (answer.body["challenge_id"].clone(), code)
    }

    async fn reset(&self, challenge_id: &Value, code: &str, extra: Value) -> Answer {
        let mut body = json!({ "challenge_id": challenge_id, "code": code, "new_password": NEW_PASSWORD });
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        self.post_anonymous("/v1/auth/password/reset", body).await
    }

    async fn login_with_recovery_code(&self, user: &str, code: &str) -> Answer {
        self.login_with_recovery_code_and(user, PASSWORD, code).await
    }

    async fn login_with_recovery_code_and(&self, user: &str, password: &str, code: &str) -> Answer {
        let login = self.login_with(user, password).await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        self.post_anonymous(
            "/v1/auth/recovery-code/verify",
            json!({ "challenge_id": login.body["challenge_id"], "code": code }),
        )
        .await
    }
}

#[tokio::test]
async fn reset_of_a_passkey_account_is_refused_with_sms_alone_and_done_with_the_passkey() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    p.enrol_passkey_as("kari", &mut device, "Jobb-PC").await;
    let (id, code) = p.forgot("kari").await;

    let refused = p.reset(&id, &code, json!({})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.code(), "second_factor_required");
    assert_eq!(refused.body["methods"], json!(["passkey"]));
    let passkey_challenge = refused.body["passkey_challenge_id"].clone();
    assert!(passkey_challenge.as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(refused.body["passkey"]["publicKey"]["rpId"], "portal.example.test");
    // The password is unchanged: the old one still logs in, the new one does not.
    assert_eq!(p.login_with("kari", PASSWORD).await.status, StatusCode::OK);
    assert_eq!(
        p.login_with("kari", NEW_PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
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
        assert_eq!(wrong.code(), "invalid_code");
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
    assert_eq!(p.login_with("kari", NEW_PASSWORD).await.status, StatusCode::OK);
    assert_eq!(p.login_with("kari", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
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
    let wrong = p.wrong_app_code(&app);
    let max = Policy::default().code_attempts_per_challenge;
    for n in 1..max {
        let answer = p.reset(&id, &code, json!({ "totp_code": wrong })).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
        assert_eq!(answer.code(), "invalid_code");
        assert_eq!(answer.body["attempts_left"], json!(max - n));
    }
    // The SMS code still works with the right factor while attempts are left.
    let right = p.app_code(&app);
    let done = p.reset(&id, &code, json!({ "totp_code": right })).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
    assert_eq!(p.login_with("kari", NEW_PASSWORD).await.status, StatusCode::OK);
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
        json!({ "totp_code": p.wrong_app_code(&app) }),
        json!({ "recovery_code": "ab2cd-3ef4g" }),
    ] {
        let answer = p.reset(&id, &code, factor).await;
        assert_eq!(answer.code(), "invalid_code", "{}", answer.body);
    }
    let locked = p
        .reset(&id, &code, json!({ "totp_code": p.wrong_app_code(&app) }))
        .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS, "{}", locked.body);
    assert_eq!(locked.code(), "code_entry_locked");
    // Locked: even the right SMS code with a right factor is refused unseen.
    let refused = p.reset(&id, &code, json!({ "recovery_code": codes[0] })).await;
    assert_eq!(refused.code(), "code_entry_locked", "{}", refused.body);
    assert_eq!(p.remaining("kari").await["remaining"], 10, "the code was not looked at");
    assert_eq!(
        p.login_with("kari", PASSWORD).await.status,
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
    assert_eq!(again.code(), "invalid_code", "{}", again.body);
    let login = p.login_with_recovery_code_and("kari", NEW_PASSWORD, &codes[3]).await;
    assert_eq!(login.code(), "invalid_code", "{}", login.body);
    // Another one still logs in.
    let login = p.login_with_recovery_code_and("kari", NEW_PASSWORD, &codes[4]).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
}

#[tokio::test]
async fn accounts_with_sms_only_reset_as_before_and_decoys_look_the_same() {
    let p = Portal::new().await;
    // SMS-only accounts keep today's flow (and get no recovery codes: nothing to stand in for).
    let token = p.sms_session("ola").await;
    let refused = p
        .post("/v1/account/recovery-codes", &token, json!({ "password": PASSWORD }))
        .await;
    assert_eq!(refused.code(), "no_second_factor", "{}", refused.body);
    let forgot = p
        .post_anonymous("/v1/auth/password/forgot", json!({ "username": "ola" }))
        .await;
    let code = p.last_code_to(OLA_MOBILE).unwrap();
    let done = p.reset(&forgot.body["challenge_id"], &code, json!({})).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);

    // A factor sent along for a name without an account: a wrong code, as for a real one.
    let decoy = p
        .post_anonymous("/v1/auth/password/forgot", json!({ "username": "nobody" }))
        .await;
    let real_app = p.enrol_totp().await;
    let (real, _) = p.forgot("kari").await;
    for id in [&decoy.body["challenge_id"], &real] {
        let answer = p
            .reset(id, "000000", json!({ "totp_code": p.app_code(&real_app) }))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
        assert_eq!(answer.code(), "invalid_code");
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
        assert_eq!(answer.code(), "validation_failed", "{extra}");
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

    let token = p.sms_session("kari").await;
    let wrong = p
        .post(
            "/v1/account/recovery-codes",
            &token,
            json!({ "password": "feil passord her" }),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.code(), "wrong_password");
    let anonymous = p
        .post_anonymous("/v1/account/recovery-codes", json!({ "password": PASSWORD }))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // An account without an app or passkey gets none; with an app, ten.
    let refused = p
        .post("/v1/account/recovery-codes", &token, json!({ "password": PASSWORD }))
        .await;
    assert_eq!(refused.code(), "no_second_factor", "{}", refused.body);
    p.enrol_totp().await;
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
    assert_eq!(
        status["created_at"],
        json!(portal_core::clock::rfc3339(p.t.clock.now_for_tests()))
    );
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
    for old in &first[..2] {
        let answer = p.login_with_recovery_code("kari", old).await;
        assert_eq!(answer.code(), "invalid_code", "an earlier set is dead: {}", answer.body);
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
    p.enrol_passkey_as("kari", &mut device, "Jobb-PC").await;
    let codes = p.generate_codes("kari").await;
    let login = p.login_with("kari", PASSWORD).await;
    assert_eq!(login.body["methods"], json!(["passkey", "sms", "recovery_code"]));

    let sent = p.t.sms.sent().len();
    let opened = p
        .post_anonymous(
            "/v1/auth/recovery-code/verify",
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
        .post_anonymous(
            "/v1/auth/recovery-code/verify",
            json!({ "challenge_id": login.body["challenge_id"], "code": codes[1] }),
        )
        .await;
    assert_eq!(replay.status, StatusCode::GONE);
    let reused = p.login_with_recovery_code("kari", &codes[0]).await;
    assert_eq!(reused.code(), "invalid_code");
    assert_eq!(reused.body["attempts_left"], 4);
    assert_eq!(p.remaining("kari").await["remaining"], 9);

    let history = p.get("/v1/account/security-events", &token).await;
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
    let ola = p.login_with("ola", PASSWORD).await;
    assert_eq!(ola.body["methods"], json!(["sms"]));
    let refused = p
        .post_anonymous(
            "/v1/auth/recovery-code/verify",
            json!({ "challenge_id": ola.body["challenge_id"], "code": codes[2] }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::GONE);
    // A malformed code is a malformed field.
    let malformed = p.login_with_recovery_code("kari", "abc").await;
    assert_eq!(malformed.code(), "validation_failed");
}

#[tokio::test]
async fn not_me_removes_the_recovery_codes() {
    let p = Portal::new().await;
    p.enrol_totp().await;
    let codes = p.generate_codes("kari").await;
    let token = p.sms_session("kari").await;
    let answer = p
        .post("/v1/account/not-me", &token, json!({ "password": PASSWORD }))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let status = p.t.app.recovery_codes_status(&kari()).await.unwrap();
    assert_eq!((status.remaining, status.created_at), (0, None));
    // Not-me removed the app too, so logins are SMS again; re-enrol to try the codes.
    let change = p
        .call(
            Method::PUT,
            "/v1/account/password",
            Some(&p.sms_session("kari").await),
            Some(json!({ "old_password": PASSWORD, "new_password": "passordet etter innbruddet" })),
        )
        .await;
    assert_eq!(change.status, StatusCode::NO_CONTENT, "{}", change.body);
    let pw = Password::new("passordet etter innbruddet".into());
    let enrolment = p.t.app.start_totp_enrolment(&kari(), None, &pw, None).await.unwrap();
    let app = portal_testkit::authenticator_app(&enrolment.secret).unwrap();
    p.t.app
        .confirm_totp_enrolment(&kari(), None, &OneTimeCode::parse(&p.app_code(&app)).unwrap(), None)
        .await
        .unwrap();
    let login = p.login_with("kari", "passordet etter innbruddet").await;
    let verify = p
        .post_anonymous(
            "/v1/auth/recovery-code/verify",
            json!({ "challenge_id": login.body["challenge_id"], "code": codes[0] }),
        )
        .await;
    assert_eq!(verify.code(), "invalid_code", "{}", verify.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_recovery_code_used_at_once_from_many_logins_opens_one_session() {
    let p = Portal::new().await;
    p.enrol_totp().await;
    let codes = p.generate_codes("kari").await;
    let mut challenges = Vec::new();
    for _ in 0..6 {
        let login = p.login_with("kari", PASSWORD).await;
        challenges.push(login.body["challenge_id"].clone());
    }
    let handles: Vec<_> = challenges
        .iter()
        .map(|id| {
            let request = request(
                Method::POST,
                "/v1/auth/recovery-code/verify",
                None,
                Some(json!({ "challenge_id": id, "code": codes[0] })),
            );
            let router = p.router.clone();
            tokio::spawn(async move { send(&router, request).await })
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
        .all(|a| a.code() == "invalid_code"));
    assert_eq!(p.remaining("kari").await["remaining"], 9);
}

/// Recovery codes stand in for the account's app or passkey, so an account with neither gets
/// none: a set made by whoever holds the password and the SIM before the owner's first factor
/// (or racing its enrolment) would give them a way past it (the password and a planted code
/// open a session with a fresh second factor; the SIM and a planted code reset the password).
/// Once the owner has a passkey, the intruder's SMS session must step up with it.
#[tokio::test]
async fn recovery_codes_are_refused_to_an_account_without_an_app_or_passkey() {
    let p = Portal::new().await;
    let intruders = p.sms_session("kari").await;
    let planted = p
        .post(
            "/v1/account/recovery-codes",
            &intruders,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(planted.status, StatusCode::CONFLICT, "{}", planted.body);
    assert_eq!(planted.code(), "no_second_factor");
    assert_eq!(p.remaining("kari").await["remaining"], 0);

    let mut device = PasskeyDevice::new();
    p.enrol_passkey_as("kari", &mut device, "laptop").await;
    let planted = p
        .post(
            "/v1/account/recovery-codes",
            &intruders,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(planted.code(), "step_up_required", "{}", planted.body);
    assert_eq!(p.remaining("kari").await["remaining"], 0);
}

/// Whoever holds the SIM can submit the reset's SMS code without a factor again and again (it
/// stays unspent until the factor comes); each such answer opens a stored passkey challenge,
/// so they are bounded per reset: the eleventh within the hour is 429,
/// and the first challenge still completes the reset with the passkey.
#[tokio::test]
async fn reset_passkey_challenges_are_bounded_per_reset_and_hour() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    p.enrol_passkey_as("kari", &mut device, "Jobb-PC").await;
    let (id, code) = p.forgot("kari").await;

    let first = p.reset(&id, &code, json!({})).await;
    assert_eq!(first.code(), "second_factor_required", "{}", first.body);
    for _ in 1..10 {
        let again = p.reset(&id, &code, json!({})).await;
        assert_eq!(again.code(), "second_factor_required", "{}", again.body);
    }
    let refused = p.reset(&id, &code, json!({})).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}", refused.body);

    let assertion = device.sign(PORTAL, &first.body["passkey"]).unwrap();
    let done = p
        .reset(
            &id,
            &code,
            json!({ "passkey_challenge_id": first.body["passkey_challenge_id"], "credential": assertion }),
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
}
