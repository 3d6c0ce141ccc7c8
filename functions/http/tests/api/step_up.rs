//! Step-up (issue 17) through the real HTTP routes: a session must have proved a strong second
//! factor (authenticator app or passkey) in the last 5 minutes before it may register the
//! Buypass card, enrol or remove a factor, or report "this wasn't me", when the account has
//! such a factor. The tests are what a user and an attacker holding the password and an SMS
//! session see: refusals naming the methods, step-ups with an app code and with a passkey,
//! staleness after 5 minutes, logins that count as fresh, wrong answers that count and lock,
//! replays, and another user's or session's challenge. "This wasn't me" counts only factors
//! older than a day: the owner reports an intruder's new app or passkey with the password.

use axum::http::{Method, StatusCode};
use portal_core::config::Policy;
use portal_core::domain::{PasskeyId, Username};
use portal_testkit::PasskeyDevice;
use serde_json::{json, Value};

use crate::harness::{Answer, Portal, KARI_MOBILE, PASSWORD, PORTAL};

/// When an app or passkey starts to count for the step-up of "not me".
const GRACE: i64 = 86_400;

/// Asserts `answer` is the step-up refusal naming the account's `factors`, followed by the
/// recovery code that every account with a strong factor may fall back on.
fn assert_step_up_required(answer: &Answer, factors: &[&str], what: &str) {
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{what}: {}", answer.body);
    assert_eq!(answer.code(), "step_up_required", "{what}: {}", answer.body);
    let mut methods = factors.to_vec();
    methods.push("recovery_code");
    assert_eq!(answer.body["methods"], json!(methods), "{what}");
}

impl Portal {
    async fn step_up_with_app(&self, token: &str, code: &str) -> Answer {
        self.post("/v1/account/step-up", token, json!({ "totp_code": code }))
            .await
    }

