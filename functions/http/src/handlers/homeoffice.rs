//! `/v1/homeoffice/buypass/*` (function `buypass`) and `/v1/gateway/certificates/*`
//! (function `serial-activation`). Their extra dependencies are part of their routers' state:
//! the Buypass routes run on a [`BuypassState`] (the relying party, and locally the activation
//! worker's trigger), the gateway routes on a [`GatewayState`] (the gateway's credentials), so
//! a router without them does not compile, rather than answering 503 at run time.

use portal_core::error::ServiceError;
use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRef, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::auth::no_store;
use super::totp::PasswordRequest;
use crate::auth::Authenticated;
use crate::cookies::read_cookie;
use crate::error::ApiError;
use crate::extract::{ClientIp, JsonBody};
use portal_core::activation::worker::ActivationTrigger;
use portal_core::app::SharedApp;
use portal_core::buypass::flow::{Buypass, CallbackQuery, BROWSER_COOKIE, CALLBACK_PATH, STATE_LIFETIME};
use portal_core::buypass::registry::{CardKey, Registered, SerialLookup};
use portal_core::clock::rfc3339;
use portal_core::domain::{CertificateSerial, IssuerId};
use portal_core::security::{ct_eq, sha256_hex};

/// The gateway's IAM role, from its ARN `arn:<partition>:iam::<account>:role/<path/><name>`.
/// A caller using the role presents the STS form
/// `arn:<partition>:sts::<account>:assumed-role/<name>/<session>` (the path is not in it), so
/// partition, account and role name are what can be compared, and each must match exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRole {
    partition: String,
    account: String,
    name: String,
}

/// IAM role and session names: `[\w+=,.@-]`.
fn iam_name(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

fn aws_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn aws_partition(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
}

impl GatewayRole {
    /// Parses an IAM role ARN (the Terraform variable `gateway_role_arn`).
    pub fn parse(arn: &str) -> Option<Self> {
        let [prefix, partition, service, region, account, resource] =
            <[&str; 6]>::try_from(arn.splitn(6, ':').collect::<Vec<_>>()).ok()?;
        if prefix != "arn"
            || service != "iam"
            || !region.is_empty()
            || !aws_partition(partition)
            || !aws_account(account)
        {
            return None;
        }
        // `role/<name>` or `role/<path>/<name>`; the name is the last segment.
        let mut segments = resource.strip_prefix("role/")?.split('/').collect::<Vec<_>>();
        let name = segments.pop()?;
        if !iam_name(name, 64) || segments.iter().any(|s| !iam_name(s, 512)) {
            return None;
        }
        Some(Self {
            partition: partition.to_owned(),
            account: account.to_owned(),
            name: name.to_owned(),
        })
    }

    /// True only for `arn:<partition>:sts::<account>:assumed-role/<name>/<session>` with this
    /// role's partition, account and name, each compared whole.
    pub fn matches_caller(&self, caller_arn: &str) -> bool {
        let Ok([prefix, partition, service, region, account, resource]) =
            <[&str; 6]>::try_from(caller_arn.splitn(6, ':').collect::<Vec<_>>())
        else {
            return false;
        };
        let Some(rest) = resource.strip_prefix("assumed-role/") else {
            return false;
        };
        let Some((name, session)) = rest.split_once('/') else {
            return false;
        };
        prefix == "arn"
            && partition == self.partition
            && service == "sts"
            && region.is_empty()
            && account == self.account
            && name == self.name
            && iam_name(session, 64)
    }
}

/// How the gateway proves itself on the certificate lookup.
#[derive(Clone)]
pub enum GatewayAuth {
    /// AWS: API Gateway's IAM authorizer has already checked the SigV4 signature; the request
    /// must carry the IAM identity of the gateway's role (any other principal of the account
    /// that may call the API is refused with 403).
    Iam { role: GatewayRole },
    /// Local: `X-Gateway-Key`, compared (as SHA-256) in constant time.
    Key { sha256: String },
}

/// The shortest gateway key accepted: shorter ones can be guessed, and an empty one would
/// match an empty `X-Gateway-Key` header.
pub const MIN_GATEWAY_KEY_LEN: usize = 16;

impl GatewayAuth {
    /// Key authentication with `key`, refused when it is shorter than [`MIN_GATEWAY_KEY_LEN`]
    /// (the reason is the `Err`; it never quotes the key).
    pub fn key(key: &str) -> Result<Self, &'static str> {
        if key.chars().count() < MIN_GATEWAY_KEY_LEN {
            return Err("shorter than 16 characters");
        }
        Ok(Self::Key {
            sha256: sha256_hex(key),
        })
    }
}

