//! `/v1/auth/*`: login, SMS code resend/verify, refresh, logout.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use portal_core::error::ServiceError;
use serde::Deserialize;
use serde_json::json;

use crate::auth::AuthenticatedEvenIfPasswordChangeRequired;
use crate::cookies::{clear_refresh_cookie, read_cookie, refresh_cookie};
use crate::error::ApiError;
use crate::extract::{ClientIp, JsonBody};
use portal_core::app::SharedApp;
use portal_core::domain::{ChallengeId, OneTimeCode, Password};
use portal_core::services::devices::DeviceId;
use portal_core::services::login_verify::LoginAnswer;
use portal_core::services::sessions::{RefreshToken, Tokens};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: Password,
    #[serde(default)]
    pub remember_me: bool,
}

pub async fn login(
    State(app): State<SharedApp>,
    ip: ClientIp,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    if req.username.len() > 256 {
        return Err(ServiceError::InvalidCredentials.into());
    }
    let started = app
        .start_login(&req.username, &req.password, req.remember_me, ip.as_deref())
        .await?;
    let issued = started.challenge;
    let mut body = json!({
        "challenge_id": issued.challenge_id,
        "phone_hint": issued.phone_hint,
        "expires_in": issued.expires_in,
        "resend_after": issued.resend_after,
        "methods": started.methods,
    });
    // An account with passkeys: the options for `navigator.credentials.get`.
    if let Some(options) = started.passkey {
        body["passkey"] = json!(options);
    }
    Ok(no_store(Json(body)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResendRequest {
    pub challenge_id: ChallengeId,
}

pub async fn resend(
    State(app): State<SharedApp>,
    ip: ClientIp,
    JsonBody(req): JsonBody<ResendRequest>,
) -> Result<Response, ApiError> {
    let resent = app.resend_code(&req.challenge_id, ip.as_deref()).await?;
    Ok(no_store(Json(resent)))
}

/// `POST /v1/auth/sms/status`: whether the login challenge's last SMS was reported
/// undelivered, and which other factor answers it. A POST with the id in the body: challenge
/// ids are bearer secrets and stay out of URLs.
pub async fn sms_status(
    State(app): State<SharedApp>,
    JsonBody(req): JsonBody<ResendRequest>,
) -> Result<Response, ApiError> {
    Ok(no_store(Json(app.sms_delivery(&req.challenge_id).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub challenge_id: ChallengeId,
    pub code: String,
}

pub async fn verify(
    State(app): State<SharedApp>,
    ip: ClientIp,
    headers: HeaderMap,
    JsonBody(req): JsonBody<VerifyRequest>,
) -> Result<Response, ApiError> {
    let code = OneTimeCode::parse(&req.code)?;
    let origin = super::security::login_origin(&headers, &ip);
    let device = super::security::presented_device(&app, &headers).unwrap_or_else(DeviceId::generate);
    let tokens = app
        .verify_login(
            &req.challenge_id,
            LoginAnswer::Code(&code),
            ip.as_deref(),
            &origin,
            &device,
        )
        .await?;
    Ok(super::security::login_response(&app, &tokens, &device))
}

pub async fn refresh(State(app): State<SharedApp>, ip: ClientIp, headers: HeaderMap) -> Result<Response, ApiError> {
    let cookie_name = &app.settings.refresh_cookie;
    let presented = read_cookie(&headers, cookie_name).and_then(|raw| RefreshToken::parse(&raw));
    let Some(presented) = presented else {
        return Err(ServiceError::Unauthenticated.into());
    };
    match app.refresh_session(&presented, ip.as_deref()).await {
        Ok(tokens) => {
            // The session's copy of the flag, as every authenticated request uses it; only
            // sessions stored before the copy existed ask the account.
            let required = match tokens.session.password_change_required {
                Some(required) => required,
                None => app.account(&tokens.session.username).await?.password_change_required,
            };
            Ok(token_response(cookie_name, &tokens, required))
        }
        Err(e @ (ServiceError::SessionExpired | ServiceError::RefreshReused)) => {
            let mut response = ApiError::from(e).into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, clear_refresh_cookie(cookie_name));
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn logout(
    State(app): State<SharedApp>,
    ip: ClientIp,
    // Logging out must work while a password change is pending.
    AuthenticatedEvenIfPasswordChangeRequired(caller): AuthenticatedEvenIfPasswordChangeRequired,
) -> Result<Response, ApiError> {
    app.revoke_session(&caller.session, ip.as_deref()).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, clear_refresh_cookie(&app.settings.refresh_cookie));
    Ok(response)
}

pub fn token_response(cookie_name: &str, tokens: &Tokens, password_change_required: bool) -> Response {
    let mut response = no_store(Json(json!({
        "access_token": tokens.access_token,
        "token_type": "Bearer",
        "expires_in": tokens.expires_in,
        "password_change_required": password_change_required,
    })));
    response.headers_mut().insert(
        header::SET_COOKIE,
        refresh_cookie(cookie_name, &tokens.refresh.encode(), tokens.cookie_max_age),
    );
    response
}

pub fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
