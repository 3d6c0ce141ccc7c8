//! Bearer tokens: `TokenKeys::verify` on arbitrary strings, on real tokens with any edit, and on
//! classic forgeries (`alg: none`, HMAC with the public key, another key under our `kid`).
//! Nothing but the token as issued may verify, and nothing may panic.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portal_core::domain::{SessionId, Username};
use portal_core::security::keys::KeyMaterial;
use portal_core::security::tokens::TokenIssuer;
use proptest::prelude::*;
use serde_json::{json, Value};

use super::{config, mutate_text, mutations, replay, seed};

const ISSUER: &str = "https://api.hjemmekontor.local";
const AUDIENCE: &str = "hjemmekontor-portal";
const NOW: i64 = 1_767_225_600;

struct Keys {
    material: KeyMaterial,
    keys: TokenIssuer,
    token: String,
}

impl Keys {
    fn new() -> Self {
        let material = KeyMaterial::generate().unwrap_or_else(|e| panic!("{e}"));
        let keys = TokenIssuer::new(
            &material.signing_keys,
            ISSUER,
            AUDIENCE,
            std::time::Duration::from_secs(900),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let token = keys
            .issue(
                &Username::parse("kari").unwrap_or_else(|e| panic!("{e}")),
                &SessionId::generate(),
                NOW,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        Self { material, keys, token }
    }
}

thread_local! {
    static KEYS: Keys = Keys::new();
}

/// Anything but the issued token is refused; nothing panics.
fn check_token(keys: &Keys, candidate: &str) {
    let verdict = keys.keys.verify(candidate, NOW + 1);
    if candidate == keys.token {
        assert!(verdict.is_ok(), "the real token was refused: {verdict:?}");
    } else {
        assert!(verdict.is_err(), "a forged token verified: {candidate:?}");
    }
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn parts(token: &str) -> (String, String, String) {
    let mut it = token.splitn(3, '.');
    let h = it.next().unwrap_or_default().to_owned();
    let p = it.next().unwrap_or_default().to_owned();
    let s = it.next().unwrap_or_default().to_owned();
    (h, p, s)
}

fn decode(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap_or_default()).unwrap_or(Value::Null)
}

/// A token with header `header` and the real payload, signed (or not) in some wrong way.
fn forgeries(keys: &Keys) -> Vec<String> {
    let (h, p, s) = parts(&keys.token);
    let header = decode(&h);
    let kid = header["kid"].clone();
    let mut payload = decode(&p);
    let mut out = Vec::new();
    // alg none, with and without a signature.
    for alg in ["none", "None", "NONE"] {
        let forged = b64(&json!({ "alg": alg, "typ": "JWT", "kid": kid }));
        out.push(format!("{forged}.{p}."));
        out.push(format!("{forged}.{p}.{s}"));
    }
    // HMAC keyed with our public key (the classic algorithm confusion).
    if let Ok(public) = keys.material.signing_keys[0].public_key() {
        use hmac::{Hmac, Mac};
        let forged = b64(&json!({ "alg": "HS256", "typ": "JWT", "kid": kid }));
        let signing_input = format!("{forged}.{p}");
        if let Ok(mut mac) = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&public) {
            mac.update(signing_input.as_bytes());
            let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
            out.push(format!("{signing_input}.{sig}"));
        }
    }
    // Another key pair, our kid: a valid signature by the wrong key.
    let other = KeyMaterial::generate().unwrap_or_else(|e| panic!("{e}"));
    let mut other_material = other.clone();
    other_material.signing_keys[0].kid = keys.material.signing_keys[0].kid.clone();
    if let Ok(other_keys) = TokenIssuer::new(
        &other_material.signing_keys,
        ISSUER,
        AUDIENCE,
        std::time::Duration::from_secs(900),
    ) {
        if let Ok(t) = other_keys.issue(
            &Username::parse("admin").unwrap_or_else(|e| panic!("{e}")),
            &SessionId::generate(),
            NOW,
        ) {
            out.push(t);
        }
    }
    // The real signature on an edited payload (longer life, another user).
    payload["exp"] = json!(NOW + 86_400 * 365);
    out.push(format!("{h}.{}.{s}", b64(&payload)));
    payload["sub"] = json!("admin");
    out.push(format!("{h}.{}.{s}", b64(&payload)));
    // Structural games: extra segments, whitespace, padding, swapped parts.
    out.push(format!("{}.", keys.token));
    out.push(format!("{}=", keys.token));
    out.push(format!(" {}", keys.token));
    out.push(format!("{h}.{p}"));
    out.push(format!("{p}.{h}.{s}"));
    out.push(format!("{h}..{s}"));
    out
}

proptest! {
    #![proptest_config(config("tokens", 2000))]

    #[test]
    fn arbitrary_strings_never_verify(raw in prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_-]{10,60}\\.[A-Za-z0-9_-]{10,200}\\.[A-Za-z0-9_-]{0,90}",
    ]) {
        KEYS.with(|k| check_token(k, &raw));
    }

    /// The real token with any byte-level edit verifies only if the edit changed nothing.
    #[test]
    fn mutated_real_tokens_never_verify(edits in mutations()) {
        KEYS.with(|k| check_token(k, &mutate_text(&k.token, &edits)));
    }

    /// One character of the real token replaced by another base64url character: the most
    /// plausible forgery, and the one a lenient base64 decoder would let through.
    #[test]
    fn single_character_substitutions_never_verify(at in any::<usize>(), c in "[A-Za-z0-9_.-]") {
        KEYS.with(|k| {
            let mut chars: Vec<char> = k.token.chars().collect();
            let at = at % chars.len();
            chars[at] = c.chars().next().unwrap_or('A');
            check_token(k, &chars.into_iter().collect::<String>());
        });
    }

    #[test]
    fn mutated_seed_tokens_never_panic(seed in seed("tokens"), edits in mutations()) {
        KEYS.with(|k| check_token(k, &String::from_utf8_lossy(&crate::fuzz::mutate(&seed, &edits))));
    }
}

#[test]
fn forgeries_never_verify() {
    KEYS.with(|k| {
        check_token(k, &k.token);
        for forged in forgeries(k) {
            check_token(k, &forged);
        }
    });
}

#[test]
fn corpus_replays() {
    KEYS.with(|k| replay("tokens", |bytes| check_token(k, &String::from_utf8_lossy(bytes))));
}
