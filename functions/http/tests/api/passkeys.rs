//! Passkeys through the real HTTP routes (the router and layers the functions and portal-local
//! serve), with a software authenticator doing what the browser and the user's device do. The
//! tests are the attacks: replayed and misdirected assertions, a phishing origin, a cloned
//! authenticator, a removed passkey, enrolment without the password, and another user's ids.

use axum::http::{header, HeaderValue, Method, StatusCode};
use portal_core::audit::AuditKind;
use portal_core::domain::Username;
use portal_testkit::PasskeyDevice;
use serde_json::{json, Value};

use crate::harness::{request, send, Portal, KARI_MOBILE, PASSWORD, PORTAL};

impl Portal {
    fn sms_count(&self) -> usize {
        self.t.sms.sent().len()
    }
}

#[tokio::test]
async fn a_passkey_enrolled_after_the_password_logs_in_without_any_sms_and_sms_stays_a_fallback() {
    let p = Portal::new().await;
    let before = p.login("kari").await;
    assert_eq!(before["methods"], json!(["sms"]));
    assert!(before.get("passkey").is_none());

    let mut device = PasskeyDevice::new();
    let id = p.enrol_passkey_as("kari", &mut device, "  Jobb-PC ").await;
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
    let opened = p.verify_passkey(&login["challenge_id"], &assertion).await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
    assert!(opened.body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(opened.set_cookie().is_some_and(|c| c.starts_with("__Host-hk_refresh=")));

    let list = p.get("/v1/account/passkeys", &p.sms_session("kari").await).await;
    assert_eq!(list.status, StatusCode::OK);
    let passkeys = list.body["passkeys"].as_array().unwrap();
    assert_eq!(passkeys.len(), 1);
    assert_eq!(passkeys[0]["id"], id.as_str());
    assert_eq!(passkeys[0]["name"], "Jobb-PC");
    assert!(passkeys[0]["created_at"].is_string());
    assert!(passkeys[0]["last_used_at"].is_string(), "the login is the last use");

    // "Send me an SMS instead": the same challenge takes an SMS code.
    let other = p.login("kari").await;
    let by_sms = p.sms_instead(&other["challenge_id"], KARI_MOBILE).await;
    assert_eq!(by_sms.status, StatusCode::OK, "{}", by_sms.body);

    let events = p.events("kari").await;
    assert!(events.contains(&AuditKind::PasskeyAdded));
    assert!(events.contains(&AuditKind::PasskeyVerified));
}

#[tokio::test]
async fn a_replayed_assertion_opens_no_second_session() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    p.enrol_passkey_as("kari", &mut device, "Telefon").await;
    let login = p.login("kari").await;
    let assertion = device.sign(PORTAL, &login["passkey"]).unwrap();
    assert_eq!(
        p.verify_passkey(&login["challenge_id"], &assertion).await.status,
        StatusCode::OK
    );
    let replayed = p.verify_passkey(&login["challenge_id"], &assertion).await;
    assert_eq!(replayed.status, StatusCode::GONE, "{}", replayed.body);
    assert_eq!(replayed.code(), "challenge_expired");
    // Nor on a fresh challenge of the same account: it signed another challenge.
    let fresh = p.login("kari").await;
    let replayed = p.verify_passkey(&fresh["challenge_id"], &assertion).await;
    assert_eq!(replayed.status, StatusCode::BAD_REQUEST, "{}", replayed.body);
    assert_eq!(replayed.code(), "invalid_code");
}

