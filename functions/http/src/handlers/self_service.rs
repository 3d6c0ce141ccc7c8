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
use portal_core::domain::{ChallengeId, OneTimeCode, Password};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub old_password: Password,
    pub new_password: Password,
}

/// `PUT /v1/account/password`; the one account route a session with a pending password
/// change may use.
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
}

pub async fn reset_password(
    State(app): State<SharedApp>,
    ip: ClientIp,
    JsonBody(req): JsonBody<ResetPasswordRequest>,
) -> Result<Response, ApiError> {
    let code = OneTimeCode::parse(&req.code)?;
    app.reset_password(&req.challenge_id, &code, req.new_password, ip.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