    /// Every guarded action once, from `token`'s session: what each answered. `passkey` is one
    /// of the account's passkey ids (or a made-up one).
    async fn guarded_actions(&self, token: &str, passkey: &str) -> Vec<(&'static str, Answer)> {
        let password = json!({ "password": PASSWORD });
        vec![
            (
                "buypass start",
                self.post("/v1/homeoffice/buypass/start", token, password.clone()).await,
            ),
            (
                "passkey enrolment",
                self.post("/v1/account/passkeys", token, password.clone()).await,
            ),
            (
                "passkey confirmation",
                self.post(
                    "/v1/account/passkeys/confirm",
                    token,
                    json!({
                        "registration_id": "AAAAAAAAAAAAAAAAAAAAAA",
                        "name": "Ny",
                        "credential": { "id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {
                            "attestationObject": "AAAA", "clientDataJSON": "AAAA" } },
                    }),
                )
                .await,
            ),
            (
                "passkey removal",
                self.delete(&format!("/v1/account/passkeys/{passkey}"), token, password.clone())
                    .await,
            ),
            (
                "app enrolment",
                self.post("/v1/account/totp", token, password.clone()).await,
            ),
            (
                "app confirmation",
                self.post("/v1/account/totp/confirm", token, json!({ "code": "000000" }))
                    .await,
            ),
            (
                "app removal",
                self.delete("/v1/account/totp", token, password.clone()).await,
            ),
            (
                "phone change",
                self.post(
                    "/v1/account/phone",
                    token,
                    json!({ "new_mobile": "+4798765432", "password": PASSWORD }),
                )
                .await,
            ),
            (
                // To the same password, so the actions after it still know it.
                "password change",
                self.call(
                    Method::PUT,
                    "/v1/account/password",
                    Some(token),
                    Some(json!({ "old_password": PASSWORD, "new_password": PASSWORD })),
                )
                .await,
            ),
            ("not me", self.post("/v1/account/not-me", token, password.clone()).await),
        ]
    }

    async fn history(&self, token: &str) -> Vec<Value> {
        let answer = self.get("/v1/account/security-events", token).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body["events"].as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn an_sms_session_of_an_app_account_is_refused_every_guarded_action_until_it_steps_up() {
    let p = Portal::new().await;
    // The first strong factor needs no step-up: there is nothing to step up with.
    let first = p.sms_session("kari").await;
    let app = p.enrol_app(&first).await;
    // A day on: the app has settled, so "not me" is guarded as the rest are.
    p.t.clock.advance(GRACE);

    let sms = p.sms_session("kari").await;
    let made_up = PasskeyId::generate();
    for (what, answer) in p.guarded_actions(&sms, made_up.as_str()).await {
        assert_step_up_required(&answer, &["totp"], what);
    }
    // The password is still checked first: a wrong one is a wrong password, as before.
    let wrong = p
        .post("/v1/account/not-me", &sms, json!({ "password": "feil passord her" }))
        .await;
    assert_eq!(wrong.code(), "wrong_password", "{}", wrong.body);
    let options = p.step_up_options(&sms).await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.body);
    assert_eq!(
        options.body,
        json!({ "methods": ["totp", "recovery_code"], "challenge_id": null, "passkey": null })
    );

    p.t.clock.advance(30);
    let stepped = p.step_up_with_app(&sms, &p.app_code(&app)).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    assert_eq!(
        stepped.body["second_factor_valid_until"],
        json!(portal_core::clock::rfc3339(p.now() + 300))
    );

    // Past the guard now: each action answers what it answers without one.
    let answers = p.guarded_actions(&sms, made_up.as_str()).await;
    let status_of = |what: &str| {
        answers
            .iter()
            .find(|(w, _)| *w == what)
            .map(|(_, a)| (a.status, a.code().to_owned()))
            .unwrap()
    };
    assert_eq!(
        status_of("buypass start"),
        (StatusCode::SERVICE_UNAVAILABLE, "buypass_unavailable".into())
    );
    assert_eq!(status_of("passkey enrolment").0, StatusCode::OK);
    assert_eq!(status_of("passkey confirmation").0, StatusCode::GONE);
    assert_eq!(status_of("passkey removal").0, StatusCode::NOT_FOUND);
    assert_eq!(status_of("app enrolment").0, StatusCode::OK);
    assert_eq!(status_of("app confirmation").0, StatusCode::BAD_REQUEST);
    assert_eq!(status_of("app removal").0, StatusCode::NO_CONTENT);
    assert_eq!(status_of("phone change").0, StatusCode::OK);
    assert_eq!(status_of("password change").0, StatusCode::NO_CONTENT);
    assert_eq!(status_of("not me").0, StatusCode::OK);
}

