use std::fmt;

use super::{CountryCode, InvalidInput};

/// A mobile number in E.164 form (`+4791234567`).
///
/// Norwegian numbers must be in the mobile ranges (8 digits starting with 4 or 9), because an
/// SMS code sent to a landline never arrives. Other countries are accepted when they are
/// well-formed E.164 (country code plus subscriber number, 8–15 digits in all).
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct MobileNumber(String);

impl MobileNumber {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
            .collect();
        let digits = if let Some(rest) = compact.strip_prefix('+') {
            rest.to_owned()
        } else if let Some(rest) = compact.strip_prefix("00") {
            rest.to_owned()
        } else if compact.len() == 8 {
            // A bare 8-digit number is how Norwegians write their own numbers.
            format!("47{compact}")
        } else {
            return Err(InvalidInput::new(
                "mobile",
                "must be an international number starting with + and the country code",
            ));
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidInput::new("mobile", "may contain only digits after the +"));
        }
        if digits.starts_with('0') {
            return Err(InvalidInput::new("mobile", "country code cannot start with 0"));
        }
        if let Some(national) = digits.strip_prefix("47") {
            if national.len() != 8 {
                return Err(InvalidInput::new("mobile", "Norwegian numbers have 8 digits"));
            }
            if !national.starts_with(['4', '9']) {
                return Err(InvalidInput::new(
                    "mobile",
                    "not a Norwegian mobile number (mobile numbers start with 4 or 9)",
                ));
            }
        } else if !(8..=15).contains(&digits.len()) {
            return Err(InvalidInput::new(
                "mobile",
                "must have 8 to 15 digits including the country code",
            ));
        }
        Ok(Self(format!("+{digits}")))
    }

    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// The country calling code the number starts with (+47 for every Norwegian number).
    pub fn country_code(&self) -> CountryCode {
        // `parse` accepts 8 or more digits not starting with 0, so every number has one.
        CountryCode::leading(&self.0[1..]).map_or(CountryCode::NORWAY, |(code, _)| code)
    }

    /// A Norwegian mobile number (+47 and 8 digits starting with 4 or 9; [`Self::parse`]
    /// accepts no other +47 numbers).
    pub fn is_norwegian(&self) -> bool {
        self.0.starts_with("+47")
    }

    /// What may be shown or logged: the country code and the last two digits only.
    pub fn masked(&self) -> String {
        let digits = &self.0[1..];
        let cc_len = if digits.starts_with("47") {
            2
        } else {
            digits.len().saturating_sub(8).clamp(1, 3)
        };
        let (cc, rest) = digits.split_at(cc_len);
        let shown = &rest[rest.len().saturating_sub(2)..];
        format!("+{cc} {}{shown}", "•".repeat(rest.len().saturating_sub(2)))
    }
}

impl fmt::Display for MobileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MobileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Full numbers stay out of debug output, which ends up in logs.
        write!(f, "MobileNumber({})", self.masked())
    }
}

impl<'de> serde::Deserialize<'de> for MobileNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_common_norwegian_spellings() {
        for raw in ["+47 912 34 567", "004791234567", "91234567", "+4741234567"] {
            let m = MobileNumber::parse(raw).unwrap();
            assert!(m.as_e164() == "+4791234567" || m.as_e164() == "+4741234567", "{raw}");
        }
    }

    #[test]
    fn rejects_landlines_and_short_numbers() {
        for raw in [
            "+4722334455",
            "+47912345",
            "22334455",
            "12345",
            "+0123456789",
            "+47abcdefgh",
            "",
            "+",
        ] {
            assert!(MobileNumber::parse(raw).is_err(), "{raw:?} accepted");
        }
    }

    #[test]
    fn accepts_foreign_e164() {
        assert_eq!(MobileNumber::parse("+46701234567").unwrap().as_e164(), "+46701234567");
    }

    #[test]
    fn tells_norwegian_mobile_numbers_from_foreign_ones() {
        for raw in ["+4791234567", "41234567", "004791234567"] {
            assert!(MobileNumber::parse(raw).unwrap().is_norwegian(), "{raw}");
        }
        for raw in ["+46701234567", "+4479123456", "+4712345678901"] {
            if let Ok(m) = MobileNumber::parse(raw) {
                assert!(!m.is_norwegian(), "{raw}");
            }
        }
    }

    #[test]
    fn knows_its_country_calling_code() {
        for (raw, code) in [
            ("+4791234567", 47),
            ("91234567", 47),
            ("+46701234567", 46),
            ("+447912345678", 44),
            ("+12025550123", 1),
            ("+35412345678", 354),
        ] {
            assert_eq!(MobileNumber::parse(raw).unwrap().country_code().value(), code, "{raw}");
        }
    }

    #[test]
    fn masked_hides_all_but_last_two_digits() {
        let m = MobileNumber::parse("+4791234567").unwrap();
        assert_eq!(m.masked(), "+47 ••••••67");
        assert!(!format!("{m:?}").contains("912345"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(raw in "\\PC{0,24}") {
            let _ = MobileNumber::parse(&raw);
        }

        #[test]
        fn every_norwegian_mobile_round_trips(first in prop::sample::select(vec!['4', '9']), rest in "[0-9]{7}") {
            let raw = format!("+47{first}{rest}");
            let m = MobileNumber::parse(&raw).unwrap();
            prop_assert_eq!(m.as_e164(), raw.as_str());
            prop_assert_eq!(MobileNumber::parse(m.as_e164()).unwrap(), m.clone());
        }
    }
}
