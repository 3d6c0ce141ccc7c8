//! The security centre (issue 16) over HTTP against the real binaries, on either backend:
//! sessions listed and ended, the history with a failed login, "not me" revoking the card for
//! the gateway, and the operators' incident list in portal-admin.

use std::time::Duration;

use e2e::buypass::{dev_provider_login, redirect_reason};
use e2e::{eventually, Portal};
use reqwest::Method;
use serde_json::{json, Value};

const MOBILE: &str = "+4791234567";
const GATEWAY_KEY: &str = "local-gateway-key-for-tests";

#[tokio::test]
async fn sessions_history_and_not_me_end_to_end() -> anyhow::Result<()> {
    let portal = Portal::builder().gateway_key(GATEWAY_KEY).start()?;
    portal.create_user("kari", MOBILE)?;
    let mine = portal.sign_in("kari", MOBILE).await?;
    let other = portal.sign_in("kari", MOBILE).await?;

    // Two sessions, mine marked; the other ended from mine stops working.
    let listed: Value = portal
        .send_as(&mine, Method::GET, "/v1/account/sessions", None)
        .await?
        .json()
        .await?;
    let sessions = listed["sessions"].as_array().cloned().unwrap_or_default();
    assert_eq!(sessions.len(), 2, "{listed}");
    assert_eq!(sessions[0]["current"], true);
    let other_id = sessions[1]["id"].as_str().unwrap_or_default().to_owned();
    let ended = portal
        .send_as(&mine, Method::DELETE, &format!("/v1/account/sessions/{other_id}"), None)
        .await?;
    assert_eq!(ended.status(), 204);
    assert_eq!(portal.account_response(&other).await?.status(), 401);
    assert_eq!(portal.refresh(&other).await?.status(), 401);

    // A failed login shows at the top of the history (events are ordered by the second).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let wrong = portal.login_response("kari", "helt feil passord her", false).await?;
    assert_eq!(wrong.status(), 401);
    let history: Value = portal
        .send_as(&mine, Method::GET, "/v1/account/security-events", None)
        .await?
        .json()
        .await?;
    assert_eq!(history["events"][0]["event"], "login_failed", "{history}");

    // A card, active for the gateway.
    let started = portal.buypass_start(&mine).await?;
    let callback = dev_provider_login(&started.authorization_url, "sc", "kari").await?;
    assert_eq!(
        redirect_reason(&portal.buypass_callback(&callback, Some(&started.cookie)).await?),
        None
    );
    let serial = eventually(Duration::from_secs(15), || async {
        let b = portal.account(&mine).await.ok()?["home_office"]["buypass"].clone();
        (b["status"] == "active").then(|| b["serial_number"].as_str().map(str::to_owned))?
    })
    .await
    .ok_or_else(|| anyhow::anyhow!("the card never became active"))?;
    assert_eq!(portal.gateway_lookup(&serial, Some(GATEWAY_KEY)).await?.0, 200);

    // "Not me": a wrong password changes nothing; the right one ends everything.
    let refused = portal
        .send_as(
            &mine,
            Method::POST,
            "/v1/account/not-me",
            Some(json!({ "password": "feil passord igjen" })),
        )
        .await?;
    assert_eq!(refused.status(), 403);
    assert_eq!(portal.gateway_lookup(&serial, Some(GATEWAY_KEY)).await?.0, 200);
    let done = portal
        .send_as(
            &mine,
            Method::POST,
            "/v1/account/not-me",
            Some(json!({ "password": e2e::PASSWORD })),
        )
        .await?;
    assert_eq!(done.status(), 200);
    let outcome: Value = done.json().await?;
    assert_eq!(outcome["card_revoked"], serial.as_str(), "{outcome}");
    assert_eq!(portal.account_response(&mine).await?.status(), 401);
    assert_eq!(portal.refresh(&mine).await?.status(), 401);
    assert_eq!(
        portal.gateway_lookup(&serial, Some(GATEWAY_KEY)).await?.0,
        404,
        "the gateway lookup answers not active"
    );
    let notice = portal.newest_text_to(MOBILE).await?;
    assert!(notice.contains("/ikke-meg"), "{notice}");

    // The operators' list, and closing it.
    let (ok, listed) = portal.admin(&["incidents"])?;
    assert!(ok && listed.contains("kari") && listed.contains(&serial), "{listed}");
    let (ok, closed) = portal.admin(&["incident-close", "kari"])?;
    assert!(ok && closed.contains("closed"), "{closed}");
    let (ok, listed) = portal.admin(&["incidents"])?;
    assert!(ok && listed.contains("no open incidents"), "{listed}");
    Ok(())
}
