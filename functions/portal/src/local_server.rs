//! The whole API in one process: every function's routes, the local-only routes and CORS.

use std::sync::Arc;

use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::routing::get;
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::app::SharedApp;
use crate::handlers::dev;
use crate::routes::{api_router, with_common_layers};
use crate::sms::outbox::OutboxSms;

pub struct LocalRoutes {
    pub app: SharedApp,
    /// Present when SMS go to the local outbox; mounts `GET /dev/sms`.
    pub outbox: Option<Arc<OutboxSms>>,
    /// The one origin allowed to call the API with credentials.
    pub cors_origin: Option<String>,
    /// Buypass registration, the gateway lookup and their local stand-ins.
    pub home_office: Option<crate::local_homeoffice::LocalHomeOffice>,
}

pub fn local_router(parts: LocalRoutes) -> Router {
    let mut router = api_router(parts.app);
    if let Some(outbox) = parts.outbox {
        router = router.merge(Router::new().route("/dev/sms", get(dev::sms_outbox)).with_state(outbox));
    }
    if let Some(home_office) = parts.home_office {
        router = home_office.mount(router);
    }
    let mut router = with_common_layers(router);
    if let Some(origin) = parts
        .cors_origin
        .and_then(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
    {
        router = router.layer(cors(origin));
    }
    router
}

/// CORS for exactly one origin, with credentials (the refresh cookie).
pub fn cors(origin: HeaderValue) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::exact(origin))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT_LANGUAGE])
        .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
        .max_age(std::time::Duration::from_secs(600))
}
