//! Account self-service over HTTP against the real binaries: password change, phone change,
//! forgot/reset password, first-login password change, operator reset and audit trail, and
//! what an attacker sees in each. Written against the `Portal` harness only (no storage
//! details), so it runs on every backend the harness supports.

use std::collections::BTreeSet;

use e2e::{create_account_args, parts, wrong_code, Challenge, Portal, Problem, Session, PASSWORD};
use serde_json::{json, Value};

const MOBILE: &str = "+4791234567";
const OTHER_MOBILE: &str = "+4791234568";
const NEW_MOBILE: &str = "+4798765432";
const NEW_PASSWORD: &str = "blåbær syltetøy på vaffel";

fn keys(body: &Value) -> BTreeSet<String> {
    body.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// The password in an initial-password SMS ("… passord XXXX-XXXX-XXXX-XXXX. Bytt …").
fn password_in(sms: &str) -> Option<String> {
    sms.split("passord ")
        .nth(1)
        .and_then(|rest| rest.split('.').next())
        .map(str::to_owned)
}

/// What a changed password means for kari (from [`PASSWORD`] to [`NEW_PASSWORD`]): a notice
/// to her phone, the old password refused, the new one signs in. Returns that new session.
async fn assert_password_changed(portal: &Portal) -> anyhow::Result<Session> {
    let notice = &portal.texts_to(MOBILE).await?[0];
    assert!(
        notice.starts_with("Passordet ditt i Norsk Helsenett kundeportal er endret."),
        "{notice}"
    );
    Problem::expect(
        portal.login_response("kari", PASSWORD, false).await?,
        401,
        "invalid_credentials",
    )
    .await?;
    portal.sign_in_with("kari", NEW_PASSWORD, MOBILE).await
}

// ---- password change -----------------------------------------------------------------------

#[tokio::test]
async fn password_change_keeps_this_session_ends_the_others_and_texts_a_notice() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let current = portal.sign_in("kari", MOBILE).await?;
    let other = portal.sign_in("kari", MOBILE).await?;

    let r = portal.change_password(&current, PASSWORD, NEW_PASSWORD).await?;
    assert_eq!(r.status(), 204);

    assert_eq!(
        portal.account_response(&current).await?.status(),
        200,
        "this session stays"
    );
    Problem::expect(portal.account_response(&other).await?, 401, "session_expired").await?;
    assert_eq!(
        portal.refresh(&other).await?.status(),
        401,
        "its refresh token is dead too"
    );
    assert_eq!(portal.refresh(&current).await?.status(), 200);
    assert_password_changed(&portal).await?;
    Ok(())
}

#[tokio::test]
async fn password_change_refuses_weak_and_wrong_passwords_and_throttles_guessing() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;

    let weak = Problem::expect(
        portal.change_password(&session, PASSWORD, "kari").await?,
        400,
        "weak_password",
    )
    .await?;
    assert_eq!(weak["reasons"], json!(["too_short", "contains_username"]));
    assert!(weak["detail"].as_str().is_some_and(|d| d.contains("12 tegn")), "{weak}");

    for _ in 0..5 {
        Problem::expect(
            portal
                .change_password(&session, "feil gammelt passord", NEW_PASSWORD)
                .await?,
            403,
            "wrong_password",
        )
        .await?;
    }
    // Three more failures, each after its wait: the next attempt then faces an 8 s backoff.
    e2e::build_backoff(3, 403, || async {
        let r = portal
            .change_password(&session, "feil gammelt passord", NEW_PASSWORD)
            .await?;
        Ok(e2e::status_and_retry_after(&r))
    })
    .await?;
    let throttled = portal.change_password(&session, PASSWORD, NEW_PASSWORD).await?;
    assert!(throttled.headers().contains_key("retry-after"));
    Problem::expect(throttled, 429, "too_many_attempts").await?;
    let login = portal.login_response("kari", PASSWORD, false).await?;
    assert_eq!(login.status(), 429, "the wrong old passwords count as failed logins");
    assert_eq!(
        portal.account_response(&session).await?.status(),
        200,
        "the session itself is unharmed"
    );
    Ok(())
}

// ---- first login / password change required ------------------------------------------------

