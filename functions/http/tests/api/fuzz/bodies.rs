//! Request bodies: `parse_json` into every request struct, from arbitrary bytes, arbitrary JSON
//! values, near-valid objects and mutated seeds. Every failure must be a 400 problem
//! (`malformed_request` or `validation_failed`), never a panic or another error; every valid
//! object must parse to exactly what was sent; unknown, duplicated or missing fields and
//! trailing bytes must be refused.

use portal_http::error::ApiError;
use portal_http::extract::parse_json;
use portal_http::handlers::{auth, self_service, totp};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use super::{config, mutate, mutations, replay, seed};

/// How a field of a request body is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Any string.
    Text,
    /// A challenge id: 22 characters of base64url for 16 bytes.
    ChallengeId,
    /// A boolean that defaults to false.
    Flag,
}

/// A request body type and what a parsed value holds, as JSON.
trait Body: DeserializeOwned {
    const NAME: &'static str;
    /// (field, kind, required)
    const FIELDS: &'static [(&'static str, Kind, bool)];
    fn fields(&self) -> Map<String, Value>;
}

fn map(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

impl Body for auth::LoginRequest {
    const NAME: &'static str = "LoginRequest";
    const FIELDS: &'static [(&'static str, Kind, bool)] = &[
        ("username", Kind::Text, true),
        ("password", Kind::Text, true),
        ("remember_me", Kind::Flag, false),
    ];
    fn fields(&self) -> Map<String, Value> {
        map(&[
            ("username", json!(self.username)),
            ("password", json!(self.password.expose())),
            ("remember_me", json!(self.remember_me)),
        ])
    }
}

impl Body for auth::ResendRequest {
    const NAME: &'static str = "ResendRequest";
    const FIELDS: &'static [(&'static str, Kind, bool)] = &[("challenge_id", Kind::ChallengeId, true)];
    fn fields(&self) -> Map<String, Value> {
        map(&[("challenge_id", json!(self.challenge_id.as_str()))])
    }
}

impl Body for auth::VerifyRequest {
    const NAME: &'static str = "VerifyRequest";
    const FIELDS: &'static [(&'static str, Kind, bool)] =
        &[("challenge_id", Kind::ChallengeId, true), ("code", Kind::Text, true)];
    fn fields(&self) -> Map<String, Value> {
        map(&[
            ("challenge_id", json!(self.challenge_id.as_str())),
            ("code", json!(self.code)),
        ])
    }
}

impl Body for totp::VerifyRequest {
    const NAME: &'static str = "TotpVerifyRequest";
    const FIELDS: &'static [(&'static str, Kind, bool)] =
        &[("challenge_id", Kind::ChallengeId, true), ("code", Kind::Text, true)];
    fn fields(&self) -> Map<String, Value> {
        map(&[
            ("challenge_id", json!(self.challenge_id.as_str())),
            ("code", json!(self.code)),
        ])
    }
}

impl Body for self_service::ChangePasswordRequest {
    const NAME: &'static str = "ChangePasswordRequest";
    const FIELDS: &'static [(&'static str, Kind, bool)] =
        &[("old_password", Kind::Text, true), ("new_password", Kind::Text, true)];
    fn fields(&self) -> Map<String, Value> {
        map(&[
            ("old_password", json!(self.old_password.expose())),
            ("new_password", json!(self.new_password.expose())),
        ])
    }
}

impl Body for self_service::PhoneChangeRequest {
    const NAME: &'static str = "PhoneChangeRequest";
    const FIELDS: &'static [(&'static str, Kind, bool)] =
        &[("new_mobile", Kind::Text, true), ("password", Kind::Text, true)];
    fn fields(&self) -> Map<String, Value> {
        map(&[
            ("new_mobile", json!(self.new_mobile)),
            ("password", json!(self.password.expose())),
        ])
    }
}

impl Body for self_service::PhoneChangeConfirmation {
    const NAME: &'static str = "PhoneChangeConfirmation";
    const FIELDS: &'static [(&'static str, Kind, bool)] =
        &[("challenge_id", Kind::ChallengeId, true), ("code", Kind::Text, true)];
    fn fields(&self) -> Map<String, Value> {
        map(&[
            ("challenge_id", json!(self.challenge_id.as_str())),
            ("code", json!(self.code)),
        ])
    }
}

impl Body for self_service::ForgotPasswordRequest {
    const NAME: &'static str = "ForgotPasswordRequest";
    const FIELDS: &'static [(&'static str, Kind, bool)] = &[("username", Kind::Text, true)];
    fn fields(&self) -> Map<String, Value> {
        map(&[("username", json!(self.username))])
    }
}

impl Body for self_service::ResetPasswordRequest {
    const NAME: &'static str = "ResetPasswordRequest";
    const FIELDS: &'static [(&'static str, Kind, bool)] = &[
        ("challenge_id", Kind::ChallengeId, true),
        ("code", Kind::Text, true),
        ("new_password", Kind::Text, true),
    ];
    fn fields(&self) -> Map<String, Value> {
        map(&[
            ("challenge_id", json!(self.challenge_id.as_str())),
            ("code", json!(self.code)),
            ("new_password", json!(self.new_password.expose())),
        ])
    }
}

