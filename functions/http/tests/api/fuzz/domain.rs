//! The domain parsers of untrusted text: mobile numbers, usernames, SMS codes, challenge and
//! session ids, certificate serials. Each never panics, accepts only its canonical language,
//! and maps every accepted spelling to one canonical value that parses to itself.

use portal_core::domain::{CertificateSerial, ChallengeId, MobileNumber, OneTimeCode, SessionId, Username};
use portal_core::security::codes::CodeHasher;
use proptest::prelude::*;

use super::{config, mutate_text, mutations, replay, seed};

fn check_mobile(raw: &str) {
    let Ok(number) = MobileNumber::parse(raw) else {
        return;
    };
    let e164 = number.as_e164();
    assert!(e164.starts_with('+'), "{raw:?} -> {e164}");
    let digits = &e164[1..];
    assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{raw:?} -> {e164}");
    assert!(!digits.starts_with('0'), "{raw:?} -> {e164}");
    assert!(
        (8..=15).contains(&digits.len()) || digits.len() == 10,
        "{raw:?} -> {e164}"
    );
    if let Some(national) = digits.strip_prefix("47") {
        assert_eq!(national.len(), 8, "{raw:?} -> {e164}");
        assert!(national.starts_with(['4', '9']), "a Norwegian landline passed: {raw:?}");
    }
    // Canonical and idempotent.
    assert_eq!(MobileNumber::parse(e164).as_ref(), Ok(&number), "{raw:?}");
    // What may be shown: the country code and the last two digits, nothing else.
    let masked = number.masked();
    let shown: String = masked.chars().filter(|c| c.is_ascii_digit()).collect();
    assert!(shown.len() <= 5, "{masked} shows too much");
    assert!(masked.ends_with(&digits[digits.len() - 2..]), "{masked}");
    assert!(
        !format!("{number:?}").contains(&digits[2..digits.len() - 2]),
        "Debug shows the number"
    );
}

fn check_username(raw: &str) {
    let Ok(name) = Username::parse(raw) else {
        return;
    };
    let s = name.as_str();
    assert!((3..=64).contains(&s.len()), "{raw:?} -> {s:?}");
    assert!(
        s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)),
        "{raw:?} -> {s:?}"
    );
    assert!(s.starts_with(|c: char| c.is_ascii_alphanumeric()), "{raw:?} -> {s:?}");
    assert_eq!(Username::parse(s).as_ref(), Ok(&name));
    assert_eq!(Username::parse(&raw.to_ascii_uppercase()).as_ref(), Ok(&name));
}

fn check_code(raw: &str) {
    assert_eq!(
        OneTimeCode::parse(raw).is_ok(),
        CODE.with(|r| r.is_match(raw)),
        "the code parser and openapi.yaml disagree on {raw:?}"
    );
    match OneTimeCode::parse(raw) {
        Ok(code) => {
            let digits: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
            assert_eq!(code.expose(), digits, "{raw:?}");
            assert_eq!(digits.len(), 6);
            assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{raw:?}");
            assert!(!format!("{code:?}").contains(&digits), "Debug shows the code");
        }
        Err(_) => {
            let digits: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
            assert!(
                digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()),
                "refused a valid code {raw:?}"
            );
        }
    }
}

/// A `pattern` of `openapi.yaml`'s `components.schemas`, compiled.
fn contract_pattern(schema: &str) -> regex::Regex {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let spec: serde_yaml::Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let pattern = spec["components"]["schemas"][schema]["pattern"]
        .as_str()
        .unwrap_or_else(|| panic!("openapi.yaml: {schema} has no pattern"));
    regex::Regex::new(pattern).unwrap_or_else(|e| panic!("{schema}: {e}"))
}

thread_local! {
    static CHALLENGE_ID: regex::Regex = contract_pattern("ChallengeId");
    static CODE: regex::Regex = contract_pattern("Code");
}

/// The contract's pattern for challenge ids (openapi.yaml `ChallengeId`).
fn matches_contract_pattern(raw: &str) -> bool {
    CHALLENGE_ID.with(|r| r.is_match(raw))
}

fn check_id(raw: &str) {
    let challenge = ChallengeId::parse(raw);
    let session = SessionId::parse(raw);
    assert_eq!(challenge.is_ok(), session.is_ok(), "{raw:?}");
    assert_eq!(
        challenge.is_ok(),
        matches_contract_pattern(raw),
        "the parser and openapi.yaml disagree on {raw:?}"
    );
    if let Ok(id) = challenge {
        assert_eq!(id.as_str(), raw, "ids are not normalised");
    }
}

fn check_serial(raw: &str) {
    let Ok(serial) = CertificateSerial::parse(raw) else {
        return;
    };
    let s = serial.as_str();
    assert!(s.len() % 2 == 0 && (2..=40).contains(&s.len()), "{raw:?} -> {s}");
    assert!(
        s.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
        "{s}"
    );
    assert_eq!(CertificateSerial::parse(s).as_ref(), Ok(&serial));
    assert_eq!(
        CertificateSerial::parse(&raw.to_ascii_lowercase()).as_ref(),
        Ok(&serial)
    );
}