#[tokio::test]
async fn a_passkey_step_up_opens_the_guard_and_names_passkey_first() {
    let p = Portal::new().await;
    let first = p.sms_session("kari").await;
    let mut device = PasskeyDevice::new();
    let id = p.enrol_passkey(&first, &mut device, "Telefon").await;
    // A second factor on an account with a passkey: the enrolling session steps up first.
    let stepped = p.step_up_with_passkey(&first, &mut device).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    p.enrol_app(&first).await;

    let sms = p.sms_session("kari").await;
    let removal = p
        .delete(
            &format!("/v1/account/passkeys/{id}"),
            &sms,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_step_up_required(&removal, &["passkey", "totp"], "passkey removal");

    let options = p.step_up_options(&sms).await;
    assert_eq!(options.body["methods"], json!(["passkey", "totp", "recovery_code"]));
    assert!(options.body["challenge_id"].is_string(), "{}", options.body);
    assert!(options.body["passkey"]["publicKey"]["challenge"].is_string());
    let credential = device.sign(PORTAL, &options.body["passkey"]).unwrap();
    let body = json!({ "challenge_id": options.body["challenge_id"], "credential": credential });
    let stepped = p.post("/v1/account/step-up", &sms, body.clone()).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    assert_eq!(
        stepped.body["second_factor_valid_until"],
        json!(portal_core::clock::rfc3339(p.now() + 300))
    );

    // The same assertion again, and the used challenge: refused.
    let replayed = p.post("/v1/account/step-up", &sms, body).await;
    assert_eq!(replayed.status, StatusCode::GONE, "{}", replayed.body);
    assert_eq!(replayed.code(), "challenge_expired");
    // The old assertion on a new challenge: not an answer to it.
    let fresh = p.step_up_options(&sms).await;
    let misdirected = p
        .post(
            "/v1/account/step-up",
            &sms,
            json!({ "challenge_id": fresh.body["challenge_id"], "credential": credential }),
        )
        .await;
    assert_eq!(misdirected.status, StatusCode::BAD_REQUEST, "{}", misdirected.body);
    assert_eq!(misdirected.code(), "invalid_code");

    let removed = p
        .delete(
            &format!("/v1/account/passkeys/{id}"),
            &sms,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);

    let history = p.history(&sms).await;
    let step_ups: Vec<&Value> = history.iter().filter(|e| e["event"] == "step_up").collect();
    assert_eq!(step_ups.len(), 2, "{history:?}");
    assert_eq!(step_ups[0]["detail"]["method"], "passkey");
    let failed = history
        .iter()
        .find(|e| e["event"] == "code_failed")
        .expect("the refused assertion is in the history");
    assert_eq!(failed["detail"]["during"], "step_up");
}

#[tokio::test]
async fn a_step_up_is_fresh_for_five_minutes_then_needed_again() {
    let p = Portal::new().await;
    let first = p.sms_session("kari").await;
    let app = p.enrol_app(&first).await;
    let sms = p.sms_session("kari").await;
    p.t.clock.advance(30);
    let stepped = p.step_up_with_app(&sms, &p.app_code(&app)).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);

    p.t.clock.advance(299);
    let in_time = p
        .post("/v1/account/passkeys", &sms, json!({ "password": PASSWORD }))
        .await;
    assert_eq!(in_time.status, StatusCode::OK, "{}", in_time.body);
    p.t.clock.advance(1);
    let late = p
        .post("/v1/account/passkeys", &sms, json!({ "password": PASSWORD }))
        .await;
    assert_step_up_required(&late, &["totp"], "5 minutes after the step-up");
    // Stepping up again opens it again.
    let again = p.step_up_with_app(&sms, &p.app_code(&app)).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let opened = p
        .post("/v1/account/passkeys", &sms, json!({ "password": PASSWORD }))
        .await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
}

#[tokio::test]
async fn app_and_passkey_logins_count_as_fresh_for_five_minutes_and_an_sms_login_does_not() {
    let p = Portal::new().await;
    let first = p.sms_session("kari").await;
    let app = p.enrol_app(&first).await;

    // An app login: fresh at once.
    p.t.clock.advance(30);
    let login = p.login("kari").await;
    let verified = p
        .post_anonymous(
            "/v1/auth/totp/verify",
            json!({ "challenge_id": login["challenge_id"], "code": p.app_code(&app) }),
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    let by_app = verified.body["access_token"].as_str().unwrap().to_owned();
    let mut device = PasskeyDevice::new();
    p.enrol_passkey(&by_app, &mut device, "Telefon").await;

    // A passkey login: fresh at once.
    let login = p.login("kari").await;
    assert_eq!(login["methods"], json!(["passkey", "totp", "sms", "recovery_code"]));
    let assertion = device.sign(PORTAL, &login["passkey"]).unwrap();
    let verified = p.verify_passkey(&login["challenge_id"], &assertion).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    let by_passkey = verified.body["access_token"].as_str().unwrap().to_owned();
    let started = p
        .post("/v1/account/totp", &by_passkey, json!({ "password": PASSWORD }))
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);

    // An SMS login of the same account (the fallback): not fresh.
    let login = p.login("kari").await;
    let verified = p.sms_instead(&login["challenge_id"], KARI_MOBILE).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    let by_sms = verified.body["access_token"].as_str().unwrap().to_owned();
    let refused = p
        .post("/v1/account/passkeys", &by_sms, json!({ "password": PASSWORD }))
        .await;
    assert_step_up_required(&refused, &["passkey", "totp"], "SMS login");

    // Five minutes after the app and passkey logins, their sessions need a step-up too.
    p.t.clock.advance(300);
    for token in [&by_app, &by_passkey] {
        let late = p
            .post("/v1/account/passkeys", token, json!({ "password": PASSWORD }))
            .await;
        assert_step_up_required(&late, &["passkey", "totp"], "5 minutes after the login");
    }
}

