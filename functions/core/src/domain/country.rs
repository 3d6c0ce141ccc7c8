use std::fmt;

use super::InvalidInput;

/// An ITU-T E.164 country calling code (`47` for Norway, `1` for the NANP, `354` for
/// Iceland). Only the codes the numbering plan can start a number with: a prefix of 1, 2 or 3
/// digits, by the plan's fixed rule for which leading digits take which length.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct CountryCode(u16);

/// The two-digit country codes; every other code under 10 and 99 is one digit (1, 7) or has
/// three digits (E.164 assignment rules, ITU-T E.164 Annex / the list of assigned codes).
const TWO_DIGIT: &[u16] = &[
    20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56, 57, 58, 60, 61, 62,
    63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
];

impl CountryCode {
    pub const NORWAY: Self = Self(47);

    /// `46` or `+46`: a code the plan can start a number with (`4` and `463` are not).
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        const WHAT: InvalidInput = InvalidInput::new(
            "country_code",
            "must be an E.164 country calling code such as 46 or +46",
        );
        let digits = raw.trim().strip_prefix('+').unwrap_or(raw.trim());
        if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(WHAT);
        }
        match Self::leading(digits) {
            Some((code, len)) if len == digits.len() => Ok(code),
            _ => Err(WHAT),
        }
    }

    /// The country code at the start of `digits` (an international number without `+`) and
    /// how many digits it takes.
    pub(crate) fn leading(digits: &str) -> Option<(Self, usize)> {
        let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u16>().ok());
        let first = prefix(1)?;
        if first == 0 {
            return None;
        }
        if first == 1 || first == 7 {
            return Some((Self(first), 1));
        }
        let two = prefix(2)?;
        if TWO_DIGIT.contains(&two) {
            return Some((Self(two), 2));
        }
        prefix(3).map(|three| (Self(three), 3))
    }

    pub fn value(self) -> u16 {
        self.0
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountryCode(+{})", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for CountryCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = u16::deserialize(d)?;
        Self::parse(&raw.to_string()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codes_of_each_length_and_nothing_in_between() {
        for (raw, value) in [
            ("47", 47),
            ("+46", 46),
            ("1", 1),
            ("+7", 7),
            ("354", 354),
            ("+882", 882),
        ] {
            assert_eq!(CountryCode::parse(raw).unwrap().value(), value, "{raw}");
        }
        for raw in ["", "+", "0", "4", "463", "17", "4712", "abc", "+-1", "35"] {
            assert!(CountryCode::parse(raw).is_err(), "{raw:?} accepted");
        }
    }

    #[test]
    fn finds_the_code_at_the_start_of_a_number() {
        for (digits, code, len) in [
            ("4791234567", 47, 2),
            ("46701234567", 46, 2),
            ("12025550123", 1, 1),
            ("35412345678", 354, 3),
            ("88212345678", 882, 3),
        ] {
            assert_eq!(CountryCode::leading(digits), Some((CountryCode(code), len)), "{digits}");
        }
        assert_eq!(CountryCode::leading("0123"), None);
    }

    #[test]
    fn stored_codes_are_checked_like_typed_ones() {
        assert_eq!(serde_json::from_str::<CountryCode>("46").unwrap(), CountryCode(46));
        assert!(serde_json::from_str::<CountryCode>("4").is_err());
        assert_eq!(serde_json::to_string(&CountryCode::NORWAY).unwrap(), "47");
    }
}
