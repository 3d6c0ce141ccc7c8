//! A provider that lies: each test run of the callback faces one mutation of the token
//! response or ID token, and the portal must refuse it with its reason and record nothing.
//! The portal talks to the stub only through `--buypass-issuer`, as it would to Buypass.

use e2e::buypass::redirect_reason;
use e2e::stub_provider::{Mutation, StubProvider};
use e2e::{Portal, Session};

const MOBILE: &str = "+4791234567";
const CLIENT_ID: &str = "hjemmekontor-test";

/// The stub provider, and a portal that trusts it with kari signed in.
async fn signed_in_against_stub() -> anyhow::Result<(StubProvider, Portal, Session)> {
    let stub = StubProvider::start(CLIENT_ID).await?;
    let ca = stub.ca_path();
    let portal = Portal::builder()
        .buypass_provider(&stub.issuer, CLIENT_ID, Some(&ca))
        .start()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;
    Ok((stub, portal, session))
}

/// One registration through the stub lying with `mutation`; the callback's refusal reason
/// (`None`: registered).
async fn register_with(
    stub: &StubProvider,
    portal: &Portal,
    session: &Session,
    mutation: Mutation,
) -> anyhow::Result<Option<String>> {
    stub.set(mutation);
    let started = portal.buypass_start(session).await?;
    assert!(
        started.authorization_url.starts_with(&stub.issuer),
        "{}",
        started.authorization_url
    );
    let callback = stub.login(&started.authorization_url, None)?;
    let location = portal.buypass_callback(&callback, Some(&started.cookie)).await?;
    Ok(redirect_reason(&location))
}

#[tokio::test]
async fn every_forged_token_or_certificate_is_refused_with_its_reason() -> anyhow::Result<()> {
    let (stub, portal, session) = signed_in_against_stub().await?;

    let attempt = |mutation| register_with(&stub, &portal, &session, mutation);
    let cases = [
        (Mutation::NonceMismatch, "token_invalid"),
        (Mutation::UnknownKey, "token_invalid"),
        (Mutation::ForgedWithKnownKid, "token_invalid"),
        (Mutation::AlgNone, "token_invalid"),
        (Mutation::WrongIssuer, "token_invalid"),
        (Mutation::WrongAudience, "token_invalid"),
        (Mutation::Expired, "token_invalid"),
        (Mutation::WrongAtHash, "token_invalid"),
        (Mutation::PasswordSms, "not_smartcard"),
        (Mutation::MobileApp, "not_smartcard"),
        (Mutation::ForeignCa, "certificate_invalid"),
        (Mutation::ExpiredCertificate, "certificate_invalid"),
        (Mutation::NoCertificate, "certificate_invalid"),
        (Mutation::TokenEndpointDown, "provider_unavailable"),
    ];
    for (mutation, reason) in cases {
        assert_eq!(attempt(mutation).await?.as_deref(), Some(reason), "{mutation:?}");
        let account = portal.account(&session).await?;
        assert_eq!(
            account["home_office"]["buypass"]["status"], "not_registered",
            "{mutation:?} recorded something"
        );
    }

    // A provider error redirect, and the user pressing cancel.
    for (error, reason) in [("server_error", "provider_error"), ("access_denied", "login_cancelled")] {
        let started = portal.buypass_start(&session).await?;
        let callback = stub.login(&started.authorization_url, Some(error))?;
        let location = portal.buypass_callback(&callback, Some(&started.cookie)).await?;
        assert_eq!(redirect_reason(&location).as_deref(), Some(reason));
    }

    // Discovery once, and one fresh fetch when the unknown key first showed up.
    let fetches = stub.jwks_fetches();
    assert_eq!(fetches, 2, "JWKS fetches");
    // A key that is still not published after one fresh fetch of the JWKS is not fetched for
    // again: a second token under the same unknown kid causes no further fetch.
    assert_eq!(attempt(Mutation::UnknownKey).await?.as_deref(), Some("token_invalid"));
    assert_eq!(stub.jwks_fetches(), fetches, "refetched for a kid known to be unknown");

    // After the outage the user simply tries again. The provider has meanwhile rotated its
    // signing key: the portal fetches the keys again once, and the honest login gets through.
    assert_eq!(attempt(Mutation::RotatedKey).await?, None);
    assert_eq!(stub.jwks_fetches(), fetches + 1, "one fresh fetch for the new key");
    let account = portal.account(&session).await?;
    assert_ne!(account["home_office"]["buypass"]["status"], "not_registered");

    // Every code exchange authenticated with a fresh, short-lived private_key_jwt and PKCE.
    let requests = stub.token_requests();
    assert!(requests.len() >= 14);
    let mut jtis = std::collections::HashSet::new();
    for form in &requests {
        assert_eq!(
            form["client_assertion_type"],
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        );
        assert!(form["code_verifier"].len() >= 43);
        assert!(!form.contains_key("client_secret"));
        let claims: serde_json::Value = {
            use base64::Engine;
            let payload = form["client_assertion"].split('.').nth(1).unwrap_or_default();
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?)?
        };
        assert_eq!(claims["iss"], CLIENT_ID);
        assert_eq!(claims["sub"], CLIENT_ID);
        assert_eq!(claims["aud"], format!("{}/token", stub.issuer));
        let lifetime = claims["exp"].as_i64().unwrap_or(i64::MAX) - claims["iat"].as_i64().unwrap_or(0);
        assert!(lifetime <= 60, "assertion lives {lifetime} s");
        assert!(jtis.insert(claims["jti"].to_string()), "jti reused");
    }
    Ok(())
}

/// OpenID Connect Core 3.1.3.6: an ID token from the token endpoint need not carry `at_hash`.
/// A well-formed smartcard login without one registers the card; one whose `at_hash` names
/// another access token still does not.
#[tokio::test]
async fn an_id_token_without_at_hash_registers_the_card_and_a_wrong_one_does_not() -> anyhow::Result<()> {
    let (stub, portal, session) = signed_in_against_stub().await?;
    let login = |mutation| register_with(&stub, &portal, &session, mutation);

    assert_eq!(login(Mutation::WrongAtHash).await?.as_deref(), Some("token_invalid"));
    let account = portal.account(&session).await?;
    assert_eq!(account["home_office"]["buypass"]["status"], "not_registered");

    assert_eq!(
        login(Mutation::NoAtHash).await?,
        None,
        "refused a token without at_hash"
    );
    let account = portal.account(&session).await?;
    let buypass = &account["home_office"]["buypass"];
    assert!(
        buypass["status"] == "pending" || buypass["status"] == "active",
        "{buypass}"
    );
    assert!(
        buypass["serial_number"].as_str().is_some_and(|s| !s.is_empty()),
        "{buypass}"
    );
    Ok(())
}
