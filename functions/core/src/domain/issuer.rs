use super::InvalidInput;

/// Which CA's serial number space a certificate serial belongs to: the lowercase hex SHA-256
/// of the DER encoding of the certificate's issuer Name.
///
/// RFC 5280 §4.1.2.2 makes a serial unique per issuer *name* (not per CA key), so the name is
/// the namespace: a CA that re-keys keeps its name and its serials, and a gateway can compute
/// the id from any client certificate it sees (the issuer field is always present, the
/// authority key identifier extension is not).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct IssuerId(String);

impl IssuerId {
    /// Hex digits of a SHA-256.
    pub const LEN: usize = 64;

    /// From the DER bytes of an issuer Name (`Certificate.tbsCertificate.issuer`).
    pub fn from_issuer_der(der: &[u8]) -> Self {
        use sha2::Digest;
        Self(crate::security::hex_encode(&sha2::Sha256::digest(der)))
    }

    /// Accepts exactly 64 hex digits; upper case is folded to the canonical lower case.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.len() != Self::LEN || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidInput::new(
                "issuer_id",
                "must be the 64 hex digits of the SHA-256 of the issuer name",
            ));
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }
}

parsed_string!(IssuerId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_lowercase_hex_of_the_sha256() {
        let id = IssuerId::from_issuer_der(b"abc");
        assert_eq!(
            id.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(IssuerId::parse(&id.as_str().to_ascii_uppercase()).unwrap(), id);
    }

    #[test]
    fn rejects_what_is_not_an_issuer_id() {
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(63), &"a".repeat(65), "SERIAL#x"] {
            assert!(IssuerId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
