//! The API's errors, and the one place where they become HTTP responses (RFC 9457).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::domain::{InvalidInput, PasswordRejection};
use crate::http::problem::Problem;
use crate::sms::SmsError;
use crate::store::StoreError;

/// Everything a request can fail with. Each variant has a stable English `code`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request body: {0}")]
    MalformedBody(String),
    #[error("request body too large")]
    BodyTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
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
    /// The gateway's serial-only lookup found the serial under more than one issuer.
    #[error("serial registered under {issuers} issuers")]
    AmbiguousSerial { issuers: usize },
}

impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        Self::Validation(e)
    }
}

impl From<StoreError> for ApiError {
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

impl From<SmsError> for ApiError {
    fn from(e: SmsError) -> Self {
        Self::SmsUnavailable(e.to_string())
    }
}

impl ApiError {
    pub fn problem(&self) -> Problem {
        use ApiError::*;
        let (status, code, no, en) = match self {
            MalformedBody(_) => (
                StatusCode::BAD_REQUEST,
                "malformed_request",
                "Ugyldig forespørsel.",
                "The request is malformed.",
            ),
            BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "Forespørselen er for stor.",
                "The request body is too large.",
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Forespørselen må være JSON.",
                "The request body must be JSON.",
            ),
            Validation(_) => (
                StatusCode::BAD_REQUEST,
                "validation_failed",
                "Ugyldig verdi i skjemaet.",
                "A field has an invalid value.",
            ),
            InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Feil brukernavn eller passord.",
                "Wrong username or password.",
            ),
            TooManyAttempts { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "For mange forsøk. Vent litt og prøv igjen.",
                "Too many attempts. Wait a little and try again.",
            ),
            CodeEntryLocked { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "code_entry_locked",
                "For mange feil koder. Kodeinnlegging er sperret en stund.",
                "Too many wrong codes. Code entry is locked for a while.",
            ),
            ResendTooSoon { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "resend_too_soon",
                "Vent litt før du ber om en ny kode.",
                "Wait a little before asking for a new code.",
            ),
            ResendLimit { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "resend_limit",
                "Du har bedt om for mange nye koder. Logg inn på nytt senere.",
                "Too many new codes requested. Log in again later.",
            ),
            SmsLimit { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "sms_limit",
                "Det er sendt for mange SMS. Prøv igjen senere.",
                "Too many text messages have been sent. Try again later.",
            ),
            InvalidCode { .. } => (StatusCode::BAD_REQUEST, "invalid_code", "Feil kode.", "Wrong code."),
            ChallengeGone => (
                StatusCode::GONE,
                "challenge_expired",
                "Koden er utløpt eller brukt. Start på nytt.",
                "The code has expired or been used. Start again.",
            ),
            Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Du må logge inn.",
                "You must log in.",
            ),
            SessionExpired => (
                StatusCode::UNAUTHORIZED,
                "session_expired",
                "Økten er utløpt. Logg inn på nytt.",
                "The session has expired. Log in again.",
            ),
            RefreshReused => (
                StatusCode::UNAUTHORIZED,
                "session_revoked",
                "Økten er avsluttet av sikkerhetshensyn. Logg inn på nytt.",
                "The session was ended for security reasons. Log in again.",
            ),
            WeakPassword(_) => (
                StatusCode::BAD_REQUEST,
                "weak_password",
                "Passordet oppfyller ikke kravene.",
                "The password does not meet the requirements.",
            ),
            WrongPassword => (
                StatusCode::FORBIDDEN,
                "wrong_password",
                "Feil passord.",
                "Wrong password.",
            ),
            PasswordChangeRequired => (
                StatusCode::FORBIDDEN,
                "password_change_required",
                "Du må bytte passord før du kan fortsette.",
                "You must change your password before you continue.",
            ),
            Forbidden(_) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Du har ikke tilgang til dette.",
                "You do not have access to this.",
            ),
            NotFound => (StatusCode::NOT_FOUND, "not_found", "Fant ikke ressursen.", "Not found."),
            Conflict(_) => (
                StatusCode::CONFLICT,
                "conflict",
                "Noe ble endret samtidig. Prøv igjen.",
                "Something changed at the same time. Try again.",
            ),
            SmsUnavailable(_) | SmsBudgetExhausted { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "sms_unavailable",
                "Vi får ikke sendt SMS akkurat nå. Prøv igjen om litt.",
                "Text messages cannot be sent right now. Try again shortly.",
            ),
            StorageUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "Tjenesten er midlertidig utilgjengelig. Prøv igjen om litt.",
                "The service is temporarily unavailable. Try again shortly.",
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Noe gikk galt hos oss.",
                "Something went wrong on our side.",
            ),
            HomeOfficeNotEnabled => (
                StatusCode::FORBIDDEN,
                "home_office_not_enabled",
                "Kontoen din er ikke aktivert for hjemmekontorløsningen.",
                "Your account is not activated for the home-office service.",
            ),
            BuypassUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "buypass_unavailable",
                "Vi får ikke kontakt med Buypass akkurat nå. Prøv igjen om litt.",
                "Buypass cannot be reached right now. Try again shortly.",
            ),
            TotpEnrolmentGone => (
                StatusCode::GONE,
                "totp_enrolment_expired",
                "Registreringen av autentiseringsappen er utløpt eller avbrutt. Start på nytt.",
                "The authenticator app setup has expired or was cancelled. Start again.",
            ),
            TotpNotEnrolled => (
                StatusCode::NOT_FOUND,
                "totp_not_enrolled",
                "Du har ingen autentiseringsapp registrert.",
                "No authenticator app is registered.",
            ),
            TotpUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "totp_unavailable",
                "Autentiseringsapp kan ikke brukes akkurat nå. Bruk SMS-kode.",
                "Authenticator apps cannot be used right now. Use an SMS code.",
            ),
            AmbiguousSerial { .. } => (
                StatusCode::CONFLICT,
                "ambiguous_serial",
                "Serienummeret er registrert hos flere utstedere. Slå opp med utsteder og serienummer.",
                "The serial is registered under more than one issuer. Look it up by issuer and serial.",
            ),
        };
        let mut extra = Map::new();
        let mut retry_after = None;
        match self {
            Validation(e) => {
                extra.insert("errors".into(), json!([{ "field": e.field, "reason": e.reason }]));
            }
            MalformedBody(detail) => {
                extra.insert("detail".into(), Value::String(detail.clone()));
            }
            InvalidCode { attempts_left } => {
                extra.insert("attempts_left".into(), json!(attempts_left));
            }
            WeakPassword(reasons) => {
                extra.insert("reasons".into(), json!(reasons));
            }
            AmbiguousSerial { issuers } => {
                extra.insert("issuers".into(), json!(issuers));
            }
            Forbidden(code) | Conflict(code) => {
                extra.insert("reason".into(), json!(code));
            }
            TooManyAttempts { retry_after: r }
            | CodeEntryLocked { retry_after: r }
            | ResendTooSoon { retry_after: r }
            | ResendLimit { retry_after: r }
            | SmsLimit { retry_after: r }
            | SmsBudgetExhausted { retry_after: r } => {
                retry_after = Some((*r).max(1));
            }
            _ => {}
        }
        if let Some(r) = retry_after {
            extra.insert("retry_after".into(), json!(r));
        }
        let mut problem = Problem::new(status, code, no, en);
        problem.extra = extra;
        problem.retry_after = retry_after;
        if let WeakPassword(reasons) = self {
            problem.detail_no = Some(reasons.iter().map(|r| r.norwegian()).collect::<Vec<_>>().join(" "));
            problem.detail_en = Some(reasons.iter().map(|r| r.english()).collect::<Vec<_>>().join(" "));
        }
        problem
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(m) => tracing::error!(error = %m, "internal error"),
            ApiError::StorageUnavailable(m) => tracing::error!(error = %m, "storage unavailable"),
            ApiError::SmsUnavailable(m) => tracing::error!(error = %m, "sms unavailable"),
            ApiError::TotpUnavailable(m) => tracing::error!(error = %m, "totp unavailable"),
            _ => {}
        }
        self.problem().into_response()
    }
}