#[tokio::test]
async fn wrong_step_up_codes_count_and_lock_like_login_codes() {
    let p = Portal::new().await;
    let first = p.sms_session("kari").await;
    let app = p.enrol_app(&first).await;
    let sms = p.sms_session("kari").await;
    p.t.clock.advance(30);
    let right = p.app_code(&app);
    let wrong = p.wrong_app_code(&app);
    let limit = Policy::default().code_failures_per_account_hour;
    for i in 1..limit {
        let answer = p.step_up_with_app(&sms, &wrong).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "attempt {i}: {}", answer.body);
        assert_eq!(answer.code(), "invalid_code");
        assert_eq!(answer.body["attempts_left"], json!(limit - i), "attempt {i}");
    }
    let last = p.step_up_with_app(&sms, &wrong).await;
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS, "{}", last.body);
    assert_eq!(last.code(), "code_entry_locked");
    // Locked: the right code does not step up, and login is locked as well.
    let locked = p.step_up_with_app(&sms, &right).await;
    assert_eq!(locked.code(), "code_entry_locked", "{}", locked.body);
    let login = p.login_with("kari", PASSWORD).await;
    assert_eq!(login.code(), "code_entry_locked", "{}", login.body);
    let still = p
        .post("/v1/account/passkeys", &sms, json!({ "password": PASSWORD }))
        .await;
    assert_step_up_required(&still, &["totp"], "after the lock");
}

#[tokio::test]
async fn an_app_code_steps_up_once_and_is_then_used_up_for_login_too() {
    let p = Portal::new().await;
    let first = p.sms_session("kari").await;
    let app = p.enrol_app(&first).await;
    let sms = p.sms_session("kari").await;
    p.t.clock.advance(30);
    let code = p.app_code(&app);
    let stepped = p.step_up_with_app(&sms, &code).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    let other = p.sms_session("kari").await;
    let replayed = p.step_up_with_app(&other, &code).await;
    assert_eq!(replayed.status, StatusCode::BAD_REQUEST, "{}", replayed.body);
    assert_eq!(replayed.code(), "invalid_code");
    let login = p.login("kari").await;
    let verify = p
        .post_anonymous(
            "/v1/auth/totp/verify",
            json!({ "challenge_id": login["challenge_id"], "code": code }),
        )
        .await;
    assert_eq!(verify.status, StatusCode::BAD_REQUEST, "{}", verify.body);
}

#[tokio::test]
async fn a_step_up_challenge_answers_only_its_own_users_session() {
    let p = Portal::new().await;
    let mut karis = PasskeyDevice::new();
    let mut olas = PasskeyDevice::new();
    let kari_first = p.sms_session("kari").await;
    p.enrol_passkey(&kari_first, &mut karis, "Telefon").await;
    let ola_first = p.sms_session("ola").await;
    p.enrol_passkey(&ola_first, &mut olas, "Telefon").await;

    let kari = p.sms_session("kari").await;
    let ola = p.sms_session("ola").await;
    // Ola's challenge, answered by Ola's passkey, sent from Kari's session: unknown to her.
    let olas_options = p.step_up_options(&ola).await;
    let olas_assertion = olas.sign(PORTAL, &olas_options.body["passkey"]).unwrap();
    let stolen = p
        .post(
            "/v1/account/step-up",
            &kari,
            json!({ "challenge_id": olas_options.body["challenge_id"], "credential": olas_assertion }),
        )
        .await;
    assert_eq!(stolen.status, StatusCode::GONE, "{}", stolen.body);
    let karis_guard = p
        .post("/v1/account/passkeys", &kari, json!({ "password": PASSWORD }))
        .await;
    assert_step_up_required(&karis_guard, &["passkey"], "after the stolen challenge");

    // Kari's own challenge opened by another of her sessions: bound to that session.
    let kari_other = p.sms_session("kari").await;
    let options = p.step_up_options(&kari_other).await;
    let assertion = karis.sign(PORTAL, &options.body["passkey"]).unwrap();
    let body = json!({ "challenge_id": options.body["challenge_id"], "credential": assertion });
    let elsewhere = p.post("/v1/account/step-up", &kari, body.clone()).await;
    assert_eq!(elsewhere.status, StatusCode::GONE, "{}", elsewhere.body);
    // The session that opened it can still use it (the refusal did not touch it).
    let own = p.post("/v1/account/step-up", &kari_other, body).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);

    // Ola's challenge answered with Ola's assertion from Ola's session still works.
    let olas_own = p
        .post(
            "/v1/account/step-up",
            &ola,
            json!({ "challenge_id": olas_options.body["challenge_id"], "credential": olas_assertion }),
        )
        .await;
    assert_eq!(olas_own.status, StatusCode::OK, "{}", olas_own.body);
}

