//! Authenticator app (TOTP): `/v1/account/totp*` (enrol, confirm, status, remove) and
//! `/v1/auth/totp/verify` (the login step that answers a challenge with an app code).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::no_store;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::extract::{ClientIp, JsonBody};
use portal_core::app::SharedApp;
use portal_core::clock::rfc3339;
use portal_core::domain::{ChallengeId, OneTimeCode, Password};
use portal_core::services::sessions::LoginFactor;

/// `{password}`: re-authentication before a sensitive change (also the Buypass start's body).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    pub password: Password,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    pub code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub challenge_id: ChallengeId,
    pub code: String,
}

/// `GET /v1/account/totp`
pub async fn status(State(app): State<SharedApp>, Authenticated(caller): Authenticated) -> Result<Response, ApiError> {
    let status = app.totp_status(&caller.username).await?;
    Ok(no_store(Json(json!({
        "enabled": status.enabled,
        "enabled_at": status.enabled_at.map(rfc3339),
        "pending": status.pending,
    }))))
}

/// `POST /v1/account/totp`
pub async fn start(
    State(app): State<SharedApp>,
    ip: ClientIp,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<PasswordRequest>,
) -> Result<Response, ApiError> {
    let enrolment = app
        .start_totp_enrolment(&caller.username, caller.second_factor_at, &req.password, ip.as_deref())
        .await?;
    Ok(no_store(Json(enrolment)))
}

/// `POST /v1/account/totp/confirm`
pub async fn confirm(
    State(app): State<SharedApp>,
    ip: ClientIp,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<ConfirmRequest>,
) -> Result<Response, ApiError> {
    let code = OneTimeCode::parse(&req.code)?;
    app.confirm_totp_enrolment(&caller.username, caller.second_factor_at, &code, ip.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /v1/account/totp`
pub async fn remove(
    State(app): State<SharedApp>,
    ip: ClientIp,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<PasswordRequest>,
) -> Result<Response, ApiError> {
    app.remove_totp(&caller.username, caller.second_factor_at, &req.password, ip.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v1/auth/totp/verify`: like `/v1/auth/sms/verify`, with a code from the app.
pub async fn verify(
    State(app): State<SharedApp>,
    ip: ClientIp,
    headers: axum::http::HeaderMap,
    JsonBody(req): JsonBody<VerifyRequest>,
) -> Result<Response, ApiError> {
    let code = OneTimeCode::parse(&req.code)?;
    let challenge = app.verify_totp(&req.challenge_id, &code, ip.as_deref()).await?;
    super::security::open_login(&app, &challenge, LoginFactor::Totp, &ip, &headers).await
}