#[tokio::test]
async fn an_account_with_a_generated_password_can_only_change_it_until_it_does() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    let (ok, out) = portal.admin(
        &[
            create_account_args("nhn.bruker", "Nils Bruker", MOBILE),
            vec!["--home-office"],
        ]
        .concat(),
    )?;
    assert!(ok, "{out}");
    let initial = password_in(&portal.texts_to(MOBILE).await?[0]).expect("initial password by SMS");

    let session = portal.sign_in_with("nhn.bruker", &initial, MOBILE).await?;
    assert!(
        session.password_change_required,
        "the token response says a change is required"
    );
    Problem::expect(
        portal.account_response(&session).await?,
        403,
        "password_change_required",
    )
    .await?;
    let phone = portal.change_phone(&session, NEW_MOBILE, &initial).await?;
    Problem::expect(phone, 403, "password_change_required").await?;
    assert_eq!(portal.refresh(&session).await?.status(), 200, "refresh still works");

    let weak = portal.change_password(&session, &initial, "nhn.bruker-2025").await?;
    Problem::expect(weak, 400, "weak_password").await?;
    assert_eq!(
        portal.change_password(&session, &initial, NEW_PASSWORD).await?.status(),
        204
    );

    let account = portal.account_response(&session).await?;
    assert_eq!(account.status(), 200, "the same session may now read the account");
    let account: Value = account.json().await?;
    assert_eq!(account["password_change_required"], false);
    let session = portal.sign_in_with("nhn.bruker", NEW_PASSWORD, MOBILE).await?;
    assert!(!session.password_change_required);
    Ok(())
}

#[tokio::test]
async fn logout_works_while_a_password_change_is_pending() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let (ok, out) = portal.admin(&["reset-password", "kari"])?;
    assert!(ok, "{out}");
    let password = password_in(&portal.texts_to(MOBILE).await?[0]).expect("new password by SMS");
    let session = portal.sign_in_with("kari", &password, MOBILE).await?;
    assert!(session.password_change_required);
    let logout = portal.logout(&session).await?;
    assert_eq!(logout.status(), 204);
    assert_eq!(portal.refresh(&session).await?.status(), 401);
    Ok(())
}

// ---- operator reset and audit ---------------------------------------------------------------

#[tokio::test]
async fn operator_reset_ends_sessions_texts_a_new_password_and_shows_in_the_audit_trail() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;

    let (ok, out) = portal.admin(&["reset-password", "kari"])?;
    assert!(ok, "{out}");
    assert!(out.contains("+47 ••••••67") && out.contains("1 session"), "{out}");
    Problem::expect(portal.account_response(&session).await?, 401, "session_expired").await?;
    let sms = portal.texts_to(MOBILE).await?;
    assert!(sms[0].contains("brukernavn kari"), "{}", sms[0]);
    let password = password_in(&sms[0]).expect("new password by SMS");
    assert!(!out.contains(&password), "the operator never sees the password");
    Problem::expect(
        portal.login_response("kari", PASSWORD, false).await?,
        401,
        "invalid_credentials",
    )
    .await?;
    let session = portal.sign_in_with("kari", &password, MOBILE).await?;
    assert!(session.password_change_required);

    let (ok, trail) = portal.admin(&["audit", "kari"])?;
    assert!(ok, "{trail}");
    for event in [
        "account_created",
        "login_password_ok",
        "code_sent",
        "login_completed",
        "session_revoked",
        "password_reset",
    ] {
        assert!(trail.contains(event), "{event} missing:\n{trail}");
    }
    assert!(trail.contains("127.0.0.1"), "source addresses are shown:\n{trail}");
    assert!(trail.contains("+47 ••••••67"), "numbers are masked:\n{trail}");
    for secret in ["91234567", PASSWORD, password.as_str()] {
        assert!(!trail.contains(secret), "{secret} in the audit output:\n{trail}");
    }
    let (ok, out) = portal.admin(&["reset-password", "finnes.ikke"])?;
    assert!(!ok && out.contains("no account"), "{out}");
    Ok(())
}

// ---- phone change --------------------------------------------------------------------------