impl Body for totp::PasswordRequest {
    const NAME: &'static str = "PasswordRequest";
    const FIELDS: &'static [(&'static str, Kind, bool)] = &[("password", Kind::Text, true)];
    fn fields(&self) -> Map<String, Value> {
        map(&[("password", json!(self.password.expose()))])
    }
}

impl Body for totp::ConfirmRequest {
    const NAME: &'static str = "ConfirmRequest";
    const FIELDS: &'static [(&'static str, Kind, bool)] = &[("code", Kind::Text, true)];
    fn fields(&self) -> Map<String, Value> {
        map(&[("code", json!(self.code))])
    }
}

/// The invariant for any input: a value, or a 400 problem saying the body or a field is bad.
fn check_any<T: Body>(bytes: &[u8]) -> Option<T> {
    match parse_json::<T>(bytes) {
        Ok(v) => Some(v),
        Err(e @ (ApiError::MalformedBody(_) | ApiError::Service(portal_core::error::ServiceError::Validation(_)))) => {
            let problem = e.problem();
            assert_eq!(problem.status.as_u16(), 400, "{}: {e}", T::NAME);
            None
        }
        Err(other) => panic!(
            "{}: unexpected error {other:?} for {:?}",
            T::NAME,
            String::from_utf8_lossy(bytes)
        ),
    }
}

/// When a body parses, it was a JSON object holding only known fields, each of its kind.
fn check_accepted<T: Body>(bytes: &[u8]) {
    let Some(parsed) = check_any::<T>(bytes) else {
        return;
    };
    let value: Value = serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{} accepted a body serde_json rejects ({e})", T::NAME));
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("{} accepted a non-object: {value}", T::NAME));
    for key in object.keys() {
        assert!(
            T::FIELDS.iter().any(|(f, _, _)| f == key),
            "{} accepted unknown field {key:?}",
            T::NAME
        );
    }
    let fields = parsed.fields();
    for (name, kind, required) in T::FIELDS {
        match object.get(*name) {
            Some(sent) => assert_eq!(&fields[*name], sent, "{}.{name}", T::NAME),
            None => {
                assert!(!required, "{} accepted a body without {name}", T::NAME);
                assert_eq!(*kind, Kind::Flag);
                assert_eq!(fields[*name], json!(false));
            }
        }
    }
    for (name, kind, _) in T::FIELDS {
        if *kind == Kind::ChallengeId {
            let id = fields[*name].as_str().unwrap_or_default();
            assert!(portal_core::domain::ChallengeId::parse(id).is_ok());
        }
    }
}

/// Every request body type, by name.
fn check_all(bytes: &[u8]) {
    check_accepted::<auth::LoginRequest>(bytes);
    check_accepted::<auth::ResendRequest>(bytes);
    check_accepted::<auth::VerifyRequest>(bytes);
    check_accepted::<totp::VerifyRequest>(bytes);
    check_accepted::<self_service::ChangePasswordRequest>(bytes);
    check_accepted::<self_service::PhoneChangeRequest>(bytes);
    check_accepted::<self_service::PhoneChangeConfirmation>(bytes);
    check_accepted::<self_service::ForgotPasswordRequest>(bytes);
    check_accepted::<self_service::ResetPasswordRequest>(bytes);
    check_accepted::<totp::PasswordRequest>(bytes);
    check_accepted::<totp::ConfirmRequest>(bytes);
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "username", "password", "remember_me", "challenge_id", "code", "old_password",
            "new_password", "new_mobile",
        ])
        .prop_map(str::to_owned),
        1 => ".{0,12}",
    ]
}

/// Any JSON value, biased towards objects with the fields the bodies know.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        challenge_id_like().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Strings that look like challenge ids (some valid, most one step off).
fn challenge_id_like() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(()).prop_map(|_| portal_core::domain::ChallengeId::generate().to_string()),
        "[A-Za-z0-9_-]{22}",
        "[A-Za-z0-9_+/=-]{20,24}",
    ]
}

fn value_of(kind: Kind) -> BoxedStrategy<Value> {
    match kind {
        Kind::Text => any::<String>().prop_map(Value::String).boxed(),
        Kind::ChallengeId => Just(())
            .prop_map(|_| Value::String(portal_core::domain::ChallengeId::generate().to_string()))
            .boxed(),
        Kind::Flag => any::<bool>().prop_map(Value::Bool).boxed(),
    }
}

/// A valid body of `T`, optional fields present or not.
fn valid_object<T: Body>() -> BoxedStrategy<Map<String, Value>> {
    let parts: Vec<BoxedStrategy<Option<(String, Value)>>> = T::FIELDS
        .iter()
        .map(|(name, kind, required)| {
            let name = name.to_string();
            let value = value_of(*kind);
            if *required {
                value.prop_map(move |v| Some((name.clone(), v))).boxed()
            } else {
                prop::option::of(value)
                    .prop_map(move |v| v.map(|v| (name.clone(), v)))
                    .boxed()
            }
        })
        .collect();
    parts.prop_map(|fields| fields.into_iter().flatten().collect()).boxed()
}

