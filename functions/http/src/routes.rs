//! Which routes each deployable serves, and the middleware they all share.
//!
//! Each Lambda function mounts only its own routes ([`function_router`]); `portal-local` mounts
//! them all plus the local-only ones. The route table here is the one `openapi.yaml`
//! documents (`x-function`), and a test checks the two agree.

use portal_core::error::ServiceError;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use tracing::Instrument;

use crate::error::ApiError;
use crate::extract::MAX_BODY_BYTES;
use crate::handlers::{account, auth, homeoffice, self_service, totp};
use crate::problem;
use portal_core::app::SharedApp;

/// The deployable functions of DESIGN §1 that serve HTTP routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Login,
    OneTimeCode,
    Account,
    Buypass,
    SerialActivation,
}

impl Function {
    pub const ALL: [Function; 5] = [
        Function::Login,
        Function::OneTimeCode,
        Function::Account,
        Function::Buypass,
        Function::SerialActivation,
    ];

    /// The name used in `openapi.yaml` (`x-function`) and in `infra/`.
    pub fn name(self) -> &'static str {
        match self {
            Function::Login => "login",
            Function::OneTimeCode => "sms-code",
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
    ("POST", "/v1/auth/sms/resend", Function::OneTimeCode),
    ("POST", "/v1/auth/sms/verify", Function::OneTimeCode),
    ("POST", "/v1/auth/refresh", Function::OneTimeCode),
    ("POST", "/v1/auth/logout", Function::OneTimeCode),
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
    ("POST", "/v1/auth/totp/verify", Function::OneTimeCode),
    ("GET", "/v1/account/totp", Function::Account),
    ("POST", "/v1/account/totp", Function::Account),
    ("DELETE", "/v1/account/totp", Function::Account),
    ("POST", "/v1/account/totp/confirm", Function::Account),
    ("PUT", "/v1/account/language", Function::Account),
];

// One function per deployable, so each Lambda `main` names its own routes at compile time and
// links only the handlers (and their dependencies) it serves: a `match` on a runtime value
// would keep every handler in every binary.

/// `login`: the password step and forgotten passwords.
pub fn login_routes() -> Router<SharedApp> {
    Router::new()
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/auth/password/forgot", post(self_service::forgot_password))
        .route("/v1/auth/password/reset", post(self_service::reset_password))
}

/// `sms-code`: the second factor and the session's life.
pub fn sms_code_routes() -> Router<SharedApp> {
    Router::new()
        .route("/v1/auth/sms/resend", post(auth::resend))
        .route("/v1/auth/sms/verify", post(auth::verify))
        .route("/v1/auth/refresh", post(auth::refresh))
        .route("/v1/auth/logout", post(auth::logout))
        .route("/v1/auth/totp/verify", post(totp::verify))
}

/// `account`: reading and changing one's own account.
pub fn account_routes() -> Router<SharedApp> {
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
}

/// `buypass`: smartcard registration.
pub fn buypass_routes() -> Router<SharedApp> {
    Router::new()
        .route("/v1/homeoffice/buypass/start", post(homeoffice::start))
        .route("/v1/homeoffice/buypass/callback", get(homeoffice::callback))
}

/// `serial-activation`: the gateway's certificate lookups.
pub fn serial_activation_routes() -> Router<SharedApp> {
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

fn routes_of(function: Function) -> Router<SharedApp> {
    match function {
        Function::Login => login_routes(),
        Function::OneTimeCode => sms_code_routes(),
        Function::Account => account_routes(),
        Function::Buypass => buypass_routes(),
        Function::SerialActivation => serial_activation_routes(),
    }
}

/// The router one Lambda function runs (tests; the functions' `main`s use the `*_routes`
/// of their own function, see above).
pub fn function_router(function: Function, app: SharedApp) -> Router {
    with_common_layers(routes_of(function).with_state(app))
}

/// Every API route in one router (portal-local, tests).
pub fn api_router(app: SharedApp) -> Router {
    let router = Function::ALL.iter().fold(Router::new(), |r, f| r.merge(routes_of(*f)));
    router.with_state(app)
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
