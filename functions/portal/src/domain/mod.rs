//! Types that can only hold valid values. Parse untrusted input into these at the edge;
//! everything past the edge can rely on them.

mod ids;
mod issuer;
mod mobile;
mod password;
mod serial;
mod sms_code;
mod username;

pub use ids::{ChallengeId, SessionId};
pub use issuer::IssuerId;
pub use mobile::MobileNumber;
pub use password::{common_password_count, NewPassword, Password, PasswordRejection};
pub use serial::CertificateSerial;
pub use sms_code::SmsCode;
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
