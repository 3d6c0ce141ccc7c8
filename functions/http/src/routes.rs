//! Which routes each deployable serves, and the middleware they all share.
//!
//! Each Lambda function mounts only its own routes ([`function_router`]); `portal-local` mounts
//! them all plus the local-only ones. The route table here is the one `openapi.yaml`
//! documents (`x-function`), and a test checks the two agree.

use portal_core::error::ServiceError;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, FromRef, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use tracing::Instrument;

use crate::error::ApiError;
use crate::extract::MAX_BODY_BYTES;
use crate::handlers::homeoffice::{BuypassState, GatewayAuth, GatewayState};
use crate::handlers::{account, auth, homeoffice, passkeys, recovery_codes, security, self_service, step_up, totp};
use crate::problem;
use portal_core::activation::worker::ActivationTrigger;
use portal_core::app::SharedApp;
use portal_core::buypass::flow::Buypass;

/// The deployable functions of DESIGN §1 that serve HTTP routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Login,
    SmsCode,
    Account,
    Buypass,
    SerialActivation,
}

impl Function {
    pub const ALL: [Function; 5] = [
        Function::Login,
        Function::SmsCode,
        Function::Account,
        Function::Buypass,
        Function::SerialActivation,
    ];

    /// The name used in `openapi.yaml` (`x-function`) and in `infra/`.
    pub fn name(self) -> &'static str {
        match self {
            Function::Login => "login",
            Function::SmsCode => "sms-code",
            Function::Account => "account",
            Function::Buypass => "buypass",
            Function::SerialActivation => "serial-activation",
        }
    }
}

/// (method, path, function) for every API route; the single source the routers are built from.
pub const ROUTES: &[(&str, &str, Function)] = &[
    ("POST", "/v1/auth/login", Function::Login),
    ("POST", "/v1/auth/password/forgot", Function::Login),
    ("POST", "/v1/auth/password/reset", Function::Login),
    ("POST", "/v1/auth/sms/resend", Function::SmsCode),
    ("POST", "/v1/auth/sms/verify", Function::SmsCode),
    ("POST", "/v1/auth/sms/status", Function::SmsCode),
    ("POST", "/v1/auth/refresh", Function::SmsCode),
    ("POST", "/v1/auth/logout", Function::SmsCode),
    ("GET", "/v1/account", Function::Account),
    ("POST", "/v1/homeoffice/buypass/start", Function::Buypass),
    ("GET", "/v1/homeoffice/buypass/callback", Function::Buypass),
    ("GET", "/v1/gateway/certificates/{serial}", Function::SerialActivation),
    (
        "GET",
        "/v1/gateway/certificates/{issuer_id}/{serial}",
        Function::SerialActivation,
    ),
    ("PUT", "/v1/account/password", Function::Account),
    ("POST", "/v1/account/phone", Function::Account),
    ("POST", "/v1/account/phone/confirm", Function::Account),
    ("POST", "/v1/auth/totp/verify", Function::SmsCode),
    ("GET", "/v1/account/totp", Function::Account),
    ("POST", "/v1/account/totp", Function::Account),
    ("DELETE", "/v1/account/totp", Function::Account),
    ("POST", "/v1/account/totp/confirm", Function::Account),
    ("PUT", "/v1/account/language", Function::Account),
    ("GET", "/v1/account/sessions", Function::Account),
    ("DELETE", "/v1/account/sessions/{session_id}", Function::Account),
    ("POST", "/v1/account/sessions/revoke-others", Function::Account),
    ("GET", "/v1/account/security-events", Function::Account),
    ("POST", "/v1/account/not-me", Function::Account),
    ("POST", "/v1/auth/passkey/verify", Function::SmsCode),
    ("GET", "/v1/account/passkeys", Function::Account),
    ("POST", "/v1/account/passkeys", Function::Account),
    ("POST", "/v1/account/passkeys/confirm", Function::Account),
    ("DELETE", "/v1/account/passkeys/{id}", Function::Account),
    ("POST", "/v1/account/step-up/options", Function::Account),
    ("POST", "/v1/account/step-up", Function::Account),
    ("POST", "/v1/auth/recovery-code/verify", Function::SmsCode),
    ("GET", "/v1/account/recovery-codes", Function::Account),
    ("POST", "/v1/account/recovery-codes", Function::Account),
];

