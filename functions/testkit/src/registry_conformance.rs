//! Serials keyed by issuer, written once and run against SQLite (below) and DynamoDB (the
//! emulator tests): two CAs that issue the same serial number to different people.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use crate::TestApp;
use portal_core::activation::gateway::{CapturingGateway, GatewayEventKind};
use portal_core::activation::{card_from_keys, ActivationPolicy, Activator, Outcome, Trigger};
use portal_core::buypass::certificate::{AcceptedCertificate, TrustedIssuers};
use portal_core::buypass::registry::{CardKey, RegisterError, Registered, SerialLookup};
use portal_core::store::ItemStore;
use portal_dev::ca::DevCa;
use portal_http::handlers::homeoffice::GatewayAuth;
use portal_http::routes::{function_router, ApiState, Function};

const PASSWORD: &str = "korrekt hest batteri stift";
const GATEWAY_KEY: &str = "the-gateway-key-123";
/// The number both CAs put on a card.
const SHARED_SERIAL: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

/// Runs every check; panics with the name of the first that fails.
pub async fn run_all(store: Arc<dyn ItemStore>) {
    two_issuers_may_issue_one_serial_and_the_gateway_tells_them_apart(store).await;
}

async fn gateway_get(router: &axum::Router, path: &str) -> (StatusCode, Value) {
    let request = Request::get(path)
        .header("x-gateway-key", GATEWAY_KEY)
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("request: {e}"));
    let response = router
        .clone()
        .oneshot(request)
        .await
        .unwrap_or_else(|e| panic!("router: {e}"));
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap_or_else(|e| panic!("body: {e}"));
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn accepted(trusted: &TrustedIssuers, ca: &DevCa, holder: &str, serial: &[u8], now: i64) -> AcceptedCertificate {
    let leaf = ca
        .issue_with_serial(holder, serial, now - 60, now + 365 * 24 * 3600)
        .unwrap_or_else(|e| panic!("issue: {e}"));
    trusted.verify(&leaf.pem, now).unwrap_or_else(|e| panic!("verify: {e}"))
}