impl std::fmt::Debug for GatewayAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Iam { role } => write!(f, "GatewayAuth::Iam({role:?})"),
            Self::Key { .. } => f.write_str("GatewayAuth::Key(***)"),
        }
    }
}

/// The state of the Buypass routes.
#[derive(Clone)]
pub struct BuypassState {
    pub app: SharedApp,
    /// The Buypass relying party.
    pub buypass: Arc<Buypass>,
    /// Local only: wakes the in-process activation worker after a registration. In AWS the
    /// DynamoDB stream does this.
    pub trigger: Option<ActivationTrigger>,
}

impl FromRef<BuypassState> for SharedApp {
    fn from_ref(state: &BuypassState) -> Self {
        state.app.clone()
    }
}

/// The state of the gateway's certificate lookups.
#[derive(Clone)]
pub struct GatewayState {
    pub app: SharedApp,
    pub auth: Arc<GatewayAuth>,
}

impl FromRef<GatewayState> for SharedApp {
    fn from_ref(state: &GatewayState) -> Self {
        state.app.clone()
    }
}

fn browser_cookie(value: &str, max_age: i64) -> HeaderValue {
    let text =
        format!("{BROWSER_COOKIE}={value}; Path={CALLBACK_PATH}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `POST /v1/homeoffice/buypass/start` `{password}`
pub async fn start(
    State(BuypassState { app, buypass, .. }): State<BuypassState>,
    ip: ClientIp,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<PasswordRequest>,
) -> Result<Response, ApiError> {
    let started = app
        .buypass_start(
            &buypass,
            &caller.username,
            &caller.session,
            caller.second_factor_at,
            &req.password,
            ip.as_deref(),
        )
        .await?;
    let mut response = no_store(Json(json!({ "authorization_url": started.authorization_url })));
    response.headers_mut().insert(
        header::SET_COOKIE,
        browser_cookie(&started.browser_secret, STATE_LIFETIME),
    );
    Ok(response)
}

/// `GET /v1/homeoffice/buypass/callback`: always a redirect back to the portal.
pub async fn callback(
    State(BuypassState { app, buypass, trigger }): State<BuypassState>,
    ip: ClientIp,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = CallbackQuery::parse(raw.as_deref());
    let cookie = read_cookie(&headers, BROWSER_COOKIE);
    let target = match app
        .buypass_callback(&buypass, query, cookie.as_deref(), ip.as_deref())
        .await
    {
        Ok(done) => {
            if let (Some(trigger), Registered::Pending { revoked }) = (&trigger, &done.registered) {
                trigger.notify(&done.card);
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

/// Whether the request comes from the gateway: `Err` is the answer to give.
fn check_gateway(auth: &GatewayAuth, request: &Request) -> Result<(), ApiError> {
    match auth {
        GatewayAuth::Iam { role } => {
            let Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) =
                request.extensions().get::<lambda_http::request::RequestContext>()
            else {
                return Err(ServiceError::Unauthenticated.into());
            };
            let Some(iam) = ctx.authorizer.as_ref().and_then(|a| a.iam.as_ref()) else {
                // Not through the IAM-authorised route at all.
                return Err(ServiceError::Unauthenticated.into());
            };
            let caller = iam.user_arn.as_deref().unwrap_or_default();
            if role.matches_caller(caller) {
                Ok(())
            } else {
                // Signed by a real principal of an account the API trusts, but not the gateway.
                tracing::warn!(caller = %caller, "gateway lookup by a principal other than the gateway role");
                Err(ServiceError::Forbidden("not_the_gateway").into())
            }
        }
        GatewayAuth::Key { sha256 } => {
            let presented = request
                .headers()
                .get("x-gateway-key")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|presented| ct_eq(&sha256_hex(presented), sha256));
            presented
                .then_some(())
                .ok_or(ApiError::from(ServiceError::Unauthenticated))
        }
    }
}

fn gateway_answer(record: &portal_core::buypass::registry::CertificateRecord) -> Response {
    no_store(Json(json!({
        "serial_number": record.serial_number,
        "issuer_id": record.issuer_id,
        "username": record.username,
        "status": "active",
        "activated_at": record.activated_at.map(rfc3339),
    })))
}

/// `GET /v1/gateway/certificates/{issuer_id}/{serial}`: 200 for an active card of an account
/// that may still use it, 404 for anything else (unknown, pending, failed, revoked, expired,
/// malformed; account gone, disabled, off home office, or on another card); see
/// [`portal_core::app::App::active_for_gateway`].
pub async fn gateway_certificate(
    State(GatewayState { app, auth }): State<GatewayState>,
    path: Result<Path<(String, String)>, PathRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    check_gateway(&auth, &request)?;
    let Ok(Path((issuer, serial))) = path else {
        return Err(ServiceError::NotFound.into());
    };
    let issuer_id = IssuerId::parse(&issuer).map_err(|_| ServiceError::NotFound)?;
    let serial = CertificateSerial::parse(&serial).map_err(|_| ServiceError::NotFound)?;
    let record = app
        .active_for_gateway(&CardKey::new(issuer_id, serial))
        .await?
        .ok_or(ServiceError::NotFound)?;
    Ok(gateway_answer(&record))
}

/// `GET /v1/gateway/certificates/{serial}`: the serial-only lookup of before serials were keyed
/// by issuer. Like the two-part lookup, except that a serial registered under more than one
/// issuer is 409 `ambiguous_serial` (one Query on the serial's partition decides it).
pub async fn gateway_certificate_by_serial(
    State(GatewayState { app, auth }): State<GatewayState>,
    serial: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    check_gateway(&auth, &request)?;
    let Ok(Path(raw)) = serial else {
        return Err(ServiceError::NotFound.into());
    };
    let serial = CertificateSerial::parse(&raw).map_err(|_| ServiceError::NotFound)?;
    match app.active_for_gateway_by_serial(&serial).await? {
        SerialLookup::Active(record) => Ok(gateway_answer(&record)),
        SerialLookup::None => Err(ServiceError::NotFound.into()),
        SerialLookup::Ambiguous { issuers } => Err(ServiceError::AmbiguousSerial { issuers }.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::{GatewayAuth, GatewayRole};

    #[test]
    fn a_gateway_key_shorter_than_16_characters_is_refused_and_never_quoted() {
        for short in ["", "x", "fifteen-chars-1"] {
            let why = GatewayAuth::key(short)
                .err()
                .unwrap_or_else(|| panic!("{short:?} accepted"));
            assert!(short.is_empty() || !why.contains(short), "{why}");
        }
        assert!(GatewayAuth::key("sixteen-chars-12").is_ok());
    }

    #[test]
    fn role_arns_parse_with_and_without_a_path() {
        for arn in [
            "arn:aws:iam::123456789012:role/hk-gateway",
            "arn:aws:iam::123456789012:role/service/remote/hk-gateway",
        ] {
            let role = GatewayRole::parse(arn).unwrap_or_else(|| panic!("{arn}"));
            assert!(role.matches_caller("arn:aws:sts::123456789012:assumed-role/hk-gateway/i-0abc"));
        }
        for bad in [
            "",
            "arn:aws:iam::123456789012:user/hk-gateway",
            "arn:aws:sts::123456789012:assumed-role/hk-gateway/s",
            "arn:aws:iam::12345678901:role/hk-gateway",
            "arn:aws:iam:eu-north-1:123456789012:role/hk-gateway",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a b",
            "arn:aws:iam::123456789012:role/hk-gateway*",
        ] {
            assert_eq!(GatewayRole::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_the_role_itself_in_its_own_account_and_partition_matches() {
        let role = GatewayRole::parse("arn:aws:iam::123456789012:role/path/hk-gateway").unwrap();
        assert!(role.matches_caller("arn:aws:sts::123456789012:assumed-role/hk-gateway/session-1"));
        for other in [
            "arn:aws:sts::123456789012:assumed-role/hk-gateway-admin/session-1",
            "arn:aws:sts::123456789012:assumed-role/hk-gatewa/session-1",
            "arn:aws:sts::123456789012:assumed-role/HK-GATEWAY/session-1",
            "arn:aws:sts::123456789012:assumed-role/other/session-1",
            "arn:aws:sts::210987654321:assumed-role/hk-gateway/session-1",
            "arn:aws-cn:sts::123456789012:assumed-role/hk-gateway/session-1",
            "arn:aws:iam::123456789012:user/hk-gateway",
            "arn:aws:iam::123456789012:role/path/hk-gateway",
            "arn:aws:sts::123456789012:federated-user/hk-gateway",
            "arn:aws:sts::123456789012:assumed-role/hk-gateway",
            "arn:aws:sts::123456789012:assumed-role/hk-gateway/",
            "arn:aws:sts::123456789012:assumed-role/hk-gateway/a/b",
            "arn:aws:sts:eu-north-1:123456789012:assumed-role/hk-gateway/s",
            "arn:aws:sts::123456789012:assumed-role/path/hk-gateway/s",
            "",
        ] {
            assert!(!role.matches_caller(other), "{other:?} matched");
        }
    }
}