// One function per deployable, so each Lambda `main` names its own routes at compile time and
// links only the handlers (and their dependencies) it serves: a `match` on a runtime value
// would keep every handler in every binary. Each is generic over the router state `S`, which
// must provide what its handlers extract: the app for most, [`BuypassState`] and
// [`GatewayState`] for the home-office routes. A function's own router runs on exactly that
// state; [`api_router`] runs them all on [`ApiState`].

/// `login`: the password step and forgotten passwords.
pub fn login_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    SharedApp: FromRef<S>,
{
    Router::new()
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/auth/password/forgot", post(self_service::forgot_password))
        .route("/v1/auth/password/reset", post(self_service::reset_password))
}

/// `sms-code`: the second factor and the session's life.
pub fn sms_code_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    SharedApp: FromRef<S>,
{
    Router::new()
        .route("/v1/auth/sms/resend", post(auth::resend))
        .route("/v1/auth/sms/verify", post(auth::verify))
        .route("/v1/auth/sms/status", post(auth::sms_status))
        .route("/v1/auth/refresh", post(auth::refresh))
        .route("/v1/auth/logout", post(auth::logout))
        .route("/v1/auth/totp/verify", post(totp::verify))
        .route("/v1/auth/passkey/verify", post(passkeys::verify))
        .route("/v1/auth/recovery-code/verify", post(recovery_codes::verify))
}

/// `account`: reading and changing one's own account.
pub fn account_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    SharedApp: FromRef<S>,
{
    Router::new()
        .route("/v1/account", get(account::get_account))
        .route("/v1/account/password", put(self_service::change_password))
        .route("/v1/account/phone", post(self_service::start_phone_change))
        .route("/v1/account/phone/confirm", post(self_service::confirm_phone_change))
        .route(
            "/v1/account/totp",
            get(totp::status).post(totp::start).delete(totp::remove),
        )
        .route("/v1/account/totp/confirm", post(totp::confirm))
        .route("/v1/account/language", put(account::set_language))
        .route("/v1/account/sessions", get(security::list_sessions))
        .route("/v1/account/sessions/{session_id}", delete(security::end_session))
        .route("/v1/account/sessions/revoke-others", post(security::revoke_others))
        .route("/v1/account/security-events", get(security::security_events))
        .route("/v1/account/not-me", post(security::not_me))
        .route("/v1/account/passkeys", get(passkeys::list).post(passkeys::start))
        .route("/v1/account/passkeys/confirm", post(passkeys::confirm))
        .route("/v1/account/passkeys/{id}", delete(passkeys::remove))
        .route("/v1/account/step-up/options", post(step_up::options))
        .route("/v1/account/step-up", post(step_up::step_up))
        .route(
            "/v1/account/recovery-codes",
            get(recovery_codes::status).post(recovery_codes::generate),
        )
}

/// `buypass`: smartcard registration.
pub fn buypass_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    SharedApp: FromRef<S>,
    BuypassState: FromRef<S>,
{
    Router::new()
        .route("/v1/homeoffice/buypass/start", post(homeoffice::start))
        .route("/v1/homeoffice/buypass/callback", get(homeoffice::callback))
}

/// `serial-activation`: the gateway's certificate lookups.
pub fn serial_activation_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    GatewayState: FromRef<S>,
{
    Router::new()
        .route(
            "/v1/gateway/certificates/{serial}",
            get(homeoffice::gateway_certificate_by_serial),
        )
        .route(
            "/v1/gateway/certificates/{issuer_id}/{serial}",
            get(homeoffice::gateway_certificate),
        )
}

/// Everything any route needs: the state of [`api_router`] (portal-local, tests), from which
/// each function's own state is taken.
#[derive(Clone)]
pub struct ApiState {
    pub app: SharedApp,
    pub buypass: Arc<Buypass>,
    /// Local only: the in-process activation worker's trigger.
    pub trigger: Option<ActivationTrigger>,
    pub gateway_auth: Arc<GatewayAuth>,
}

impl ApiState {
    pub fn new(app: SharedApp, buypass: Arc<Buypass>, gateway_auth: GatewayAuth) -> Self {
        Self {
            app,
            buypass,
            trigger: None,
            gateway_auth: Arc::new(gateway_auth),
        }
    }