#[tokio::test]
async fn an_assertion_answers_only_its_own_accounts_challenge() {
    let p = Portal::new().await;
    let (mut kari_device, mut ola_device) = (PasskeyDevice::new(), PasskeyDevice::new());
    p.enrol_passkey_as("kari", &mut kari_device, "Kari sin").await;
    p.enrol_passkey_as("ola", &mut ola_device, "Ola sin").await;
    let kari = p.login("kari").await;
    let ola = p.login("ola").await;

    // Ola's passkey, on Ola's own challenge, offered for Kari's login: refused.
    let olas = ola_device.sign(PORTAL, &ola["passkey"]).unwrap();
    let refused = p.verify_passkey(&kari["challenge_id"], &olas).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.body["attempts_left"], 4);
    // Kari's passkey on Kari's challenge, offered for Ola's login: refused too.
    let karis = kari_device.sign(PORTAL, &kari["passkey"]).unwrap();
    let refused = p.verify_passkey(&ola["challenge_id"], &karis).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    // Each still logs in with its own.
    assert_eq!(
        p.verify_passkey(&kari["challenge_id"], &karis).await.status,
        StatusCode::OK
    );
    assert_eq!(
        p.verify_passkey(&ola["challenge_id"], &olas).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_assertion_made_on_another_origin_is_refused() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    p.enrol_passkey_as("kari", &mut device, "Telefon").await;
    let login = p.login("kari").await;
    // A page on a subdomain may ask for the portal's passkeys (the browser allows a registrable
    // suffix), but only the portal's own origin counts.
    let phished = device
        .sign("https://login.portal.example.test", &login["passkey"])
        .unwrap();
    let refused = p.verify_passkey(&login["challenge_id"], &phished).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.code(), "invalid_code");
    // A browser refuses an unrelated origin outright.
    assert!(device
        .sign("https://portal.example.test.evil.example", &login["passkey"])
        .is_err());
    let right = device.sign(PORTAL, &login["passkey"]).unwrap();
    assert_eq!(
        p.verify_passkey(&login["challenge_id"], &right).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_counter_that_goes_back_is_refused_and_audited() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    p.enrol_passkey_as("kari", &mut device, "Telefon").await;
    // Two logins; the first assertion (counter 1) is held back, as a clone would have it.
    let first = p.login("kari").await;
    let held_back = device.sign(PORTAL, &first["passkey"]).unwrap();
    let second = p.login("kari").await;
    let newer = device.sign(PORTAL, &second["passkey"]).unwrap();
    assert_eq!(
        p.verify_passkey(&second["challenge_id"], &newer).await.status,
        StatusCode::OK
    );

    let refused = p.verify_passkey(&first["challenge_id"], &held_back).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(p.events("kari").await.contains(&AuditKind::PasskeyCounterRegression));
    // The stored counter stayed where the newer assertion left it: the device goes on.
    let third = p.login("kari").await;
    let next = device.sign(PORTAL, &third["passkey"]).unwrap();
    assert_eq!(
        p.verify_passkey(&third["challenge_id"], &next).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_removed_passkey_no_longer_logs_in() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    let id = p.enrol_passkey_as("kari", &mut device, "Telefon").await;
    let login = p.login("kari").await;
    let assertion = device.sign(PORTAL, &login["passkey"]).unwrap();

    let token = p.sms_session("kari").await;
    let stepped = p.step_up_with_passkey(&token, &mut device).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    let path = format!("/v1/account/passkeys/{id}");
    let wrong = p.delete(&path, &token, json!({ "password": "feil passord her" })).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    let removed = p.delete(&path, &token, json!({ "password": PASSWORD })).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);

    // An assertion made before the removal, on a challenge opened before it: refused.
    let refused = p.verify_passkey(&login["challenge_id"], &assertion).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    let after = p.login("kari").await;
    assert_eq!(after["methods"], json!(["sms"]));
    assert!(p.events("kari").await.contains(&AuditKind::PasskeyRemoved));
}

