//! The Buypass callback's state handling and the home-office routes' HTTP behaviour, against
//! the library with a movable clock (the end-to-end tests in `tests/` cover the full flow).

use std::sync::Arc;

use axum::http::{HeaderValue, Method, StatusCode};
use portal_core::buypass::certificate::AcceptedCertificate;
use portal_core::buypass::flow::{CallbackFailure, CallbackQuery, STATE_LIFETIME};
use portal_core::domain::CertificateSerial;
use portal_http::handlers::homeoffice::GatewayAuth;
use portal_http::routes::{function_router, ApiState, Function};
use portal_testkit::{unreachable_buypass, TestApp};

use crate::harness::{api_state, request, send, GATEWAY_KEY, PASSWORD};

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
    let kari = portal_core::domain::Username::parse("kari").unwrap();
    assert_eq!(t.app.load_account(&kari).await.unwrap().unwrap().buypass_serial, None);
    let password = portal_core::domain::Password::new(PASSWORD.to_owned());
    let start = t
        .app
        .buypass_start(
            &b,
            &kari,
            &portal_core::domain::SessionId::generate(),
            None,
            &password,
            None,
        )
        .await;
    assert!(matches!(
        start,
        Err(portal_core::error::ServiceError::BuypassUnavailable)
    ));
}

async fn get(router: &axum::Router, path: &str, key: Option<&str>) -> (StatusCode, serde_json::Value) {
    let mut request = request(Method::GET, path, None, None);
    if let Some(key) = key {
        request
            .headers_mut()
            .insert("x-gateway-key", HeaderValue::from_str(key).unwrap());
    }
    let answer = send(router, request).await;
    (answer.status, answer.body)
}

#[tokio::test]
async fn no_lambda_router_serves_the_stand_in_provider() {
    let t = TestApp::in_memory();
    let state = api_state(&t);
    for function in Function::ALL {
        let router = function_router(function, &state);
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
    let deps = api_state(&t);
    let router = function_router(Function::SerialActivation, &deps);
    let cert = AcceptedCertificate {
        serial: CertificateSerial::parse("0A1B2C").unwrap(),
        issuer_id: portal_core::domain::IssuerId::from_issuer_der(b"CN=CA"),
        subject: "CN=Kari".into(),
        issuer: "CN=CA".into(),
        not_after: t.app.now() + 1000,
    };
    t.app.register_serial(&kari, &cert, None, None).await.unwrap();
    let path = "/v1/gateway/certificates/0A1B2C";
    assert_eq!(get(&router, path, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&router, path, Some("the-gateway-key-12")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = get(&router, path, Some(GATEWAY_KEY)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "pending is not active"
    );
    let gateway = Arc::new(portal_core::activation::gateway::CapturingGateway::default());
    let activator = portal_core::activation::Activator::new(t.app.clone(), gateway, Default::default(), false);
    activator
        .process(
            &portal_core::buypass::registry::CardKey::of(&cert),
            portal_core::activation::Trigger::Event,
        )
        .await
        .unwrap();
    for spelling in ["0A1B2C", "0a:1b:2c"] {
        let (status, body) = get(
            &router,
            &format!("/v1/gateway/certificates/{spelling}"),
            Some(GATEWAY_KEY),
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
    let (status, body) = get(&router, path, Some(GATEWAY_KEY)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "disabled account"
    );
    for unknown in ["0A1B2D", "zz", "%ZZ"] {
        let (status, _) = get(
            &router,
            &format!("/v1/gateway/certificates/{unknown}"),
            Some(GATEWAY_KEY),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
    }
    // In IAM mode a request that did not come through API Gateway's IAM authorizer is refused.
    let iam = ApiState::new(
        t.app.clone(),
        Arc::new(unreachable_buypass()),
        GatewayAuth::Iam {
            role: portal_http::handlers::homeoffice::GatewayRole::parse("arn:aws:iam::123456789012:role/gateway")
                .unwrap(),
        },
    );
    let router = function_router(Function::SerialActivation, &iam);
    assert_eq!(get(&router, path, Some(GATEWAY_KEY)).await.0, StatusCode::UNAUTHORIZED);
}

/// A request as API Gateway's IAM authorizer hands it on: signed by `user_arn`.
async fn get_as_iam(router: &axum::Router, path: &str, user_arn: Option<&str>) -> (StatusCode, serde_json::Value) {
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
    use lambda_http::request::RequestContext;
    let context: ApiGatewayV2httpRequestContext = serde_json::from_value(serde_json::json!({
        "accountId": "123456789012",
        "apiId": "api",
        "requestId": "req-1",
        "authorizer": { "iam": {
            "accessKey": "ASIAEXAMPLE",
            "accountId": "123456789012",
            "callerId": "AROAEXAMPLE:session",
            "userArn": user_arn,
            "userId": "AROAEXAMPLE:session",
        }},
        "http": { "method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1", "userAgent": "gw" },
    }))
    .unwrap();
    let mut request = request(Method::GET, path, None, None);
    request.extensions_mut().insert(RequestContext::ApiGatewayV2(context));
    let answer = send(router, request).await;
    (answer.status, answer.body)
}

#[tokio::test]
async fn iam_gateway_lookup_answers_only_the_gateway_role() {
    let t = TestApp::in_memory();
    let kari = t.account("kari", PASSWORD, "+4791234567").await;
    let cert = AcceptedCertificate {
        serial: CertificateSerial::parse("0A1B2C").unwrap(),
        issuer_id: portal_core::domain::IssuerId::from_issuer_der(b"CN=CA"),
        subject: "CN=Kari".into(),
        issuer: "CN=CA".into(),
        not_after: t.app.now() + 1000,
    };
    t.app.register_serial(&kari, &cert, None, None).await.unwrap();
    let card = portal_core::buypass::registry::CardKey::of(&cert);
    let gateway = Arc::new(portal_core::activation::gateway::CapturingGateway::default());
    portal_core::activation::Activator::new(t.app.clone(), gateway, Default::default(), false)
        .process(&card, portal_core::activation::Trigger::Event)
        .await
        .unwrap();
    let deps = ApiState::new(
        t.app.clone(),
        Arc::new(unreachable_buypass()),
        GatewayAuth::Iam {
            role: portal_http::handlers::homeoffice::GatewayRole::parse(
                "arn:aws:iam::123456789012:role/remote-access/hk-gateway",
            )
            .unwrap(),
        },
    );
    let router = function_router(Function::SerialActivation, &deps);
    let both = format!("/v1/gateway/certificates/{}/{}", card.issuer_id, card.serial);
    for path in ["/v1/gateway/certificates/0A1B2C", both.as_str()] {
        let (status, body) = get_as_iam(
            &router,
            path,
            Some("arn:aws:sts::123456789012:assumed-role/hk-gateway/gw-host-1"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["username"], "kari");
        for (who, caller) in [
            (
                "another role",
                Some("arn:aws:sts::123456789012:assumed-role/hk-portal-admin/s"),
            ),
            (
                "another account",
                Some("arn:aws:sts::999999999999:assumed-role/hk-gateway/s"),
            ),
            ("a user", Some("arn:aws:iam::123456789012:user/hk-gateway")),
            (
                "a longer name",
                Some("arn:aws:sts::123456789012:assumed-role/hk-gateway-test/s"),
            ),
            ("no caller ARN", None),
        ] {
            let (status, body) = get_as_iam(&router, path, caller).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{who} on {path}");
            assert_eq!(body["code"], "forbidden", "{who}");
            assert_eq!(body["reason"], "not_the_gateway", "{who}");
            assert!(body.get("username").is_none(), "{who} learnt the owner");
        }
    }
}