    pub fn buypass_state(&self) -> BuypassState {
        BuypassState {
            app: self.app.clone(),
            buypass: self.buypass.clone(),
            trigger: self.trigger.clone(),
        }
    }

    pub fn gateway_state(&self) -> GatewayState {
        GatewayState {
            app: self.app.clone(),
            auth: self.gateway_auth.clone(),
        }
    }
}

impl FromRef<ApiState> for SharedApp {
    fn from_ref(state: &ApiState) -> Self {
        state.app.clone()
    }
}

impl FromRef<ApiState> for BuypassState {
    fn from_ref(state: &ApiState) -> Self {
        state.buypass_state()
    }
}

impl FromRef<ApiState> for GatewayState {
    fn from_ref(state: &ApiState) -> Self {
        state.gateway_state()
    }
}

/// The router one Lambda function runs, on that function's own state (tests; the functions'
/// `main`s use the `*_routes` of their own function, see above).
pub fn function_router(function: Function, state: &ApiState) -> Router {
    let routes = match function {
        Function::Login => login_routes().with_state(state.app.clone()),
        Function::SmsCode => sms_code_routes().with_state(state.app.clone()),
        Function::Account => account_routes().with_state(state.app.clone()),
        Function::Buypass => buypass_routes().with_state(state.buypass_state()),
        Function::SerialActivation => serial_activation_routes().with_state(state.gateway_state()),
    };
    with_common_layers(routes)
}

/// Every API route in one router (portal-local, tests).
pub fn api_router(state: ApiState) -> Router {
    Router::new()
        .merge(login_routes())
        .merge(sms_code_routes())
        .merge(account_routes())
        .merge(buypass_routes())
        .merge(serial_activation_routes())
        .with_state(state)
}

/// The routes that need nothing but the app (login, sms-code, account): for a process without
/// Buypass or a gateway (benchmarks, a local server started without home office).
pub fn app_router(app: SharedApp) -> Router {
    Router::new()
        .merge(login_routes())
        .merge(sms_code_routes())
        .merge(account_routes())
        .with_state(app)
}

/// Problem rendering, body limits, request ids and access logs, 404/405 as problems.
pub fn with_common_layers(router: Router) -> Router {
    router
        .fallback(|| async { ApiError::from(ServiceError::NotFound) })
        .method_not_allowed_fallback(|| async { method_not_allowed() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(problem::localize))
        .layer(middleware::from_fn(access_log))
}

fn method_not_allowed() -> Response {
    problem::Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").into_response()
}

/// One JSON log line per request with its id, never its body, query or headers.
async fn access_log(request: Request, next: Next) -> Response {
    let request_id = request_id(&request);
    let span =
        tracing::info_span!("request", id = %request_id, method = %request.method(), path = %request.uri().path());
    let started = Instant::now();
    async move {
        let mut response = next.run(request).await;
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-request-id", v);
        }
        tracing::info!(
            status = response.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "done"
        );
        response
    }
    .instrument(span)
    .await
}

