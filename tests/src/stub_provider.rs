//! A test-only OpenID provider on loopback that answers like Buypass except for one mutation
//! chosen by the test: a forged, unsigned or mis-addressed ID token, a nonce it never saw, a
//! login without the smartcard, a certificate from a foreign CA, an outage... The test plays the
//! browser: it reads the portal's authorization URL and comes back to the callback with a code
//! this provider will redeem.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Result};
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portal_core::buypass::keys::Es256Key;
use portal_dev::ca::DevCa;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What the provider gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// Nothing: a correct smartcard login.
    None,
    NonceMismatch,
    /// Signed by a key the JWKS does not have (its own `kid`).
    UnknownKey,
    /// Signed by another key but claiming the published key's `kid`.
    ForgedWithKnownKid,
    /// `alg: none`, no signature.
    AlgNone,
    WrongIssuer,
    WrongAudience,
    /// `exp` in the past.
    Expired,
    /// `at_hash` of another access token.
    WrongAtHash,
    /// An honest login whose ID token carries no `at_hash` (OPTIONAL from the token endpoint,
    /// OpenID Connect Core 3.1.3.6; certified providers leave it out).
    NoAtHash,
    /// Password + SMS login (`amr` without `sc`).
    PasswordSms,
    /// Mobile app login.
    MobileApp,
    /// Certificate issued by a CA the portal does not trust (same name as the real one).
    ForeignCa,
    /// Certificate expired yesterday.
    ExpiredCertificate,
    /// No certificate claim at all.
    NoCertificate,
    /// Token endpoint answers 503 `temporarily_unavailable`.
    TokenEndpointDown,
    /// An honest login after the provider rotated its signing key: the JWKS now also publishes
    /// a new key, and the ID token is signed with it.
    RotatedKey,
}

struct Inner {
    issuer: String,
    client_id: String,
    key: Es256Key,
    other_key: Es256Key,
    rotated_key: Es256Key,
    /// How often the JWKS was fetched.
    jwks_fetches: std::sync::atomic::AtomicUsize,
    ca: DevCa,
    impostor_ca: DevCa,
    mutation: Mutex<Mutation>,
    /// code → nonce
    codes: Mutex<HashMap<String, String>>,
    token_requests: Mutex<Vec<HashMap<String, String>>>,
}

pub struct StubProvider {
    pub issuer: String,
    /// A file holding the trusted CA's certificate (pass as `--buypass-ca`).
    pub ca_file: tempfile::NamedTempFile,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for StubProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

impl StubProvider {
    /// Starts on a free loopback port; issues ID tokens for `client_id`.
    pub async fn start(client_id: &str) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let issuer = format!("http://{}/auth/realms/stub", listener.local_addr()?);
        let ca = DevCa::generate("Buypass Class 3 Test4 CA")?;
        let impostor_ca = DevCa::generate("Buypass Class 3 Test4 CA")?;
        let ca_file = tempfile::NamedTempFile::new()?;
        std::fs::write(ca_file.path(), ca.certificate_pem())?;
        let inner = Arc::new(Inner {
            issuer: issuer.clone(),
            client_id: client_id.to_owned(),
            key: Es256Key::generate()?,
            other_key: Es256Key::generate()?,
            rotated_key: Es256Key::generate()?,
            jwks_fetches: std::sync::atomic::AtomicUsize::new(0),
            ca,
            impostor_ca,
            mutation: Mutex::new(Mutation::None),
            codes: Mutex::new(HashMap::new()),
            token_requests: Mutex::new(Vec::new()),
        });
        let router = Router::new()
            .route("/auth/realms/stub/.well-known/openid-configuration", get(discovery))
            .route("/auth/realms/stub/jwks", get(jwks))
            .route("/auth/realms/stub/token", post(token))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            issuer,
            ca_file,
            inner,
            server,
        })
    }

    pub fn set(&self, mutation: Mutation) {
        if let Ok(mut m) = self.inner.mutation.lock() {
            *m = mutation;
        }
    }

    pub fn ca_path(&self) -> String {
        self.ca_file.path().display().to_string()
    }

    /// How often the portal fetched the JWKS.
    pub fn jwks_fetches(&self) -> usize {
        self.inner.jwks_fetches.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The form bodies the token endpoint received, in order.
    pub fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.inner.token_requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Plays the provider's login: checks the authorization request and returns the callback
    /// URL with a fresh code (or with `error` when given).
    pub fn login(&self, authorization_url: &str, error: Option<&str>) -> Result<String> {
        let url = reqwest::Url::parse(authorization_url)?;
        let params: HashMap<String, String> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let param = |k: &str| {
            params
                .get(k)
                .cloned()
                .ok_or_else(|| anyhow!("authorization URL lacks {k}"))
        };
        let mut callback = reqwest::Url::parse(&param("redirect_uri")?)?;
        match error {
            Some(error) => {
                callback
                    .query_pairs_mut()
                    .append_pair("error", error)
                    .append_pair("state", &param("state")?);
            }
            None => {
                let code = portal_core::security::random_token(16);
                self.inner
                    .codes
                    .lock()
                    .map_err(|_| anyhow!("poisoned"))?
                    .insert(code.clone(), param("nonce")?);
                callback
                    .query_pairs_mut()
                    .append_pair("code", &code)
                    .append_pair("state", &param("state")?);
            }
        }
        Ok(callback.to_string())
    }
}

