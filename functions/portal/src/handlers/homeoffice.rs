//! `/v1/homeoffice/buypass/*` (function `buypass`) and `/v1/gateway/certificates/{serial}`
//! (function `serial-activation`). Their extra dependencies (the Buypass client, the activation
//! worker's trigger, the gateway's credentials) travel as an [`axum::Extension`] of
//! [`HomeOfficeDeps`], added by whoever mounts the routes.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::auth::no_store;
use crate::activation::worker::ActivationTrigger;
use crate::app::SharedApp;
use crate::buypass::flow::{Buypass, CallbackQuery, BROWSER_COOKIE, CALLBACK_PATH, STATE_LIFETIME};
use crate::buypass::registry::{Registered, SerialStatus};
use crate::clock::rfc3339;
use crate::domain::CertificateSerial;
use crate::error::ApiError;
use crate::http::auth::Authenticated;
use crate::http::cookies::read_cookie;
use crate::http::extract::ClientIp;
use crate::security::{ct_eq, sha256_hex};

/// How the gateway proves itself on the certificate lookup.
#[derive(Clone)]
pub enum GatewayAuth {
    /// AWS: API Gateway's IAM authorizer has already checked the SigV4 signature; the request
    /// must carry its IAM identity, or it did not come through that route.
    Iam,
    /// Local: `X-Gateway-Key`, compared (as SHA-256) in constant time.
    Key { sha256: String },
}

impl GatewayAuth {
    pub fn key(key: &str) -> Self {
        Self::Key {
            sha256: sha256_hex(key),
        }
    }
}

impl std::fmt::Debug for GatewayAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Iam => f.write_str("GatewayAuth::Iam"),
            Self::Key { .. } => f.write_str("GatewayAuth::Key(***)"),
        }
    }
}

/// What the home-office routes need besides the [`crate::app::App`].
pub struct HomeOfficeDeps {
    /// The Buypass relying party (function `buypass`, portal-local).
    pub buypass: Option<Arc<Buypass>>,
    /// Local only: wakes the in-process activation worker after a registration. In AWS the
    /// DynamoDB stream does this.
    pub trigger: Option<ActivationTrigger>,
    /// Gateway lookup credentials (function `serial-activation`, portal-local).
    pub gateway_auth: Option<GatewayAuth>,
}

/// Extractor for the [`HomeOfficeDeps`] extension; a deployment without it answers 503.
pub struct Deps(pub Arc<HomeOfficeDeps>);

impl<S: Send + Sync> FromRequestParts<S> for Deps {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Arc<HomeOfficeDeps>>()
            .cloned()
            .map(Deps)
            .ok_or_else(|| ApiError::StorageUnavailable("home-office services are not configured here".into()))
    }
}

fn browser_cookie(value: &str, max_age: i64) -> HeaderValue {
    let text =
        format!("{BROWSER_COOKIE}={value}; Path={CALLBACK_PATH}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `POST /v1/homeoffice/buypass/start`
pub async fn start(
    State(app): State<SharedApp>,
    Deps(deps): Deps,
    Authenticated(caller): Authenticated,
) -> Result<Response, ApiError> {
    let buypass = deps.buypass.as_ref().ok_or(ApiError::BuypassUnavailable)?;
    let started = app.buypass_start(buypass, &caller.username).await?;
    let mut response = no_store(Json(json!({ "authorization_url": started.authorization_url })));
    response.headers_mut().insert(
        header::SET_COOKIE,
        browser_cookie(&started.browser_secret, STATE_LIFETIME),
    );
    Ok(response)
}

/// `GET /v1/homeoffice/buypass/callback`: always a redirect back to the portal.
pub async fn callback(
    State(app): State<SharedApp>,
    Deps(deps): Deps,
    ip: ClientIp,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let target = match deps.buypass.as_ref() {
        None => format!(
            "{}/hjemmekontor?buypass=error&reason=provider_unavailable",
            app.settings.portal_url
        ),
        Some(buypass) => {
            let query = CallbackQuery::parse(raw.as_deref());
            let cookie = read_cookie(&headers, BROWSER_COOKIE);
            match app
                .buypass_callback(buypass, query, cookie.as_deref(), ip.as_deref())
                .await
            {
                Ok(done) => {
                    if let (Some(trigger), Registered::Pending { revoked }) = (&deps.trigger, &done.registered) {
                        trigger.notify(&done.serial);
                        if let Some(old) = revoked {
                            trigger.notify(old);
                        }
                    }
                    format!("{}/hjemmekontor?buypass=registered", app.settings.portal_url)
                }
                Err(failure) => format!(
                    "{}/hjemmekontor?buypass=error&reason={}",
                    app.settings.portal_url,
                    failure.reason()
                ),
            }
        }
    };
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&target) {
        headers.insert(header::LOCATION, location);
    }
    headers.insert(header::SET_COOKIE, browser_cookie("", 0));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The query held an authorization code; the next page must not leak it as a referrer.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn gateway_allowed(auth: &GatewayAuth, request: &Request) -> bool {
    match auth {
        GatewayAuth::Iam => matches!(
            request.extensions().get::<lambda_http::request::RequestContext>(),
            Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx))
                if ctx.authorizer.as_ref().is_some_and(|a| a.iam.is_some())
        ),
        GatewayAuth::Key { sha256 } => request
            .headers()
            .get("x-gateway-key")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|presented| ct_eq(&sha256_hex(presented), sha256)),
    }
}

/// `GET /v1/gateway/certificates/{serial}`: 200 for an active serial, 404 for anything else
/// (unknown, pending, failed, revoked, malformed).
pub async fn gateway_certificate(
    State(app): State<SharedApp>,
    Deps(deps): Deps,
    serial: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let auth = deps.gateway_auth.as_ref().ok_or(ApiError::Unauthenticated)?;
    if !gateway_allowed(auth, &request) {
        return Err(ApiError::Unauthenticated);
    }
    let Ok(Path(raw)) = serial else {
        return Err(ApiError::NotFound);
    };
    let serial = CertificateSerial::parse(&raw).map_err(|_| ApiError::NotFound)?;
    let record = app.certificate_record(&serial).await?.ok_or(ApiError::NotFound)?.value;
    if record.status != SerialStatus::Active {
        return Err(ApiError::NotFound);
    }
    Ok(no_store(Json(json!({
        "serial_number": record.serial_number,
        "username": record.username,
        "status": "active",
        "activated_at": record.activated_at.map(rfc3339),
    }))))
}