fn request_id(request: &Request) -> String {
    if let Some(lambda_http::request::RequestContext::ApiGatewayV2(c)) =
        request.extensions().get::<lambda_http::request::RequestContext>()
    {
        if let Some(id) = &c.request_id {
            return id.clone();
        }
    }
    request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(str::to_owned)
        .unwrap_or_else(|| portal_core::security::random_token(12))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request as HttpRequest;
    use tower::ServiceExt;

    /// `path` with its parameters filled in with well-formed values.
    fn concrete(path: &str) -> String {
        path.replace("{issuer_id}", &"ab".repeat(32))
            .replace("{serial}", "0A1B2C")
            .replace("{session_id}", "AAAAAAAAAAAAAAAAAAAAAA")
    }

    /// The status `router` answers an unauthenticated, bodiless `method path` with.
    async fn probe(router: &Router, method: &str, path: &str) -> u16 {
        let request = HttpRequest::builder()
            .method(method)
            .uri(concrete(path))
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        let response = router.clone().oneshot(request).await.unwrap_or_else(|e| match e {});
        response.status().as_u16()
    }

    fn state() -> ApiState {
        let t = portal_testkit::TestApp::in_memory();
        ApiState::new(
            t.app.clone(),
            Arc::new(portal_testkit::unreachable_buypass()),
            GatewayAuth::key("the-gateway-key-123").expect("a long enough key"),
        )
    }

    /// Asserts that `router` serves exactly the table's routes for which `serves` holds: an
    /// unauthenticated request to one of them reaches its handler (never the 404/405
    /// fallbacks), any other route of the table is not found (405 only where the router
    /// serves the same path with another method).
    async fn assert_serves_exactly(name: &str, router: &Router, serves: impl Fn(Function) -> bool) {
        let own_paths: Vec<&str> = ROUTES
            .iter()
            .filter(|(_, _, f)| serves(*f))
            .map(|(_, p, _)| *p)
            .collect();
        for (method, path, function) in ROUTES {
            let status = probe(router, method, path).await;
            if serves(*function) {
                assert!(
                    status != 404 && status != 405,
                    "{name} does not serve {method} {path} of {}: {status}",
                    function.name()
                );
            } else {
                let expected = if own_paths.contains(path) { 405 } else { 404 };
                assert_eq!(status, expected, "{name} serves {method} {path} of {}", function.name());
            }
        }
    }

    #[tokio::test]
    async fn each_function_router_serves_exactly_its_routes_of_the_table() {
        let state = state();
        for function in Function::ALL {
            let router = function_router(function, &state);
            assert_serves_exactly(function.name(), &router, |f| f == function).await;
        }
    }

    #[tokio::test]
    async fn the_api_router_serves_every_route_of_the_table() {
        let state = state();
        assert_serves_exactly("api_router", &with_common_layers(api_router(state.clone())), |_| true).await;
        assert_serves_exactly("app_router", &with_common_layers(app_router(state.app)), |f| {
            matches!(f, Function::Login | Function::SmsCode | Function::Account)
        })
        .await;
    }

    /// Every router that mounts the gateway's lookups authenticates both
    /// of them (key locally; IAM identity in AWS), before anything about the serial is said.
    #[tokio::test]
    async fn every_router_mounting_the_gateway_routes_authenticates_both() {
        let lookup = |router: Router, path: &'static str, key: Option<&'static str>| async move {
            let mut request = HttpRequest::builder().method("GET").uri(concrete(path));
            if let Some(key) = key {
                request = request.header("x-gateway-key", key);
            }
            let request = request.body(Body::empty()).unwrap_or_else(|e| panic!("{e}"));
            router
                .oneshot(request)
                .await
                .unwrap_or_else(|e| match e {})
                .status()
                .as_u16()
        };
        let state = state();
        let iam = ApiState::new(
            state.app.clone(),
            state.buypass.clone(),
            GatewayAuth::Iam {
                role: crate::handlers::homeoffice::GatewayRole::parse("arn:aws:iam::123456789012:role/gw")
                    .unwrap_or_else(|| panic!("role")),
            },
        );
        let routers = [
            ("api_router", with_common_layers(api_router(state.clone())), true),
            (
                "serial-activation",
                function_router(Function::SerialActivation, &state),
                true,
            ),
            ("api_router (iam)", with_common_layers(api_router(iam.clone())), false),
            (
                "serial-activation (iam)",
                function_router(Function::SerialActivation, &iam),
                false,
            ),
        ];
        for (name, router, keyed) in routers {
            for path in [
                "/v1/gateway/certificates/{serial}",
                "/v1/gateway/certificates/{issuer_id}/{serial}",
            ] {
                for key in [None, Some(""), Some("the-gateway-key-12"), Some("the-gateway-key-123 ")] {
                    assert_eq!(lookup(router.clone(), path, key).await, 401, "{name} {path} {key:?}");
                }
                let right = lookup(router.clone(), path, Some("the-gateway-key-123")).await;
                assert_eq!(right, if keyed { 404 } else { 401 }, "{name} {path} with the key");
            }
        }
    }

    #[tokio::test]
    async fn the_home_office_routes_answer_from_their_state_not_a_missing_dependency() {
        // The Buypass callback always redirects back to the portal; the gateway lookup without
        // its key is 401. Neither can answer "not configured here" any more.
        let state = state();
        let router = with_common_layers(api_router(state));
        assert_eq!(probe(&router, "GET", "/v1/homeoffice/buypass/callback").await, 302);
        assert_eq!(probe(&router, "GET", "/v1/gateway/certificates/{serial}").await, 401);
        assert_eq!(probe(&router, "POST", "/v1/homeoffice/buypass/start").await, 401);
    }
}
