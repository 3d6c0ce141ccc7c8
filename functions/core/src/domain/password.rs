use std::fmt;

use super::Username;

/// A password as typed by the user. Never printed, never serialised.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Longest password we will hash; longer input is refused before hashing so nobody can
    /// make us hash megabytes.
    pub const MAX_CHARS: usize = 128;

    pub fn new(raw: String) -> Self {
        Self(raw)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_overlong(&self) -> bool {
        self.0.chars().count() > Self::MAX_CHARS
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl<'de> serde::Deserialize<'de> for Password {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

/// Why a new password was refused; every reason applies is reported at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordRejection {
    TooShort,
    TooLong,
    Common,
    ContainsUsername,
}

impl PasswordRejection {
    pub const ALL: [PasswordRejection; 4] = [Self::TooShort, Self::TooLong, Self::Common, Self::ContainsUsername];

    /// The key of its text in the catalogues of [`crate::i18n`].
    pub fn catalogue_key(self) -> &'static str {
        match self {
            Self::TooShort => "weak_password-too_short",
            Self::TooLong => "weak_password-too_long",
            Self::Common => "weak_password-common",
            Self::ContainsUsername => "weak_password-contains_username",
        }
    }
}

/// A password that meets the policy of NIST 800-63B 5.1.1: length 12–128, not a known common
/// password, not containing the username; no composition rules.
#[derive(Clone)]
pub struct NewPassword(Password);

impl NewPassword {
    pub const MIN_CHARS: usize = 12;

    pub fn parse(raw: Password, username: &Username) -> Result<Self, Vec<PasswordRejection>> {
        let text = raw.expose();
        let chars = text.chars().count();
        let mut reasons = Vec::new();
        if chars < Self::MIN_CHARS {
            reasons.push(PasswordRejection::TooShort);
        }
        if chars > Password::MAX_CHARS {
            reasons.push(PasswordRejection::TooLong);
        }
        let lower = text.to_lowercase();
        if is_common(&lower) {
            reasons.push(PasswordRejection::Common);
        }
        if lower.contains(username.as_str()) {
            reasons.push(PasswordRejection::ContainsUsername);
        }
        if reasons.is_empty() {
            Ok(Self(raw))
        } else {
            Err(reasons)
        }
    }

    pub fn password(&self) -> &Password {
        &self.0
    }

    /// The rules that need no account: 12 to 128 characters. What the contract's schema says
    /// about a new password, so a request breaking them is refused before anything is looked up.
    pub fn length_reasons(raw: &Password) -> Vec<PasswordRejection> {
        let chars = raw.expose().chars().count();
        if chars < Self::MIN_CHARS {
            vec![PasswordRejection::TooShort]
        } else if chars > Password::MAX_CHARS {
            vec![PasswordRejection::TooLong]
        } else {
            Vec::new()
        }
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

mod list {
    // The bundled list (Django's 20k common passwords, BSD licence), sorted by build.rs.
    include!(concat!(env!("OUT_DIR"), "/common_passwords.rs"));
}

fn in_list(word: &str) -> bool {
    list::COMMON_PASSWORDS.binary_search(&word).is_ok()
}

/// How many entries the bundled list has.
pub fn common_password_count() -> usize {
    list::COMMON_PASSWORDS.len()
}

fn is_common(lower: &str) -> bool {
    if in_list(lower) {
        return true;
    }
    // "password1234!" and "sommer2024sommer" are as weak as their stems.
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    if stem.chars().count() >= 4 && in_list(stem) {
        return true;
    }
    // A single repeated character or a short pattern repeated ("abcabcabcabc").
    let bytes = lower.as_bytes();
    (1..=4).any(|p| bytes.len() >= p * 3 && bytes.chunks(p).all(|c| bytes.starts_with(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Username {
        Username::parse("kari.nordmann").unwrap()
    }

    #[test]
    fn bundled_list_is_large() {
        assert!(common_password_count() >= 10_000);
        assert!(
            list::COMMON_PASSWORDS.windows(2).all(|w| w[0] < w[1]),
            "sorted for binary search"
        );
    }

    #[test]
    fn accepts_a_long_uncommon_passphrase() {
        assert!(NewPassword::parse(Password::new("blåbær syltetøy på vaffel".into()), &user()).is_ok());
    }

    #[test]
    fn reports_every_reason() {
        let reasons = NewPassword::parse(Password::new("kari.nordmann".into()), &user()).unwrap_err();
        assert_eq!(reasons, vec![PasswordRejection::ContainsUsername]);
        let reasons = NewPassword::parse(Password::new("password".into()), &user()).unwrap_err();
        assert_eq!(reasons, vec![PasswordRejection::TooShort, PasswordRejection::Common]);
        let reasons = NewPassword::parse(Password::new("x".repeat(129)), &user()).unwrap_err();
        assert!(reasons.contains(&PasswordRejection::TooLong));
    }

    #[test]
    fn rejects_common_stems_and_repetition() {
        for weak in ["password123456", "qwertyuiop1234!", "aaaaaaaaaaaaaa", "abcabcabcabcabc"] {
            assert!(
                NewPassword::parse(Password::new(weak.into()), &user()).is_err(),
                "{weak} accepted"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let p = Password::new("hemmelig-passord-123".into());
        assert!(!format!("{p:?}").contains("hemmelig"));
    }
}
