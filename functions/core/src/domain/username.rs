use super::InvalidInput;

/// An account name as NHN issues them: 3–64 characters of `a-z 0-9 . _ -`, stored lower case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let trimmed = raw.trim();
        let len = trimmed.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(InvalidInput::new("username", "must be 3 to 64 characters"));
        }
        let lower = trimmed.to_ascii_lowercase();
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
        if !lower.chars().all(allowed) {
            return Err(InvalidInput::new(
                "username",
                "may contain only letters a-z, digits, '.', '_' and '-'",
            ));
        }
        if !lower.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(InvalidInput::new("username", "must start with a letter or digit"));
        }
        Ok(Self(lower))
    }
}

parsed_string!(Username);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises_case_and_whitespace() {
        assert_eq!(Username::parse("  Kari.Nordmann ").unwrap().as_str(), "kari.nordmann");
    }

    #[test]
    fn rejects_bad_names() {
        for bad in ["", "ab", "kari nordmann", "kari@nhn", "-kari", &"a".repeat(65), "kåre"] {
            assert!(Username::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_output_is_canonical(raw in ".{0,80}") {
            if let Ok(u) = Username::parse(&raw) {
                prop_assert_eq!(Username::parse(u.as_str()).unwrap(), u.clone());
                prop_assert!(u.as_str().chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)));
            }
        }
    }
}