#[tokio::test]
async fn phone_change_proves_the_new_number_and_tells_the_old_one() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;

    let r = portal.change_phone(&session, "+47 987 65 432", PASSWORD).await?;
    assert_eq!(r.status(), 200);
    let started = Challenge::from_response(r).await?;
    assert_eq!(started["phone_hint"], "+47 ••••••32");
    assert_eq!(started["expires_in"], 300);
    assert_eq!(started["resend_after"], 30);
    let code = portal.latest_code(NEW_MOBILE).await?;
    assert!(portal.texts_to(NEW_MOBILE).await?[0].contains("nytt mobilnummer"));

    let account: Value = portal.account_response(&session).await?.json().await?;
    assert_eq!(
        account["mobile"], MOBILE,
        "the old number stays until the new one is confirmed"
    );
    // The shared resend route knows phone challenges (and enforces its 30 s like for login).
    let resend = portal.resend_sms(&started).await?;
    Problem::expect(resend, 429, "resend_too_soon").await?;

    let wrong_try = portal.confirm_phone(&session, &started, &wrong_code(&code)).await?;
    let body = Problem::expect(wrong_try, 400, "invalid_code").await?;
    assert_eq!(body["attempts_left"], 4);
    let r = portal.confirm_phone(&session, &started, &code).await?;
    assert_eq!(r.status(), 204);

    let account: Value = portal.account_response(&session).await?.json().await?;
    assert_eq!(account["mobile"], NEW_MOBILE);
    let notice = &portal.texts_to(MOBILE).await?[0];
    assert!(
        notice.starts_with("Mobilnummeret på kontoen din"),
        "the OLD number is told: {notice}"
    );
    let again = portal.confirm_phone(&session, &started, &code).await?;
    Problem::expect(again, 410, "challenge_expired").await?;
    // Login codes now go to the new number.
    portal.sign_in_with("kari", PASSWORD, NEW_MOBILE).await?;
    Ok(())
}

#[tokio::test]
async fn phone_change_refuses_a_wrong_password_and_bad_numbers() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;
    let sms_before = portal.sms().await?.len();

    Problem::expect(
        portal.change_phone(&session, NEW_MOBILE, "feil passord her").await?,
        403,
        "wrong_password",
    )
    .await?;
    for (bad, reason_mentions) in [
        ("+4722334455", "mobile"),
        ("22334455", "mobile"),
        ("12345", "international"),
        ("+47912345", "8 digits"),
        ("+47 abc", "digits"),
        ("+4791234567", "already"),
        ("912 34 567", "already"),
    ] {
        let body = Problem::expect(
            portal.change_phone(&session, bad, PASSWORD).await?,
            400,
            "validation_failed",
        )
        .await?;
        assert_eq!(body["errors"][0]["field"], "new_mobile", "{bad}: {body}");
        let reason = body["errors"][0]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(reason_mentions), "{bad}: {reason}");
    }
    assert_eq!(portal.sms().await?.len(), sms_before, "no SMS for refused changes");
    let account: Value = portal.account_response(&session).await?.json().await?;
    assert_eq!(account["mobile"], MOBILE);
    Ok(())
}

#[tokio::test]
async fn confirming_another_users_phone_challenge_looks_like_an_unknown_one() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    portal.create_user("ola", OTHER_MOBILE)?;
    let kari = portal.sign_in("kari", MOBILE).await?;
    let ola = portal.sign_in("ola", OTHER_MOBILE).await?;
    let started = Challenge::from_response(portal.change_phone(&kari, NEW_MOBILE, PASSWORD).await?).await?;
    let code = portal.latest_code(NEW_MOBILE).await?;

    let stolen = parts(portal.confirm_phone(&ola, &started, &code).await?).await?;
    let unknown = parts(
        portal
            .confirm_phone(&ola, &Challenge::with_id("AAAAAAAAAAAAAAAAAAAAAA"), &code)
            .await?,
    )
    .await?;
    assert_eq!(stolen.0, 410);
    assert_eq!(
        stolen, unknown,
        "no difference between someone else's challenge and none"
    );
    let ola_account: Value = portal.account_response(&ola).await?.json().await?;
    assert_eq!(ola_account["mobile"], OTHER_MOBILE);

    assert_eq!(
        portal.confirm_phone(&kari, &started, &code).await?.status(),
        204,
        "the owner's challenge is untouched"
    );
    Ok(())
}

// ---- forgot / reset password ---------------------------------------------------------------

