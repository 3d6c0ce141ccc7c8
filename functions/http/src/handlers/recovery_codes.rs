//! Recovery codes (issue 17): `/v1/account/recovery-codes` (generate, status; `account`) and
//! `/v1/auth/recovery-code/verify` (the login step that answers a challenge with one;
//! `sms-code`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::no_store;
use super::totp::PasswordRequest;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::extract::{ClientIp, JsonBody};
use portal_core::app::SharedApp;
use portal_core::clock::rfc3339;
use portal_core::domain::{ChallengeId, RecoveryCode};
use portal_core::services::sessions::LoginFactor;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub challenge_id: ChallengeId,
    pub code: String,
}

/// `GET /v1/account/recovery-codes`: `{remaining, created_at}` (never the codes).
pub async fn status(State(app): State<SharedApp>, Authenticated(caller): Authenticated) -> Result<Response, ApiError> {
    let status = app.recovery_codes_status(&caller.username).await?;
    Ok(no_store(Json(json!({
        "remaining": status.remaining,
        "created_at": status.created_at.map(rfc3339),
    }))))
}

/// `POST /v1/account/recovery-codes` `{password}`: 201 with the ten new codes, shown this once.
pub async fn generate(
    State(app): State<SharedApp>,
    ip: ClientIp,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<PasswordRequest>,
) -> Result<Response, ApiError> {
    let generated = app
        .generate_recovery_codes(&caller.username, caller.second_factor_at, &req.password, ip.as_deref())
        .await?;
    let body = json!({ "codes": generated.codes, "created_at": rfc3339(generated.created_at) });
    Ok((StatusCode::CREATED, no_store(Json(body))).into_response())
}

/// `POST /v1/auth/recovery-code/verify`: like `/v1/auth/totp/verify`, with a recovery code.
pub async fn verify(
    State(app): State<SharedApp>,
    ip: ClientIp,
    headers: HeaderMap,
    JsonBody(req): JsonBody<VerifyRequest>,
) -> Result<Response, ApiError> {
    let code = RecoveryCode::parse(&req.code)?;
    let challenge = app
        .verify_recovery_code(&req.challenge_id, &code, ip.as_deref())
        .await?;
    // A recovery code stands in for the passkey or app: the session starts with a fresh
    // second factor, as after those.
    super::security::open_login(&app, &challenge, LoginFactor::RecoveryCode, &ip, &headers).await
}
