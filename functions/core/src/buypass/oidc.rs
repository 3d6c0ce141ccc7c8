//! The OpenID Connect side of Buypass registration, on openidconnect-rs: discovery (once per
//! process, again when the provider signs with a key it did not publish before), the authorization URL (code flow, PKCE S256, state, nonce, smartcard hint), the
//! code exchange with `private_key_jwt`, and ID-token verification (JWKS by `kid`, `iss`, `aud`,
//! `exp`, `nonce`, and `at_hash` when the token has one). Nothing here checks a token by hand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalClaims, AuthType, AuthorizationCode, ClaimsVerificationError, Client,
    ClientId, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};

use super::keys::{Es256Key, ASSERTION_TYPE};
use crate::clock::UnixTime;

/// The claims Buypass adds to the ID token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuypassClaims {
    /// The login certificate, PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bp_x509certificate: Option<String>,
}

impl AdditionalClaims for BuypassClaims {}

type BuypassIdTokenFields = IdTokenFields<
    BuypassClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type BuypassTokenResponse = StandardTokenResponse<BuypassIdTokenFields, CoreTokenType>;
type BuypassClient = Client<
    BuypassClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    BuypassTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
    EndpointMaybeSet,
>;

/// Scope that makes Buypass put the login certificate in the ID token.
pub const CERTIFICATE_SCOPE: &str = "bpx509certificate";
/// Buypass's hint that steers the login page to the smartcard.
pub const AMR_HINT_PARAM: &str = "bp_amr-values";
pub const SMARTCARD_AMR: &str = "sc";

/// ID-token signature algorithms we accept (never `none`, never HMAC).
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 4] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
];

/// Static Buypass client settings.
#[derive(Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub client_key: Es256Key,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("client_key", &self.client_key)
            .finish()
    }
}

/// Why talking to the provider failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderFailure {
    /// Discovery, JWKS or token endpoint unreachable or answering 5xx: try again later.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the exchange (e.g. `invalid_grant`) or answered nonsense.
    #[error("provider error: {0}")]
    Refused(String),
    /// The ID token failed verification (signature, iss, aud, exp, nonce, a present at_hash).
    #[error("ID token invalid: {0}")]
    TokenInvalid(String),
}

/// One authorization request's secrets, stored server-side until the callback.
pub struct AuthorizationStart {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// What a verified ID token told us.
#[derive(Debug, Clone)]
pub struct VerifiedLogin {
    pub subject: String,
    pub amr: Vec<String>,
    pub certificate: Option<String>,
}

struct Provider {
    client: BuypassClient,
    token_url: String,
}

/// How long a `kid` that was still unknown after fetching the provider's keys again is not
/// worth another fetch. Bounds the fetches a run of such tokens can cause.
// Short: a provider may sign with a new key moments before every copy of its JWKS serves it.
const UNKNOWN_KID_QUIET: Duration = Duration::from_secs(60);

/// The Buypass relying party. Discovery happens on first use and is kept for the life of the
/// process (a Lambda cold start); a failed discovery is retried on the next request. When an ID
/// token names a signing key the cached JWKS lacks (the provider rotated its keys since), the
/// metadata and keys are fetched again once and the token checked against them.
pub struct OidcClient {
    settings: OidcSettings,
    http: reqwest::Client,
    provider: tokio::sync::RwLock<Option<Arc<Provider>>>,
    /// `kid`s still unknown after a fresh fetch, and when.
    unknown_kids: Mutex<HashMap<String, Instant>>,
}

impl OidcClient {
    pub fn new(settings: OidcSettings) -> Result<Self, String> {
        IssuerUrl::new(settings.issuer.clone()).map_err(|e| format!("issuer URL: {e}"))?;
        RedirectUrl::new(settings.redirect_uri.clone()).map_err(|e| format!("redirect URI: {e}"))?;
        let http = reqwest::Client::builder()
            // Following redirects from the provider's endpoints invites SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            settings,
            http,
            provider: tokio::sync::RwLock::new(None),
            unknown_kids: Mutex::new(HashMap::new()),
        })
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    async fn provider(&self) -> Result<Arc<Provider>, ProviderFailure> {
        if let Some(provider) = self.provider.read().await.as_ref() {
            return Ok(provider.clone());
        }
        let mut slot = self.provider.write().await;
        if let Some(provider) = slot.as_ref() {
            return Ok(provider.clone());
        }
        let provider = self.discover().await?;
        *slot = Some(provider.clone());
        Ok(provider)
    }

