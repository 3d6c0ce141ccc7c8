//! The Buypass callback's state handling and the home-office routes' HTTP behaviour, against
//! the library with a movable clock (the end-to-end tests in `tests/` cover the full flow).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Extension;
use portal::buypass::certificate::AcceptedCertificate;
use portal::buypass::flow::{CallbackFailure, CallbackQuery, STATE_LIFETIME};
use portal::domain::CertificateSerial;
use portal::handlers::homeoffice::{GatewayAuth, HomeOfficeDeps};
use portal::routes::{function_router, Function};
use portal::testing::{unreachable_buypass, TestApp};
use tower::ServiceExt;

const PASSWORD: &str = "korrekt hest batteri stift";
const STATE: &str = "AAAAAAAAAAAAAAAAAAAAAA";
const COOKIE: &str = "browser-secret-value";

async fn with_state(t: &TestApp) {
    let username = t.account("kari", PASSWORD, "+4791234567").await;
    t.insert_buypass_state(username, STATE, COOKIE).await;
}

fn query(raw: &str) -> Option<CallbackQuery> {
    CallbackQuery::parse(Some(raw))
}

#[tokio::test]
async fn state_is_bound_to_the_browser_single_use_and_dies_after_ten_minutes() {
    let t = TestApp::in_memory();
    with_state(&t).await;
    let b = unreachable_buypass();
    let cancel = format!("error=access_denied&state={STATE}");
    let cb = |q: &str, cookie: Option<&'static str>| {
        let (app, b, q) = (t.app.clone(), &b, q.to_owned());
        async move { app.buypass_callback(b, query(&q), cookie, None).await.map(|_| ()) }
    };
    assert_eq!(cb(&cancel, None).await, Err(CallbackFailure::BrowserMismatch));
    assert_eq!(
        cb(&cancel, Some("another-browser")).await,
        Err(CallbackFailure::BrowserMismatch)
    );
    assert_eq!(
        cb("error=access_denied&state=BBBBBBBBBBBBBBBBBBBBBB", Some(COOKIE)).await,
        Err(CallbackFailure::StateInvalid)
    );
    assert_eq!(
        cb("error=access_denied", Some(COOKIE)).await,
        Err(CallbackFailure::StateInvalid)
    );
    assert_eq!(
        cb(&format!("{cancel}&state={STATE}"), Some(COOKIE)).await,
        Err(CallbackFailure::StateInvalid),
        "duplicated parameter"
    );
    t.clock.advance(STATE_LIFETIME - 1);
    // The right browser, in time: consumed (the user cancelled).
    assert_eq!(cb(&cancel, Some(COOKIE)).await, Err(CallbackFailure::LoginCancelled));
    assert_eq!(
        cb(&cancel, Some(COOKIE)).await,
        Err(CallbackFailure::StateInvalid),
        "replay"
    );

    let t = TestApp::in_memory();
    with_state(&t).await;
    t.clock.advance(STATE_LIFETIME);
    let expired = t.app.buypass_callback(&b, query(&cancel), Some(COOKIE), None).await;
    assert_eq!(expired.map(|_| ()), Err(CallbackFailure::StateInvalid));
}

#[tokio::test]
async fn provider_down_is_a_clear_retryable_reason_and_records_nothing() {
    let t = TestApp::in_memory();
    with_state(&t).await;
    let b = unreachable_buypass();
    let result = t
        .app
        .buypass_callback(&b, query(&format!("code=abc&state={STATE}")), Some(COOKIE), None)
        .await;
    assert_eq!(result.map(|_| ()), Err(CallbackFailure::ProviderUnavailable));
    assert_eq!(CallbackFailure::ProviderUnavailable.reason(), "provider_unavailable");
    let kari = portal::domain::Username::parse("kari").unwrap();
    assert_eq!(t.app.load_account(&kari).await.unwrap().unwrap().buypass_serial, None);
    let start = t.app.buypass_start(&b, &kari).await;
    assert!(matches!(start, Err(portal::error::ApiError::BuypassUnavailable)));
}

async fn get(router: &axum::Router, path: &str, key: Option<&str>) -> (StatusCode, serde_json::Value) {
    let mut request = Request::get(path);
    if let Some(key) = key {
        request = request.header("x-gateway-key", key);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn no_lambda_router_serves_the_stand_in_provider() {
    let t = TestApp::in_memory();
    for function in Function::ALL {
        let router = function_router(function, t.app.clone());
        for path in [
            "/dev/buypass/.well-known/openid-configuration",
            "/dev/buypass/authorize",
            "/dev/gateway/events",
        ] {
            let (status, body) = get(&router, path, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{} serves {path}", function.name());
            assert_eq!(body["code"], "not_found");
        }
    }
}

#[tokio::test]
async fn gateway_lookup_needs_the_key_and_finds_only_active_serials() {
    let t = TestApp::in_memory();
    let kari = t.account("kari", PASSWORD, "+4791234567").await;
    let deps = Arc::new(HomeOfficeDeps {
        buypass: None,
        trigger: None,
        gateway_auth: Some(GatewayAuth::key("the-gateway-key-123")),
    });
    let router = function_router(Function::SerialActivation, t.app.clone()).layer(Extension(deps));
    let cert = AcceptedCertificate {
        serial: CertificateSerial::parse("0A1B2C").unwrap(),
        subject: "CN=Kari".into(),
        issuer: "CN=CA".into(),
        not_after: t.app.now() + 1000,
    };
    t.app.register_serial(&kari, &cert, None).await.unwrap();
    let path = "/v1/gateway/certificates/0A1B2C";
    assert_eq!(get(&router, path, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&router, path, Some("the-gateway-key-12")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = get(&router, path, Some("the-gateway-key-123")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "pending is not active"
    );
    let gateway = Arc::new(portal::activation::gateway::CapturingGateway::default());
    let activator = portal::activation::Activator::new(t.app.clone(), gateway, Default::default(), false);
    activator
        .process(&cert.serial, portal::activation::Trigger::Event)
        .await
        .unwrap();
    for spelling in ["0A1B2C", "0a:1b:2c"] {
        let (status, body) = get(
            &router,
            &format!("/v1/gateway/certificates/{spelling}"),
            Some("the-gateway-key-123"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["serial_number"], "0A1B2C");
        assert_eq!(body["username"], "kari");
        assert_eq!(body["status"], "active");
        assert!(body["activated_at"].is_string());
    }
    // A disabled account's card is gone for the gateway at once (and revoked).
    t.app.set_disabled(&kari, true).await.unwrap();
    let (status, body) = get(&router, path, Some("the-gateway-key-123")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "disabled account"
    );
    for unknown in ["0A1B2D", "zz", "%ZZ"] {
        let (status, _) = get(
            &router,
            &format!("/v1/gateway/certificates/{unknown}"),
            Some("the-gateway-key-123"),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
    }
    // In IAM mode a request that did not come through API Gateway's IAM authorizer is refused.
    let iam = Arc::new(HomeOfficeDeps {
        buypass: None,
        trigger: None,
        gateway_auth: Some(GatewayAuth::Iam),
    });
    let router = function_router(Function::SerialActivation, t.app.clone()).layer(Extension(iam));
    assert_eq!(
        get(&router, path, Some("the-gateway-key-123")).await.0,
        StatusCode::UNAUTHORIZED
    );
}
