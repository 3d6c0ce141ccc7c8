//! Cookies: the `Cookie` header parser, the refresh token inside the refresh cookie, and the
//! refresh itself with mutated tokens (never a new session, never a revoked one either).

use axum::http::{header, HeaderMap, HeaderValue};
use portal_core::domain::{SessionId, Username};
use portal_core::error::ServiceError;
use portal_core::services::sessions::RefreshToken;
use portal_http::cookies::read_cookie;
use portal_testkit::TestApp;
use proptest::prelude::*;

use super::{config, mutate, mutate_text, mutations, replay, seed};

const NAME: &str = "__Host-hk_refresh";

/// `read_cookie` on a header holding `bytes` (when it can be a header value at all).
fn check_cookie_header(bytes: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(bytes) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::COOKIE, value.clone());
    for name in [NAME, "__Secure-hk_buypass", "", "a"] {
        if let Some(found) = read_cookie(&headers, name) {
            let text = value
                .to_str()
                .unwrap_or_else(|_| panic!("a cookie came out of a non-text header"));
            assert!(text.contains(found.as_str()), "{found:?} is not in {text:?}");
            assert_eq!(found.trim(), found, "values are trimmed");
            assert!(!found.contains(';'));
        }
    }
    if let Some(raw) = read_cookie(&headers, NAME) {
        check_refresh_token(&raw);
    }
}

fn check_refresh_token(raw: &str) {
    let Some(token) = RefreshToken::parse(raw) else {
        return;
    };
    // No normalisation: what parses is exactly what was issued.
    assert_eq!(token.encode(), raw);
    let parts: Vec<&str> = raw.split('.').collect();
    let [sid, generation, family, secret] = parts[..] else {
        panic!("{raw:?} parsed without four parts")
    };
    assert!(SessionId::parse(sid).is_ok());
    assert!(generation.parse::<u64>().is_ok_and(|g| g >= 1));
    assert_eq!((family.len(), secret.len()), (43, 43));
    let debug = format!("{token:?}");
    assert!(
        !debug.contains(secret) && !debug.contains(family),
        "Debug shows a secret"
    );
}

fn cookie_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop_oneof![Just(NAME.to_owned()), "[A-Za-z0-9_-]{1,12}"],
            "[A-Za-z0-9!#$%&'()*+\\-./:<>?@\\[\\]^_`{|}~]{0,40}",
        ),
        0..6,
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A signed-in user whose refresh token the property mutates.
struct Signed {
    rt: tokio::runtime::Runtime,
    t: TestApp,
    token: RefreshToken,
}

impl Signed {
    fn new() -> Self {
        let rt = runtime();
        let t = TestApp::in_memory();
        let token = rt.block_on(async {
            t.account("kari", "korrekt hest batteri stift", "+4791234567").await;
            let kari = Username::parse("kari").unwrap_or_else(|e| panic!("{e}"));
            t.app
                .open_session(&kari, false, None)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .refresh
        });
        Self { rt, t, token }
    }

    fn refresh(&self, token: &RefreshToken) -> Result<RefreshToken, ServiceError> {
        self.rt
            .block_on(self.t.app.refresh_session(token, None))
            .map(|tokens| tokens.refresh)
    }
}

thread_local! {
    static SIGNED: std::cell::RefCell<Option<Signed>> = const { std::cell::RefCell::new(None) };
}

proptest! {
    #![proptest_config(config("cookies", 2000))]

    #[test]
    fn arbitrary_cookie_headers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        check_cookie_header(&bytes);
    }

    #[test]
    fn mutated_seed_cookies_never_panic(seed in seed("cookies"), edits in mutations()) {
        check_cookie_header(&mutate(&seed, &edits));
    }

    /// Every cookie named once is found with its value; a name sent twice is refused.
    #[test]
    fn cookies_round_trip(pairs in cookie_pairs(), separator in prop::sample::select(vec!["; ", ";", " ; "])) {
        let text = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(separator);
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&text).unwrap());
        for (name, value) in &pairs {
            let times = pairs.iter().filter(|(k, _)| k == name).count();
            let found = read_cookie(&headers, name);
            if times == 1 {
                prop_assert_eq!(found.as_deref(), Some(value.as_str()), "{}", text);
            } else {
                prop_assert_eq!(found, None, "{} sent {} times", name, times);
            }
        }
    }

    #[test]
    fn arbitrary_refresh_tokens_never_panic(raw in prop_oneof![any::<String>(), "[A-Za-z0-9_-]{22}\\.[0-9]{1,3}\\.[A-Za-z0-9_.=-]{86,92}"]) {
        check_refresh_token(&raw);
    }

    /// A refresh token with any edit never refreshes and never ends the real session: the real
    /// token still works afterwards (checked after the run, and on every 64th case).
    #[test]
    fn mutated_refresh_tokens_never_refresh(edits in mutations(), check_real in 0u8..64) {
        SIGNED.with(|cell| {
            let mut slot = cell.borrow_mut();
            let signed = slot.get_or_insert_with(Signed::new);
            let real = signed.token.encode();
            let forged = mutate_text(&real, &edits);
            check_refresh_token(&forged);
            if let Some(token) = RefreshToken::parse(&forged) {
                if forged != real {
                    let outcome = signed.refresh(&token);
                    prop_assert!(
                        matches!(outcome, Err(ServiceError::SessionExpired)),
                        "forged {forged:?} answered {outcome:?}"
                    );
                }
            }
            if check_real == 0 {
                let next = signed.refresh(&signed.token).unwrap_or_else(|e| panic!("the real token stopped working: {e}"));
                signed.token = next;
            }
            Ok(())
        })?;
    }
}

#[test]
fn real_tokens_round_trip_and_survive_forgeries() {
    let signed = Signed::new();
    let real = signed.token.encode();
    assert_eq!(RefreshToken::parse(&real).map(|t| t.encode()), Some(real.clone()));
    let parts: Vec<&str> = real.split('.').collect();
    let [sid, generation, family, secret] = parts[..] else {
        panic!("a refresh token has four parts")
    };
    for forged in [
        format!("{sid}.{generation}.{family}.{}", "A".repeat(43)),
        format!("{sid}.{generation}.{}.{secret}", "A".repeat(43)),
        format!("{}.{generation}.{family}.{secret}", SessionId::generate()),
        format!("{sid}.2.{family}.{secret}"),
        format!("{sid}.{generation}.{family}.{}", &secret[..42]),
        format!("{sid}.{generation}.{family}.{secret}A"),
        format!("{sid}.{generation}.{family}.{}", secret.to_uppercase()),
        format!("{sid}.{secret}"),
    ] {
        if let Some(token) = RefreshToken::parse(&forged) {
            assert!(
                matches!(signed.refresh(&token), Err(ServiceError::SessionExpired)),
                "{forged}"
            );
        }
    }
    let next = signed.refresh(&signed.token).unwrap_or_else(|e| panic!("{e}"));
    // The rotated-away token is now a reuse: the whole session ends.
    assert!(matches!(
        signed.refresh(&signed.token),
        Err(ServiceError::RefreshReused)
    ));
    assert!(matches!(signed.refresh(&next), Err(ServiceError::SessionExpired)));
}

#[test]
fn corpus_replays() {
    replay("cookies", check_cookie_header);
}
