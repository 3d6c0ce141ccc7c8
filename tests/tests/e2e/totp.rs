//! Authenticator app (TOTP) over HTTP against the real binaries: enrol through the API, compute
//! codes the way the user's app does (from the secret the portal showed), log in without SMS,
//! fall back to SMS, remove the app as the user and as an operator.

use std::time::{SystemTime, UNIX_EPOCH};

use e2e::{Portal, Problem, Session, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};
use totp_rs::Totp;

const MOBILE: &str = "+4791234567";

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The app's code `offset` seconds from now.
fn code(app: &Totp, offset: i64) -> String {
    app.generate(unix_now().saturating_add_signed(offset)).to_string()
}

async fn problem(r: reqwest::Response) -> anyhow::Result<(u16, Value)> {
    let problem = Problem::read(r).await?;
    Ok((problem.status, problem.body))
}

/// Enrols an authenticator app for the signed-in user; returns the app.
async fn enrol(portal: &Portal, session: &Session) -> anyhow::Result<Totp> {
    let started = portal.totp_start(session, PASSWORD).await?;
    assert_eq!(started.status(), 200);
    assert_eq!(started.headers()["cache-control"], "no-store");
    let body: Value = started.json().await?;
    let secret = body["secret"].as_str().unwrap_or_default();
    let app = portal_testkit::authenticator_app(secret).map_err(anyhow::Error::msg)?;
    let confirmed = portal.totp_confirm(session, &code(&app, 0)).await?;
    assert_eq!(confirmed.status(), 204, "{:?}", confirmed.text().await);
    Ok(app)
}

#[tokio::test]
async fn enrol_an_app_then_log_in_with_it_and_no_sms() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari.nordmann", MOBILE)?;
    let session = portal.sign_in("kari.nordmann", MOBILE).await?;

    let status: Value = portal.totp_status(&session).await?;
    assert_eq!(
        status,
        json!({ "enabled": false, "enabled_at": null, "pending": false })
    );

    let wrong = portal.totp_start(&session, "feil passord her").await?;
    let (status, body) = problem(wrong).await?;
    assert_eq!((status, body["code"].as_str()), (403, Some("wrong_password")));

    let started = portal.totp_start(&session, PASSWORD).await?;
    assert_eq!(started.status(), 200);
    let enrolment: Value = started.json().await?;
    let secret = enrolment["secret"].as_str().unwrap_or_default().to_owned();
    assert_eq!(secret.len(), 32, "160-bit secret in base32: {enrolment}");
    assert_eq!(enrolment["algorithm"], "SHA1");
    assert_eq!(enrolment["digits"], 6);
    assert_eq!(enrolment["period"], 30);
    assert_eq!(enrolment["expires_in"], 600);
    let uri = enrolment["otpauth_uri"].as_str().unwrap_or_default();
    assert!(
        uri.starts_with("otpauth://totp/Norsk%20Helsenett%20Hjemmekontor:kari.nordmann?"),
        "{uri}"
    );
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    let qr = enrolment["qr_code"].as_str().unwrap_or_default();
    assert!(qr.starts_with("data:image/png;base64,iVBORw0KGgo"), "{qr:.60}");
    let app = portal_testkit::authenticator_app(&secret).map_err(anyhow::Error::msg)?;

    let wrong_code = format!("{:06}", (code(&app, 0).parse::<u32>()? + 500_000) % 1_000_000);
    let r = portal.totp_confirm(&session, &wrong_code).await?;
    let (status, body) = problem(r).await?;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_code")));
    assert_eq!(body["attempts_left"], 4);
    let still_off: Value = portal.totp_status(&session).await?;
    assert_eq!(still_off["enabled"], false, "a wrong code activates nothing");

    let confirmed = portal.totp_confirm(&session, &code(&app, 0)).await?;
    assert_eq!(confirmed.status(), 204);
    let notice = portal.sms().await?[0]["body"].as_str().unwrap_or_default().to_owned();
    assert!(notice.contains("autentiseringsapp"), "{notice}");
    let status: Value = portal.totp_status(&session).await?;
    assert_eq!(status["enabled"], true);

    let sms_before = portal.sms_count_to(MOBILE).await?;
    let challenge = portal.login("kari.nordmann", PASSWORD).await?;
    assert_eq!(challenge["methods"], json!(["totp", "sms", "recovery_code"]));
    assert_eq!(challenge["phone_hint"], "+47 ••••••67");
    assert_eq!(challenge["expires_in"], 300);
    assert_eq!(challenge["resend_after"], 0);
    assert_eq!(portal.sms_count_to(MOBILE).await?, sms_before, "no SMS at login");

    // The confirming code is used up; the app's next code (one step ahead) is accepted.
    let next = code(&app, 30);
    let verify = portal.totp_verify_response(&challenge, &next).await?;
    assert_eq!(verify.status(), 200);
    assert_eq!(verify.headers()["cache-control"], "no-store");
    let app_session = Session::from_token_response(verify).await?;
    assert!(
        app_session.set_cookie.starts_with("__Host-"),
        "{}",
        app_session.set_cookie
    );
    let account = portal.account_response(&app_session).await?;
    assert_eq!(account.status(), 200);

    // The same code again, on a new login: refused.
    let again = portal.login("kari.nordmann", PASSWORD).await?;
    let (status, body) = problem(portal.totp_verify_response(&again, &next).await?).await?;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_code")), "{body}");
    assert_eq!(portal.sms_count_to(MOBILE).await?, sms_before, "still no SMS");
    Ok(())
}

