//! portal-local serves the front end at `/` with strict security headers, while API and
//! `/dev/*` routes keep priority; and the shipped `portal-ui/` runs under that policy (no
//! inline script or style, no third-party resources).

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use portal_local::server::{find_ui_dir, local_router, LocalRoutes, UI_CONTENT_SECURITY_POLICY};
use portal_testkit::TestApp;
use tower::ServiceExt;

fn shipped_ui() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../portal-ui")
}

fn router(ui_dir: Option<PathBuf>) -> Router {
    local_router(LocalRoutes {
        app: TestApp::in_memory().app,
        outbox: None,
        cors_origin: None,
        ui_dir,
        home_office: None,
    })
}

async fn send(router: &Router, method: Method, uri: &str) -> (Response, String) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("{e}"));
    let response = router.clone().oneshot(request).await.unwrap_or_else(|e| match e {});
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (
        Response::from_parts(parts, Body::empty()),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn header_of(response: &Response, name: header::HeaderName) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn assert_ui_headers(response: &Response) {
    assert_eq!(
        header_of(response, header::CONTENT_SECURITY_POLICY),
        UI_CONTENT_SECURITY_POLICY
    );
    assert_eq!(header_of(response, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(header_of(response, header::REFERRER_POLICY), "no-referrer");
}

#[tokio::test]
async fn serves_the_front_end_and_its_client_routes_with_security_headers() {
    let router = router(Some(shipped_ui()));
    for path in [
        "/",
        "/hjemmekontor",
        "/hjemmekontor?buypass=error&reason=not_smartcard",
        "/konto",
    ] {
        let (response, body) = send(&router, Method::GET, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            header_of(&response, header::CONTENT_TYPE).starts_with("text/html"),
            "{path}"
        );
        assert!(body.contains("<html lang=\"nb\">"), "{path}");
        assert_ui_headers(&response);
    }
    let (response, body) = send(&router, Method::GET, "/js/app.js").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header_of(&response, header::CONTENT_TYPE).contains("javascript"));
    assert!(body.contains("import"));
    assert_ui_headers(&response);

    let (response, _) = send(&router, Method::GET, "/js/missing.js").await;
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "a missing file is no client route"
    );
    let (response, _) = send(&router, Method::POST, "/hjemmekontor").await;
    assert_ne!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn api_and_dev_routes_keep_priority_over_the_front_end() {
    let router = router(Some(shipped_ui()));
    for path in ["/v1/account", "/v1/nothing-here", "/v1", "/dev/nothing-here"] {
        let (response, body) = send(&router, Method::GET, path).await;
        assert!(
            header_of(&response, header::CONTENT_TYPE).starts_with("application/problem+json"),
            "{path}: {body}"
        );
        assert!(
            response.headers().get(header::CONTENT_SECURITY_POLICY).is_none(),
            "{path}"
        );
    }
    let (response, _) = send(&router, Method::GET, "/v1/account").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_a_front_end_only_the_api_answers() {
    let router = router(None);
    let (response, _) = send(&router, Method::GET, "/").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(header_of(&response, header::CONTENT_TYPE).starts_with("application/problem+json"));
}

#[test]
fn the_front_end_dir_is_found_or_refused() {
    let ui = shipped_ui();
    assert_eq!(
        find_ui_dir(Some(&ui)).unwrap_or_else(|e| panic!("{e}")).as_deref(),
        Some(ui.as_path())
    );
    let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        find_ui_dir(Some(empty.path())).is_err(),
        "a dir without index.html is refused"
    );
}

/// Every HTML and JS file of the front end, recursively (not its browser tests).
fn ui_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "tests") {
                ui_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "html" || e == "js" || e == "css") {
            out.push(path);
        }
    }
}

/// ` onclick=`-style attributes.
fn has_event_handler_attribute(html: &str) -> bool {
    html.match_indices(" on").any(|(i, _)| {
        let rest = &html[i + 3..];
        let name_len = rest.bytes().take_while(u8::is_ascii_lowercase).count();
        name_len > 0 && rest[name_len..].trim_start().starts_with('=')
    })
}

#[test]
fn the_front_end_has_no_inline_code_and_no_third_party_resources() {
    let mut files = Vec::new();
    ui_files(&shipped_ui(), &mut files);
    assert!(files.len() > 5, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let lower = text.to_lowercase();
        for needle in [
            "http://",
            "https://",
            "//cdn",
            "localstorage",
            "sessionstorage",
            "innerhtml",
            "eval(",
        ] {
            assert!(!lower.contains(needle), "{} contains {needle}", path.display());
        }
        if path.extension().is_some_and(|e| e == "html") {
            assert!(!lower.contains("<style"), "{}: inline style", path.display());
            assert!(!lower.contains(" style="), "{}: inline style", path.display());
            assert!(
                !has_event_handler_attribute(&lower),
                "{}: inline event handler",
                path.display()
            );
            for script in lower.split("<script").skip(1) {
                let tag = script.split('>').next().unwrap_or_default();
                assert!(tag.contains("src=\"/"), "{}: inline script", path.display());
            }
        }
    }
}