#[tokio::test]
async fn enrolment_needs_the_password_and_an_enrolment_of_ones_own() {
    let p = Portal::new().await;
    let token = p.sms_session("kari").await;
    let no_session = p
        .post_anonymous("/v1/account/passkeys", json!({ "password": PASSWORD }))
        .await;
    assert_eq!(no_session.status, StatusCode::UNAUTHORIZED);
    let no_password = p.post("/v1/account/passkeys", &token, json!({})).await;
    assert_eq!(no_password.status, StatusCode::BAD_REQUEST);
    let wrong = p
        .post(
            "/v1/account/passkeys",
            &token,
            json!({ "password": "feil passord her" }),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.code(), "wrong_password");

    // Ola started an enrolment; Kari's session cannot finish it, not even with her device.
    let ola = p.sms_session("ola").await;
    let started = p
        .post("/v1/account/passkeys", &ola, json!({ "password": PASSWORD }))
        .await;
    assert_eq!(started.status, StatusCode::OK);
    let mut device = PasskeyDevice::new();
    let credential = device.register(PORTAL, &started.body["options"]).unwrap();
    let body = json!({
        "registration_id": started.body["registration_id"],
        "name": "Snikpasset",
        "credential": credential,
    });
    let stolen = p.post("/v1/account/passkeys/confirm", &token, body.clone()).await;
    assert_eq!(stolen.status, StatusCode::GONE, "{}", stolen.body);
    assert_eq!(stolen.code(), "passkey_enrolment_expired");
    // A name with a control character is refused before the enrolment is used up.
    let mut bad_name = body.clone();
    bad_name["name"] = json!("Jobb\u{202E}CP");
    let refused = p.post("/v1/account/passkeys/confirm", &ola, bad_name).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.code(), "validation_failed");
    // Ola's own confirmation works once; the enrolment is single use.
    let own = p.post("/v1/account/passkeys/confirm", &ola, body.clone()).await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.body);
    // Ola has a passkey now: a further enrolment needs a step-up with it.
    let stepped = p.step_up_with_passkey(&ola, &mut device).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    let again = p.post("/v1/account/passkeys/confirm", &ola, body).await;
    assert_eq!(again.status, StatusCode::GONE);
    let karis = p.get("/v1/account/passkeys", &token).await;
    assert_eq!(karis.body["passkeys"], json!([]));
    // The enrolment state lasts 5 minutes.
    let late = p
        .post("/v1/account/passkeys", &ola, json!({ "password": PASSWORD }))
        .await;
    let credential = PasskeyDevice::new().register(PORTAL, &late.body["options"]).unwrap();
    p.t.clock.advance(301);
    let ola = p.sms_session("ola").await;
    let stepped = p.step_up_with_passkey(&ola, &mut device).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    let expired = p
        .post(
            "/v1/account/passkeys/confirm",
            &ola,
            json!({ "registration_id": late.body["registration_id"], "name": "Sen", "credential": credential }),
        )
        .await;
    assert_eq!(expired.status, StatusCode::GONE);
}

