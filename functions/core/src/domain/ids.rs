use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

use super::InvalidInput;

/// 128 random bits, base64url without padding (22 characters).
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn parse_id(raw: &str, field: &'static str) -> Result<String, InvalidInput> {
    let ok = raw.len() == 22 && URL_SAFE_NO_PAD.decode(raw).map(|b| b.len() == 16).unwrap_or(false);
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(InvalidInput::new(field, "is not a valid identifier"))
    }
}

macro_rules! random_id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn generate() -> Self {
                Self(random_id())
            }

            pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
                parse_id(raw, $field).map(Self)
            }
        }

        parsed_string!($name);
    };
}

random_id_type!(
    /// Names one SMS/TOTP challenge. Unguessable, so it can travel in request bodies.
    ChallengeId,
    "challenge_id"
);
random_id_type!(
    /// Names one login session. Appears in access tokens (`sid`) and in the refresh cookie.
    SessionId,
    "session_id"
);
random_id_type!(
    /// Names one of an account's passkeys (in `DELETE /v1/account/passkeys/{id}`); ours, not
    /// the authenticator's credential id, which is long and not chosen by us.
    PasskeyId,
    "id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_differ() {
        let a = ChallengeId::generate();
        let b = ChallengeId::generate();
        assert_ne!(a, b);
        assert_eq!(ChallengeId::parse(a.as_str()).unwrap(), a);
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in [
            "",
            "short",
            "AAAAAAAAAAAAAAAAAAAAA!",
            &"A".repeat(23),
            "../../etc/passwd......",
        ] {
            assert!(SessionId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
