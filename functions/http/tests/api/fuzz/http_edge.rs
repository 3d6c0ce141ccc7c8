//! The HTTP edge as a whole: arbitrary methods, paths, headers and bodies against every route
//! (the same router and layers the functions and portal-local serve). Never a 5xx, and every
//! error is a problem document that says its own status.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, Method, Request};
use portal_core::config::Policy;
use portal_core::domain::Username;
use portal_core::store::sqlite::SqliteStore;
use portal_http::routes::{api_router, with_common_layers, ROUTES};
use portal_testkit::TestApp;
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt;

use super::{config, mutate, mutations, replay, seed};
use crate::harness::api_state;

struct Edge {
    rt: tokio::runtime::Runtime,
    t: TestApp,
    router: axum::Router,
}

impl Edge {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let policy = Policy {
            forgot_password_min_response: std::time::Duration::ZERO,
            ..Policy::default()
        };
        let store = Arc::new(SqliteStore::in_memory().unwrap_or_else(|e| panic!("{e}")));
        let t = TestApp::with_policy(store, policy);
        rt.block_on(t.account("kari", "korrekt hest batteri stift", "+4791234567"));
        let router = with_common_layers(api_router(api_state(&t)));
        Self { rt, t, router }
    }

    /// A fresh session's access token (the previous case may have logged out).
    fn token(&self) -> String {
        self.rt.block_on(async {
            let kari = Username::parse("kari").unwrap_or_else(|e| panic!("{e}"));
            self.t
                .app
                .open_session(&kari, false, None)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .access_token
        })
    }

    fn send(&self, request: Request<Body>) {
        let described = format!("{} {}", request.method(), request.uri());
        let head = request.method() == Method::HEAD;
        let response = self
            .rt
            .block_on(self.router.clone().oneshot(request))
            .unwrap_or_else(|e| match e {});
        let status = response.status();
        // This fixture's Buypass provider is unreachable, so the one 5xx it may see is the
        // start of a registration answering that Buypass is unavailable.
        let provider_down = status.as_u16() == 503 && described.contains("/v1/homeoffice/buypass/start");
        assert!(status.as_u16() < 500 || provider_down, "{described} answered {status}");
        assert!(
            response.headers().contains_key("x-request-id"),
            "{described}: no request id"
        );
        if status.is_client_error() || provider_down {
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            assert_eq!(content_type, "application/problem+json", "{described} {status}");
            if status.as_u16() == 429 {
                let retry = response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                assert!(retry.is_some_and(|r| r >= 1), "{described}: 429 without Retry-After");
            }
            if status.as_u16() == 405 {
                assert!(
                    response.headers().contains_key(header::ALLOW),
                    "{described}: 405 without Allow"
                );
            }
            let bytes = self
                .rt
                .block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
                .unwrap_or_else(|e| panic!("{e}"));
            if head {
                // A HEAD answer has the headers of the GET answer and no body.
                assert!(bytes.is_empty(), "{described}: HEAD with a body");
                return;
            }
            let body: Value =
                serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{described}: problem is not JSON: {e}"));
            assert_eq!(body["status"], status.as_u16(), "{described}: {body}");
            assert!(
                body["code"].is_string() && body["title"].is_string(),
                "{described}: {body}"
            );
            if provider_down {
                assert_eq!(body["code"], "buypass_unavailable", "{described}: {body}");
            }
        }
    }
}

thread_local! {
    static EDGE: Edge = Edge::new();
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        6 => prop::sample::select(vec![Method::GET, Method::POST, Method::PUT, Method::DELETE]),
        2 => prop::sample::select(vec![Method::PATCH, Method::HEAD, Method::OPTIONS, Method::TRACE]),
        1 => "[A-Z]{1,8}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET)),
    ]
}

fn path() -> impl Strategy<Value = String> {
    let known: Vec<String> = ROUTES.iter().map(|(_, p, _)| p.replace("{serial}", "0A1B2C")).collect();
    prop_oneof![
        6 => prop::sample::select(known.clone()),
        2 => (prop::sample::select(known), "[a-zA-Z0-9/%._~?=&-]{0,20}").prop_map(|(p, s)| format!("{p}{s}")),
        1 => "/v1/gateway/certificates/[0-9A-Fa-f:%-]{0,60}",
        1 => "/[a-zA-Z0-9/%._~-]{0,40}",
    ]
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Real,
    Garbage(String),
}

