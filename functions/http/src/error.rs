//! The one place where errors become HTTP responses (RFC 9457): every `ServiceError` of the
//! rules and the edge's own body errors get a status and a stable English `code` here.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::problem::Problem;
use portal_core::domain::InvalidInput;
use portal_core::error::ServiceError;
use portal_core::sms::SmsError;
use portal_core::store::StoreError;

/// Everything a request can fail with: a rule's answer, or a body the edge could not read.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("invalid request body: {0}")]
    MalformedBody(String),
    #[error("request body too large")]
    BodyTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
}

impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        Self::Service(e.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::Service(e.into())
    }
}

impl From<SmsError> for ApiError {
    fn from(e: SmsError) -> Self {
        Self::Service(e.into())
    }
}

impl ApiError {
    pub fn problem(&self) -> Problem {
        match self {
            ApiError::Service(e) => service_problem(e),
            ApiError::MalformedBody(detail) => {
                let mut problem = Problem::new(StatusCode::BAD_REQUEST, "malformed_request");
                problem.extra.insert("detail".into(), Value::String(detail.clone()));
                problem
            }
            ApiError::BodyTooLarge => Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            ApiError::UnsupportedMediaType => {
                Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
        }
    }
}

/// The status, `code` and extra members of each rule outcome.
fn service_problem(error: &ServiceError) -> Problem {
    use ServiceError::*;
    let (status, code) = match error {
        Validation(_) => (StatusCode::BAD_REQUEST, "validation_failed"),
        InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
        TooManyAttempts { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
        CodeEntryLocked { .. } => (StatusCode::TOO_MANY_REQUESTS, "code_entry_locked"),
        ResendTooSoon { .. } => (StatusCode::TOO_MANY_REQUESTS, "resend_too_soon"),
        ResendLimit { .. } => (StatusCode::TOO_MANY_REQUESTS, "resend_limit"),
        SmsLimit { .. } => (StatusCode::TOO_MANY_REQUESTS, "sms_limit"),
        InvalidCode { .. } => (StatusCode::BAD_REQUEST, "invalid_code"),
        ChallengeGone => (StatusCode::GONE, "challenge_expired"),
        Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        SessionExpired => (StatusCode::UNAUTHORIZED, "session_expired"),
        RefreshReused => (StatusCode::UNAUTHORIZED, "session_revoked"),
        WeakPassword(_) => (StatusCode::BAD_REQUEST, "weak_password"),
        WrongPassword => (StatusCode::FORBIDDEN, "wrong_password"),
        PasswordChangeRequired => (StatusCode::FORBIDDEN, "password_change_required"),
        Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
        NotFound => (StatusCode::NOT_FOUND, "not_found"),
        Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        SmsUnavailable(_) | SmsBudgetExhausted { .. } => (StatusCode::SERVICE_UNAVAILABLE, "sms_unavailable"),
        SmsCountryNotAllowed { .. } => (StatusCode::FORBIDDEN, "sms_country_not_allowed"),
        StorageUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable"),
        Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        HomeOfficeNotEnabled => (StatusCode::FORBIDDEN, "home_office_not_enabled"),
        BuypassUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "buypass_unavailable"),
        TotpEnrolmentGone => (StatusCode::GONE, "totp_enrolment_expired"),
        TotpNotEnrolled => (StatusCode::NOT_FOUND, "totp_not_enrolled"),
        TotpUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "totp_unavailable"),
        AmbiguousSerial { .. } => (StatusCode::CONFLICT, "ambiguous_serial"),
        PasskeysUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "passkeys_unavailable"),
        PasskeyEnrolmentGone => (StatusCode::GONE, "passkey_enrolment_expired"),
        PasskeyRejected => (StatusCode::BAD_REQUEST, "passkey_rejected"),
        StepUpRequired { .. } => (StatusCode::FORBIDDEN, "step_up_required"),
        NoSecondFactor => (StatusCode::CONFLICT, "no_second_factor"),
        SecondFactorRequired(_) => (StatusCode::FORBIDDEN, "second_factor_required"),
    };
    let mut extra = Map::new();
    let mut retry_after = None;
    match error {
        Validation(e) => {
            extra.insert("errors".into(), json!([{ "field": e.field, "reason": e.reason }]));
        }
        InvalidCode { attempts_left } => {
            extra.insert("attempts_left".into(), json!(attempts_left));
        }
        WeakPassword(reasons) => {
            extra.insert("reasons".into(), json!(reasons));
        }
        SmsCountryNotAllowed { country } => {
            extra.insert("country_code".into(), json!(country.to_string()));
        }
        AmbiguousSerial { issuers } => {
            extra.insert("issuers".into(), json!(issuers));
        }
        StepUpRequired { methods } => {
            extra.insert("methods".into(), json!(methods));
        }
        Forbidden(code) | Conflict(code) => {
            extra.insert("reason".into(), json!(code));
        }
        SecondFactorRequired(request) => {
            extra.insert("methods".into(), json!(request.methods));
            if let Some((id, options)) = &request.passkey {
                extra.insert("passkey_challenge_id".into(), json!(id));
                extra.insert("passkey".into(), json!(options));
            }
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
    let mut problem = Problem::new(status, code);
    problem.extra = extra;
    problem.retry_after = retry_after;
    if let WeakPassword(reasons) = error {
        problem.detail = reasons.iter().map(|r| r.catalogue_key()).collect();
    }
    problem
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Service(ServiceError::Internal(m)) => tracing::error!(error = %m, "internal error"),
            ApiError::Service(ServiceError::StorageUnavailable(m)) => {
                tracing::error!(error = %m, "storage unavailable")
            }
            ApiError::Service(ServiceError::SmsUnavailable(m)) => tracing::error!(error = %m, "sms unavailable"),
            ApiError::Service(ServiceError::TotpUnavailable(m)) => tracing::error!(error = %m, "totp unavailable"),
            _ => {}
        }
        self.problem().into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portal_core::domain::PasswordRejection;
    use portal_core::i18n::{self, Lang};

    /// One of each variant. The match below stops compiling when a variant is added, so the
    /// list (and the catalogues) cannot silently fall behind.
    fn one_of_each() -> Vec<ApiError> {
        use ServiceError::*;
        let all = vec![
            Validation(InvalidInput::new("code", "x")),
            InvalidCredentials,
            TooManyAttempts { retry_after: 1 },
            CodeEntryLocked { retry_after: 1 },
            ResendTooSoon { retry_after: 1 },
            ResendLimit { retry_after: 1 },
            SmsLimit { retry_after: 1 },
            InvalidCode { attempts_left: 1 },
            ChallengeGone,
            Unauthenticated,
            SessionExpired,
            RefreshReused,
            WeakPassword(PasswordRejection::ALL.to_vec()),
            WrongPassword,
            PasswordChangeRequired,
            Forbidden("x"),
            NotFound,
            Conflict("x"),
            SmsUnavailable("x".into()),
            SmsBudgetExhausted { retry_after: 1 },
            SmsCountryNotAllowed {
                country: portal_core::domain::CountryCode::parse("46").unwrap(),
            },
            StorageUnavailable("x".into()),
            Internal("x".into()),
            HomeOfficeNotEnabled,
            BuypassUnavailable,
            TotpEnrolmentGone,
            TotpNotEnrolled,
            TotpUnavailable("x"),
            AmbiguousSerial { issuers: 2 },
            PasskeysUnavailable,
            PasskeyEnrolmentGone,
            PasskeyRejected,
            StepUpRequired {
                methods: vec!["passkey", "totp"],
            },
            NoSecondFactor,
            SecondFactorRequired(Box::new(portal_core::error::SecondFactorRequest {
                methods: vec!["totp", "recovery_code"],
                passkey: None,
            })),
        ];
        for e in &all {
            match e {
                Validation(_)
                | InvalidCredentials
                | TooManyAttempts { .. }
                | CodeEntryLocked { .. }
                | ResendTooSoon { .. }
                | ResendLimit { .. }
                | SmsLimit { .. }
                | InvalidCode { .. }
                | ChallengeGone
                | Unauthenticated
                | SessionExpired
                | RefreshReused
                | WeakPassword(_)
                | WrongPassword
                | PasswordChangeRequired
                | Forbidden(_)
                | NotFound
                | Conflict(_)
                | SmsUnavailable(_)
                | SmsBudgetExhausted { .. }
                | SmsCountryNotAllowed { .. }
                | StorageUnavailable(_)
                | Internal(_)
                | PasskeysUnavailable
                | PasskeyEnrolmentGone
                | PasskeyRejected
                | StepUpRequired { .. }
                | NoSecondFactor
                | SecondFactorRequired(_)
                | HomeOfficeNotEnabled
                | BuypassUnavailable
                | TotpEnrolmentGone
                | TotpNotEnrolled
                | TotpUnavailable(_)
                | AmbiguousSerial { .. } => {}
            }
        }
        let edge = [
            ApiError::MalformedBody("x".into()),
            ApiError::BodyTooLarge,
            ApiError::UnsupportedMediaType,
        ];
        for e in &edge {
            match e {
                ApiError::Service(_)
                | ApiError::MalformedBody(_)
                | ApiError::BodyTooLarge
                | ApiError::UnsupportedMediaType => {}
            }
        }
        edge.into_iter().chain(all.into_iter().map(ApiError::from)).collect()
    }

    #[test]
    fn every_problem_has_a_title_and_detail_in_every_language() {
        let mut codes = vec!["method_not_allowed"];
        for e in one_of_each() {
            let problem = e.problem();
            codes.push(problem.code);
            for key in &problem.detail {
                assert!(i18n::has_key(key), "detail key {key} is missing from a catalogue");
            }
            let titles: Vec<String> = Lang::ALL
                .iter()
                .map(|l| problem.body(*l)["title"].as_str().unwrap_or_default().to_owned())
                .collect();
            assert!(
                titles.iter().all(|t| !t.is_empty() && t != problem.code),
                "{}: {titles:?}",
                problem.code
            );
        }
        for code in codes {
            assert!(i18n::has_key(code), "{code} is missing from a catalogue");
        }
    }
}
