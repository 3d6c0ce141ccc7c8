//! A stand-in for Buypass's OpenID provider, mounted only by `portal-local` under
//! `/dev/buypass/` (a test checks no Lambda router serves it). It behaves like the real one as
//! far as the portal can tell: discovery, JWKS, an authorize page offering Buypass's three
//! login methods, and a token endpoint that insists on our `private_key_jwt` assertion and
//! PKCE, and issues ES256 ID tokens carrying `amr`, `acr`, `at_hash` and a login certificate
//! (`bp_x509certificate`) from a local test CA, with a stable serial per test user.
//!
//! The portal reaches it only through its configured issuer URL, exactly as it reaches Buypass.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::ca::DevCa;
use portal_core::buypass::keys::{Es256Key, ASSERTION_LIFETIME, ASSERTION_TYPE};
use portal_core::clock::{Clock, UnixTime};
use portal_core::security::keys::write_private;
use portal_core::security::{ct_eq, random_token};

/// Where the stand-in lives under a portal-local base URL.
pub const DEV_PROVIDER_PATH: &str = "/dev/buypass";
/// Authorization codes and pending requests live this long.
const CODE_LIFETIME: i64 = 60;
const REQUEST_LIFETIME: i64 = 10 * 60;
const ID_TOKEN_LIFETIME: i64 = 5 * 60;

struct PendingRequest {
    redirect_uri: String,
    state: String,
    nonce: String,
    code_challenge: String,
    created_at: UnixTime,
}

struct IssuedCode {
    redirect_uri: String,
    nonce: String,
    code_challenge: String,
    holder: String,
    method: &'static str,
    created_at: UnixTime,
}

/// The stand-in provider for one registered client (ours).
pub struct DevProvider {
    issuer: String,
    client_id: String,
    redirect_uri: String,
    client_jwk: Value,
    signing: Es256Key,
    ca: DevCa,
    clock: Arc<dyn Clock>,
    requests: Mutex<HashMap<String, PendingRequest>>,
    codes: Mutex<HashMap<String, IssuedCode>>,
    seen_assertions: Mutex<HashMap<String, UnixTime>>,
}

impl DevProvider {
    /// `issuer` is `<portal-local base>/dev/buypass`; the signing key and the test CA are kept
    /// in `data_dir` so certificates and keys survive restarts.
    pub fn open(
        data_dir: &Path,
        issuer: &str,
        client_id: &str,
        redirect_uri: &str,
        client_jwk: Value,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let key_path = data_dir.join("dev-buypass-provider-key");
        if !key_path.exists() {
            write_private(&key_path, Es256Key::generate()?.encoded().as_bytes())?;
        }
        let signing = Es256Key::from_encoded(&std::fs::read_to_string(&key_path)?)?;
        Ok(Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            client_jwk,
            signing,
            ca: DevCa::load_or_create(data_dir)?,
            clock,
            requests: Mutex::new(HashMap::new()),
            codes: Mutex::new(HashMap::new()),
            seen_assertions: Mutex::new(HashMap::new()),
        })
    }

    /// The test CA's certificate: what portal-local trusts by default.
    pub fn ca_pem(&self) -> String {
        self.ca.certificate_pem()
    }

    fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer)
    }

    fn discovery(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "authorization_endpoint": format!("{}/authorize", self.issuer),
            "token_endpoint": self.token_endpoint(),
            "jwks_uri": format!("{}/jwks", self.issuer),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "scopes_supported": ["openid", "bpx509certificate"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "amr", "acr", "auth_time", "at_hash", "name", "bp_x509certificate"],
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `/dev/buypass/*`.
pub fn dev_provider_router(provider: Arc<DevProvider>) -> Router {
    Router::new()
        .route(
            &format!("{DEV_PROVIDER_PATH}/.well-known/openid-configuration"),
            get(discovery),
        )
        .route(&format!("{DEV_PROVIDER_PATH}/jwks"), get(jwks))
        .route(
            &format!("{DEV_PROVIDER_PATH}/authorize"),
            get(authorize_page).post(authorize_choice),
        )
        .route(&format!("{DEV_PROVIDER_PATH}/token"), axum::routing::post(token))
        .with_state(provider)
}

async fn discovery(State(p): State<Arc<DevProvider>>) -> Json<Value> {
    Json(p.discovery())
}

async fn jwks(State(p): State<Arc<DevProvider>>) -> Json<Value> {
    Json(p.signing.jwks())
}

fn html_escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&#39;".into(),
            c => c.to_string(),
        })
        .collect()
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"nb\"><meta charset=\"utf-8\"><title>Buypass ID</title>\
         <h1>Buypass ID</h1><p>{}</p></html>",
        html_escape(message)
    );
    (status, Html(body)).into_response()
}

fn redirect(to: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    let mut serializer = openidconnect::url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        serializer.append_pair(k, v);
    }
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{}", serializer.finish())
}