fn auth() -> impl Strategy<Value = Auth> {
    prop_oneof![
        2 => Just(Auth::None),
        3 => Just(Auth::Real),
        1 => prop_oneof!["Bearer [A-Za-z0-9._-]{0,80}", "[ -~]{0,40}"].prop_map(Auth::Garbage),
    ]
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        4 => Just("application/json".to_owned()),
        1 => prop::sample::select(vec![
            "application/json; charset=utf-8", "application/problem+json", "text/plain",
            "application/x-www-form-urlencoded", "APPLICATION/JSON", "application/jsonx", "",
        ]).prop_map(str::to_owned),
        1 => "[ -~]{0,30}",
    ])
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => crate::fuzz::bodies::json_value().prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
        2 => (seed("bodies"), mutations()).prop_map(|(s, e)| mutate(&s, &e)),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => (0usize..3).prop_map(|k| vec![b' '; [0, 16 * 1024 + 1, 70_000][k]]),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    method: Method,
    path: String,
    auth: Auth,
    content_type: Option<String>,
    body: Vec<u8>,
    gateway_key: Option<String>,
    accept_language: Option<String>,
    cookie: Option<String>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        method(),
        path(),
        auth(),
        content_type(),
        body(),
        prop::option::of(prop_oneof![Just("the-gateway-key-123".to_owned()), "[ -~]{0,30}"]),
        prop::option::of(prop_oneof![Just("en".to_owned()), "[a-zA-Z,;=. 0-9*-]{0,30}"]),
        prop::option::of("[ -~]{0,60}"),
    )
        .prop_map(
            |(method, path, auth, content_type, body, gateway_key, accept_language, cookie)| Case {
                method,
                path,
                auth,
                content_type,
                body,
                gateway_key,
                accept_language,
                cookie,
            },
        )
}

fn build(edge: &Edge, case: &Case) -> Option<Request<Body>> {
    let mut request = Request::builder()
        .method(case.method.clone())
        .uri(case.path.as_str())
        .body(Body::from(case.body.clone()))
        .ok()?;
    let headers = request.headers_mut();
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    match &case.auth {
        Auth::None => {}
        Auth::Real => set(header::AUTHORIZATION, &format!("Bearer {}", edge.token())),
        Auth::Garbage(g) => set(header::AUTHORIZATION, g),
    }
    if let Some(ct) = &case.content_type {
        set(header::CONTENT_TYPE, ct);
    }
    if let Some(key) = &case.gateway_key {
        set(HeaderName::from_static("x-gateway-key"), key);
    }
    if let Some(lang) = &case.accept_language {
        set(header::ACCEPT_LANGUAGE, lang);
    }
    if let Some(cookie) = &case.cookie {
        set(header::COOKIE, cookie);
    }
    Some(request)
}

proptest! {
    #![proptest_config(config("http_edge", 400))]

    #[test]
    fn every_request_gets_a_4xx_problem_or_a_success(case in case()) {
        EDGE.with(|edge| {
            if let Some(request) = build(edge, &case) {
                edge.send(request);
            }
        });
    }
}

/// Seeds are raw requests: `METHOD PATH` on the first line, then `Header: value` lines, a blank
/// line and the body.
fn replay_request(edge: &Edge, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default();
    let (method, path) = first.split_once(' ').unwrap_or(("GET", "/"));
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET))
        .uri(path.trim())
        .body(Body::from(body.as_bytes().to_vec()))
        .unwrap_or_else(|e| panic!("seed is not a request: {e}"));
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim().replace("$TOKEN", &edge.token());
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.trim().as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                request.headers_mut().insert(n, v);
            }
        }
    }
    edge.send(request);
}

#[test]
fn corpus_replays() {
    EDGE.with(|edge| replay("http_edge", |bytes| replay_request(edge, bytes)));
}
