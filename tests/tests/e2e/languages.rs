//! Languages over HTTP against the real binaries: problem titles in the language of
//! `Accept-Language` (bokmål by default, nynorsk, English) with `Content-Language`, the
//! account's language set by the user (`PUT /v1/account/language`) and by an operator
//! (`portal-admin set-language`), and the SMS that follow it. Runs on every backend.

use e2e::{Portal, Session, PASSWORD};
use serde_json::{json, Value};

const MOBILE: &str = "+4791234577";
const NEW_PASSWORD: &str = "blåbær syltetøy på vaffel";

/// A wrong-password login of `username` with this `Accept-Language` (or none): status,
/// Content-Language, body. One username per call, so the backoff of wrong passwords does
/// not answer instead.
async fn wrong_login(
    portal: &Portal,
    username: &str,
    accept_language: Option<&str>,
) -> anyhow::Result<(u16, String, Value)> {
    let mut request = portal
        .client()
        .post(portal.url("/v1/auth/login"))
        .json(&json!({ "username": username, "password": "not the password at all" }));
    if let Some(value) = accept_language {
        request = request.header("accept-language", value);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let language = response
        .headers()
        .get("content-language")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response.json().await?;
    Ok((status, language, body))
}

async fn put_language(portal: &Portal, session: Option<&Session>, body: Value) -> anyhow::Result<reqwest::Response> {
    let mut request = portal.client().put(portal.url("/v1/account/language")).json(&body);
    if let Some(s) = session {
        request = request.bearer_auth(&s.access_token);
    }
    Ok(request.send().await?)
}

async fn account_language(portal: &Portal, session: &Session) -> anyhow::Result<Value> {
    Ok(portal.account(session).await?["language"].clone())
}

#[tokio::test]
async fn problem_titles_follow_accept_language_and_say_which_language_they_are_in() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    let cases = [
        (None, "nb", "Feil brukernavn eller passord."),
        (Some("nb-NO,nb;q=0.9,en;q=0.8"), "nb", "Feil brukernavn eller passord."),
        (Some("nn"), "nn", "Feil brukarnamn eller passord."),
        (Some("no-NN"), "nn", "Feil brukarnamn eller passord."),
        (Some("en-GB,en;q=0.9"), "en", "Wrong username or password."),
        (Some("en;q=0.3, nn;q=0.8"), "nn", "Feil brukarnamn eller passord."),
        (Some("de, fr;q=0.9"), "nb", "Feil brukernavn eller passord."),
    ];
    for (i, (accept, language, title)) in cases.into_iter().enumerate() {
        let (status, content_language, body) = wrong_login(&portal, &format!("kari{i}"), accept).await?;
        assert_eq!(status, 401, "{accept:?}: {body}");
        assert_eq!(body["code"], "invalid_credentials", "the code stays English");
        assert_eq!(body["title"], title, "{accept:?}");
        assert_eq!(content_language, language, "{accept:?}");
    }
    Ok(())
}

#[tokio::test]
async fn the_user_sets_the_account_language_and_the_sms_follow_it() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;
    assert_eq!(account_language(&portal, &session).await?, "nb", "bokmål by default");
    assert!(portal.newest_text_to(MOBILE).await?.starts_with("Din engangskode er "));

    // Refused: no session, an unknown language, a wrong shape.
    let anonymous = put_language(&portal, None, json!({ "language": "nn" })).await?;
    assert_eq!(anonymous.status(), 401);
    for body in [
        json!({ "language": "de" }),
        json!({ "language": "NN" }),
        json!({ "language": 1 }),
        json!({}),
        json!({ "language": "nn", "extra": true }),
    ] {
        let r = put_language(&portal, Some(&session), body.clone()).await?;
        assert_eq!(r.status(), 400, "{body}");
        let problem: Value = r.json().await?;
        assert!(
            problem["code"] == "validation_failed" || problem["code"] == "malformed_request",
            "{body}: {problem}"
        );
    }
    assert_eq!(account_language(&portal, &session).await?, "nb", "nothing was changed");

    let set = put_language(&portal, Some(&session), json!({ "language": "nn" })).await?;
    assert_eq!(set.status(), 204);
    assert_eq!(account_language(&portal, &session).await?, "nn");

    // The next login code, and the notice of a password change, are in nynorsk.
    portal.sign_in("kari", MOBILE).await?;
    let code_sms = portal.newest_text_to(MOBILE).await?;
    assert!(code_sms.starts_with("Eingongskoden din er "), "{code_sms}");
    let changed = portal.change_password(&session, PASSWORD, NEW_PASSWORD).await?;
    assert_eq!(changed.status(), 204);
    assert_eq!(
        portal.newest_text_to(MOBILE).await?,
        "Passordet ditt i Norsk Helsenett kundeportal er endra. Var det ikkje deg, ring kundesenteret på 24 20 00 00."
    );

    // An operator sets English; the next code comes in English.
    let (ok, out) = portal.admin(&["set-language", "kari", "en"])?;
    assert!(ok, "{out}");
    let (ok, out) = portal.admin(&["set-language", "kari", "de"])?;
    assert!(!ok, "an unknown language is refused: {out}");
    let (ok, shown) = portal.admin(&["show", "kari"])?;
    assert!(ok && shown.contains("\"language\": \"en\""), "{shown}");
    let login = portal.login_response("kari", NEW_PASSWORD, false).await?;
    assert_eq!(login.status(), 200);
    let english = portal.newest_text_to(MOBILE).await?;
    assert!(english.starts_with("Your one-time code is "), "{english}");
    Ok(())
}