fn check_all(raw: &str) {
    check_mobile(raw);
    check_username(raw);
    check_code(raw);
    check_id(raw);
    check_serial(raw);
}

/// Ways people write one Norwegian mobile number.
fn norwegian_spellings() -> impl Strategy<Value = (String, String)> {
    (
        prop::sample::select(vec!['4', '9']),
        "[0-9]{7}",
        prop::sample::select(vec!["+47", "0047", "+47 ", "", "(+47) "]),
        prop::collection::vec(prop::sample::select(vec!["", " ", "-", ".", "  "]), 8),
    )
        .prop_map(|(first, rest, prefix, separators)| {
            let national = format!("{first}{rest}");
            let spelled: String = national
                .chars()
                .zip(separators)
                .map(|(c, sep)| format!("{c}{sep}"))
                .collect();
            (format!("+47{national}"), format!("{prefix}{}", spelled.trim_end()))
        })
}

proptest! {
    #![proptest_config(config("domain", 2000))]

    #[test]
    fn arbitrary_text_never_panics(raw in any::<String>()) {
        check_all(&raw);
    }

    #[test]
    fn near_valid_text_never_panics(raw in "[+0-9 ()._a-zA-Z-]{0,30}") {
        check_all(&raw);
    }

    #[test]
    fn code_like_text_is_judged_as_the_contract_says(raw in "[0-9\\s\u{85}\u{feff}\u{1c}a]{0,12}") {
        check_code(&raw);
    }

    #[test]
    fn mutated_seeds_never_panic(seed in seed("domain"), edits in mutations()) {
        check_all(&String::from_utf8_lossy(&crate::fuzz::mutate(&seed, &edits)));
    }

    #[test]
    fn every_spelling_of_a_norwegian_mobile_is_one_number((canonical, spelled) in norwegian_spellings()) {
        let parsed = MobileNumber::parse(&spelled).unwrap_or_else(|e| panic!("{spelled:?}: {e}"));
        prop_assert_eq!(parsed.as_e164(), canonical.as_str());
    }

    #[test]
    fn usernames_round_trip(name in "[a-z0-9][a-z0-9._-]{2,63}", pad in "[ \t]{0,3}") {
        let parsed = Username::parse(&format!("{pad}{}{pad}", name.to_uppercase())).unwrap();
        prop_assert_eq!(parsed.as_str(), name.as_str());
    }

    #[test]
    fn codes_forgive_whitespace_only(digits in "[0-9]{6}", spaces in prop::collection::vec("[ \t\u{a0}\u{3000}]{0,2}", 7)) {
        let spelled: String = spaces.iter().zip(digits.chars().map(String::from).chain([String::new()]))
            .map(|(s, d)| format!("{s}{d}")).collect();
        let parsed = OneTimeCode::parse(&spelled).unwrap_or_else(|e| panic!("{spelled:?}: {e}"));
        prop_assert_eq!(parsed.expose(), digits.as_str());
    }

    #[test]
    fn generated_ids_round_trip_and_match_the_contract(_n in 0u8..1) {
        for _ in 0..64 {
            let id = ChallengeId::generate();
            prop_assert!(matches_contract_pattern(id.as_str()), "{}", id);
            prop_assert_eq!(ChallengeId::parse(id.as_str()).unwrap(), id.clone());
            let sid = SessionId::generate();
            prop_assert_eq!(SessionId::parse(sid.as_str()).unwrap(), sid.clone());
        }
    }

    #[test]
    fn ids_are_accepted_exactly_as_the_contract_says(raw in "[A-Za-z0-9_-]{21,23}") {
        check_id(&raw);
    }

    /// A mutated code, or the right code on another challenge, never matches the stored hash.
    #[test]
    fn mutated_codes_never_verify(code in "[0-9]{6}", other in "[0-9]{6}", pepper in prop::collection::vec(any::<u8>(), 1..64)) {
        let hasher = CodeHasher::new(pepper.clone());
        let challenge = ChallengeId::generate();
        let code = OneTimeCode::parse(&code).unwrap();
        let stored = hasher.hash(&challenge, &code);
        prop_assert!(hasher.matches(&challenge, &code, &stored));
        let other = OneTimeCode::parse(&other).unwrap();
        prop_assert_eq!(hasher.matches(&challenge, &other, &stored), other == code);
        prop_assert!(!hasher.matches(&ChallengeId::generate(), &code, &stored));
        let mut other_pepper = pepper;
        other_pepper[0] ^= 1;
        prop_assert!(!CodeHasher::new(other_pepper).matches(&challenge, &code, &stored));
        let edited = mutate_text(&stored, &[crate::fuzz::Mutation::Set { at: 0, byte: b'x' }]);
        prop_assert!(!hasher.matches(&challenge, &code, &edited));
    }
}

#[test]
fn corpus_replays() {
    replay("domain", |bytes| check_all(&String::from_utf8_lossy(bytes)));
}
