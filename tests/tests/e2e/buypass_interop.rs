//! The Buypass journey once against a second, independent OpenID provider: panva's
//! `oidc-provider` (OpenID Certified, from npm), set up like Buypass (code flow, PKCE S256
//! required, `private_key_jwt`, scope `openid bpx509certificate`, smartcard `amr`, the login
//! certificate in `bp_x509certificate`). Its ID tokens from the token endpoint carry no
//! `at_hash`, as certified providers may; the card comes from the portal's own test CA.
//! See `interop_provider` for how it is started and when a missing provider fails the test.

use std::collections::HashMap;
use std::time::Duration;

use e2e::buypass::redirect_reason;
use e2e::interop_provider::{self, InteropProvider};
use e2e::{eventually, Portal};
use portal_core::buypass::flow::CALLBACK_PATH;
use portal_dev::ca::DevCa;
use serde_json::Value;

const MOBILE: &str = "+4791234567";
const CLIENT_ID: &str = "hjemmekontor-interop";
const HOLDER: &str = "Kari Nordmann";

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The client's public JWKS as the operator hands it to the provider at registration.
fn client_jwks(portal: &Portal) -> anyhow::Result<Value> {
    let (ok, out) = portal.admin(&["buypass-client-jwks"])?;
    anyhow::ensure!(ok, "buypass-client-jwks failed: {out}");
    let (start, end) = (out.find('{'), out.rfind('}'));
    let (Some(start), Some(end)) = (start, end) else {
        anyhow::bail!("no JWKS in {out:?}");
    };
    Ok(serde_json::from_str(&out[start..=end])?)
}

#[tokio::test]
async fn smartcard_registration_through_an_independent_certified_provider() -> anyhow::Result<()> {
    if !interop_provider::available()? {
        return Ok(());
    }
    let mut provider = InteropProvider::start()?;
    // No --buypass-ca: the portal trusts its own test CA, as portal-local does by default.
    let portal = Portal::builder()
        .buypass_provider(&provider.issuer, CLIENT_ID, None)
        .start()?;
    let redirect_uri = portal.url(CALLBACK_PATH);
    let now = unix_now();
    let card = DevCa::load_or_create(&portal.data_dir)?.issue(HOLDER, now - 3600, now + 365 * 86400)?;
    provider.configure(
        CLIENT_ID,
        &redirect_uri,
        &client_jwks(&portal)?,
        &HashMap::from([(HOLDER.to_owned(), card.pem.clone())]),
    )?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;
    let status = |account: &Value| account["home_office"]["buypass"]["status"].clone();

    // The provider's own refusals first. Password + SMS at the provider: its ID token's `amr`
    // lacks `sc`, and the portal refuses it for that reason.
    let started = portal.buypass_start(&session).await?;
    assert!(
        started.authorization_url.starts_with(&provider.issuer),
        "{}",
        started.authorization_url
    );
    let callback = provider
        .login(&started.authorization_url, "otp", HOLDER, &redirect_uri)
        .await?;
    let location = portal.buypass_callback(&callback, Some(&started.cookie)).await?;
    assert_eq!(redirect_reason(&location).as_deref(), Some("not_smartcard"));
    assert_eq!(status(&portal.account(&session).await?), "not_registered");
    // The user cancels at the provider: its error redirect (with RFC 9207 `iss`) is understood.
    let started = portal.buypass_start(&session).await?;
    let callback = provider
        .login(&started.authorization_url, "cancel", HOLDER, &redirect_uri)
        .await?;
    let location = portal.buypass_callback(&callback, Some(&started.cookie)).await?;
    assert_eq!(redirect_reason(&location).as_deref(), Some("login_cancelled"));
    assert_eq!(status(&portal.account(&session).await?), "not_registered");

    // The smartcard login: discovery, PKCE, private_key_jwt and the ID token all as the
    // certified provider does them.
    let started = portal.buypass_start(&session).await?;
    let callback = provider
        .login(&started.authorization_url, "sc", HOLDER, &redirect_uri)
        .await?;
    let location = portal.buypass_callback(&callback, Some(&started.cookie)).await?;
    assert_eq!(location, format!("{}/hjemmekontor?buypass=registered", portal.base));
    // What made this provider's tokens `token_invalid` before: no `at_hash` from the token
    // endpoint (OPTIONAL there). Checked so a provider upgrade cannot quietly drop the case.
    let issued = provider.issued_id_tokens();
    assert_eq!(issued.len(), 2, "ID tokens issued: {issued:?}");
    for claims in &issued {
        for claim in ["amr", "bp_x509certificate", "nonce", "iss", "aud", "exp"] {
            assert!(claims.iter().any(|c| c == claim), "no {claim} in {claims:?}");
        }
        assert!(!claims.iter().any(|c| c == "at_hash"), "{claims:?}");
    }
    let account = portal.account(&session).await?;
    let buypass = &account["home_office"]["buypass"];
    assert!(
        buypass["status"] == "pending" || buypass["status"] == "active",
        "{buypass}"
    );
    assert_eq!(buypass["serial_number"], card.serial.as_str(), "not the card's serial");
    let active = eventually(Duration::from_secs(10), || async {
        let account = portal.account(&session).await.ok()?;
        (status(&account) == "active").then_some(account)
    })
    .await
    .ok_or_else(|| anyhow::anyhow!("not active within 10 s"))?;
    assert_eq!(active["home_office"]["buypass"]["serial_number"], card.serial.as_str());
    Ok(())
}
