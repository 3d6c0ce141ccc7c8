//! The whole `main` of the HTTP functions (login, sms-code, account): configuration, cold
//! start, then the function's router behind the origin check on the Lambda runtime.

use axum::Router;
use portal_core::app::SharedApp;
use portal_http::routes::{with_common_layers, Function};

use crate::config::LambdaConfig;
use crate::init_error::report_init_error;

/// The whole `main` of an HTTP function. `routes` is the function's own route table (such as
/// [`portal_http::routes::login_routes`]), passed as a function item so only its handlers are linked.
pub async fn run_http_function<R>(function: Function, routes: R) -> Result<(), lambda_http::Error>
where
    R: FnOnce() -> Router<SharedApp>,
{
    portal_core::observability::init_json_logs();
    let app = match LambdaConfig::from_env(function) {
        Ok(config) => config.build().await,
        Err(e) => Err(e),
    };
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(function = function.name(), error = %e, "initialisation failed");
            report_init_error(&e).await;
            return Err(e.into());
        }
    };
    tracing::info!(function = function.name(), "initialised");
    lambda_http::run(behind_cloudfront(routes().with_state(app.clone()), app)).await
}

/// A function's routes with the common layers, all behind the origin check
/// (`portal_http::origin`). The check wraps the finished router, fallbacks included: a layer
/// added before them would leave the 404/405 fallbacks unchecked, and a 405 without the
/// secret would tell a caller skipping CloudFront which routes exist.
pub fn behind_cloudfront(routes: Router, app: SharedApp) -> Router {
    with_common_layers(routes).layer(axum::middleware::from_fn_with_state(
        app,
        portal_http::origin::require_origin,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use portal_core::security::key_parts::KeyParts;
    use portal_core::store::sqlite::SqliteStore;
    use std::sync::Arc;

    const ORIGIN: &str = "origin-secret-0123456789-abcdefghijklmnop";

    /// An app whose functions sit behind CloudFront: it was given the origin secret [`ORIGIN`].
    fn app_behind_cloudfront() -> SharedApp {
        use portal_core::app::{App, AppParts};
        use portal_core::config::{Policy, Settings};
        let mut keys = KeyParts::generate().unwrap();
        keys.origin_verify = Some(vec![ORIGIN.to_owned()]);
        App::build(AppParts {
            store: Arc::new(SqliteStore::in_memory().unwrap()),
            sms: Arc::new(portal_testkit::CapturingSms::default()),
            clock: Arc::new(portal_core::clock::ManualClock::new(portal_testkit::START)),
            keys,
            settings: Settings::default(),
            policy: Policy::default(),
            hash_params: portal_testkit::FAST_HASH,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn behind_cloudfront_a_request_without_the_origin_secret_is_not_found_before_anything_else() {
        use tower::ServiceExt;
        let app = app_behind_cloudfront();
        let router = behind_cloudfront(portal_http::routes::account_routes().with_state(app.clone()), app);
        for (method, origin, status, code) in [
            ("GET", None, 404, "not_found"),
            (
                "GET",
                Some("origin-secret-0123456789-abcdefghijklmnoX"),
                404,
                "not_found",
            ),
            // The method fallback too: a 405 would map the routes for a caller skipping CloudFront.
            ("DELETE", None, 404, "not_found"),
            // Through CloudFront the route itself answers: no bearer token, or a wrong method.
            ("GET", Some(ORIGIN), 401, "unauthenticated"),
            ("DELETE", Some(ORIGIN), 405, "method_not_allowed"),
        ] {
            let mut request = http::Request::builder().method(method).uri("/v1/account");
            if let Some(value) = origin {
                request = request.header(portal_http::origin::ORIGIN_VERIFY_HEADER, value);
            }
            let response = router
                .clone()
                .oneshot(request.body(axum::body::Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), status, "{method} {origin:?}");
            let body = axum::body::to_bytes(response.into_body(), 65536).await.unwrap();
            let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(problem["code"], code, "{method} {origin:?}");
        }
    }

    /// Review of issue 14 (item 9): behind CloudFront every request's `sourceIp` is an edge
    /// server, so the per-address limits counted whole edge locations. They count the viewer
    /// address CloudFront vouches for, and only on requests that carry the origin secret.
    #[tokio::test]
    async fn behind_cloudfront_the_per_address_limits_count_the_viewer_cloudfront_names() {
        use portal_http::origin::{ORIGIN_VERIFY_HEADER, VIEWER_IP_HEADER};
        use tower::ServiceExt;
        let app = app_behind_cloudfront();
        let router = behind_cloudfront(portal_http::routes::login_routes().with_state(app.clone()), app.clone());
        let login = |viewer: &'static str, origin: &'static str, name: String| {
            let router = router.clone();
            async move {
                let body = serde_json::json!({ "username": name, "password": "feil passord her" }).to_string();
                let request = http::Request::post("/v1/auth/login")
                    .header("content-type", "application/json")
                    .header(ORIGIN_VERIFY_HEADER, origin)
                    .header(VIEWER_IP_HEADER, viewer)
                    .body(axum::body::Body::from(body))
                    .unwrap();
                router.oneshot(request).await.unwrap().status().as_u16()
            }
        };
        let limit = app.policy.ip_failures_per_window;
        for i in 0..limit {
            assert_eq!(login("192.0.2.10", ORIGIN, format!("ukjent{i}")).await, 401);
        }
        assert_eq!(
            login("192.0.2.10", ORIGIN, "ukjent.igjen".into()).await,
            429,
            "the guessing viewer is stopped"
        );
        assert_eq!(
            login("198.51.100.7", ORIGIN, "ukjent.annen".into()).await,
            401,
            "another viewer at the same edge is not"
        );
        // Without the origin secret the header proves nothing (and the request goes nowhere).
        assert_eq!(
            login("198.51.100.8", "not-the-secret-0123456789-abcdefghij", "x".into()).await,
            404
        );
    }
}
