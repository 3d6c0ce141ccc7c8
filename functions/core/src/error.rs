//! The outcomes of the rules that are not a success: one enum for the core layer. The web edge
//! (`portal_http::error`) maps each variant to an RFC 9457 problem in one place.

use crate::domain::{InvalidInput, PasswordRejection};
use crate::sms::SmsError;
use crate::store::StoreError;

/// What a rule can answer besides success. Each variant is one outcome a caller can act on;
/// `portal-http` gives each a status and a stable `code` (its `error` module), the only place
/// that knows HTTP.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid input: {0}")]
    Validation(InvalidInput),
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("too many attempts")]
    TooManyAttempts { retry_after: u64 },
    #[error("code entry locked")]
    CodeEntryLocked { retry_after: u64 },
    #[error("resend too soon")]
    ResendTooSoon { retry_after: u64 },
    #[error("resend limit reached")]
    ResendLimit { retry_after: u64 },
    #[error("sms limit reached")]
    SmsLimit { retry_after: u64 },
    #[error("wrong code")]
    InvalidCode { attempts_left: u32 },
    #[error("challenge expired or used")]
    ChallengeGone,
    #[error("authentication required")]
    Unauthenticated,
    #[error("session expired")]
    SessionExpired,
    #[error("refresh token reused")]
    RefreshReused,
    #[error("weak password")]
    WeakPassword(Vec<PasswordRejection>),
    #[error("wrong password")]
    WrongPassword,
    #[error("password change required")]
    PasswordChangeRequired,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("sms unavailable: {0}")]
    SmsUnavailable(String),
    /// The hour's SMS budget for anonymous requests (forgot password) is used up.
    #[error("sms budget exhausted")]
    SmsBudgetExhausted { retry_after: u64 },
    /// The number is outside Norway and no operator allowed its country for the account
    /// (`portal-admin allow-country`): no code or notice is texted there.
    #[error("sms to country {country} not allowed")]
    SmsCountryNotAllowed { country: crate::domain::CountryCode },
    #[error("storage unavailable: {0}")]
    StorageUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("account not enabled for home office")]
    HomeOfficeNotEnabled,
    #[error("Buypass unavailable")]
    BuypassUnavailable,
    #[error("no authenticator app setup in progress")]
    TotpEnrolmentGone,
    #[error("no authenticator app registered")]
    TotpNotEnrolled,
    #[error("authenticator apps unavailable: {0}")]
    TotpUnavailable(&'static str),
    #[error("passkeys unavailable")]
    PasskeysUnavailable,
    #[error("no passkey enrolment in progress")]
    PasskeyEnrolmentGone,
    /// The authenticator's answer to an enrolment did not verify.
    #[error("passkey rejected")]
    PasskeyRejected,
    /// The change needs a fresh second factor (`POST /v1/account/step-up`) with one of
    /// `methods` (`passkey`, `totp`), besides the password.
    #[error("step-up required")]
    StepUpRequired { methods: Vec<&'static str> },
    /// A step-up was asked of an account that has no authenticator app and no passkey.
    #[error("no second factor to step up with")]
    NoSecondFactor,
    /// A password reset of an account with a passkey or an authenticator app: the SMS code
    /// was right (and is still unused), and one of `methods` must come with it.
    #[error("second factor required")]
    SecondFactorRequired(Box<SecondFactorRequest>),
    /// The gateway's serial-only lookup found the serial under more than one issuer.
    #[error("serial registered under {issuers} issuers")]
    AmbiguousSerial { issuers: usize },
}

/// What a password reset needs besides the SMS code (`second_factor_required`).
#[derive(Debug)]
pub struct SecondFactorRequest {
    /// A subset of `passkey`, `totp`, `recovery_code`, in that order.
    pub methods: Vec<&'static str>,
    /// When the account has passkeys: the id to answer with and the request options for
    /// `navigator.credentials.get` (single use, for the code's lifetime).
    pub passkey: Option<(
        crate::domain::ChallengeId,
        webauthn_rs::prelude::RequestChallengeResponse,
    )>,
}

impl From<InvalidInput> for ServiceError {
    fn from(e: InvalidInput) -> Self {
        Self::Validation(e)
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => Self::StorageUnavailable(m),
            // A condition that still fails after the repositories' retries means a race the
            // caller lost; it may simply try again.
            StoreError::ConditionFailed => Self::Conflict("concurrent_update"),
            StoreError::Corrupt(m) => Self::Internal(m),
        }
    }
}

impl From<SmsError> for ServiceError {
    fn from(e: SmsError) -> Self {
        Self::SmsUnavailable(e.to_string())
    }
}