#[tokio::test]
async fn another_users_passkey_cannot_be_removed_and_is_not_found() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    let olas = p.enrol_passkey_as("ola", &mut device, "Ola sin").await;
    let kari = p.sms_session("kari").await;
    for path in [
        format!("/v1/account/passkeys/{olas}"),
        "/v1/account/passkeys/not-an-id".to_owned(),
    ] {
        let answer = p.delete(&path, &kari, json!({ "password": PASSWORD })).await;
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
    p.enrol_passkey_as("kari", &mut device, "Telefon").await;
    let token = p.sms_session("kari").await;
    let stepped = p.step_up_with_passkey(&token, &mut device).await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    let started = p
        .post("/v1/account/passkeys", &token, json!({ "password": PASSWORD }))
        .await;
    let excluded = started.body["options"]["publicKey"]["excludeCredentials"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(excluded, 1, "the registered credential is excluded");

    p.enrol_app(&token).await;
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
    let mut request = request(
        Method::POST,
        "/v1/auth/passkey/verify",
        None,
        Some(json!({ "challenge_id": challenge_id, "credential": credential })),
    );
    let user_agent = HeaderValue::from_str(user_agent).unwrap();
    request.headers_mut().insert(header::USER_AGENT, user_agent);
    let answer = send(&p.router, request).await;
    (answer.status, answer.body, answer.set_cookies)
}

#[tokio::test]
async fn a_passkey_login_is_a_session_of_its_browser_and_a_new_browser_is_texted() {
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
    const CHROME: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    p.enrol_passkey_as("kari", &mut device, "Telefon").await;

    let login = p.login("kari").await;
    let assertion = device.sign(PORTAL, &login["passkey"]).unwrap();
    let (status, body, cookies) = verify_from(&p, FIREFOX, &login["challenge_id"], &assertion).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(cookies.iter().any(|c| c.contains("hk_device=")), "{cookies:?}");
    let token = body["access_token"].as_str().unwrap();
    let sessions = p.get("/v1/account/sessions", token).await;
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
    let history = p.get("/v1/account/security-events", token).await;
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
    p.enrol_passkey_as("kari", &mut intruders, "Min nøkkel").await;
    let before = p.login("kari").await;
    assert_eq!(before["methods"][0], "passkey");
    let assertion = intruders.sign(PORTAL, &before["passkey"]).unwrap();

    // The owner, signed in by SMS: the password, one click.
    let owner = p.sms_session("kari").await;
    let reported = p
        .post("/v1/account/not-me", &owner, json!({ "password": PASSWORD }))
        .await;
    assert_eq!(reported.status, StatusCode::OK, "{}", reported.body);

    let refused = p.verify_passkey(&before["challenge_id"], &assertion).await;
    assert!(refused.status.is_client_error(), "{}", refused.body);
    let after = p.login("kari").await;
    assert_eq!(after["methods"], json!(["sms"]), "{after}");
    let kari = Username::parse("kari").unwrap();
    assert!(p.t.app.list_passkeys(&kari).await.unwrap().is_empty());
    assert!(p.events("kari").await.contains(&AuditKind::PasskeyRemoved));
}

/// A passkey answer sent with `cookie` (a browser's device cookie): the answer.
async fn verify_with_cookie(
    p: &Portal,
    cookie: &str,
    challenge_id: &Value,
    credential: &Value,
) -> crate::harness::Answer {
    let mut request = request(
        Method::POST,
        "/v1/auth/passkey/verify",
        None,
        Some(json!({ "challenge_id": challenge_id, "credential": credential })),
    );
    request
        .headers_mut()
        .insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
    send(&p.router, request).await
}

/// The `name=value` of the device cookie among an answer's `Set-Cookie`s.
fn device_cookie(set_cookies: &[String]) -> String {
    set_cookies
        .iter()
        .filter_map(|c| c.split(';').next())
        .find(|pair| {
            pair.split_once('=')
                .is_some_and(|(name, _)| name.ends_with("hk_device"))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no device cookie in {set_cookies:?}"))
}

/// The passkey login is one decision, as the code login is (issue 18's three round trips):
/// the challenge with its WebAuthn state, one batch read (lock, failure log, profile, the
/// browser and the passkey the answer names) and one transaction. No query of the account's
/// passkeys, no separate reservation, session or audit writes.
#[tokio::test]
async fn a_passkey_login_from_a_known_browser_is_two_batch_reads_and_one_transaction() {
    let store = portal_testkit::CountingStore::new(std::sync::Arc::new(
        portal_core::store::sqlite::SqliteStore::in_memory().unwrap(),
    ));
    let p = Portal::on(store.clone(), portal_core::config::Policy::default()).await;
    let mut device = PasskeyDevice::new();
    p.enrol_passkey_as("kari", &mut device, "Telefon").await;
    let login = p.login("kari").await;
    let assertion = device.sign(PORTAL, &login["passkey"]).unwrap();
    let first = p.verify_passkey(&login["challenge_id"], &assertion).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let cookie = device_cookie(&first.set_cookies);

    let sent = p.sms_count();
    let login = p.login("kari").await;
    let assertion = device.sign(PORTAL, &login["passkey"]).unwrap();
    store.take_partition_keys();
    let (answer, io) = store
        .io_of(verify_with_cookie(&p, &cookie, &login["challenge_id"], &assertion))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!((io.reads, io.transactions), (2, 1), "{io:?}");
    assert_eq!(p.sms_count(), sent, "a known browser is not texted");
    let touched = store.take_partition_keys();
    assert!(!touched.iter().any(|pk| pk.starts_with("PASSKEY#")), "{touched:?}");

    // The session it opened works, and the counter and last use were written.
    let token = answer.body["access_token"].as_str().unwrap();
    let list = p.get("/v1/account/passkeys", token).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body["passkeys"][0]["last_used_at"].is_string());
    let events = p.events("kari").await;
    assert_eq!(events.iter().filter(|e| **e == AuditKind::PasskeyVerified).count(), 2);
}

/// Two copies of one assertion at once (a double submit, or an attacker racing the user):
/// both read the challenge before either writes, one session opens, the other is refused.
#[tokio::test]
async fn one_assertion_sent_twice_at_once_opens_one_session() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    p.enrol_passkey_as("kari", &mut device, "Telefon").await;
    let login = p.login("kari").await;
    let assertion = device.sign(PORTAL, &login["passkey"]).unwrap();
    let (a, b) = tokio::join!(
        p.verify_passkey(&login["challenge_id"], &assertion),
        p.verify_passkey(&login["challenge_id"], &assertion)
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::GONE], "{} / {}", a.body, b.body);
    let events = p.events("kari").await;
    assert_eq!(events.iter().filter(|e| **e == AuditKind::PasskeyVerified).count(), 1);
}

