//! The Buypass callback: its query parser, the handler on arbitrary query strings and cookies
//! (always a redirect to the portal with a known reason, never a registration), and the
//! browser-binding cookie (a mutated cookie never consumes the state).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use portal_core::buypass::flow::{Buypass, CallbackFailure, CallbackQuery, LoginState, BROWSER_COOKIE};
use portal_core::store::keys::{oidc_state_pk, OIDC_STATE_SK};
use portal_http::handlers::homeoffice::GatewayAuth;
use portal_http::routes::{function_router, ApiState, Function};
use portal_testkit::{unreachable_buypass, TestApp};
use proptest::prelude::*;
use tower::ServiceExt;

use super::{config, mutate_text, mutations, replay, seed};

const REASONS: &[&str] = &[
    "state_invalid",
    "browser_mismatch",
    "login_cancelled",
    "provider_error",
    "provider_unavailable",
    "token_invalid",
    "not_smartcard",
    "certificate_invalid",
    "serial_in_use",
    "home_office_not_enabled",
    "account_unavailable",
    "temporary_failure",
];

fn check_query(raw: &str) {
    let Some(query) = CallbackQuery::parse(Some(raw)) else {
        return;
    };
    for value in [&query.code, &query.state, &query.error].into_iter().flatten() {
        assert!(
            value.len() <= 4096,
            "an overlong parameter passed: {} bytes",
            value.len()
        );
    }
}

fn form(pairs: &[(String, String)]) -> String {
    let mut serializer = openidconnect::url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        serializer.append_pair(k, v);
    }
    serializer.finish()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// An app with one live authorization request (`STATE`, bound to `COOKIE`).
struct Fixture {
    rt: tokio::runtime::Runtime,
    t: TestApp,
    buypass: Arc<Buypass>,
    router: axum::Router,
}

const STATE: &str = "AAAAAAAAAAAAAAAAAAAAAA";
const COOKIE: &str = "browser-secret-value-0123456789";

impl Fixture {
    fn new() -> Self {
        let rt = runtime();
        let t = TestApp::in_memory();
        rt.block_on(t.account("kari", "korrekt hest batteri stift", "+4791234567"));
        let buypass = Arc::new(unreachable_buypass());
        let state = ApiState::new(
            t.app.clone(),
            buypass.clone(),
            GatewayAuth::key("the-gateway-key-123").expect("a long enough key"),
        );
        let router = function_router(Function::Buypass, &state);
        let fixture = Self { rt, t, buypass, router };
        fixture.open_state();
        fixture
    }

    /// Stores the authorization request `STATE`, bound to `COOKIE`.
    fn open_state(&self) {
        let t = &self.t;
        let username = portal_core::domain::Username::parse("kari").unwrap_or_else(|e| panic!("{e}"));
        self.rt.block_on(t.insert_buypass_state(username, STATE, COOKIE));
    }

    /// The callback handler, from a browser sending `raw_query` and `cookie`.
    fn callback(&self, raw_query: &str, cookie: Option<&str>) {
        let uri = format!("/v1/homeoffice/buypass/callback?{raw_query}");
        let Ok(mut request) = Request::get(uri.as_str()).body(Body::empty()) else {
            return; // not a URI a client could send
        };
        if let Some(cookie) = cookie {
            let Ok(value) = header::HeaderValue::from_str(cookie) else {
                return;
            };
            request.headers_mut().insert(header::COOKIE, value);
        }
        let response = self
            .rt
            .block_on(self.router.clone().oneshot(request))
            .unwrap_or_else(|e| match e {});
        assert_eq!(response.status(), StatusCode::FOUND, "{raw_query:?}");
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no Location for {raw_query:?}"));
        let prefix = format!("{}/hjemmekontor?buypass=error&reason=", self.t.app.settings.portal_url);
        let reason = location
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{raw_query:?} redirected to {location}"));
        assert!(REASONS.contains(&reason), "unknown reason {reason:?}");
        assert_eq!(
            response
                .headers()
                .get(header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
            Some("no-store")
        );
    }

    /// The state is still there for the browser that started it.
    fn state_is_live(&self) -> bool {
        self.rt.block_on(async {
            self.t
                .app
                .repo
                .load::<LoginState>(&oidc_state_pk(STATE), OIDC_STATE_SK, self.t.app.now())
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_some()
        })
    }
}

thread_local! {
    static FIXTURE: Fixture = Fixture::new();
}

fn query_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z_=&%0-9A-F+.-]{0,80}",
        prop::collection::vec(
            (
                prop::sample::select(vec!["code", "state", "error", "error_description", "x", "Code"]),
                prop_oneof![".{0,40}", "[A-Za-z0-9_-]{16,130}", Just(STATE.to_owned())],
            ),
            0..5
        )
        .prop_map(|pairs| form(&pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Vec<_>>())),
    ]
}