/// `GET /dev/buypass/authorize`: checks the request like Buypass would and shows the method
/// choice.
async fn authorize_page(State(p): State<Arc<DevProvider>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    if get("client_id") != p.client_id {
        return error_page(StatusCode::BAD_REQUEST, "Ukjent klient.");
    }
    if get("redirect_uri") != p.redirect_uri {
        return error_page(StatusCode::BAD_REQUEST, "Ugyldig adresse for retur (redirect_uri).");
    }
    let redirect_uri = get("redirect_uri").to_owned();
    let state = get("state").to_owned();
    let problem = if get("response_type") != "code" {
        Some("unsupported_response_type")
    } else if !get("scope").split(' ').any(|s| s == "openid") {
        Some("invalid_scope")
    } else if get("code_challenge_method") != "S256"
        || get("code_challenge").len() < 43
        || get("nonce").is_empty()
        || state.is_empty()
    {
        Some("invalid_request")
    } else {
        None
    };
    if let Some(error) = problem {
        return redirect(&with_query(&redirect_uri, &[("error", error), ("state", &state)]));
    }
    let now = p.clock.now();
    let id = random_token(16);
    let smartcard_hinted = get("bp_amr-values").split(' ').any(|v| v == "sc");
    {
        let mut requests = lock(&p.requests);
        requests.retain(|_, r| now - r.created_at < REQUEST_LIFETIME);
        requests.insert(
            id.clone(),
            PendingRequest {
                redirect_uri,
                state,
                nonce: get("nonce").to_owned(),
                code_challenge: get("code_challenge").to_owned(),
                created_at: now,
            },
        );
    }
    Html(choice_page(&p.issuer, &id, smartcard_hinted)).into_response()
}

fn choice_page(issuer: &str, request: &str, smartcard_hinted: bool) -> String {
    let action = html_escape(&format!("{issuer}/authorize"));
    let request = html_escape(request);
    let method = |value: &str, title: &str, text: &str, hinted: bool| {
        format!(
            r#"<form method="post" action="{action}" class="method{extra}">
  <input type="hidden" name="request" value="{request}">
  <input type="hidden" name="method" value="{value}">
  <label>Testbruker <input name="holder" value="testbruker" maxlength="64" autocomplete="off"></label>
  <button type="submit">{title}</button>
  <p>{text}</p>
</form>"#,
            extra = if hinted { " anbefalt" } else { "" }
        )
    };
    format!(
        r#"<!doctype html>
<html lang="nb">
<head><meta charset="utf-8"><title>Buypass ID – Velg identifiseringsmetode</title>
<style>body{{font-family:sans-serif;max-width:36em;margin:2em auto}}form{{border:1px solid #ccc;padding:1em;margin:1em 0}}.anbefalt{{border-color:#0a6}}</style>
</head>
<body>
<p><strong>Lokal testutgave av Buypass ID</strong> (kun for utvikling).</p>
<h1>Velg identifiseringsmetode</h1>
{sc}
{otp}
{app}
<form method="post" action="{action}">
  <input type="hidden" name="request" value="{request}">
  <input type="hidden" name="method" value="cancel">
  <button type="submit">Avbryt</button>
</form>
</body>
</html>
"#,
        sc = method(
            "sc",
            "Buypass ID på smartkort",
            "Sett kortet i kortleseren og tast PIN.",
            smartcard_hinted
        ),
        otp = method(
            "otp",
            "Buypass ID med passord/SMS",
            "Logg inn med passord og engangskode på SMS.",
            false
        ),
        app = method(
            "app",
            "Buypass ID med mobil app",
            "Godkjenn innloggingen i Buypass-appen.",
            false
        ),
    )
}

/// `POST /dev/buypass/authorize`: the user's choice; back to the client with a code, or with
/// `error=access_denied` for "Avbryt".
async fn authorize_choice(State(p): State<Arc<DevProvider>>, Form(form): Form<HashMap<String, String>>) -> Response {
    let Some(request) = form.get("request").and_then(|id| lock(&p.requests).remove(id)) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Innloggingen er utløpt. Start på nytt fra kundeportalen.",
        );
    };
    let method: &'static str = match form.get("method").map(String::as_str) {
        Some("sc") => "sc",
        Some("otp") => "otp",
        Some("app") => "app",
        Some("cancel") => {
            return redirect(&with_query(
                &request.redirect_uri,
                &[("error", "access_denied"), ("state", &request.state)],
            ))
        }
        _ => return error_page(StatusCode::BAD_REQUEST, "Ukjent identifiseringsmetode."),
    };
    let holder = form.get("holder").map(|h| h.trim()).unwrap_or("testbruker");
    let holder_ok =
        (1..=64).contains(&holder.chars().count()) && holder.chars().all(|c| c.is_alphanumeric() || " ._-".contains(c));
    if !holder_ok {
        return error_page(StatusCode::BAD_REQUEST, "Ugyldig navn på testbruker.");
    }
    let code = random_token(24);
    let now = p.clock.now();
    {
        let mut codes = lock(&p.codes);
        codes.retain(|_, c| now - c.created_at < CODE_LIFETIME);
        codes.insert(
            code.clone(),
            IssuedCode {
                redirect_uri: request.redirect_uri.clone(),
                nonce: request.nonce,
                code_challenge: request.code_challenge,
                holder: holder.to_owned(),
                method,
                created_at: now,
            },
        );
    }
    redirect(&with_query(
        &request.redirect_uri,
        &[("code", &code), ("state", &request.state)],
    ))
}

fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl DevProvider {
    /// RFC 7523 client authentication with our registered public key.
    fn check_assertion(&self, form: &HashMap<String, String>, now: UnixTime) -> Result<(), &'static str> {
        if form.get("client_assertion_type").map(String::as_str) != Some(ASSERTION_TYPE) {
            return Err("private_key_jwt client authentication required");
        }
        let assertion = form.get("client_assertion").ok_or("client_assertion missing")?;
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| "client_assertion malformed")?;
        if header.alg != Algorithm::ES256 || header.kid.as_deref() != self.client_jwk["kid"].as_str() {
            return Err("client_assertion signed with an unknown key");
        }
        let key = DecodingKey::from_ec_components(
            self.client_jwk["x"].as_str().unwrap_or_default(),
            self.client_jwk["y"].as_str().unwrap_or_default(),
        )
        .map_err(|_| "client key unusable")?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[self.token_endpoint(), self.issuer.clone()]);
        validation.set_issuer(&[self.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Value>(assertion, &key, &validation)
            .map_err(|_| "client_assertion signature or claims invalid")?
            .claims;
        let exp = claims["exp"].as_i64().ok_or("exp missing")?;
        let iat = claims["iat"].as_i64().unwrap_or(now);
        if exp <= now {
            return Err("client_assertion expired");
        }
        if exp - iat.min(now) > ASSERTION_LIFETIME {
            return Err("client_assertion lives too long");
        }
        if claims["sub"].as_str() != Some(self.client_id.as_str()) {
            return Err("client_assertion sub is not the client");
        }
        let jti = claims["jti"].as_str().ok_or("jti missing")?;
        let mut seen = lock(&self.seen_assertions);
        seen.retain(|_, at| *at > now);
        if seen.insert(jti.to_owned(), exp).is_some() {
            return Err("client_assertion replayed");
        }
        Ok(())
    }

    fn id_token(&self, code: &IssuedCode, access_token: &str, now: UnixTime) -> anyhow::Result<String> {
        let certificate = self.ca.issue(&code.holder, now - 3600, now + 365 * 24 * 3600)?;
        let digest = Sha256::digest(access_token.as_bytes());
        let at_hash = URL_SAFE_NO_PAD.encode(&digest[..16]);
        let subject = portal_core::security::sha256_hex(&format!("dev-buypass:{}", code.holder));
        let (amr, acr) = match code.method {
            "sc" => (json!(["sc"]), "urn:buypass:acr:smartcard"),
            "otp" => (json!(["pwd", "otp"]), "urn:buypass:acr:password-otp"),
            _ => (json!(["app"]), "urn:buypass:acr:mobile-app"),
        };
        let claims = json!({
            "iss": self.issuer,
            "sub": &subject[..32],
            "aud": self.client_id,
            "exp": now + ID_TOKEN_LIFETIME,
            "iat": now,
            "auth_time": now,
            "nonce": code.nonce,
            "at_hash": at_hash,
            "amr": amr,
            "acr": acr,
            "name": code.holder,
            "bp_x509certificate": certificate.pem,
        });
        Ok(self.signing.sign(&claims, Some("JWT"))?)
    }
}

/// `POST /dev/buypass/token`
async fn token(State(p): State<Arc<DevProvider>>, Form(form): Form<HashMap<String, String>>) -> Response {
    let now = p.clock.now();
    if let Err(why) = p.check_assertion(&form, now) {
        return token_error(StatusCode::UNAUTHORIZED, "invalid_client", why);
    }
    if form.get("client_id").is_some_and(|id| *id != p.client_id) {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_id does not match the assertion",
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only authorization_code",
        );
    }
    let Some(code) = form.get("code").and_then(|c| lock(&p.codes).remove(c)) else {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown or used code");
    };
    if now - code.created_at >= CODE_LIFETIME {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant", "code expired");
    }
    if form.get("redirect_uri") != Some(&code.redirect_uri) {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri mismatch");
    }
    let verifier = form.get("code_verifier").map(String::as_str).unwrap_or("");
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if verifier.len() < 43 || !ct_eq(&challenge, &code.code_challenge) {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant", "PKCE verification failed");
    }
    let access_token = random_token(32);
    match p.id_token(&code, &access_token, now) {
        Ok(id_token) => {
            let mut response = Json(json!({
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "openid bpx509certificate",
                "id_token": id_token,
            }))
            .into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => token_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e.to_string()),
    }
}
