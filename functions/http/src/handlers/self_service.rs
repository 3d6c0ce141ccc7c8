//! Account self-service: password change, phone change (`account` function), and forgot /
//! reset password (`login` function).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::no_store;
use crate::auth::{Authenticated, AuthenticatedEvenIfPasswordChangeRequired};
use crate::error::ApiError;
use crate::extract::{ClientIp, JsonBody};
use portal_core::app::SharedApp;
use portal_core::domain::{ChallengeId, InvalidInput, OneTimeCode, Password, RecoveryCode};
use portal_core::services::reset_factor::ResetFactor;
use webauthn_rs::prelude::PublicKeyCredential;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub old_password: Password,
    pub new_password: Password,
}

/// `PUT /v1/account/password`; with the step-up routes, the only account routes a session
/// with a pending password change may use.
pub async fn change_password(
    State(app): State<SharedApp>,
    ip: ClientIp,
    AuthenticatedEvenIfPasswordChangeRequired(caller): AuthenticatedEvenIfPasswordChangeRequired,
    JsonBody(req): JsonBody<ChangePasswordRequest>,
) -> Result<Response, ApiError> {
    app.change_password(&caller, &req.old_password, req.new_password, ip.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneChangeRequest {
    /// Parsed by the service, so a bad number is a 400 naming the field and the reason.
    pub new_mobile: String,
    pub password: Password,
}

pub async fn start_phone_change(
    State(app): State<SharedApp>,
    ip: ClientIp,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<PhoneChangeRequest>,
) -> Result<Response, ApiError> {
    let issued = app
        .start_phone_change(&caller, &req.new_mobile, &req.password, ip.as_deref())
        .await?;
    Ok(no_store(Json(issued)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneChangeConfirmation {
    pub challenge_id: ChallengeId,
    pub code: String,
}

pub async fn confirm_phone_change(
    State(app): State<SharedApp>,
    ip: ClientIp,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<PhoneChangeConfirmation>,
) -> Result<Response, ApiError> {
    let code = OneTimeCode::parse(&req.code)?;
    app.confirm_phone_change(&caller, &req.challenge_id, &code, ip.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    /// Any string: a malformed name is answered like an unknown one.
    pub username: String,
}

pub async fn forgot_password(
    State(app): State<SharedApp>,
    ip: ClientIp,
    JsonBody(req): JsonBody<ForgotPasswordRequest>,
) -> Result<Response, ApiError> {
    let challenge_id = app.forgot_password(&req.username, ip.as_deref()).await?;
    Ok(no_store((
        StatusCode::ACCEPTED,
        Json(json!({ "challenge_id": challenge_id })),
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    pub challenge_id: ChallengeId,
    pub code: String,
    pub new_password: Password,
    /// The second factor of an account with a passkey or an authenticator app (at most one):
    /// an app code, a recovery code, or a passkey's answer to `passkey_challenge_id`.
    #[serde(default)]
    pub totp_code: Option<String>,
    #[serde(default)]
    pub recovery_code: Option<String>,
    #[serde(default)]
    pub passkey_challenge_id: Option<ChallengeId>,
    /// The browser's `PublicKeyCredential` from `navigator.credentials.get`, as JSON.
    #[serde(default)]
    pub credential: Option<Box<PublicKeyCredential>>,
}

impl ResetPasswordRequest {
    /// The factor the request brings, if any; more than one, or half a passkey answer, is a
    /// malformed field.
    fn factor(&mut self) -> Result<Option<ResetFactor>, InvalidInput> {
        const ONE: &str = "give at most one of totp_code, recovery_code, passkey_challenge_id with credential";
        let passkey = match (self.passkey_challenge_id.take(), self.credential.take()) {
            (Some(challenge_id), Some(credential)) => Some(ResetFactor::Passkey {
                challenge_id,
                credential,
            }),
            (None, None) => None,
            (Some(_), None) => return Err(InvalidInput::new("credential", "is required with passkey_challenge_id")),
            (None, Some(_)) => return Err(InvalidInput::new("passkey_challenge_id", "is required with credential")),
        };
        let totp = self
            .totp_code
            .as_deref()
            .map(|c| OneTimeCode::parse(c).map_err(|_| InvalidInput::new("totp_code", "must be 6 digits")))
            .transpose()?
            .map(ResetFactor::Totp);
        let recovery = self
            .recovery_code
            .as_deref()
            .map(|c| RecoveryCode::parse_field(c, "recovery_code"))
            .transpose()?
            .map(ResetFactor::RecoveryCode);
        let mut given = [passkey, totp, recovery].into_iter().flatten();
        let factor = given.next();
        if given.next().is_some() {
            return Err(InvalidInput::new("second_factor", ONE));
        }
        Ok(factor)
    }
}

/// `POST /v1/auth/password/reset`: 204, or 403 `second_factor_required` (with `methods` and
/// for passkeys `passkey_challenge_id` and `passkey`) when the account has a passkey or an app
/// and the request brought no factor.
pub async fn reset_password(
    State(app): State<SharedApp>,
    ip: ClientIp,
    JsonBody(mut req): JsonBody<ResetPasswordRequest>,
) -> Result<Response, ApiError> {
    let code = OneTimeCode::parse(&req.code)?;
    let factor = req.factor()?;
    app.reset_password(
        &req.challenge_id,
        &code,
        req.new_password,
        factor.as_ref(),
        ip.as_deref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
