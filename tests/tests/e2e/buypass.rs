//! Seed steps 5–7 over HTTP against the real binaries: register a Buypass smartcard through
//! the stand-in provider, watch the serial go from pending to active, the gateway find it and
//! the "ready" SMS arrive; and every way a browser or another account can get it wrong.

use std::time::{Duration, Instant};

use e2e::buypass::{dev_provider_login, redirect_reason};
use e2e::{eventually, Portal};
use serde_json::Value;

const MOBILE: &str = "+4791234567";
const OTHER_MOBILE: &str = "+4791234568";
const GATEWAY_KEY: &str = "local-gateway-key-for-tests";
const READY: &str = "Hjemmekontor er klart til bruk";

fn start_portal() -> anyhow::Result<Portal> {
    Portal::builder().gateway_key(GATEWAY_KEY).start()
}

async fn ready_sms_count(portal: &Portal, mobile: &str) -> anyhow::Result<usize> {
    Ok(portal
        .sms()
        .await?
        .iter()
        .filter(|m| m["to"] == mobile && m["body"].as_str().unwrap_or_default().starts_with(READY))
        .count())
}

#[tokio::test]
async fn smartcard_registration_is_active_within_seconds_and_the_gateway_finds_it() -> anyhow::Result<()> {
    let portal = start_portal()?;
    portal.create_user("kari.nordmann", MOBILE)?;
    let session = portal.sign_in("kari.nordmann", MOBILE).await?;
    let account = portal.account(&session).await?;
    assert_eq!(account["home_office"]["enabled"], true);
    assert_eq!(account["home_office"]["buypass"]["status"], "not_registered");

    let started = portal.buypass_start(&session).await?;
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/v1/homeoffice/buypass/callback",
        "Max-Age=600",
    ] {
        assert!(started.set_cookie.contains(attribute), "{}", started.set_cookie);
    }
    let url = reqwest::Url::parse(&started.authorization_url)?;
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert!(url.path().ends_with("/dev/buypass/authorize"), "{url}");
    assert_eq!(query["scope"], "openid bpx509certificate");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["bp_amr-values"], "sc");
    assert_eq!(query["response_type"], "code");
    assert!(query["state"].len() >= 22 && query["nonce"].len() >= 22);
    assert!(
        !query.contains_key("code_verifier"),
        "the verifier never leaves the server"
    );

    let callback = dev_provider_login(&started.authorization_url, "sc", "Kari Nordmann").await?;
    let called_back = Instant::now();
    let location = portal.buypass_callback(&callback, Some(&started.cookie)).await?;
    assert_eq!(location, format!("{}/hjemmekontor?buypass=registered", portal.base));

    let activated = eventually(Duration::from_secs(10), || async {
        let account = portal.account(&session).await.ok()?;
        (account["home_office"]["buypass"]["status"] == "active").then_some(account)
    })
    .await
    .ok_or_else(|| anyhow::anyhow!("not active within 10 s"))?;
    eprintln!("callback → active: {} ms", called_back.elapsed().as_millis());
    let buypass = &activated["home_office"]["buypass"];
    let serial = buypass["serial_number"].as_str().unwrap_or_default().to_owned();
    assert!(
        !serial.is_empty() && serial.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
        "{serial}"
    );
    assert!(buypass["registered_at"].is_string() && buypass["activated_at"].is_string());

    let (status, found) = portal.gateway_lookup(&serial, Some(GATEWAY_KEY)).await?;
    assert_eq!(status, 200);
    assert_eq!(found["serial_number"], serial.as_str());
    assert_eq!(found["username"], "kari.nordmann");
    assert_eq!(found["status"], "active");
    assert_eq!(portal.gateway_lookup(&serial, None).await?.0, 401);
    assert_eq!(
        portal.gateway_lookup(&serial, Some("wrong-key-wrong-key")).await?.0,
        401
    );

    let sms_arrived = eventually(Duration::from_secs(10), || async {
        (ready_sms_count(&portal, MOBILE).await.ok()? == 1).then_some(())
    })
    .await;
    assert!(sms_arrived.is_some(), "no ready SMS");
    let events = portal.gateway_events().await?;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event"], "activated");
    assert_eq!(events[0]["serial_number"], serial.as_str());
    // The gateway event names the issuer; the lookup by issuer and serial finds the card.
    let issuer_id = events[0]["issuer_id"].as_str().unwrap_or_default().to_owned();
    assert!(
        issuer_id.len() == 64
            && issuer_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{issuer_id}"
    );
    let (status, found) = portal
        .gateway_lookup_card(&issuer_id, &serial, Some(GATEWAY_KEY))
        .await?;
    assert_eq!((status, found["username"].as_str()), (200, Some("kari.nordmann")));
    assert_eq!(found["issuer_id"], issuer_id.as_str());
    let other_issuer = "0".repeat(64);
    assert_eq!(
        portal
            .gateway_lookup_card(&other_issuer, &serial, Some(GATEWAY_KEY))
            .await?
            .0,
        404,
        "the same serial under another issuer is another card"
    );
    assert_eq!(portal.gateway_lookup_card(&issuer_id, &serial, None).await?.0, 401);

    // The same stand-in card again: nothing changes, no second SMS.
    let again = portal.buypass_start(&session).await?;
    let callback = dev_provider_login(&again.authorization_url, "sc", "Kari Nordmann").await?;
    assert_eq!(
        redirect_reason(&portal.buypass_callback(&callback, Some(&again.cookie)).await?),
        None
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ready_sms_count(&portal, MOBILE).await?, 1);
    assert_eq!(portal.gateway_events().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn browser_and_login_method_attacks_are_refused_and_record_nothing() -> anyhow::Result<()> {
    let portal = start_portal()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;
    let not_registered = |account: &Value| account["home_office"]["buypass"]["status"] == "not_registered";

    // A state the portal never issued.
    let started = portal.buypass_start(&session).await?;
    let callback = dev_provider_login(&started.authorization_url, "sc", "kari").await?;
    let forged = callback.replace(
        &reqwest::Url::parse(&callback)?
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default(),
        "AAAAAAAAAAAAAAAAAAAAAA",
    );
    assert_eq!(
        redirect_reason(&portal.buypass_callback(&forged, Some(&started.cookie)).await?).as_deref(),
        Some("state_invalid")
    );
    // The real callback, but in a browser without the binding cookie, or with another
    // browser's cookie (an attacker's own start).
    assert_eq!(
        redirect_reason(&portal.buypass_callback(&callback, None).await?).as_deref(),
        Some("browser_mismatch")
    );
    let attacker = portal.buypass_start(&session).await?;
    assert_eq!(
        redirect_reason(&portal.buypass_callback(&callback, Some(&attacker.cookie)).await?).as_deref(),
        Some("browser_mismatch")
    );
    assert!(not_registered(&portal.account(&session).await?));
    // The right browser still can, once; a replay of the same callback is refused.
    assert_eq!(
        redirect_reason(&portal.buypass_callback(&callback, Some(&started.cookie)).await?),
        None
    );
    assert_eq!(
        redirect_reason(&portal.buypass_callback(&callback, Some(&started.cookie)).await?).as_deref(),
        Some("state_invalid")
    );

    // Password/SMS and mobile-app logins carry a certificate too, but are not the card.
    let portal_b = start_portal()?;
    portal_b.create_user("ola", OTHER_MOBILE)?;
    let ola = portal_b.sign_in("ola", OTHER_MOBILE).await?;
    for (method, reason) in [
        ("otp", "not_smartcard"),
        ("app", "not_smartcard"),
        ("cancel", "login_cancelled"),
    ] {
        let started = portal_b.buypass_start(&ola).await?;
        let callback = dev_provider_login(&started.authorization_url, method, "ola").await?;
        let location = portal_b.buypass_callback(&callback, Some(&started.cookie)).await?;
        assert_eq!(redirect_reason(&location).as_deref(), Some(reason), "{method}");
        assert!(location.starts_with(&format!("{}/hjemmekontor?buypass=error&reason=", portal_b.base)));
    }
    assert!(not_registered(&portal_b.account(&ola).await?));
    assert!(portal_b.gateway_events().await?.is_empty());

    // A card registered to kari cannot be registered by ola.
    portal.create_user("ola", OTHER_MOBILE)?;
    let ola = portal.sign_in("ola", OTHER_MOBILE).await?;
    let started = portal.buypass_start(&ola).await?;
    let callback = dev_provider_login(&started.authorization_url, "sc", "kari").await?;
    assert_eq!(
        redirect_reason(&portal.buypass_callback(&callback, Some(&started.cookie)).await?).as_deref(),
        Some("serial_in_use")
    );
    assert!(not_registered(&portal.account(&ola).await?));
    Ok(())
}

#[tokio::test]
async fn start_needs_a_session_and_the_home_office_flag() -> anyhow::Result<()> {
    let portal = start_portal()?;
    let anonymous = e2e::buypass::browser()
        .post(portal.url("/v1/homeoffice/buypass/start"))
        .send()
        .await?;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["content-type"], "application/problem+json");
    let anonymous = e2e::buypass::browser()
        .post(portal.url("/v1/homeoffice/buypass/start"))
        .json(&serde_json::json!({ "password": e2e::PASSWORD }))
        .send()
        .await?;
    assert_eq!(anonymous.status(), 401, "a password is no session");
    portal.create_user("kari", MOBILE)?;
    let (ok, out) = portal.admin(&["set-home-office", "kari", "off"])?;
    assert!(ok, "{out}");
    let session = portal.sign_in("kari", MOBILE).await?;
    let refused = portal.buypass_start_response(&session, e2e::PASSWORD).await?;
    assert_eq!(refused.status(), 403);
    assert!(refused.headers().get("set-cookie").is_none());
    let body: Value = refused.json().await?;
    assert_eq!(body["code"], "home_office_not_enabled");
    Ok(())
}

