use super::InvalidInput;

/// A certificate serial number in its one canonical spelling: upper-case hex, no separators,
/// the minimal number of whole bytes (leading zero bytes dropped, at least one byte).
///
/// `parse` accepts what people and tools print (`0a:1b:…`, `0A 1B`, lower case, a DER
/// sign byte `00…`) and turns it into the canonical form, so two spellings of the same
/// number are the same serial. RFC 5280 caps serials at 20 octets.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct CertificateSerial(String);

impl CertificateSerial {
    /// RFC 5280 §4.1.2.2: at most 20 octets.
    pub const MAX_BYTES: usize = 20;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.len() > 128 {
            return Err(InvalidInput::new("serial_number", "is too long"));
        }
        let mut digits = String::with_capacity(raw.len());
        for c in raw.trim().chars() {
            match c {
                ':' | ' ' | '-' => {}
                c if c.is_ascii_hexdigit() => digits.push(c.to_ascii_uppercase()),
                _ => return Err(InvalidInput::new("serial_number", "must be hexadecimal")),
            }
        }
        if digits.is_empty() {
            return Err(InvalidInput::new("serial_number", "is empty"));
        }
        let significant = digits.trim_start_matches('0');
        let canonical = match significant.len() {
            0 => "00".to_owned(),
            n if n % 2 == 1 => format!("0{significant}"),
            _ => significant.to_owned(),
        };
        if canonical.len() > Self::MAX_BYTES * 2 {
            return Err(InvalidInput::new("serial_number", "is longer than 20 bytes"));
        }
        Ok(Self(canonical))
    }

    /// From the big-endian magnitude bytes of a certificate's serial (a DER sign byte is
    /// dropped like any other leading zero).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InvalidInput> {
        Self::parse(&crate::security::hex_encode(bytes))
    }
}

parsed_string!(CertificateSerial);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spellings_of_one_number_are_one_serial() {
        let canonical = CertificateSerial::parse("0A1B2C").unwrap();
        assert_eq!(canonical.as_str(), "0A1B2C");
        for spelling in ["0a:1b:2c", "00:0A:1B:2C", "a1b2c", " 0A 1B 2C ", "0a-1b-2c"] {
            assert_eq!(CertificateSerial::parse(spelling).unwrap(), canonical, "{spelling}");
        }
        assert_eq!(
            CertificateSerial::from_bytes(&[0x00, 0x8F, 0x01]).unwrap().as_str(),
            "8F01"
        );
        assert_eq!(CertificateSerial::parse("0").unwrap().as_str(), "00");
    }

    #[test]
    fn rejects_what_is_not_a_serial() {
        for bad in ["", " ", "xyz", "12G4", "0x1234", "12;drop", &"A".repeat(41), "ÆØ"] {
            assert!(CertificateSerial::parse(bad).is_err(), "{bad:?} accepted");
        }
        // 20 bytes is the limit, a DER sign byte in front of it is not counted.
        assert!(CertificateSerial::parse(&format!("00{}", "F".repeat(40))).is_ok());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_output_is_canonical(raw in ".{0,60}") {
            if let Ok(s) = CertificateSerial::parse(&raw) {
                prop_assert_eq!(CertificateSerial::parse(s.as_str()).unwrap(), s.clone());
                prop_assert!(s.as_str().len() % 2 == 0 && s.as_str().len() <= 40);
                prop_assert!(s.as_str().bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
                prop_assert!(s.as_str() == "00" || !s.as_str().starts_with("00"));
            }
        }

        #[test]
        fn bytes_and_their_printed_forms_agree(bytes in proptest::collection::vec(any::<u8>(), 1..=20)) {
            let from_bytes = CertificateSerial::from_bytes(&bytes).unwrap();
            let colon = bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
            prop_assert_eq!(CertificateSerial::parse(&colon).unwrap(), from_bytes.clone());
            let lower = crate::security::hex_encode(&bytes);
            prop_assert_eq!(CertificateSerial::parse(&lower).unwrap(), from_bytes);
        }
    }
}