async fn discovery(State(p): State<Arc<Inner>>) -> Json<Value> {
    Json(json!({
        "issuer": p.issuer,
        "authorization_endpoint": format!("{}/authorize", p.issuer),
        "token_endpoint": format!("{}/token", p.issuer),
        "jwks_uri": format!("{}/jwks", p.issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "none"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    }))
}

async fn jwks(State(p): State<Arc<Inner>>) -> Json<Value> {
    p.jwks_fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let mut jwks = p.key.jwks();
    let rotated = p.mutation.lock().is_ok_and(|m| *m == Mutation::RotatedKey);
    if rotated {
        let new_key = p.rotated_key.public_jwk();
        if let Some(keys) = jwks["keys"].as_array_mut() {
            keys.push(new_key);
        }
    }
    Json(jwks)
}

fn sign(key: &Es256Key, kid: &str, claims: &Value) -> Result<String> {
    let der = URL_SAFE_NO_PAD.decode(key.encoded())?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    header.typ = Some("JWT".into());
    Ok(jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_ec_der(&der),
    )?)
}

fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

async fn token(State(p): State<Arc<Inner>>, Form(form): Form<HashMap<String, String>>) -> Response {
    if let Ok(mut requests) = p.token_requests.lock() {
        requests.push(form.clone());
    }
    let mutation = p.mutation.lock().map(|m| *m).unwrap_or(Mutation::None);
    if mutation == Mutation::TokenEndpointDown {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "temporarily_unavailable" })),
        )
            .into_response();
    }
    let nonce = form
        .get("code")
        .and_then(|c| p.codes.lock().ok().and_then(|mut codes| codes.remove(c)));
    let Some(nonce) = nonce else {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant" }))).into_response();
    };
    match id_token(&p, mutation, &nonce) {
        Ok((access_token, id_token)) => Json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }))
        .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn id_token(p: &Inner, mutation: Mutation, nonce: &str) -> Result<(String, String)> {
    let now = now();
    let access_token = portal_core::security::random_token(32);
    let hashed = if mutation == Mutation::WrongAtHash {
        "some other access token".to_owned()
    } else {
        access_token.clone()
    };
    let at_hash = URL_SAFE_NO_PAD.encode(&Sha256::digest(hashed.as_bytes())[..16]);
    let certificate = match mutation {
        Mutation::ForeignCa => Some(p.impostor_ca.issue("kari", now - 3600, now + 3600)?.pem),
        Mutation::ExpiredCertificate => Some(p.ca.issue("kari", now - 3 * 86400, now - 86400)?.pem),
        Mutation::NoCertificate => None,
        _ => Some(p.ca.issue("kari", now - 3600, now + 3600)?.pem),
    };
    let amr = match mutation {
        Mutation::PasswordSms => json!(["pwd", "otp"]),
        Mutation::MobileApp => json!(["app"]),
        _ => json!(["sc"]),
    };
    let mut claims = json!({
        "iss": if mutation == Mutation::WrongIssuer { "https://evil.example/auth/realms/stub".to_owned() } else { p.issuer.clone() },
        "sub": "kari-buypass-id",
        "aud": if mutation == Mutation::WrongAudience { "another-client".to_owned() } else { p.client_id.clone() },
        "exp": if mutation == Mutation::Expired { now - 60 } else { now + 300 },
        "iat": if mutation == Mutation::Expired { now - 600 } else { now },
        "nonce": if mutation == Mutation::NonceMismatch { "a-nonce-from-another-login".to_owned() } else { nonce.to_owned() },
        "at_hash": at_hash,
        "amr": amr,
        "acr": "urn:buypass:acr:test",
    });
    if mutation == Mutation::NoAtHash {
        if let Some(claims) = claims.as_object_mut() {
            claims.remove("at_hash");
        }
    }
    if let Some(pem) = certificate {
        claims["bp_x509certificate"] = json!(pem);
    }
    let token = match mutation {
        Mutation::UnknownKey => sign(&p.other_key, p.other_key.kid(), &claims)?,
        Mutation::ForgedWithKnownKid => sign(&p.other_key, p.key.kid(), &claims)?,
        Mutation::RotatedKey => sign(&p.rotated_key, p.rotated_key.kid(), &claims)?,
        Mutation::AlgNone => unsigned(&claims),
        _ => sign(&p.key, p.key.kid(), &claims)?,
    };
    Ok((access_token, token))
}