#[tokio::test]
async fn an_account_without_a_strong_factor_is_unaffected_and_has_nothing_to_step_up_with() {
    let p = Portal::new().await;
    let sms = p.sms_session("kari").await;
    let options = p.step_up_options(&sms).await;
    assert_eq!(options.status, StatusCode::CONFLICT, "{}", options.body);
    assert_eq!(options.code(), "no_second_factor");
    let step_up = p.step_up_with_app(&sms, "123456").await;
    assert_eq!(step_up.status, StatusCode::NOT_FOUND, "{}", step_up.body);
    assert_eq!(step_up.code(), "totp_not_enrolled");
    let both = p
        .post(
            "/v1/account/step-up",
            &sms,
            json!({ "totp_code": "123456", "challenge_id": "AAAAAAAAAAAAAAAAAAAAAA" }),
        )
        .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST, "{}", both.body);
    assert_eq!(both.code(), "validation_failed");

    for (what, answer) in p.guarded_actions(&sms, PasskeyId::generate().as_str()).await {
        assert_ne!(answer.code(), "step_up_required", "{what}: {}", answer.body);
        assert_ne!(answer.status, StatusCode::FORBIDDEN, "{what}: {}", answer.body);
    }
}

#[test]
fn the_grace_of_these_tests_is_the_portals() {
    assert_eq!(
        GRACE,
        portal_core::clock::secs(portal_core::services::step_up::NOT_ME_GRACE)
    );
}

/// "Not me" from `token`'s session with the password.
async fn not_me(p: &Portal, token: &str) -> Answer {
    p.post("/v1/account/not-me", token, json!({ "password": PASSWORD }))
        .await
}

/// The owner's own app, older than a day, keeps its guard on "not me": someone holding the
/// password and the SIM (an SMS session) cannot strip it and then log in with SMS alone. At
/// a second under a day it has not settled, and any other guarded action still asks for it.
#[tokio::test]
async fn not_me_needs_a_step_up_with_an_app_from_exactly_a_day_after_its_enrolment() {
    let p = Portal::new().await;
    let kari_first = p.sms_session("kari").await;
    let karis = p.enrol_app(&kari_first).await;
    let ola_first = p.sms_session("ola").await;
    p.enrol_app(&ola_first).await;
    let (kari, ola) = (Username::parse("kari").unwrap(), Username::parse("ola").unwrap());

    // A second before the day is out: the password is enough for "not me", not for the rest.
    p.t.clock.advance(GRACE - 1);
    let ola_sms = p.sms_session("ola").await;
    let removal = p
        .delete("/v1/account/totp", &ola_sms, json!({ "password": PASSWORD }))
        .await;
    assert_step_up_required(&removal, &["totp"], "app removal, a day less a second");
    let reported = not_me(&p, &ola_sms).await;
    assert_eq!(reported.status, StatusCode::OK, "{}", reported.body);
    assert!(!p.t.app.totp_active(&ola).await.unwrap());

    // To the second a day after: settled, so the SMS session must step up.
    p.t.clock.advance(1);
    let kari_sms = p.sms_session("kari").await;
    let refused = not_me(&p, &kari_sms).await;
    assert_step_up_required(&refused, &["totp"], "not me, a day after");
    assert!(p.t.app.totp_active(&kari).await.unwrap(), "the refusal changed nothing");
    let stepped = p.step_up_with_app(&kari_sms, &p.app_code(&karis)).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    // An unfinished enrolment (whoever started it) does not survive the report.
    let started = p
        .post("/v1/account/totp", &kari_sms, json!({ "password": PASSWORD }))
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let reported = not_me(&p, &kari_sms).await;
    assert_eq!(reported.status, StatusCode::OK, "{}", reported.body);
    // Her settled app stays: she proved it, and without it the account would be SMS-only.
    let status = p.t.app.totp_status(&kari).await.unwrap();
    assert!(status.enabled && !status.pending, "{status:?}");
}