#[tokio::test]
async fn forgot_password_answers_the_same_for_unknown_disabled_and_real_accounts() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    portal.create_user("ola", OTHER_MOBILE)?;
    portal.admin(&["disable", "ola"])?;
    let sms_before = portal.sms().await?.len();

    let mut answers = Vec::new();
    for name in ["kari", "finnes.ikke", "ola", "ikke gyldig!"] {
        let r = portal.forgot_password(name).await?;
        let cache = r.headers().get("cache-control").cloned();
        let (status, content_type, body) = parts(r).await?;
        assert_eq!(
            (status, content_type.as_str()),
            (202, "application/json"),
            "{name}: {body}"
        );
        assert_eq!(keys(&body), BTreeSet::from(["challenge_id".to_owned()]), "{name}");
        assert_eq!(body["challenge_id"].as_str().map(str::len), Some(22), "{name}");
        assert_eq!(
            cache.and_then(|v| v.to_str().ok().map(str::to_owned)).as_deref(),
            Some("no-store")
        );
        answers.push(Challenge::with_id(body["challenge_id"].as_str().unwrap_or_default()));
    }
    let sms = portal.sms().await?;
    assert_eq!(
        sms.len(),
        sms_before + 1,
        "exactly one SMS: to the real, enabled account"
    );
    assert_eq!(sms[0]["to"], MOBILE);
    let code = portal.latest_code(MOBILE).await?;

    // From outside, every challenge behaves alike: resend throttled the same, a wrong code
    // costs the same attempt.
    let mut resends = Vec::new();
    let mut verifies = Vec::new();
    for id in &answers {
        let r = portal.resend_sms(id).await?;
        let (status, _, body) = parts(r).await?;
        resends.push((status, body["code"].clone()));
        let r = portal.reset_password(id, &wrong_code(&code), NEW_PASSWORD).await?;
        let (status, _, body) = parts(r).await?;
        verifies.push((status, body["code"].clone(), body["attempts_left"].clone()));
    }
    assert!(resends.iter().all(|r| *r == resends[0]), "{resends:?}");
    assert_eq!(resends[0].0, 429);
    assert!(verifies.iter().all(|v| *v == verifies[0]), "{verifies:?}");
    assert_eq!(verifies[0], (400, json!("invalid_code"), json!(4)));
    Ok(())
}

#[tokio::test]
async fn reset_codes_cannot_be_guessed() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let started = Challenge::from_response(portal.forgot_password("kari").await?).await?;
    let code = portal.latest_code(MOBILE).await?;
    for left in (0..5).rev() {
        let body = Problem::expect(
            portal
                .reset_password(&started, &wrong_code(&code), NEW_PASSWORD)
                .await?,
            400,
            "invalid_code",
        )
        .await?;
        assert_eq!(body["attempts_left"], left);
    }
    Problem::expect(
        portal.reset_password(&started, &code, NEW_PASSWORD).await?,
        410,
        "challenge_expired",
    )
    .await?;
    assert_eq!(
        portal.login_response("kari", PASSWORD, false).await?.status(),
        200,
        "password unchanged"
    );
    // A reset code cannot open a session either.
    let started = Challenge::from_response(portal.forgot_password("kari").await?).await?;
    let code = portal.latest_code(MOBILE).await?;
    let verify = portal.verify_sms_response(&started, &code).await?;
    Problem::expect(verify, 410, "challenge_expired").await?;
    Ok(())
}

#[tokio::test]
async fn reset_password_ends_every_session_and_texts_a_notice() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let a = portal.sign_in("kari", MOBILE).await?;
    let b = portal.sign_in("kari", MOBILE).await?;

    let started = Challenge::from_response(portal.forgot_password("Kari").await?).await?;
    let code = portal.latest_code(MOBILE).await?;
    assert!(portal.texts_to(MOBILE).await?[0].starts_with("Koden for nytt passord er "));
    let weak = Problem::expect(
        portal.reset_password(&started, &code, "kari").await?,
        400,
        "weak_password",
    )
    .await?;
    assert_eq!(weak["reasons"], json!(["too_short", "contains_username"]));
    assert_eq!(
        portal.reset_password(&started, &code, NEW_PASSWORD).await?.status(),
        204,
        "a weak choice did not use up the code"
    );

    for session in [&a, &b] {
        Problem::expect(portal.account_response(session).await?, 401, "session_expired").await?;
        assert_eq!(portal.refresh(session).await?.status(), 401);
    }
    let session = assert_password_changed(&portal).await?;
    assert!(!session.password_change_required);
    assert_eq!(portal.account_response(&session).await?.status(), 200);
    Problem::expect(
        portal.reset_password(&started, &code, "enda en ny frase her").await?,
        410,
        "challenge_expired",
    )
    .await?;
    Ok(())
}