#[tokio::test]
async fn without_the_app_at_hand_the_user_asks_for_an_sms_at_once() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;
    enrol(&portal, &session).await?;

    let challenge = portal.login("kari", PASSWORD).await?;
    let before = portal.sms_count_to(MOBILE).await?;
    let resent = portal.resend_sms(&challenge).await?;
    assert_eq!(resent.status(), 200, "no 30-second wait for the first SMS");
    assert_eq!(portal.sms_count_to(MOBILE).await?, before + 1);
    let sms_code = portal.latest_code(MOBILE).await?;
    let again = portal.resend_sms(&challenge).await?;
    assert_eq!(again.status(), 429, "after the first SMS the usual spacing applies");

    portal.verify_sms(&challenge, &sms_code).await?;
    Ok(())
}

#[tokio::test]
async fn the_user_and_an_operator_can_remove_the_app() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;
    let app = enrol(&portal, &session).await?;

    let wrong = portal.totp_remove(&session, "feil passord her").await?;
    let (status, body) = problem(wrong).await?;
    assert_eq!((status, body["code"].as_str()), (403, Some("wrong_password")));
    // The account has an app now: the SMS session must prove it (a step-up) before removing it.
    let (status, body) = problem(portal.totp_remove(&session, PASSWORD).await?).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("step_up_required")),
        "{body}"
    );
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]));
    let stepped = portal
        .send_as(
            &session,
            Method::POST,
            "/v1/account/step-up",
            Some(json!({ "totp_code": code(&app, 30) })),
        )
        .await?;
    assert_eq!(stepped.status(), 200, "{:?}", stepped.text().await);

    let removed = portal.totp_remove(&session, PASSWORD).await?;
    assert_eq!(removed.status(), 204);
    let notice = portal.sms().await?[0]["body"].as_str().unwrap_or_default().to_owned();
    assert!(notice.contains("fjernet"), "{notice}");
    let again = portal.totp_remove(&session, PASSWORD).await?;
    let (status, body) = problem(again).await?;
    assert_eq!((status, body["code"].as_str()), (404, Some("totp_not_enrolled")));
    let login = portal.login("kari", PASSWORD).await?;
    assert_eq!(login["methods"], json!(["sms"]));

    // Lost phone: the operator removes it.
    enrol(&portal, &session).await?;
    let (ok, out) = portal.admin(&["totp-status", "kari"])?;
    assert!(ok && out.contains(r#""totp": "enabled""#), "{out}");
    let (ok, out) = portal.admin(&["remove-totp", "kari"])?;
    assert!(ok && out.contains("removed"), "{out}");
    let (ok, out) = portal.admin(&["totp-status", "kari"])?;
    assert!(ok && out.contains(r#""totp": "not_enrolled""#), "{out}");
    let (ok, out) = portal.admin(&["remove-totp", "finnes.ikke"])?;
    assert!(!ok && out.contains("no account"), "{out}");

    let before = portal.sms_count_to(MOBILE).await?;
    let login = portal.login("kari", PASSWORD).await?;
    assert_eq!(login["methods"], json!(["sms"]));
    assert_eq!(
        portal.sms_count_to(MOBILE).await?,
        before + 1,
        "login texts a code again"
    );
    Ok(())
}

#[tokio::test]
async fn bad_requests_get_problems_never_500s() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;
    let client = portal.client();

    let anonymous = client
        .post(portal.url("/v1/account/totp"))
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await?;
    assert_eq!(problem(anonymous).await?.0, 401);

    let no_enrolment = portal.totp_confirm(&session, "123456").await?;
    let (status, body) = problem(no_enrolment).await?;
    assert_eq!((status, body["code"].as_str()), (410, Some("totp_enrolment_expired")));

    for (path, body) in [
        ("/v1/account/totp/confirm", json!({ "code": "12345x" })),
        ("/v1/account/totp/confirm", json!({ "code": 123456 })),
        ("/v1/account/totp", json!({ "password": PASSWORD, "extra": true })),
        ("/v1/account/totp", json!({})),
    ] {
        let r = portal.send_as(&session, Method::POST, path, Some(body.clone())).await?;
        assert_eq!(problem(r).await?.0, 400, "{path} {body}");
    }

    let challenge = portal.login("kari", PASSWORD).await?;
    for (body, expected) in [
        (json!({ "challenge_id": challenge["challenge_id"], "code": "abc" }), 400),
        (json!({ "challenge_id": "not-an-id", "code": "123456" }), 400),
        (
            json!({ "challenge_id": "AAAAAAAAAAAAAAAAAAAAAA", "code": "123456" }),
            410,
        ),
        // An SMS-only challenge cannot be answered with an app code.
        (
            json!({ "challenge_id": challenge["challenge_id"], "code": "123456" }),
            410,
        ),
    ] {
        let r = portal.post("/v1/auth/totp/verify", body.clone()).await?;
        assert_eq!(problem(r).await?.0, expected, "{body}");
    }
    Ok(())
}
