use std::fmt;

use rand::Rng;

use super::InvalidInput;

/// A six-digit one-time code: sent by SMS, or computed by an authenticator app. Debug output
/// never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeCode(String);

impl OneTimeCode {
    pub const DIGITS: usize = 6;

    /// A fresh code from the operating system's CSPRNG, uniformly distributed.
    pub fn generate() -> Self {
        let n: u32 = rand::rngs::OsRng.gen_range(0..1_000_000);
        Self(format!("{n:06}"))
    }

    /// Users paste codes with spaces ("123 456"); those are forgiven, nothing else is.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let digits: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() == Self::DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(digits))
        } else {
            Err(InvalidInput::new("code", "must be 6 digits"))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimeCode(******)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> =
            (0..200).map(|_| OneTimeCode::generate().expose().to_owned()).collect();
        assert!(codes
            .iter()
            .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())));
        assert!(codes.len() > 190, "codes repeat far too often: {}", codes.len());
    }

    #[test]
    fn debug_hides_the_code() {
        let code = OneTimeCode::parse("123456").unwrap();
        assert!(!format!("{code:?}").contains("123456"));
    }

    #[test]
    fn parse_forgives_spaces_only() {
        assert_eq!(OneTimeCode::parse(" 123 456 ").unwrap().expose(), "123456");
        for bad in ["12345", "1234567", "12345a", "١٢٣٤٥٦", ""] {
            assert!(OneTimeCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(raw in "\\PC{0,20}") { let _ = OneTimeCode::parse(&raw); }
    }
}