/// Issue 14.4: a login challenge opened with the old password outlived a reset, so whoever
/// had the password and the phone's code got in after the owner had locked them out.
#[tokio::test]
async fn a_login_code_from_before_a_password_reset_opens_no_session() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let stale = portal.login("kari", PASSWORD).await?;
    let stale_code = portal.latest_code(MOBILE).await?;

    let started = Challenge::from_response(portal.forgot_password("kari").await?).await?;
    let reset_code = portal.latest_code(MOBILE).await?;
    assert_eq!(
        portal
            .reset_password(&started, &reset_code, NEW_PASSWORD)
            .await?
            .status(),
        204
    );
    let verify = portal.verify_sms_response(&stale, &stale_code).await?;
    assert!(verify.headers().get("set-cookie").is_none(), "no refresh cookie");
    Problem::expect(verify, 410, "challenge_expired").await?;
    // The new password works as usual.
    let session = portal.sign_in_with("kari", NEW_PASSWORD, MOBILE).await?;
    assert_eq!(portal.account_response(&session).await?.status(), 200);
    Ok(())
}

// ---- bad input -----------------------------------------------------------------------------

#[tokio::test]
async fn self_service_routes_answer_bad_input_with_problems_never_500() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;
    let client = portal.client();
    let cases: Vec<(&str, &str, bool, &str, u16)> = vec![
        (
            "PUT",
            "/v1/account/password",
            false,
            r#"{"old_password":"a","new_password":"b"}"#,
            401,
        ),
        ("PUT", "/v1/account/password", true, r#"{"old_password":"a"}"#, 400),
        (
            "PUT",
            "/v1/account/password",
            true,
            r#"{"old_password":1,"new_password":2}"#,
            400,
        ),
        ("PUT", "/v1/account/password", true, "not json", 400),
        (
            "POST",
            "/v1/account/phone",
            false,
            r#"{"new_mobile":"+4798765432","password":"x"}"#,
            401,
        ),
        (
            "POST",
            "/v1/account/phone",
            true,
            r#"{"new_mobile":null,"password":"x"}"#,
            400,
        ),
        (
            "POST",
            "/v1/account/phone",
            true,
            r#"{"new_mobile":"+4798765432","password":"x","extra":1}"#,
            400,
        ),
        (
            "POST",
            "/v1/account/phone/confirm",
            true,
            r#"{"challenge_id":"../..","code":"123456"}"#,
            400,
        ),
        (
            "POST",
            "/v1/account/phone/confirm",
            true,
            r#"{"challenge_id":"AAAAAAAAAAAAAAAAAAAAAA","code":"12x456"}"#,
            400,
        ),
        (
            "POST",
            "/v1/account/phone/confirm",
            true,
            r#"{"challenge_id":"AAAAAAAAAAAAAAAAAAAAAA","code":"123456"}"#,
            410,
        ),
        ("POST", "/v1/auth/password/forgot", false, r#"{"user":"kari"}"#, 400),
        ("POST", "/v1/auth/password/forgot", false, "[]", 400),
        (
            "POST",
            "/v1/auth/password/reset",
            false,
            r#"{"challenge_id":"AAAAAAAAAAAAAAAAAAAAAA","code":"123456"}"#,
            400,
        ),
        (
            "POST",
            "/v1/auth/password/reset",
            false,
            r#"{"challenge_id":"AAAAAAAAAAAAAAAAAAAAAA","code":"123456","new_password":"blåbær syltetøy på vaffel"}"#,
            410,
        ),
    ];
    for (method, path, with_token, body, expected) in cases {
        let mut request = match method {
            "PUT" => client.put(portal.url(path)),
            _ => client.post(portal.url(path)),
        };
        if with_token {
            request = request.bearer_auth(&session.access_token);
        }
        let r = request
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await?;
        let (status, content_type, problem) = parts(r).await?;
        assert_eq!(status, expected, "{method} {path} {body}: {problem}");
        assert_eq!(content_type, "application/problem+json", "{method} {path} {body}");
        assert!(problem["code"].is_string() && problem["title"].is_string(), "{problem}");
    }
    let r = client
        .put(portal.url("/v1/account/password"))
        .bearer_auth(&session.access_token)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await?;
    assert_eq!(r.status(), 415);
    Ok(())
}
