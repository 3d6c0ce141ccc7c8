//! Passkeys: `/v1/account/passkeys*` (enrol, confirm, list, remove) and
//! `/v1/auth/passkey/verify` (the login step that answers a challenge with a passkey).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::auth::no_store;
use super::totp::PasswordRequest;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::extract::{ClientIp, JsonBody};
use portal_core::app::SharedApp;
use portal_core::clock::rfc3339;
use portal_core::domain::{ChallengeId, PasskeyId, PasskeyName};
use portal_core::error::ServiceError;
use portal_core::services::devices::DeviceId;
use portal_core::services::login_verify::LoginAnswer;
use portal_core::services::passkeys::PasskeySummary;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    pub registration_id: ChallengeId,
    pub name: String,
    /// The browser's `PublicKeyCredential` from `navigator.credentials.create`, as JSON.
    pub credential: RegisterPublicKeyCredential,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub challenge_id: ChallengeId,
    /// The browser's `PublicKeyCredential` from `navigator.credentials.get`, as JSON.
    pub credential: PublicKeyCredential,
}

fn summary(p: &PasskeySummary) -> serde_json::Value {
    json!({
        "id": p.id,
        "name": p.name,
        "created_at": rfc3339(p.created_at),
        "last_used_at": p.last_used_at.map(rfc3339),
    })
}

/// `GET /v1/account/passkeys`
pub async fn list(State(app): State<SharedApp>, Authenticated(caller): Authenticated) -> Result<Response, ApiError> {
    let passkeys = app.list_passkeys(&caller.username).await?;
    let passkeys: Vec<_> = passkeys.iter().map(summary).collect();
    Ok(no_store(Json(json!({ "passkeys": passkeys }))))
}

/// `POST /v1/account/passkeys`
pub async fn start(
    State(app): State<SharedApp>,
    ip: ClientIp,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<PasswordRequest>,
) -> Result<Response, ApiError> {
    let enrolment = app
        .start_passkey_enrolment(&caller.username, caller.second_factor_at, &req.password, ip.as_deref())
        .await?;
    Ok(no_store(Json(enrolment)))
}

/// `POST /v1/account/passkeys/confirm`
pub async fn confirm(
    State(app): State<SharedApp>,
    ip: ClientIp,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<ConfirmRequest>,
) -> Result<Response, ApiError> {
    let name = PasskeyName::parse(&req.name)?;
    let added = app
        .confirm_passkey_enrolment(
            &caller.username,
            caller.second_factor_at,
            &req.registration_id,
            name,
            &req.credential,
            ip.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, no_store(Json(summary(&added)))).into_response())
}

/// `DELETE /v1/account/passkeys/{id}`
pub async fn remove(
    State(app): State<SharedApp>,
    ip: ClientIp,
    Authenticated(caller): Authenticated,
    path: Result<Path<String>, PathRejection>,
    JsonBody(req): JsonBody<PasswordRequest>,
) -> Result<Response, ApiError> {
    // An id that cannot be one of ours names no passkey of this account: 404 like any other.
    let id = path
        .ok()
        .and_then(|Path(raw)| PasskeyId::parse(&raw).ok())
        .ok_or(ServiceError::NotFound)?;
    app.remove_passkey(
        &caller.username,
        caller.second_factor_at,
        &id,
        &req.password,
        ip.as_deref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v1/auth/passkey/verify`: like `/v1/auth/sms/verify`, with a passkey's assertion:
/// the answer checked and the session opened (with its origin and the browser check) in one
/// decision, as every login does.
pub async fn verify(
    State(app): State<SharedApp>,
    ip: ClientIp,
    headers: axum::http::HeaderMap,
    JsonBody(req): JsonBody<VerifyRequest>,
) -> Result<Response, ApiError> {
    let origin = super::security::login_origin(&headers, &ip);
    let device = super::security::presented_device(&app, &headers).unwrap_or_else(DeviceId::generate);
    let tokens = app
        .verify_login(
            &req.challenge_id,
            LoginAnswer::Passkey(&req.credential),
            ip.as_deref(),
            &origin,
            &device,
        )
        .await?;
    Ok(super::security::login_response(&app, &tokens, &device))
}