async fn problem(response: reqwest::Response) -> anyhow::Result<(u16, bool, Value)> {
    let status = response.status().as_u16();
    let cookie = response.headers().get("set-cookie").is_some();
    Ok((status, cookie, response.json().await.unwrap_or(Value::Null)))
}

/// A stolen session alone cannot put the thief's card on the account: `/start` wants the
/// current password, and wrong ones are failed logins with the login form's throttles.
#[tokio::test]
async fn start_needs_the_current_password_and_wrong_ones_count_as_failed_logins() -> anyhow::Result<()> {
    let portal = start_portal()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;
    let no_body = e2e::buypass::browser()
        .post(portal.url("/v1/homeoffice/buypass/start"))
        .bearer_auth(&session.access_token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await?;
    let (status, cookie, body) = problem(no_body).await?;
    assert_eq!((status, cookie), (400, false), "{body}");
    let (status, cookie, body) = problem(portal.buypass_start_response(&session, "feil passord her").await?).await?;
    assert_eq!(
        (status, cookie, body["code"].as_str()),
        (403, false, Some("wrong_password"))
    );
    for _ in 0..4 {
        let (status, _, body) = problem(portal.buypass_start_response(&session, "feil passord her").await?).await?;
        assert_eq!((status, body["code"].as_str()), (403, Some("wrong_password")));
    }
    e2e::build_backoff(3, 403, || async {
        let r = portal.buypass_start_response(&session, "feil passord her").await?;
        Ok(e2e::status_and_retry_after(&r))
    })
    .await?;
    let throttled = portal.buypass_start_response(&session, e2e::PASSWORD).await?;
    assert!(throttled.headers().contains_key("retry-after"));
    let (status, cookie, body) = problem(throttled).await?;
    assert_eq!(
        (status, cookie, body["code"].as_str()),
        (429, false, Some("too_many_attempts"))
    );
    let login = portal.login_response("kari", e2e::PASSWORD, false).await?;
    assert_eq!(login.status(), 429, "the wrong passwords count as failed logins");
    let (ok, audit) = portal.admin(&["audit", "kari"])?;
    assert!(ok, "{audit}");
    assert!(
        audit
            .lines()
            .any(|l| l.contains("login_failed") && l.contains("buypass_start")),
        "{audit}"
    );
    Ok(())
}

#[tokio::test]
async fn a_new_card_revokes_the_old_one_and_operators_can_revoke() -> anyhow::Result<()> {
    let portal = start_portal()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;
    let mut serials = Vec::new();
    let replaced_notices = |sms: Vec<Value>| {
        sms.iter()
            .filter(|m| {
                m["to"] == MOBILE
                    && m["body"].as_str().is_some_and(|b| {
                        b.starts_with("Buypasskortet ditt er byttet - var det ikke deg, gå til ")
                            && b.ends_with("/ikke-meg eller ring kundesenteret.")
                    })
            })
            .count()
    };
    for (holder, notices) in [("kari", 0), ("kari nytt kort", 1)] {
        let started = portal.buypass_start(&session).await?;
        let callback = dev_provider_login(&started.authorization_url, "sc", holder).await?;
        assert_eq!(
            redirect_reason(&portal.buypass_callback(&callback, Some(&started.cookie)).await?),
            None
        );
        let serial = eventually(Duration::from_secs(10), || async {
            let b = portal.account(&session).await.ok()?["home_office"]["buypass"].clone();
            (b["status"] == "active" && !serials.contains(&b["serial_number"])).then(|| b["serial_number"].clone())
        })
        .await
        .ok_or_else(|| anyhow::anyhow!("{holder}'s card not active"))?;
        serials.push(serial);
        assert_eq!(replaced_notices(portal.sms().await?), notices, "after {holder}");
    }
    // The registry's audit event names the certificate and the Buypass login behind it.
    let (ok, audit) = portal.admin(&["audit", "kari"])?;
    assert!(ok, "{audit}");
    let registered: Vec<Value> = audit
        .lines()
        .filter(|l| l.contains("buypass_card_registered"))
        .filter_map(|l| l.find('{').and_then(|at| serde_json::from_str(&l[at..]).ok()))
        .collect();
    assert_eq!(registered.len(), 2, "{audit}");
    // Both can fall in the same second, and events of one second have no order: the new card's
    // event is the one that names a revoked card.
    let (first, second) = match registered[0]["revoked"].is_null() {
        true => (&registered[0], &registered[1]),
        false => (&registered[1], &registered[0]),
    };
    assert!(first["revoked"].is_null(), "{first}");
    assert!(
        second["subject"].as_str().is_some_and(|s| s.contains("kari nytt kort")),
        "{second}"
    );
    let sub = second["id_token_sub"].as_str().unwrap_or_default();
    assert!(
        sub.len() == 32 && sub.bytes().all(|b| b.is_ascii_hexdigit()),
        "{second}"
    );
    assert_ne!(
        first["id_token_sub"], second["id_token_sub"],
        "one sub per stand-in holder"
    );
    assert_eq!(second["revoked"]["serial_number"], serials[0]);
    assert!(audit.contains("buypass_card_replaced_notified"), "{audit}");
    let (old, new) = (
        serials[0].as_str().unwrap_or_default(),
        serials[1].as_str().unwrap_or_default(),
    );
    assert_ne!(old, new);
    assert_eq!(portal.gateway_lookup(old, Some(GATEWAY_KEY)).await?.0, 404);
    assert_eq!(portal.gateway_lookup(new, Some(GATEWAY_KEY)).await?.0, 200);
    let revoked = eventually(Duration::from_secs(10), || async {
        let events = portal.gateway_events().await.ok()?;
        events
            .iter()
            .any(|e| e["event"] == "revoked" && e["serial_number"] == old)
            .then_some(events)
    })
    .await
    .ok_or_else(|| anyhow::anyhow!("no revocation event for the old card"))?;
    assert_eq!(revoked.iter().filter(|e| e["event"] == "activated").count(), 2);

    let (ok, out) = portal.admin(&["revoke-serial", new, "--reason", "card lost"])?;
    assert!(ok, "{out}");
    assert_eq!(portal.gateway_lookup(new, Some(GATEWAY_KEY)).await?.0, 404);
    let events = portal.gateway_events().await?;
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "revoked" && e["serial_number"] == new),
        "{events:?}"
    );
    assert_eq!(
        portal.account(&session).await?["home_office"]["buypass"]["status"],
        "not_registered"
    );

    let (ok, jwks) = portal.admin(&["buypass-client-jwks"])?;
    assert!(ok, "{jwks}");
    let jwks: Value = serde_json::from_str(&jwks)?;
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert!(jwks["keys"][0].get("d").is_none(), "private key printed");
    Ok(())
}