async fn two_issuers_may_issue_one_serial_and_the_gateway_tells_them_apart(store: Arc<dyn ItemStore>) {
    let t = TestApp::on(store);
    let now = t.app.now();
    let (ca_a, ca_b) = (
        DevCa::generate("Buypass Test CA A").unwrap_or_else(|e| panic!("{e}")),
        DevCa::generate("Buypass Test CA B").unwrap_or_else(|e| panic!("{e}")),
    );
    let trusted = TrustedIssuers::from_pem_bundle(&format!("{}\n{}", ca_a.certificate_pem(), ca_b.certificate_pem()))
        .unwrap_or_else(|e| panic!("bundle: {e}"));
    let kari = t.account("kari.issuers", PASSWORD, "+4791234501").await;
    let ola = t.account("ola.issuers", PASSWORD, "+4791234502").await;
    let per = t.account("per.issuers", PASSWORD, "+4791234503").await;
    let eve = t.account("eve.issuers", PASSWORD, "+4791234504").await;

    let from_a = accepted(&trusted, &ca_a, "Kari", &SHARED_SERIAL, now);
    let from_b = accepted(&trusted, &ca_b, "Ola", &SHARED_SERIAL, now);
    assert_eq!(from_a.serial, from_b.serial, "the same serial number");
    assert_ne!(from_a.issuer_id, from_b.issuer_id, "from different issuers");
    let (card_a, card_b) = (CardKey::of(&from_a), CardKey::of(&from_b));

    // Both register, to different accounts: the serial alone is not the card.
    for (user, cert) in [(&kari, &from_a), (&ola, &from_b)] {
        let done = t
            .app
            .register_serial(user, cert, Some("sub-of-the-login"), None)
            .await
            .unwrap_or_else(|e| panic!("register {user}: {e}"));
        assert_eq!(done.registered, Registered::Pending { revoked: None });
    }
    // The record keeps who the certificate names and which Buypass login registered it.
    let record = t
        .app
        .certificate_record(&card_a)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no record for {card_a}"))
        .value;
    assert!(record.subject.contains("CN=Kari"), "{}", record.subject);
    assert_eq!(record.id_token_subject.as_deref(), Some("sub-of-the-login"));
    // One (issuer, serial) still belongs to one account at a time.
    assert_eq!(
        t.app.register_serial(&eve, &from_a, None, None).await,
        Err(RegisterError::SerialInUse)
    );

    let gateway = Arc::new(CapturingGateway::default());
    let activator = Activator::new(t.app.clone(), gateway.clone(), ActivationPolicy::default(), false);
    for card in [&card_a, &card_b] {
        let outcome = activator
            .process(card, Trigger::Event)
            .await
            .unwrap_or_else(|e| panic!("activate {card}: {e}"));
        assert_eq!(outcome, Outcome::Activated, "{card}");
    }
    let events = gateway.events();
    let announced: Vec<(GatewayEventKind, &str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e.event,
                e.serial_number.as_str(),
                e.issuer_id.as_str(),
                e.username.as_str(),
            )
        })
        .collect();
    assert_eq!(
        announced,
        vec![
            (
                GatewayEventKind::Activated,
                "12345678",
                card_a.issuer_id.as_str(),
                "kari.issuers"
            ),
            (
                GatewayEventKind::Activated,
                "12345678",
                card_b.issuer_id.as_str(),
                "ola.issuers"
            ),
        ]
    );

    let state = ApiState::new(
        t.app.clone(),
        Arc::new(crate::unreachable_buypass()),
        GatewayAuth::key(GATEWAY_KEY).expect("a long enough key"),
    );
    let router = function_router(Function::SerialActivation, &state);
    for (card, user) in [(&card_a, "kari.issuers"), (&card_b, "ola.issuers")] {
        let (status, body) = gateway_get(
            &router,
            &format!("/v1/gateway/certificates/{}/{}", card.issuer_id, card.serial),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{card}: {body}");
        assert_eq!(body["username"], user);
        assert_eq!(body["issuer_id"], card.issuer_id.as_str());
        assert_eq!(body["serial_number"], "12345678");
        // Upper-case issuer ids are the same issuer.
        let upper = card.issuer_id.as_str().to_ascii_uppercase();
        let (status, body) = gateway_get(&router, &format!("/v1/gateway/certificates/{upper}/12:34:56:78")).await;
        assert_eq!((status, body["username"].as_str()), (StatusCode::OK, Some(user)));
    }
    let (status, body) = gateway_get(&router, "/v1/gateway/certificates/12345678").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "ambiguous_serial");
    assert_eq!(body["issuers"], 2);
    assert_eq!(
        t.app.active_for_gateway_by_serial(&from_a.serial).await.ok(),
        Some(SerialLookup::Ambiguous { issuers: 2 })
    );

    // Still ambiguous after one of them is revoked: a lost card of CA B must not get in on
    // CA A's active card with the same number.
    assert_eq!(t.app.revoke_serial(&card_b, "lost").await, Ok(true));
    let (status, _) = gateway_get(&router, "/v1/gateway/certificates/12345678").await;
    assert_eq!(status, StatusCode::CONFLICT);
    let path_b = format!("/v1/gateway/certificates/{}/{}", card_b.issuer_id, card_b.serial);
    assert_eq!(gateway_get(&router, &path_b).await.0, StatusCode::NOT_FOUND);
    let path_a = format!("/v1/gateway/certificates/{}/{}", card_a.issuer_id, card_a.serial);
    assert_eq!(gateway_get(&router, &path_a).await.0, StatusCode::OK);

    // A serial only one issuer has registered still works by serial alone.
    let only_a = accepted(&trusted, &ca_a, "Per", &[0x7E, 0x01], now);
    t.app
        .register_serial(&per, &only_a, None, None)
        .await
        .unwrap_or_else(|e| panic!("register per: {e}"));
    activator
        .process(&CardKey::of(&only_a), Trigger::Event)
        .await
        .unwrap_or_else(|e| panic!("activate per: {e}"));
    let (status, body) = gateway_get(&router, "/v1/gateway/certificates/7E01").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["username"], "per.issuers");
    assert_eq!(body["issuer_id"], card_a.issuer_id.as_str());
    // Under the other issuer that serial is nobody's.
    let other = format!("/v1/gateway/certificates/{}/7E01", card_b.issuer_id);
    assert_eq!(gateway_get(&router, &other).await.0, StatusCode::NOT_FOUND);

    // Stream records name the card by both keys.
    assert_eq!(card_from_keys(&card_a.pk(), &card_a.sk()), Some(card_a.clone()));
    assert_eq!(card_from_keys(&card_a.pk(), "SERIAL"), None, "the old layout");
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn conformance_on_sqlite() {
        let store = portal_core::store::sqlite::SqliteStore::in_memory().unwrap_or_else(|e| panic!("{e}"));
        super::run_all(std::sync::Arc::new(store)).await;
    }
}