/// As with an app: the owner's passkey older than a day guards "not me", one a second
/// younger does not; a settled passkey also brings in a newer app's method.
#[tokio::test]
async fn not_me_needs_a_step_up_with_a_passkey_from_exactly_a_day_after_its_enrolment() {
    let p = Portal::new().await;
    let mut karis = PasskeyDevice::new();
    let kari_first = p.sms_session("kari").await;
    p.enrol_passkey(&kari_first, &mut karis, "Telefon").await;
    let mut olas = PasskeyDevice::new();
    let ola_first = p.sms_session("ola").await;
    p.enrol_passkey(&ola_first, &mut olas, "Telefon").await;
    let (kari, ola) = (Username::parse("kari").unwrap(), Username::parse("ola").unwrap());

    p.t.clock.advance(GRACE - 1);
    let ola_sms = p.sms_session("ola").await;
    let enrolment = p
        .post("/v1/account/passkeys", &ola_sms, json!({ "password": PASSWORD }))
        .await;
    assert_step_up_required(&enrolment, &["passkey"], "passkey enrolment, a day less a second");
    let reported = not_me(&p, &ola_sms).await;
    assert_eq!(reported.status, StatusCode::OK, "{}", reported.body);
    assert!(p.t.app.list_passkeys(&ola).await.unwrap().is_empty());

    p.t.clock.advance(1);
    // Kari adds an app today (stepping up with her passkey): the settled passkey still guards.
    let kari_today = p.sms_session("kari").await;
    let stepped = p.step_up_with_passkey(&kari_today, &mut karis).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    p.enrol_app(&kari_today).await;
    let kari_sms = p.sms_session("kari").await;
    let refused = not_me(&p, &kari_sms).await;
    assert_step_up_required(&refused, &["passkey", "totp"], "not me, a day after");
    assert_eq!(p.t.app.list_passkeys(&kari).await.unwrap().len(), 1, "nothing changed");
    let stepped = p.step_up_with_passkey(&kari_sms, &mut karis).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    let reported = not_me(&p, &kari_sms).await;
    assert_eq!(reported.status, StatusCode::OK, "{}", reported.body);
    // Both stay: the passkey has settled, and the app counts from the passkey it was added with.
    assert_eq!(p.t.app.list_passkeys(&kari).await.unwrap().len(), 1);
    assert!(p.t.app.totp_active(&kari).await.unwrap());
}

/// Replacing the app (a new phone) takes a step-up with the old, settled app, so the new one
/// is the owner's from its first second and must keep guarding "not me". If the replacement
/// started the day of grace again, then for a day after every replacement whoever holds the
/// password and the SIM could report "not me" from an SMS session, which strips the owner's
/// app (and passkeys), and then log in with SMS alone, set a password of their own and enrol
/// their own factor: the account and its card.
#[tokio::test]
async fn an_app_replaced_after_a_step_up_with_a_settled_one_keeps_guarding_not_me() {
    let p = Portal::new().await;
    let kari = Username::parse("kari").unwrap();
    let first = p.sms_session("kari").await;
    let old = p.enrol_app(&first).await;
    p.t.clock.advance(30 * GRACE);

    // Kari's new phone: she steps up with the old app and enrols the new one.
    let karis = p.sms_session("kari").await;
    let stepped = p.step_up_with_app(&karis, &p.app_code(&old)).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    let new = p.enrol_app(&karis).await;
    p.t.clock.advance(3600);

    // An hour later, the intruder's SMS session.
    let intruders = p.sms_session("kari").await;
    let refused = not_me(&p, &intruders).await;
    assert_step_up_required(&refused, &["totp"], "not me an hour after a replacement");
    assert!(p.t.app.totp_active(&kari).await.unwrap(), "the refusal changed nothing");
    // Kari herself still reports with the new app.
    p.t.clock.advance(30);
    let stepped = p.step_up_with_app(&intruders, &p.app_code(&new)).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    assert_eq!(not_me(&p, &intruders).await.status, StatusCode::OK);
}

