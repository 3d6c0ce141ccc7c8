//! The name a user gives a passkey ("Jobb-PC", "Telefon"), shown in the list on the account page.

use super::InvalidInput;

/// Trimmed, 1–64 characters, no control characters (a name with a line break or a bidi
/// override could make the list on the account page lie about which passkey is which).
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct PasskeyName(String);

impl PasskeyName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        // Checked before trimming: a control character at the edge (NEL, U+0085, is also
        // whitespace) is refused like one inside, not silently dropped.
        if raw.chars().any(is_forbidden) {
            return Err(InvalidInput::new("name", "must not contain control characters"));
        }
        let name = raw.trim();
        if name.is_empty() {
            return Err(InvalidInput::new("name", "must not be empty"));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(InvalidInput::new("name", "must be at most 64 characters"));
        }
        Ok(Self(name.to_owned()))
    }
}

/// Control characters (C0, DEL, C1) and the invisible formatting characters that reorder or
/// hide text (bidi embeddings, overrides and isolates, zero-width characters, line and
/// paragraph separators).
fn is_forbidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        )
}

parsed_string!(PasskeyName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(PasskeyName::parse("  Jobb-PC ").unwrap().as_str(), "Jobb-PC");
        assert_eq!(PasskeyName::parse("Æøå telefon").unwrap().as_str(), "Æøå telefon");
        let longest = "ø".repeat(64);
        assert_eq!(PasskeyName::parse(&longest).unwrap().as_str(), longest);
        for bad in [
            "",
            "   ",
            &"a".repeat(65),
            "a\nb",
            "a\u{0}b",
            "a\u{7f}",
            "a\u{202E}b",
            "a\u{200B}",
            "\u{85}x",
        ] {
            assert!(PasskeyName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stored_names_are_checked_like_typed_ones() {
        let name: PasskeyName = serde_json::from_str("\"Nøkkel\"").unwrap();
        assert_eq!(name.as_str(), "Nøkkel");
        assert!(serde_json::from_str::<PasskeyName>("\"a\\u0007\"").is_err());
    }
}