    /// Discovers the provider again unless another request already replaced `stale`.
    async fn rediscover(&self, stale: &Arc<Provider>) -> Result<Arc<Provider>, ProviderFailure> {
        let mut slot = self.provider.write().await;
        if let Some(current) = slot.as_ref() {
            if !Arc::ptr_eq(current, stale) {
                return Ok(current.clone());
            }
        }
        let provider = self.discover().await?;
        *slot = Some(provider.clone());
        Ok(provider)
    }

    /// Whether `kid` may cause a fresh fetch of the provider's keys (it was not found in one
    /// lately).
    fn worth_a_fetch(&self, kid: &str) -> bool {
        let Ok(mut unknown) = self.unknown_kids.lock() else {
            return false;
        };
        unknown.retain(|_, at| at.elapsed() < UNKNOWN_KID_QUIET);
        !unknown.contains_key(kid)
    }

    fn remember_unknown(&self, kid: String) {
        if let Ok(mut unknown) = self.unknown_kids.lock() {
            // A handful at most; anything beyond is cleared rather than grown.
            if unknown.len() >= 64 {
                unknown.clear();
            }
            unknown.insert(kid, Instant::now());
        }
    }

    async fn discover(&self) -> Result<Arc<Provider>, ProviderFailure> {
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|e| ProviderFailure::Refused(format!("issuer URL: {e}")))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| ProviderFailure::Unavailable(format!("discovery: {}", describe(&e))))?;
        let token_url = metadata
            .token_endpoint()
            .cloned()
            .ok_or_else(|| ProviderFailure::Refused("discovery names no token endpoint".into()))?;
        let redirect = RedirectUrl::new(self.settings.redirect_uri.clone())
            .map_err(|e| ProviderFailure::Refused(format!("redirect URI: {e}")))?;
        let client: BuypassClient =
            Client::from_provider_metadata(metadata, ClientId::new(self.settings.client_id.clone()), None)
                .set_token_uri(token_url.clone())
                .set_redirect_uri(redirect)
                // With no client secret the id goes in the body, next to our assertion.
                .set_auth_type(AuthType::RequestBody);
        tracing::info!(issuer = %self.settings.issuer, "Buypass provider metadata discovered");
        Ok(Arc::new(Provider {
            client,
            token_url: token_url.as_str().to_owned(),
        }))
    }

    /// A fresh authorization request: 128-bit state and nonce, a 256-bit PKCE verifier (RFC
    /// 7636 needs at least 43 characters), scope `openid bpx509certificate`, smartcard hint.
    pub async fn start(&self) -> Result<AuthorizationStart, ProviderFailure> {
        let provider = self.provider().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = CsrfToken::new_random_len(16);
        let nonce = Nonce::new_random_len(16);
        let (state_for_url, nonce_for_url) = (state.clone(), nonce.clone());
        let (url, _, _) = provider
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || state_for_url,
                move || nonce_for_url,
            )
            .add_scope(Scope::new(CERTIFICATE_SCOPE.into()))
            .set_pkce_challenge(challenge)
            .add_extra_param(AMR_HINT_PARAM, SMARTCARD_AMR)
            .url();
        Ok(AuthorizationStart {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges `code` (with our PKCE verifier and a `private_key_jwt` assertion) and verifies
    /// the ID token against the provider's keys, our client id, `nonce` and the clock.
    pub async fn finish(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
        now: UnixTime,
    ) -> Result<VerifiedLogin, ProviderFailure> {
        let provider = self.provider().await?;
        let assertion = self
            .settings
            .client_key
            .client_assertion(&self.settings.client_id, &provider.token_url, now)
            .map_err(|e| ProviderFailure::Refused(format!("client assertion: {e}")))?;
        let response = provider
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .add_extra_param("client_assertion_type", ASSERTION_TYPE)
            .add_extra_param("client_assertion", assertion)
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => match r.error() {
                    CoreErrorResponseType::Extension(code)
                        if code == "temporarily_unavailable" || code == "server_error" =>
                    {
                        ProviderFailure::Unavailable(format!("token endpoint: {code}"))
                    }
                    other => ProviderFailure::Refused(format!("token endpoint: {}", other.as_ref())),
                },
                RequestTokenError::Request(e) => {
                    ProviderFailure::Unavailable(format!("token endpoint: {}", describe(&e)))
                }
                RequestTokenError::Parse(e, _) => ProviderFailure::Refused(format!("token response: {e}")),
                RequestTokenError::Other(e) => ProviderFailure::Refused(format!("token endpoint: {e}")),
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| ProviderFailure::TokenInvalid("no ID token in the token response".into()))?;
        let clock_now = chrono::DateTime::<chrono::Utc>::from_timestamp(now, 0)
            .ok_or_else(|| ProviderFailure::TokenInvalid("clock out of range".into()))?;
        let expected_nonce = Nonce::new(nonce.to_owned());
        fn verifier_of(
            provider: &Provider,
            clock_now: chrono::DateTime<chrono::Utc>,
        ) -> openidconnect::IdTokenVerifier<'_, CoreJsonWebKey> {
            provider
                .client
                .id_token_verifier()
                .set_allowed_algs(ALLOWED_ALGS)
                .set_time_fn(move || clock_now)
        }
        let no_matching_key = |result: &Result<_, ClaimsVerificationError>| {
            matches!(
                result,
                Err(ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey
                ))
            )
        };
        let first_try = id_token
            .claims(&verifier_of(&provider, clock_now), &expected_nonce)
            .map(|_| ());
        let mut provider = provider;
        if no_matching_key(&first_try) {
            // Signed with a key we have not seen: the provider may have rotated its keys since
            // we fetched them. Fetch once and check the same token again (the code is spent).
            if let Some(kid) = header_kid(&id_token.to_string()).filter(|kid| self.worth_a_fetch(kid)) {
                tracing::info!(kid = %kid, "ID token signed with an unknown key: fetching the provider's keys again");
                provider = self.rediscover(&provider).await?;
                let second_try = id_token
                    .claims(&verifier_of(&provider, clock_now), &expected_nonce)
                    .map(|_| ());
                if no_matching_key(&second_try) {
                    self.remember_unknown(kid);
                }
            }
        }
        let verifier = verifier_of(&provider, clock_now);
        let verified = id_token.claims(&verifier, &expected_nonce);
        let claims = verified.map_err(|e| ProviderFailure::TokenInvalid(e.to_string()))?;
        // OpenID Connect Core 3.1.3.6: in an ID token from the token endpoint `at_hash` is
        // OPTIONAL (certified providers leave it out); a claimed one must match all the same.
        if let Some(claimed) = claims.access_token_hash() {
            let alg = id_token
                .signing_alg()
                .map_err(|e| ProviderFailure::TokenInvalid(e.to_string()))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|e| ProviderFailure::TokenInvalid(e.to_string()))?;
            check_access_token_hash(claimed, response.access_token(), alg, key)?;
        }
        Ok(VerifiedLogin {
            subject: claims.subject().as_str().to_owned(),
            amr: claims
                .auth_method_refs()
                .map(|v| v.iter().map(|a| a.as_str().to_owned()).collect())
                .unwrap_or_default(),
            certificate: claims.additional_claims().bp_x509certificate.clone(),
        })
    }
}