/// On DynamoDB in AWS the serial-activation function announces revocations (the table's
/// stream triggers it). `portal-admin --gateway-events function` (its default there) must leave
/// that work to it: it revokes and announces nothing itself, and whoever processes the record
/// next (the function; here portal-admin again, with the local event log) publishes the one
/// revocation event.
#[tokio::test]
async fn an_operator_revocation_can_be_left_to_the_activation_function() -> anyhow::Result<()> {
    let portal = start_portal()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;
    let started = portal.buypass_start(&session).await?;
    // A holder of its own: the dev provider's serials depend on the holder, and the AWS
    // backend's gateway log is shared by the tests.
    let callback = dev_provider_login(&started.authorization_url, "sc", "kari operatørtest").await?;
    assert_eq!(
        redirect_reason(&portal.buypass_callback(&callback, Some(&started.cookie)).await?),
        None
    );
    let serial = eventually(Duration::from_secs(10), || async {
        let b = portal.account(&session).await.ok()?["home_office"]["buypass"].clone();
        (b["status"] == "active").then(|| b["serial_number"].as_str().map(str::to_owned))?
    })
    .await
    .ok_or_else(|| anyhow::anyhow!("card not active"))?;
    let revocations = |events: &[Value]| {
        events
            .iter()
            .filter(|e| e["event"] == "revoked" && e["serial_number"] == serial.as_str())
            .count()
    };

    let revoke = |how: &'static str| {
        portal.admin(&[
            "revoke-serial",
            &serial,
            "--reason",
            "card lost",
            "--gateway-events",
            how,
        ])
    };
    let (ok, out) = revoke("function")?;
    assert!(ok, "{out}");
    assert!(out.contains("serial-activation function announces it"), "{out}");
    assert_eq!(portal.gateway_lookup(&serial, Some(GATEWAY_KEY)).await?.0, 404);
    let after_cli = revocations(&portal.gateway_events().await?);
    if portal.aws().is_none() {
        assert_eq!(after_cli, 0, "announced by the CLI");
    } else {
        // On the emulator portal-local's worker may still be finishing the activation (SMS,
        // records) when the CLI revokes; it then owes and publishes the revocation itself.
        assert!(after_cli <= 1, "announced twice");
    }
    // Whoever processes the record next (the function in AWS) announces it, exactly once.
    let (ok, out) = revoke("local")?;
    assert!(ok, "{out}");
    let once = eventually(Duration::from_secs(10), || async {
        let events = portal.gateway_events().await.ok()?;
        (revocations(&events) > 0).then_some(events)
    })
    .await
    .ok_or_else(|| anyhow::anyhow!("never announced"))?;
    assert_eq!(revocations(&once), 1);
    let (ok, out) = revoke("local")?;
    assert!(ok, "{out}");
    assert_eq!(revocations(&portal.gateway_events().await?), 1, "announced twice");
    Ok(())
}
