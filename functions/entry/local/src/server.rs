//! The whole API in one process: every function's routes, the local-only routes, CORS, and the
//! reference portal front end (`portal-ui/`) at `/`. Never mounted by a Lambda.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::dev_sms;
use portal_core::app::SharedApp;
use portal_core::sms::outbox::OutboxSms;
use portal_http::routes::{app_router, with_common_layers};

pub struct LocalRoutes {
    pub app: SharedApp,
    /// Present when SMS go to the local outbox; mounts `GET /dev/sms`.
    pub outbox: Option<Arc<OutboxSms>>,
    /// The one origin allowed to call the API with credentials.
    pub cors_origin: Option<String>,
    /// The portal front end's directory (holding `index.html`), served at `/` when present.
    pub ui_dir: Option<PathBuf>,
    /// Buypass registration, the gateway lookup and their local stand-ins.
    pub home_office: Option<crate::homeoffice::LocalHomeOffice>,
}

pub fn local_router(parts: LocalRoutes) -> Router {
    // Without home office (tests of the local server alone) the Buypass and gateway routes
    // are absent: they cannot run without a relying party and a gateway key.
    let mut router = match parts.home_office {
        Some(home_office) => home_office.router(),
        None => app_router(parts.app),
    };
    if let Some(outbox) = parts.outbox {
        router = router.merge(
            Router::new()
                .route("/dev/sms", get(dev_sms::sms_outbox))
                .with_state(outbox),
        );
    }
    let mut api = with_common_layers(router);
    if let Some(origin) = parts
        .cors_origin
        .and_then(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
    {
        api = api.layer(cors(origin));
    }
    match parts.ui_dir {
        Some(dir) => with_ui(api, &dir),
        None => api,
    }
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

/// The Content-Security-Policy of every front-end response: only this origin's own files, no
/// inline script or style, no framing. `data:` images carry the authenticator app's QR code.
pub const UI_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// API (`/v1/…`) and local-only (`/dev/…`) routes keep priority; every other path is the front
/// end: a file of `dir`, or `index.html` for the client's own routes (`/hjemmekontor`, …).
fn with_ui(api: Router, dir: &Path) -> Router {
    let index = Arc::new(dir.join("index.html"));
    let files = ServeDir::new(dir)
        .append_index_html_on_directories(true)
        .fallback(client_route.with_state(index));
    let ui = Router::new()
        .fallback_service(files)
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(UI_CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        // Always revalidate, so a changed file is picked up on the next load.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ));
    // A dispatch by prefix rather than outer routes: an outer route's captures would be added
    // to the API's own path parameters (`/v1/gateway/certificates/{serial}`).
    Router::new().fallback_service(tower::service_fn(move |request: Request| {
        let target = if is_api_path(request.uri().path()) {
            api.clone()
        } else {
            ui.clone()
        };
        target.oneshot(request)
    }))
}

/// `/v1`, `/v1/…`, `/dev`, `/dev/…`: the API's and portal-local's own routes.
fn is_api_path(path: &str) -> bool {
    ["/v1", "/dev"].iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// A path that is no file of the front end: `index.html` when it looks like a client route (no
/// file extension in its last segment), else 404.
async fn client_route(State(index): State<Arc<PathBuf>>, request: Request) -> Response {
    let last = request.uri().path().rsplit('/').next().unwrap_or("");
    if last.contains('.') || !matches!(*request.method(), Method::GET | Method::HEAD) {
        return (StatusCode::NOT_FOUND, "Fant ikke siden.").into_response();
    }
    match ServeFile::new(index.as_path()).oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}

/// The front end's directory: `explicit` (which must hold `index.html`), else `portal-ui/` in
/// the working directory or in a parent of the executable's directory (so both `cargo run`
/// from the repository and `target/debug/portal-local` find it). `None` when there is none.
pub fn find_ui_dir(explicit: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    let holds_index = |dir: &Path| dir.join("index.html").is_file();
    if let Some(dir) = explicit {
        anyhow::ensure!(holds_index(dir), "{} has no index.html", dir.display());
        return Ok(Some(dir.to_owned()));
    }
    let mut candidates = vec![PathBuf::from("portal-ui")];
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(exe.ancestors().skip(1).map(|d| d.join("portal-ui")));
    }
    Ok(candidates.into_iter().find(|d| holds_index(d)))
}

#[cfg(test)]
mod tests {
    use super::is_api_path;

    #[test]
    fn api_paths_are_exactly_v1_and_dev_and_below() {
        for path in [
            "/v1",
            "/v1/",
            "/v1/account",
            "/v1/gateway/certificates/AB12",
            "/dev",
            "/dev/sms",
        ] {
            assert!(is_api_path(path), "{path}");
        }
        for path in [
            "/",
            "/v1x",
            "/v10/account",
            "/developer",
            "/hjemmekontor",
            "/js/app.js",
            "/konto/v1",
        ] {
            assert!(!is_api_path(path), "{path}");
        }
    }
}