/// Whether `claimed` is the `at_hash` of `access_token` under the ID token's signing `alg`
/// (left half of the alg's hash, base64url), as Core 3.1.3.8 defines it.
fn check_access_token_hash(
    claimed: &AccessTokenHash,
    access_token: &AccessToken,
    alg: &CoreJwsSigningAlgorithm,
    key: &CoreJsonWebKey,
) -> Result<(), ProviderFailure> {
    let actual = AccessTokenHash::from_token(access_token, alg, key)
        .map_err(|e| ProviderFailure::TokenInvalid(format!("at_hash: {e}")))?;
    // Both sides are public (the hash is in the token, the access token came with it).
    if actual != *claimed {
        return Err(ProviderFailure::TokenInvalid(
            "at_hash does not match the access token".into(),
        ));
    }
    Ok(())
}

/// The `kid` of a compact JWS's header, if it has one.
fn header_kid(token: &str) -> Option<String> {
    use base64::Engine as _;
    let header = token.split('.').next()?;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
    let kid = header.get("kid")?.as_str()?;
    (kid.len() <= 256).then(|| kid.to_owned())
}

/// An error and its causes on one line, for logs (never contains our secrets: requests carry
/// them in bodies, which errors do not print).
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;
    use crate::buypass::keys::Es256Key;

    fn es256_key() -> CoreJsonWebKey {
        let jwk = Es256Key::generate().unwrap().public_jwk();
        serde_json::from_value(jwk).unwrap()
    }

    /// A P-384 key as the provider would publish it for ES384 (only its type and curve matter
    /// to the hash).
    fn es384_key() -> CoreJsonWebKey {
        let coordinate = "A".repeat(64);
        serde_json::from_value(serde_json::json!({
            "kty": "EC", "crv": "P-384", "kid": "p384", "use": "sig", "x": coordinate, "y": coordinate,
        }))
        .unwrap()
    }

    fn left_half_b64<D: sha2::Digest>(token: &str) -> AccessTokenHash {
        let digest = D::digest(token.as_bytes());
        AccessTokenHash::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2]))
    }

    #[test]
    fn at_hash_of_the_access_token_is_accepted() {
        let token = AccessToken::new("an-access-token".into());
        let claimed = left_half_b64::<sha2::Sha256>("an-access-token");
        assert_eq!(
            check_access_token_hash(
                &claimed,
                &token,
                &CoreJwsSigningAlgorithm::EcdsaP256Sha256,
                &es256_key()
            ),
            Ok(())
        );
    }

    #[test]
    fn at_hash_of_another_access_token_is_refused() {
        let token = AccessToken::new("an-access-token".into());
        let claimed = left_half_b64::<sha2::Sha256>("another-access-token");
        let refused = check_access_token_hash(
            &claimed,
            &token,
            &CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            &es256_key(),
        );
        assert!(matches!(refused, Err(ProviderFailure::TokenInvalid(_))), "{refused:?}");
    }

    #[test]
    fn at_hash_uses_the_hash_of_the_id_tokens_alg() {
        let token = AccessToken::new("an-access-token".into());
        let alg = CoreJwsSigningAlgorithm::EcdsaP384Sha384;
        // A SHA-256 hash under an ES384 token is the wrong hash, though of the right token.
        let sha256 = left_half_b64::<sha2::Sha256>("an-access-token");
        assert!(matches!(
            check_access_token_hash(&sha256, &token, &alg, &es384_key()),
            Err(ProviderFailure::TokenInvalid(_))
        ));
        let sha384 = left_half_b64::<sha2::Sha384>("an-access-token");
        assert_eq!(check_access_token_hash(&sha384, &token, &alg, &es384_key()), Ok(()));
    }

    #[test]
    fn at_hash_under_a_key_that_does_not_fit_the_alg_is_refused() {
        let token = AccessToken::new("an-access-token".into());
        let sha384 = left_half_b64::<sha2::Sha384>("an-access-token");
        let refused = check_access_token_hash(&sha384, &token, &CoreJwsSigningAlgorithm::EcdsaP384Sha384, &es256_key());
        assert!(matches!(refused, Err(ProviderFailure::TokenInvalid(_))), "{refused:?}");
    }
}