/// Valid bodies parse to exactly what was sent, whatever the strings hold.
fn round_trip<T: Body>(object: &Map<String, Value>) {
    let bytes = serde_json::to_vec(object).unwrap_or_default();
    let parsed = parse_json::<T>(&bytes).unwrap_or_else(|e| panic!("{} refused a valid body {object:?}: {e}", T::NAME));
    let fields = parsed.fields();
    for (name, _, _) in T::FIELDS {
        let expected = object.get(*name).cloned().unwrap_or(json!(false));
        assert_eq!(fields[*name], expected, "{}.{name}", T::NAME);
    }
}

/// Near-valid bodies are refused: an unknown field, a missing required field, a field of the
/// wrong type, a malformed challenge id, a duplicated field, trailing bytes.
fn refuses_near_misses<T: Body>(object: &Map<String, Value>, extra: &str, garbage: &str, pick: usize) {
    let refused = |bytes: &[u8], what: &str| {
        assert!(
            check_any::<T>(bytes).is_none(),
            "{} accepted {what}: {}",
            T::NAME,
            String::from_utf8_lossy(bytes)
        );
    };
    if !T::FIELDS.iter().any(|(f, _, _)| *f == extra) {
        let mut with_extra = object.clone();
        with_extra.insert(extra.to_owned(), json!("x"));
        refused(&serde_json::to_vec(&with_extra).unwrap_or_default(), "an unknown field");
    }
    let (name, kind, required) = T::FIELDS[pick % T::FIELDS.len()];
    if required {
        let mut missing = object.clone();
        missing.remove(name);
        refused(&serde_json::to_vec(&missing).unwrap_or_default(), "a missing field");
    }
    let mut wrong_type = object.clone();
    wrong_type.insert(
        name.to_owned(),
        if kind == Kind::Flag {
            json!("true")
        } else {
            json!(12345)
        },
    );
    refused(
        &serde_json::to_vec(&wrong_type).unwrap_or_default(),
        "a field of the wrong type",
    );
    if kind == Kind::ChallengeId {
        let mut bad_id = object.clone();
        bad_id.insert(name.to_owned(), json!(format!("{}!", &"A".repeat(21))));
        refused(
            &serde_json::to_vec(&bad_id).unwrap_or_default(),
            "a malformed challenge id",
        );
    }
    if let Some(value) = object.get(name) {
        // `{"a":1,"a":2}`: parsers disagree on which one wins, so neither may.
        let text = serde_json::to_string(object).unwrap_or_default();
        let duplicate = format!("{},{}:{}}}", &text[..text.len() - 1], json!(name), value);
        refused(duplicate.as_bytes(), "a duplicated field");
    }
    let mut trailing = serde_json::to_vec(object).unwrap_or_default();
    trailing.extend_from_slice(garbage.as_bytes());
    if !garbage.trim().is_empty() {
        refused(&trailing, "trailing bytes");
    }
}

macro_rules! body_properties {
    ($($module:ident: $ty:ty),* $(,)?) => {$(
        mod $module {
            use super::*;

            proptest! {
                #![proptest_config(config(concat!("bodies_", stringify!($module)), 1000))]

                #[test]
                fn valid_bodies_round_trip(object in valid_object::<$ty>()) {
                    round_trip::<$ty>(&object);
                }

                #[test]
                fn near_misses_are_refused(
                    object in valid_object::<$ty>(),
                    extra in field_name(),
                    garbage in "[^\\s]{1,4}",
                    pick in any::<usize>(),
                ) {
                    refuses_near_misses::<$ty>(&object, &extra, &garbage, pick);
                }
            }
        }
    )*};
}

body_properties!(
    login: auth::LoginRequest,
    resend: auth::ResendRequest,
    verify: auth::VerifyRequest,
    totp_verify: totp::VerifyRequest,
    change_password: self_service::ChangePasswordRequest,
    phone_change: self_service::PhoneChangeRequest,
    phone_confirm: self_service::PhoneChangeConfirmation,
    forgot_password: self_service::ForgotPasswordRequest,
    reset_password: self_service::ResetPasswordRequest,
    totp_password: totp::PasswordRequest,
    totp_confirm: totp::ConfirmRequest,
);

proptest! {
    #![proptest_config(config("bodies", 2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check_all(&bytes);
    }

    #[test]
    fn arbitrary_json_values_never_panic(value in json_value()) {
        check_all(&serde_json::to_vec(&value).unwrap_or_default());
    }

    #[test]
    fn mutated_seeds_never_panic(seed in seed("bodies"), edits in mutations()) {
        check_all(&mutate(&seed, &edits));
    }
}

#[test]
fn corpus_replays() {
    replay("bodies", check_all);
}
