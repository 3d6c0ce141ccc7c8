//! Types that can only hold valid values. Parse untrusted input into these at the edge;
//! everything past the edge can rely on them.

/// The shared surface of a string newtype whose only constructor is `parse`: `as_str`,
/// `Display` (the canonical text), `Debug` (`Name(text)`), and `Deserialize` through `parse`, so
/// a stored or received value is checked exactly like typed input.
macro_rules! parsed_string {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

mod country;
mod ids;
mod issuer;
mod mobile;
mod network;
mod one_time_code;
mod passkey_name;
mod password;
mod recovery_code;
mod serial;
mod username;

pub use country::CountryCode;
pub use ids::{ChallengeId, PasskeyId, SessionId};
pub use issuer::IssuerId;
pub use mobile::MobileNumber;
pub use network::MaskedNetwork;
pub use one_time_code::OneTimeCode;
pub use passkey_name::PasskeyName;
pub use password::{common_password_count, NewPassword, Password, PasswordRejection};
pub use recovery_code::{RecoveryCode, RECOVERY_CODE_LEN};
pub use serial::CertificateSerial;
pub use username::Username;

/// Why a piece of input was refused. The message is safe to show to the user who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidInput {
    pub field: &'static str,
    pub reason: &'static str,
}

impl InvalidInput {
    pub const fn new(field: &'static str, reason: &'static str) -> Self {
        Self { field, reason }
    }
}