/// A login begun before the WebAuthn state named its passkeys (a deploy in the middle of a
/// login) still finishes: such a state is verified the stepwise way, which queries them.
#[tokio::test]
async fn a_login_state_without_its_passkeys_named_is_still_verified() {
    use portal_core::store::{Condition, WriteOp};
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    p.enrol_passkey_as("kari", &mut device, "Telefon").await;
    let login = p.login("kari").await;
    let pk = format!("CHALLENGE#{}", login["challenge_id"].as_str().unwrap());
    let mut state = p.t.store.get(&pk, "PASSKEY_LOGIN", p.now()).await.unwrap().unwrap();
    assert!(state.data.as_object_mut().unwrap().remove("offered").is_some());
    p.t.store
        .transact(
            vec![WriteOp::Put {
                item: state,
                condition: Condition::Always,
            }],
            p.now(),
        )
        .await
        .unwrap();

    let assertion = device.sign(PORTAL, &login["passkey"]).unwrap();
    let opened = p.verify_passkey(&login["challenge_id"], &assertion).await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
    let replayed = p.verify_passkey(&login["challenge_id"], &assertion).await;
    assert_eq!(replayed.status, StatusCode::GONE, "{}", replayed.body);
}

/// Wrong assertions are wrong codes: they spend the challenge's attempts and the account's
/// hourly failure budget, whose last slot locks code entry (and with it new logins), with the
/// events in the same write.
#[tokio::test]
async fn twenty_wrong_assertions_lock_code_entry() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    p.enrol_passkey_as("kari", &mut device, "Telefon").await;
    // Signed for one challenge, sent to others: a valid signature over the wrong challenge.
    let donor = p.login("kari").await;
    let misdirected = device.sign(PORTAL, &donor["passkey"]).unwrap();
    let mut wrongs = 0;
    for _ in 0..4 {
        let target = p.login("kari").await;
        for _ in 0..5 {
            let answer = p.verify_passkey(&target["challenge_id"], &misdirected).await;
            wrongs += 1;
            let expected = if wrongs < 20 {
                (StatusCode::BAD_REQUEST, "invalid_code")
            } else {
                (StatusCode::TOO_MANY_REQUESTS, "code_entry_locked")
            };
            assert_eq!(
                (answer.status, answer.code()),
                expected,
                "failure {wrongs}: {}",
                answer.body
            );
        }
    }
    let locked = p.login_with("kari", PASSWORD).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS, "{}", locked.body);
    let events = p.events("kari").await;
    assert_eq!(events.iter().filter(|e| **e == AuditKind::CodeFailed).count(), 20);
    assert_eq!(events.iter().filter(|e| **e == AuditKind::CodeLocked).count(), 1);
}

/// A right assertion that earns no session (the operator disabled the account meanwhile) is
/// spent all the same: kept in the trail, and no good for a session once the account is
/// enabled again.
#[tokio::test]
async fn a_right_assertion_refused_a_session_is_spent_and_audited() {
    let p = Portal::new().await;
    let mut device = PasskeyDevice::new();
    p.enrol_passkey_as("kari", &mut device, "Telefon").await;
    let login = p.login("kari").await;
    let assertion = device.sign(PORTAL, &login["passkey"]).unwrap();
    let kari = Username::parse("kari").unwrap();
    p.t.app.set_disabled(&kari, true).await.unwrap();

    let refused = p.verify_passkey(&login["challenge_id"], &assertion).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(refused.body.get("access_token").is_none());
    assert!(p.events("kari").await.contains(&AuditKind::PasskeyVerified));

    p.t.app.set_disabled(&kari, false).await.unwrap();
    let replayed = p.verify_passkey(&login["challenge_id"], &assertion).await;
    assert_eq!(replayed.status, StatusCode::GONE, "{}", replayed.body);
    assert_eq!(replayed.code(), "challenge_expired");
}