proptest! {
    #![proptest_config(config("callback", 1000))]

    #[test]
    fn arbitrary_queries_parse_without_panicking(raw in query_text()) {
        check_query(&raw);
    }

    #[test]
    fn mutated_seed_queries_parse_without_panicking(seed in seed("callback"), edits in mutations()) {
        check_query(&String::from_utf8_lossy(&crate::fuzz::mutate(&seed, &edits)));
    }

    /// code/state/error come back exactly as sent; other parameters are ignored; a repeated
    /// one, or one over 4096 bytes, makes the whole query invalid.
    #[test]
    fn parameters_round_trip(
        code in prop::option::of(".{0,64}"),
        state in prop::option::of("[A-Za-z0-9_-]{0,140}"),
        error in prop::option::of(".{0,32}"),
        other in prop::collection::vec(("[a-z_]{1,10}", ".{0,20}"), 0..3),
        repeat in prop::option::of(prop::sample::select(vec!["code", "state", "error"])),
        overlong in any::<bool>(),
    ) {
        let mut pairs: Vec<(String, String)> = other
            .into_iter()
            .filter(|(k, _)| !["code", "state", "error"].contains(&k.as_str()))
            .collect();
        for (name, value) in [("code", &code), ("state", &state), ("error", &error)] {
            if let Some(v) = value {
                pairs.push((name.to_owned(), v.clone()));
            }
        }
        let query = CallbackQuery::parse(Some(&form(&pairs))).unwrap();
        prop_assert_eq!(&query.code, &code);
        prop_assert_eq!(&query.state, &state);
        prop_assert_eq!(&query.error, &error);
        if let Some(name) = repeat {
            let mut twice = pairs.clone();
            twice.push((name.to_owned(), "again".into()));
            let present = pairs.iter().any(|(k, _)| k == name);
            prop_assert_eq!(CallbackQuery::parse(Some(&form(&twice))).is_none(), present);
        }
        if overlong {
            let mut long = pairs;
            long.retain(|(k, _)| k != "code");
            long.push(("code".into(), "c".repeat(4097)));
            prop_assert!(CallbackQuery::parse(Some(&form(&long))).is_none());
        }
    }

    /// The handler, on any query and cookie: a redirect to the portal with a known reason, and
    /// a cookie other than the one that started the request never uses up the state.
    #[test]
    fn the_callback_always_redirects_and_mutated_cookies_never_match(
        raw in query_text(),
        cookie_edits in mutations(),
        use_real_state in any::<bool>(),
    ) {
        FIXTURE.with(|f| {
            let cookie_value = mutate_text(COOKIE, &cookie_edits);
            let cookie = format!("{BROWSER_COOKIE}={cookie_value}");
            let raw = if use_real_state { format!("error=access_denied&state={STATE}") } else { raw.clone() };
            f.callback(&raw, None);
            prop_assert!(f.state_is_live(), "a request without the cookie used up the state");
            f.callback(&raw, Some(&cookie));
            if !f.state_is_live() {
                // Only the cookie that started the request may use it up (the browser may send
                // it among others, or with spaces around it).
                let mut headers = axum::http::HeaderMap::new();
                if let Ok(v) = header::HeaderValue::from_str(&cookie) {
                    headers.insert(header::COOKIE, v);
                }
                let presented = portal_http::cookies::read_cookie(&headers, BROWSER_COOKIE);
                prop_assert_eq!(presented.as_deref(), Some(COOKIE), "cookie {:?} used up the state", cookie_value);
                f.open_state();
            }
            Ok(())
        })?;
    }
}

/// The real browser cookie still works after every mutation was refused: one use, then gone.
#[test]
fn the_real_cookie_consumes_the_state_once() {
    let f = Fixture::new();
    for forged in [
        "",
        "browser-secret-value-012345678",
        "browser-secret-value-0123456789x",
        "BROWSER-SECRET-VALUE-0123456789",
    ] {
        let result = f.rt.block_on(f.t.app.buypass_callback(
            &f.buypass,
            CallbackQuery::parse(Some(&format!("error=access_denied&state={STATE}"))),
            Some(forged),
            None,
        ));
        assert_eq!(result.map(|_| ()), Err(CallbackFailure::BrowserMismatch), "{forged:?}");
    }
    let once = |cookie| {
        f.rt.block_on(f.t.app.buypass_callback(
            &f.buypass,
            CallbackQuery::parse(Some(&format!("error=access_denied&state={STATE}"))),
            Some(cookie),
            None,
        ))
        .map(|_| ())
    };
    assert_eq!(once(COOKIE), Err(CallbackFailure::LoginCancelled));
    assert_eq!(once(COOKIE), Err(CallbackFailure::StateInvalid));
}

#[test]
fn corpus_replays() {
    let f = Fixture::new();
    replay("callback", |bytes| {
        let raw = String::from_utf8_lossy(bytes);
        check_query(&raw);
        f.callback(&raw, Some(&format!("{BROWSER_COOKIE}=x")));
    });
}
