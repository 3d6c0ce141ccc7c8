//! A recovery code: the last-resort second factor (issue 17), ten of which are shown once.
//!
//! Ten characters of Crockford's base32 (`0-9`, `a-z` without `i`, `l`, `o`, `u`): 50 bits
//! from the OS RNG, shown as `xxxxx-xxxxx`. Typed input is forgiving: upper or lower case,
//! with or without the dash or spaces, and the letters people confuse with digits (`o` for
//! `0`, `i`/`l` for `1`) read as the digit. Never printed by `Debug`.

use rand::RngCore;

use super::InvalidInput;

/// The 32 symbols, in value order.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Symbols per code: 10 × 5 bits = 50 bits.
pub const RECOVERY_CODE_LEN: usize = 10;
/// Longer typed input is refused before it is looked at.
const MAX_INPUT: usize = 32;

#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(***)")
    }
}

impl RecoveryCode {
    /// A fresh code: each symbol is 5 bits of one random byte (32 divides 256: no bias).
    pub fn generate() -> Self {
        let mut bytes = [0u8; RECOVERY_CODE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(
            bytes
                .iter()
                .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
                .collect(),
        )
    }

    /// Typed input, as field `code`.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        Self::parse_field(raw, "code")
    }

    /// Typed input; a refusal names `field`.
    pub fn parse_field(raw: &str, field: &'static str) -> Result<Self, InvalidInput> {
        const REASON: &str = "must be a recovery code (10 letters and digits, as xxxxx-xxxxx)";
        if raw.len() > MAX_INPUT {
            return Err(InvalidInput::new(field, REASON));
        }
        let mut canonical = String::with_capacity(RECOVERY_CODE_LEN);
        for c in raw.chars() {
            if c == '-' || c == ' ' {
                continue;
            }
            let c = match c.to_ascii_lowercase() {
                'o' => '0',
                'i' | 'l' => '1',
                c => c,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
                return Err(InvalidInput::new(field, REASON));
            }
            canonical.push(c);
        }
        if canonical.len() != RECOVERY_CODE_LEN {
            return Err(InvalidInput::new(field, REASON));
        }
        Ok(Self(canonical))
    }

    /// The canonical ten symbols (lower case, no dash): what is hashed.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// As shown to the user: `xxxxx-xxxxx`.
    pub fn formatted(&self) -> String {
        let (a, b) = self.0.split_at(RECOVERY_CODE_LEN / 2);
        format!("{a}-{b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_ten_symbols_of_the_alphabet_shown_with_a_dash() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let code = RecoveryCode::generate();
            assert_eq!(code.expose().len(), RECOVERY_CODE_LEN);
            assert!(code.expose().bytes().all(|b| ALPHABET.contains(&b)));
            let shown = code.formatted();
            assert_eq!(shown.len(), 11);
            assert_eq!(&shown[5..6], "-");
            assert_eq!(RecoveryCode::parse(&shown).unwrap(), code);
            assert!(
                seen.insert(code.expose().to_owned()),
                "50 random bits do not repeat in 200 draws"
            );
        }
        // 32 symbols of 5 bits each: at least 50 bits per code.
        const { assert!(ALPHABET.len() == 32 && RECOVERY_CODE_LEN * 5 >= 50) };
    }

    #[test]
    fn typed_codes_may_differ_in_case_dashes_spaces_and_look_alike_letters() {
        let canonical = RecoveryCode::parse("ab2cd-3ef4g").unwrap();
        assert_eq!(canonical.expose(), "ab2cd3ef4g");
        for typed in [
            "AB2CD-3EF4G",
            "ab2cd3ef4g",
            "ab2cd 3ef4g",
            " Ab2cD - 3eF4g ",
            "ab-2c-d3-ef-4g",
        ] {
            assert_eq!(RecoveryCode::parse(typed).unwrap(), canonical, "{typed}");
        }
        assert_eq!(RecoveryCode::parse("o0iL1-abcde").unwrap().expose(), "00111abcde");
    }

    #[test]
    fn anything_else_is_refused_naming_the_field() {
        for bad in [
            "",
            "ab2cd-3ef4",
            "ab2cd-3ef4gh",
            "ab2cd-3ef4u",
            "ab2cd_3ef4g",
            "ab2cd-3éf4g",
            "ab2cd-3ef4g\n",
            &"a".repeat(33),
        ] {
            let e = RecoveryCode::parse_field(bad, "recovery_code").unwrap_err();
            assert_eq!(e.field, "recovery_code", "{bad:?}");
        }
    }

    #[test]
    fn debug_never_shows_the_code() {
        let code = RecoveryCode::parse("ab2cd-3ef4g").unwrap();
        assert!(!format!("{code:?}").contains("ab2cd"));
    }
}