/// The same with passkeys: a new laptop's passkey added after a step-up with the settled old
/// one, which is then removed, guards "not me" at once.
#[tokio::test]
async fn a_passkey_added_after_a_step_up_with_a_settled_one_keeps_guarding_not_me() {
    let p = Portal::new().await;
    let kari = Username::parse("kari").unwrap();
    let mut old_laptop = PasskeyDevice::new();
    let first = p.sms_session("kari").await;
    let old = p.enrol_passkey(&first, &mut old_laptop, "laptop").await;
    p.t.clock.advance(30 * GRACE);

    let karis = p.sms_session("kari").await;
    let stepped = p.step_up_with_passkey(&karis, &mut old_laptop).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    let mut new_laptop = PasskeyDevice::new();
    p.enrol_passkey(&karis, &mut new_laptop, "laptop").await;
    let removed = p
        .call(
            Method::DELETE,
            &format!("/v1/account/passkeys/{old}"),
            Some(&karis),
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    p.t.clock.advance(3600);

    let intruders = p.sms_session("kari").await;
    let refused = not_me(&p, &intruders).await;
    assert_step_up_required(&refused, &["passkey"], "not me an hour after a replacement");
    assert_eq!(
        p.t.app.passkeys(&kari).await.unwrap().len(),
        1,
        "the refusal changed nothing"
    );
}

/// Whoever holds the password and the SIM of an account protected by the owner's passkey gets
/// an SMS session (the fallback), but neither a new password nor a new number: either would
/// take the account (a new password ends the owner's sessions and keeps her passkey from
/// logging in; the number receives the reset codes and every notice). After a step-up with the
/// passkey, both work.
#[tokio::test]
async fn an_sms_session_may_not_change_the_password_or_the_phone_of_an_account_with_a_passkey() {
    let p = Portal::new().await;
    let mut karis = PasskeyDevice::new();
    let first = p.sms_session("kari").await;
    p.enrol_passkey(&first, &mut karis, "laptop").await;

    let intruders = p.sms_session("kari").await;
    let phone = p
        .post(
            "/v1/account/phone",
            &intruders,
            json!({ "new_mobile": "+4798765432", "password": PASSWORD }),
        )
        .await;
    assert_step_up_required(&phone, &["passkey"], "phone change");
    assert!(
        p.last_code_to("+4798765432").is_none(),
        "no code went to the new number"
    );
    let password = p
        .call(
            Method::PUT,
            "/v1/account/password",
            Some(&intruders),
            Some(json!({ "old_password": PASSWORD, "new_password": "inntrengerens eget passord" })),
        )
        .await;
    assert_step_up_required(&password, &["passkey"], "password change");
    assert_eq!(
        p.login_with("kari", PASSWORD).await.status,
        StatusCode::OK,
        "the password is unchanged"
    );

    // Kari, stepping up with her passkey, may do both.
    let karis_session = p.sms_session("kari").await;
    let stepped = p.step_up_with_passkey(&karis_session, &mut karis).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    let phone = p
        .post(
            "/v1/account/phone",
            &karis_session,
            json!({ "new_mobile": "+4798765432", "password": PASSWORD }),
        )
        .await;
    assert_eq!(phone.status, StatusCode::OK, "{}", phone.body);
    let password = p
        .call(
            Method::PUT,
            "/v1/account/password",
            Some(&karis_session),
            Some(json!({ "old_password": PASSWORD, "new_password": "sommerfugl over fjorden" })),
        )
        .await;
    assert_eq!(password.status, StatusCode::NO_CONTENT, "{}", password.body);
}

/// The owner, stepping up with her passkey of a month, reports "not me" because someone
/// holding the password and the SIM has an SMS session. Her settled passkey stays (she proved
/// it; without it the account would be SMS-only, and the intruder could log in with the
/// password and the SIM, pass the forced password change and enrol a factor of their own).
/// The recovery codes go. The intruder's next SMS session must change the password first,
/// which asks for the passkey; the owner's passkey login still opens her account.
#[tokio::test]
async fn not_me_reported_with_a_settled_passkey_keeps_it_and_leaves_the_intruder_stuck() {
    let p = Portal::new().await;
    let kari = Username::parse("kari").unwrap();
    let mut karis = PasskeyDevice::new();
    let first = p.sms_session("kari").await;
    p.enrol_passkey(&first, &mut karis, "laptop").await;
    p.t.clock.advance(30 * GRACE);

    // Kari reports, stepping up with her passkey.
    let karis_session = p.sms_session("kari").await;
    let stepped = p.step_up_with_passkey(&karis_session, &mut karis).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    let codes = p
        .post(
            "/v1/account/recovery-codes",
            &karis_session,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(codes.status, StatusCode::CREATED, "{}", codes.body);
    let reported = not_me(&p, &karis_session).await;
    assert_eq!(reported.status, StatusCode::OK, "{}", reported.body);
    assert_eq!(p.t.app.passkeys(&kari).await.unwrap().len(), 1, "her passkey stays");

    // The intruder: the password and an SMS code open a session that must change the password,
    // and the change needs the passkey.
    let login = p.login("kari").await;
    assert_eq!(login["methods"], json!(["passkey", "sms", "recovery_code"]), "{login}");
    let verified = p.sms_instead(&login["challenge_id"], KARI_MOBILE).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    assert_eq!(verified.body["password_change_required"], json!(true));
    let intruders = verified.body["access_token"].as_str().unwrap().to_owned();
    let changed = p
        .call(
            Method::PUT,
            "/v1/account/password",
            Some(&intruders),
            Some(json!({ "old_password": PASSWORD, "new_password": "inntrengerens eget passord" })),
        )
        .await;
    assert_step_up_required(&changed, &["passkey"], "the intruder's password change after not-me");
    let enrolment = p
        .post("/v1/account/passkeys", &intruders, json!({ "password": PASSWORD }))
        .await;
    assert_eq!(enrolment.code(), "password_change_required", "{}", enrolment.body);

    // Kari: her passkey logs in, and its session changes the password without another step.
    let login = p.login("kari").await;
    let options = &login["passkey"];
    let assertion = karis.sign(PORTAL, options).unwrap();
    let opened = p.verify_passkey(&login["challenge_id"], &assertion).await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
    let karis_new = opened.body["access_token"].as_str().unwrap().to_owned();
    let changed = p
        .call(
            Method::PUT,
            "/v1/account/password",
            Some(&karis_new),
            Some(json!({ "old_password": PASSWORD, "new_password": "sommerfugl over fjorden" })),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
}

/// A session that must change its password (here after an operator's reset) may step up,
/// since the change asks for it, and then change the password; nothing else opens to it.
#[tokio::test]
async fn a_session_that_must_change_its_password_steps_up_with_the_app_and_then_changes_it() {
    let p = Portal::new().await;
    let kari = Username::parse("kari").unwrap();
    let first = p.sms_session("kari").await;
    let app = p.enrol_app(&first).await;
    p.t.app
        .update_account(&kari, |a| a.password_change_required = true)
        .await
        .unwrap();
    p.t.clock.advance(30);

    let login = p.login("kari").await;
    let verified = p.sms_instead(&login["challenge_id"], KARI_MOBILE).await;
    assert_eq!(
        verified.body["password_change_required"],
        json!(true),
        "{}",
        verified.body
    );
    let session = verified.body["access_token"].as_str().unwrap().to_owned();
    let change = json!({ "old_password": PASSWORD, "new_password": "sommerfugl over fjorden" });
    let refused = p
        .call(
            Method::PUT,
            "/v1/account/password",
            Some(&session),
            Some(change.clone()),
        )
        .await;
    assert_step_up_required(&refused, &["totp"], "a pending password change");
    let options = p.step_up_options(&session).await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.body);
    let stepped = p.step_up_with_app(&session, &p.app_code(&app)).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    let account = p.get("/v1/account", &session).await;
    assert_eq!(
        account.code(),
        "password_change_required",
        "the step-up opened nothing else"
    );
    let changed = p
        .call(Method::PUT, "/v1/account/password", Some(&session), Some(change))
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    assert_eq!(p.get("/v1/account", &session).await.status, StatusCode::OK);
}
