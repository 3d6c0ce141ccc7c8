//! The first half of the user's journey (seed steps 2–4) over HTTP against the real binary.

use e2e::{create_account_args, Challenge, Portal, Session, PASSWORD};
use serde_json::{json, Value};

const MOBILE: &str = "+4791234567";

#[tokio::test]
async fn login_code_account_refresh_logout() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari.nordmann", MOBILE)?;

    let challenge = portal.login("Kari.Nordmann", PASSWORD).await?;
    assert_eq!(challenge["phone_hint"], "+47 ••••••67");
    assert_eq!(challenge["expires_in"], 300);
    assert_eq!(challenge["resend_after"], 30);

    let sms = portal.sms().await?;
    let body = sms[0]["body"].as_str().unwrap_or_default();
    assert!(body.starts_with("Din engangskode er "), "{body}");
    let code = portal.latest_code(MOBILE).await?;

    let verify = portal.verify_sms_response(&challenge, &code).await?;
    assert_eq!(verify.status(), 200);
    assert_eq!(verify.headers()["cache-control"], "no-store");
    let session = Session::from_token_response(verify).await?;
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(session.set_cookie.contains(attribute), "{}", session.set_cookie);
    }
    assert!(session.set_cookie.starts_with("__Host-"), "{}", session.set_cookie);
    assert!(
        !session.set_cookie.contains("Max-Age"),
        "without remember-me the cookie ends with the browser"
    );

    let account: Value = portal.account(&session).await?;
    assert_eq!(account["username"], "kari.nordmann");
    assert_eq!(account["name"], "Kari Nordmann");
    assert_eq!(account["email"], Value::Null);
    assert_eq!(account["mobile"], MOBILE);
    assert_eq!(account["home_office"]["enabled"], true);
    assert_eq!(account["home_office"]["buypass"]["status"], "not_registered");

    let refreshed = portal.refresh(&session).await?;
    assert_eq!(refreshed.status(), 200);
    let refreshed = Session::from_token_response(refreshed).await?;
    assert_ne!(
        refreshed.refresh_cookie, session.refresh_cookie,
        "refresh token rotates"
    );

    let logout = portal.logout(&refreshed).await?;
    assert_eq!(logout.status(), 204);
    assert!(
        logout.headers()["set-cookie"].to_str()?.contains("Max-Age=0"),
        "logout clears the cookie"
    );

    let after = portal.account_response(&refreshed).await?;
    assert_eq!(
        after.status(),
        401,
        "logout takes effect at once, not when the token expires"
    );
    assert_eq!(after.headers()["content-type"], "application/problem+json");
    let again = portal.refresh(&refreshed).await?;
    assert_eq!(again.status(), 401);
    Ok(())
}

#[tokio::test]
async fn remember_me_makes_the_cookie_persistent_for_the_session_lifetime() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let login = portal.login_response("kari", PASSWORD, true).await?;
    let challenge = Challenge::from_response(login).await?;
    let code = portal.latest_code(MOBILE).await?;
    let session = portal.verify_sms(&challenge, &code).await?;
    assert!(session.set_cookie.contains("Max-Age=43200"), "{}", session.set_cookie);
    Ok(())
}

#[tokio::test]
async fn sessions_survive_a_restart_and_two_processes_share_one_data_dir() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;

    let second = Portal::builder().data_dir(&portal.data_dir).start()?;
    let login = portal.login("kari", PASSWORD).await?;
    let code = second.latest_code(MOBILE).await?;
    let verify = second.verify_sms_response(&login, &code).await?;
    assert_eq!(
        verify.status(),
        200,
        "a challenge opened on one process is answered on the other"
    );
    drop(second);

    let portal = portal.restart()?;
    let account = portal.account_response(&session).await?;
    assert_eq!(account.status(), 200, "keys and sessions survive a restart");
    Ok(())
}

#[tokio::test]
async fn english_titles_on_request() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    let no: Value = portal.login_response("nobody", "whatever", false).await?.json().await?;
    assert_eq!(no["title"], "Feil brukernavn eller passord.");
    let en: Value = portal
        .client()
        .post(portal.url("/v1/auth/login"))
        .header("accept-language", "en-GB,en;q=0.9")
        .json(&json!({ "username": "nobody", "password": "whatever" }))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(en["title"], "Wrong username or password.");
    assert_eq!(en["code"], no["code"]);
    Ok(())
}

#[tokio::test]
async fn admin_refuses_bad_input_with_a_clear_message() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let (ok, out) = portal.admin(&create_account_args("kari", "K", MOBILE))?;
    assert!(!ok && out.contains("already exists"), "{out}");
    let (ok, out) = portal.admin(&create_account_args("ola", "O", "+4722334455"))?;
    assert!(!ok && out.contains("mobile"), "{out}");
    let (ok, out) = portal.admin(&create_account_args("o la", "O", MOBILE))?;
    assert!(!ok && out.contains("username"), "{out}");
    let (ok, out) = portal.admin(&["show", "kari"])?;
    assert!(
        ok && out.contains("\"home_office\": true") && !out.contains("argon2"),
        "{out}"
    );

    let (ok, _) = portal.admin(&create_account_args("nhn.bruker", "N", "+4741234567"))?;
    assert!(ok);
    let sms = portal.sms().await?;
    let initial = sms
        .iter()
        .find(|m| m["to"] == "+4741234567")
        .and_then(|m| m["body"].as_str())
        .unwrap_or_default();
    assert!(
        initial.contains("nhn.bruker") && initial.contains("passord"),
        "initial password goes out by SMS: {initial}"
    );
    Ok(())
}

#[tokio::test]
async fn disabled_accounts_cannot_log_in_and_lose_their_sessions() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;
    let (ok, _) = portal.admin(&["disable", "kari"])?;
    assert!(ok);
    let account = portal.account_response(&session).await?;
    assert_eq!(account.status(), 401);
    assert_eq!(portal.login_response("kari", PASSWORD, false).await?.status(), 401);
    let (ok, _) = portal.admin(&["enable", "kari"])?;
    assert!(ok);
    assert_eq!(portal.login_response("kari", PASSWORD, false).await?.status(), 200);
    Ok(())
}

/// Issue 14.7: a password on portal-admin's command line showed in `ps` and shell history, and
/// an operator-chosen password stayed the user's for good.
#[tokio::test]
async fn admin_takes_passwords_only_from_the_environment_or_stdin_and_they_must_be_changed() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    const CHOSEN: &str = "operatørens valgte frase";
    for flag in [vec!["--password", CHOSEN], vec!["--password"]] {
        let mut args = create_account_args("kari", "K", MOBILE);
        args.extend(flag);
        let (ok, out) = portal.admin(&args)?;
        assert!(!ok && out.contains("PORTAL_NEW_PASSWORD"), "{out}");
        assert!(!out.contains(CHOSEN), "the refusal does not echo the password: {out}");
    }
    assert!(portal.sms().await?.is_empty(), "nothing was created or sent");
    assert_eq!(portal.login_response("kari", CHOSEN, false).await?.status(), 401);

    let (ok, out) = portal.admin_with_env(
        &create_account_args("kari", "K", MOBILE),
        &[("PORTAL_NEW_PASSWORD", CHOSEN)],
    )?;
    assert!(ok && !out.contains(CHOSEN), "{out}");
    let challenge = portal.login("kari", CHOSEN).await?;
    let code = portal.latest_code(MOBILE).await?;
    let session = portal.verify_sms(&challenge, &code).await?;
    assert!(session.password_change_required);
    let account = portal.account_response(&session).await?;
    assert_eq!(account.status(), 403, "nothing but the change until it is made");
    Ok(())
}
