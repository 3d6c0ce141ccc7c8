//! The security centre (issue 16): `/v1/account/sessions*`, `/v1/account/security-events`,
//! `/v1/account/not-me` (`account` function), and the device cookie a login sets
//! (`sms-code`'s verify routes).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::auth::{no_store, token_response};
use super::totp::PasswordRequest;
use crate::auth::Authenticated;
use crate::cookies::{clear_refresh_cookie, read_cookie};
use crate::error::ApiError;
use crate::extract::{ClientIp, JsonBody};
use portal_core::app::{App, SharedApp};
use portal_core::domain::{InvalidInput, SessionId};
use portal_core::error::ServiceError;
use portal_core::services::devices::{device_label, DeviceId, SessionOrigin, DEVICE_LIFETIME};
use portal_core::services::sessions::{LoginFactor, Tokens};
use portal_core::store::records::Challenge;

/// The device cookie's name: `__Host-` (Secure, whole site) where the portal is served over
/// HTTPS, a plain name for a local `http://` portal.
pub fn device_cookie_name(app: &App) -> &'static str {
    if app.settings.portal_url.starts_with("https://") {
        "__Host-hk_device"
    } else {
        "hk_device"
    }
}

fn device_cookie(app: &App, id: &DeviceId) -> Option<HeaderValue> {
    let name = device_cookie_name(app);
    let secure = if name.starts_with("__Host-") { "; Secure" } else { "" };
    // Lax, not Strict: the browser must send it on the top-level visit from a notice's link.
    let text = format!(
        "{name}={}; Path=/; HttpOnly{secure}; SameSite=Lax; Max-Age={DEVICE_LIFETIME}",
        id.expose()
    );
    HeaderValue::from_str(&text).ok()
}

/// The device the request comes from, if it carries a cookie this server could have issued.
pub fn presented_device(app: &App, headers: &HeaderMap) -> Option<DeviceId> {
    read_cookie(headers, device_cookie_name(app)).and_then(|raw| DeviceId::parse(&raw))
}

/// The end of every login (SMS or authenticator code): opens the session with where it came
/// from, checks the browser against the account's known ones (texting the owner when it is
/// new), and answers with the tokens, the refresh cookie and the device cookie.
pub async fn open_login(
    app: &App,
    challenge: &Challenge,
    factor: LoginFactor,
    ip: &ClientIp,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let origin = login_origin(headers, ip);
    let tokens = app
        .open_login_session_from(challenge, factor, ip.as_deref(), &origin)
        .await?;
    let device = app
        .note_login_device(
            &tokens.session,
            presented_device(app, headers),
            origin.device.as_deref(),
            ip.as_deref(),
        )
        .await;
    Ok(login_response(app, &tokens, &device))
}

/// Where a login comes from, as the session list shows it. The User-Agent is parsed once
/// here; only the coarse label is kept.
pub fn login_origin(headers: &HeaderMap, ip: &ClientIp) -> SessionOrigin {
    let label = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(device_label);
    SessionOrigin::new(label, ip.as_deref())
}

/// The answer to a completed login: tokens, the refresh cookie and the device cookie.
pub fn login_response(app: &App, tokens: &Tokens, device: &DeviceId) -> Response {
    let mut response = token_response(
        &app.settings.refresh_cookie,
        tokens,
        tokens.session.password_change_required.unwrap_or(false),
    );
    if let Some(cookie) = device_cookie(app, device) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `GET /v1/account/sessions`
pub async fn list_sessions(
    State(app): State<SharedApp>,
    Authenticated(caller): Authenticated,
) -> Result<Response, ApiError> {
    let sessions = app.list_sessions(&caller).await?;
    Ok(no_store(Json(json!({ "sessions": sessions }))))
}

/// `DELETE /v1/account/sessions/{id}`: 204, or 404 for any id that is not one of the caller's
/// live sessions (malformed ones too: nothing tells them apart).
pub async fn end_session(
    State(app): State<SharedApp>,
    ip: ClientIp,
    Authenticated(caller): Authenticated,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = id
        .ok()
        .and_then(|Path(raw)| SessionId::parse(&raw).ok())
        .ok_or(ServiceError::NotFound)?;
    app.end_own_session(&caller, &id, ip.as_deref()).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if id == caller.session {
        // Ending one's own session from the list is a logout.
        response
            .headers_mut()
            .insert(header::SET_COOKIE, clear_refresh_cookie(&app.settings.refresh_cookie));
    }
    Ok(response)
}

/// `POST /v1/account/sessions/revoke-others`
pub async fn revoke_others(
    State(app): State<SharedApp>,
    ip: ClientIp,
    Authenticated(caller): Authenticated,
) -> Result<Response, ApiError> {
    let ended = app.end_other_sessions(&caller, ip.as_deref()).await?;
    Ok(no_store(Json(json!({ "sessions_ended": ended }))))
}

/// The history's query: `cursor` and `limit`, each at most once; other parameters are ignored.
fn events_query(raw: Option<&str>) -> Result<(Option<String>, Option<usize>), InvalidInput> {
    let (mut cursor, mut limit) = (None, None);
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "cursor" if cursor.is_none() => cursor = Some(value.to_owned()),
            "limit" if limit.is_none() => {
                let n = value
                    .parse::<usize>()
                    .map_err(|_| InvalidInput::new("limit", "must be between 1 and 50"))?;
                limit = Some(n);
            }
            "cursor" => return Err(InvalidInput::new("cursor", "may be given once")),
            "limit" => return Err(InvalidInput::new("limit", "may be given once")),
            _ => {}
        }
    }
    Ok((cursor, limit))
}

/// `GET /v1/account/security-events?cursor=…&limit=…`
pub async fn security_events(
    State(app): State<SharedApp>,
    Authenticated(caller): Authenticated,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (cursor, limit) = events_query(raw.as_deref())?;
    let page = app.security_events(&caller, cursor.as_deref(), limit).await?;
    Ok(no_store(Json(page)))
}

/// `POST /v1/account/not-me` `{password}`: ends this session too, so the refresh cookie goes.
pub async fn not_me(
    State(app): State<SharedApp>,
    ip: ClientIp,
    headers: HeaderMap,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<PasswordRequest>,
) -> Result<Response, ApiError> {
    let device = presented_device(&app, &headers);
    let outcome = app
        .not_me(&caller, &req.password, device.as_ref(), ip.as_deref())
        .await?;
    let mut response = no_store(Json(outcome));
    response
        .headers_mut()
        .insert(header::SET_COOKIE, clear_refresh_cookie(&app.settings.refresh_cookie));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_query_takes_each_parameter_once() {
        assert_eq!(events_query(None).unwrap(), (None, None));
        assert_eq!(
            events_query(Some("limit=5&cursor=abc.def&x=1")).unwrap(),
            (Some("abc.def".into()), Some(5))
        );
        for bad in ["limit=x", "limit=-1", "limit=1&limit=2", "cursor=a&cursor=b", "limit="] {
            assert!(events_query(Some(bad)).is_err(), "{bad}");
        }
    }
}
