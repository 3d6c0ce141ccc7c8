//! Passkeys over HTTP against the real binaries (SQLite, and DynamoDB in the emulator with
//! `E2E_BACKEND=aws`): enrol with the password, log in with the passkey and no SMS, a replayed
//! assertion refused, a removed passkey refused, and the operator's `remove-passkeys`.

use e2e::{Portal, Problem, Session, PASSWORD};
use portal_testkit::PasskeyDevice;
use reqwest::Method;
use serde_json::{json, Value};

const MOBILE: &str = "+4791234567";
/// The portal's address as browsers see it (`PORTAL_URL`): the WebAuthn origin and RP id.
const PORTAL_URL: &str = "https://portal.example.test";

async fn enrol(portal: &Portal, session: &Session, device: &mut PasskeyDevice) -> anyhow::Result<String> {
    let started = portal
        .send_as(
            session,
            Method::POST,
            "/v1/account/passkeys",
            Some(json!({ "password": PASSWORD })),
        )
        .await?;
    assert_eq!(started.status(), 200);
    let started: Value = started.json().await?;
    let credential = device
        .register(PORTAL_URL, &started["options"])
        .map_err(anyhow::Error::msg)?;
    let confirmed = portal
        .send_as(
            session,
            Method::POST,
            "/v1/account/passkeys/confirm",
            Some(json!({ "registration_id": started["registration_id"], "name": "Telefon", "credential": credential })),
        )
        .await?;
    assert_eq!(confirmed.status(), 201);
    let confirmed: Value = confirmed.json().await?;
    Ok(confirmed["id"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_passkey_logs_in_once_per_assertion_and_not_after_removal() -> anyhow::Result<()> {
    let portal = Portal::builder().args(&["--portal-url", PORTAL_URL]).start()?;
    portal.create_user("kari.nordmann", MOBILE)?;
    let session = portal.sign_in("kari.nordmann", MOBILE).await?;
    let mut device = PasskeyDevice::new();
    let id = enrol(&portal, &session, &mut device).await?;
    assert!(portal
        .newest_text_to(MOBILE)
        .await?
        .starts_with("En passnøkkel er lagt til"));

    let texts = portal.texts_to(MOBILE).await?.len();
    let login = portal.login_response("kari.nordmann", PASSWORD, false).await?;
    assert_eq!(login.status(), 200);
    let login: Value = login.json().await?;
    assert_eq!(login["methods"], json!(["passkey", "sms", "recovery_code"]));
    assert_eq!(portal.texts_to(MOBILE).await?.len(), texts, "no SMS sent");
    let assertion = device.sign(PORTAL_URL, &login["passkey"]).map_err(anyhow::Error::msg)?;
    let body = json!({ "challenge_id": login["challenge_id"], "credential": assertion });
    let opened = portal.post("/v1/auth/passkey/verify", body.clone()).await?;
    assert_eq!(opened.status(), 200);
    let passkey_session = Session::from_token_response(opened).await?;
    assert!(portal.account(&passkey_session).await?["username"] == "kari.nordmann");
    // The same assertion again: the challenge is used up.
    Problem::expect(
        portal.post("/v1/auth/passkey/verify", body).await?,
        410,
        "challenge_expired",
    )
    .await?;

    // Removed: an assertion for a challenge opened before the removal is refused.
    let login: Value = portal
        .login_response("kari.nordmann", PASSWORD, false)
        .await?
        .json()
        .await?;
    let assertion = device.sign(PORTAL_URL, &login["passkey"]).map_err(anyhow::Error::msg)?;
    // Removing a passkey from an SMS session needs a step-up with a passkey first.
    let refused = portal
        .send_as(
            &session,
            Method::DELETE,
            &format!("/v1/account/passkeys/{id}"),
            Some(json!({ "password": PASSWORD })),
        )
        .await?;
    Problem::expect(refused, 403, "step_up_required").await?;
    let options: Value = portal
        .send_as(&session, Method::POST, "/v1/account/step-up/options", None)
        .await?
        .json()
        .await?;
    assert_eq!(options["methods"], json!(["passkey", "recovery_code"]));
    let proof = device
        .sign(PORTAL_URL, &options["passkey"])
        .map_err(anyhow::Error::msg)?;
    let stepped = portal
        .send_as(
            &session,
            Method::POST,
            "/v1/account/step-up",
            Some(json!({ "challenge_id": options["challenge_id"], "credential": proof })),
        )
        .await?;
    assert_eq!(stepped.status(), 200);
    let removed = portal
        .send_as(
            &session,
            Method::DELETE,
            &format!("/v1/account/passkeys/{id}"),
            Some(json!({ "password": PASSWORD })),
        )
        .await?;
    assert_eq!(removed.status(), 204);
    let refused = portal
        .post(
            "/v1/auth/passkey/verify",
            json!({ "challenge_id": login["challenge_id"], "credential": assertion }),
        )
        .await?;
    Problem::expect(refused, 400, "invalid_code").await?;
    let login: Value = portal
        .login_response("kari.nordmann", PASSWORD, false)
        .await?
        .json()
        .await?;
    assert_eq!(login["methods"], json!(["sms"]));
    Ok(())
}

/// Lost devices, or an intruder's passkey older than a day that the owner cannot step up
/// with: the operator removes every passkey; logins go back to SMS codes.
#[tokio::test]
async fn an_operator_removes_every_passkey_of_an_account() -> anyhow::Result<()> {
    let portal = Portal::builder().args(&["--portal-url", PORTAL_URL]).start()?;
    portal.create_user("kari.nordmann", MOBILE)?;
    let session = portal.sign_in("kari.nordmann", MOBILE).await?;
    let mut device = PasskeyDevice::new();
    enrol(&portal, &session, &mut device).await?;
    let login: Value = portal
        .login_response("kari.nordmann", PASSWORD, false)
        .await?
        .json()
        .await?;
    assert_eq!(login["methods"], json!(["passkey", "sms", "recovery_code"]));

    let (ok, out) = portal.admin(&["remove-passkeys", "--username", "kari.nordmann"])?;
    assert!(ok && out.contains("removed 1 passkey(s) of kari.nordmann"), "{out}");
    let login: Value = portal
        .login_response("kari.nordmann", PASSWORD, false)
        .await?
        .json()
        .await?;
    assert_eq!(login["methods"], json!(["sms"]));
    let (ok, out) = portal.admin(&["audit", "kari.nordmann"])?;
    assert!(ok && out.contains(r#""by":"operator""#), "{out}");
    let (ok, out) = portal.admin(&["remove-passkeys", "--username", "kari.nordmann"])?;
    assert!(ok && out.contains("no passkeys"), "{out}");
    let (ok, out) = portal.admin(&["remove-passkeys", "--username", "finnes.ikke"])?;
    assert!(!ok && out.contains("no account"), "{out}");
    Ok(())
}
