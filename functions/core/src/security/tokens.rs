//! Access tokens: EdDSA JWTs with `kid`, 15 minutes, verified against every configured key.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ring::signature::Ed25519KeyPair;

use super::key_parts::VerifyingKeyRecord;
use super::keys::{KeyError, SigningKeyRecord};
use crate::clock::UnixTime;
use crate::domain::{SessionId, Username};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sid: String,
    pub jti: String,
    pub iat: UnixTime,
    pub exp: UnixTime,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token invalid")]
    Invalid,
    #[error("token expired")]
    Expired,
}

/// Checks access tokens against public keys only: it holds no private key and has no way to
/// mint a token. What the functions that only read bearer tokens get (account, buypass).
///
/// Minting with it does not compile:
///
/// ```compile_fail
/// # use crate::security::tokens::TokenVerifier;
/// # use crate::domain::{SessionId, Username};
/// fn mint(verifier: &TokenVerifier, user: &Username, session: &SessionId) {
///     let _ = verifier.issue(user, session, 0);
/// }
/// ```
pub struct TokenVerifier {
    verifying: HashMap<String, DecodingKey>,
    validation: Validation,
}

impl TokenVerifier {
    /// From the public keys (every listed `kid` verifies: rotation).
    pub fn new(keys: &[VerifyingKeyRecord], issuer: &str, audience: &str) -> Result<Self, KeyError> {
        let mut public = Vec::with_capacity(keys.len());
        for key in keys {
            public.push((key.kid.clone(), key.raw()?));
        }
        Ok(Self::from_public(public, issuer, audience))
    }

    fn from_public(keys: Vec<(String, Vec<u8>)>, issuer: &str, audience: &str) -> Self {
        let verifying = keys
            .into_iter()
            .map(|(kid, raw)| (kid, DecodingKey::from_ed_der(&raw)))
            .collect();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Expiry is checked against the injected clock below, not the system clock.
        validation.validate_exp = false;
        Self { verifying, validation }
    }

    pub fn verify(&self, token: &str, now: UnixTime) -> Result<AccessClaims, TokenError> {
        if token.len() > 4096 {
            return Err(TokenError::Invalid);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifying.get(kid))
            .ok_or(TokenError::Invalid)?;
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation).map_err(|_| TokenError::Invalid)?;
        if data.claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
    }
}

/// Mints access tokens with the first signing key and verifies with all of them. Built once at
/// cold start; signing and verification then do no parsing of key material. Only the function
/// that opens and refreshes sessions (sms-code) and portal-local hold one.
pub struct TokenIssuer {
    issuer: String,
    audience: String,
    /// Seconds, for `exp`.
    lifetime: i64,
    /// The encoded JWS header (`alg`, `kid`, `typ`), the same for every token.
    header_b64: String,
    /// Parsed once: jsonwebtoken would re-parse the PKCS#8 document on every signature.
    signing: Ed25519KeyPair,
    verifier: TokenVerifier,
}

impl TokenIssuer {
    pub fn new(
        keys: &[SigningKeyRecord],
        issuer: &str,
        audience: &str,
        lifetime: std::time::Duration,
    ) -> Result<Self, KeyError> {
        let current = keys.first().ok_or_else(|| KeyError::Invalid("no signing key".into()))?;
        let signing = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&current.der()?)
            .map_err(|e| KeyError::Invalid(format!("signing key {}: {e}", current.kid)))?;
        let header = serde_json::json!({ "typ": "JWT", "alg": "EdDSA", "kid": current.kid });
        let header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());
        let mut public = Vec::with_capacity(keys.len());
        for key in keys {
            public.push((key.kid.clone(), key.public_key()?));
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            lifetime: crate::clock::secs(lifetime),
            header_b64,
            signing,
            verifier: TokenVerifier::from_public(public, issuer, audience),
        })
    }

    pub fn verifier(&self) -> &TokenVerifier {
        &self.verifier
    }

    pub fn issue(&self, username: &Username, session: &SessionId, now: UnixTime) -> Result<String, KeyError> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: username.as_str().to_owned(),
            sid: session.as_str().to_owned(),
            jti: super::random_token(12),
            iat: now,
            exp: now + self.lifetime,
        };
        // Compact JWS (RFC 7515): header.payload.signature, all base64url without padding.
        let payload = serde_json::to_vec(&claims).map_err(|e| KeyError::Invalid(e.to_string()))?;
        let mut token = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 90);
        token.push_str(&self.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = self.signing.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut token);
        Ok(token)
    }

    pub fn verify(&self, token: &str, now: UnixTime) -> Result<AccessClaims, TokenError> {
        self.verifier.verify(token, now)
    }
}

/// The access-token keys one process holds. Which variant is decided by the key parts it
/// loaded; a verify-only process has no [`TokenIssuer`] to mint with.
pub enum AccessTokenKeys {
    Issuer(TokenIssuer),
    VerifyOnly(TokenVerifier),
    /// Neither (serial-activation, login): bearer routes answer 500, never 200.
    Absent,
}

impl AccessTokenKeys {
    pub fn issuer(&self) -> Option<&TokenIssuer> {
        match self {
            AccessTokenKeys::Issuer(issuer) => Some(issuer),
            _ => None,
        }
    }

    pub fn verifier(&self) -> Option<&TokenVerifier> {
        match self {
            AccessTokenKeys::Issuer(issuer) => Some(issuer.verifier()),
            AccessTokenKeys::VerifyOnly(verifier) => Some(verifier),
            AccessTokenKeys::Absent => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::key_parts::KeyParts;
    use crate::security::keys::{new_signing_key, KeyMaterial};

    fn keys(material: &KeyMaterial) -> TokenIssuer {
        TokenIssuer::new(
            &material.signing_keys,
            "https://portal.test",
            "hjemmekontor-api",
            std::time::Duration::from_secs(900),
        )
        .unwrap()
    }

    #[test]
    fn issued_token_verifies_until_it_expires() {
        let material = KeyMaterial::generate().unwrap();
        let k = keys(&material);
        let (user, sid) = (Username::parse("kari").unwrap(), SessionId::generate());
        let token = k.issue(&user, &sid, 1_000).unwrap();
        let claims = k.verify(&token, 1_899).unwrap();
        assert_eq!((claims.sub.as_str(), claims.sid.as_str()), ("kari", sid.as_str()));
        assert_eq!(k.verify(&token, 1_900), Err(TokenError::Expired));
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_and_unknown_keys_fail() {
        let old = KeyMaterial::generate().unwrap();
        let token = keys(&old)
            .issue(&Username::parse("kari").unwrap(), &SessionId::generate(), 1_000)
            .unwrap();
        let mut rotated = old.clone();
        rotated.signing_keys.insert(0, new_signing_key().unwrap());
        assert!(keys(&rotated).verify(&token, 1_001).is_ok());
        let stranger = KeyMaterial::generate().unwrap();
        assert_eq!(keys(&stranger).verify(&token, 1_001), Err(TokenError::Invalid));
    }

    #[test]
    fn tampered_and_unsigned_tokens_fail() {
        let material = KeyMaterial::generate().unwrap();
        let k = keys(&material);
        let token = k
            .issue(&Username::parse("kari").unwrap(), &SessionId::generate(), 1_000)
            .unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_payload = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"iss":"https://portal.test","aud":"hjemmekontor-api","sub":"admin","sid":"x","jti":"y","iat":1000,"exp":99999999999}"#,
        );
        parts[1] = &forged_payload;
        assert_eq!(k.verify(&parts.join("."), 1_001), Err(TokenError::Invalid));
        let none_header = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"alg":"none","kid":"x"}"#,
        );
        assert_eq!(
            k.verify(&format!("{none_header}.{forged_payload}."), 1_001),
            Err(TokenError::Invalid)
        );
        assert_eq!(k.verify("garbage", 1_001), Err(TokenError::Invalid));
    }

    #[test]
    fn wrong_audience_or_issuer_fails() {
        let material = KeyMaterial::generate().unwrap();
        let other = TokenIssuer::new(
            &material.signing_keys,
            "https://evil.test",
            "hjemmekontor-api",
            std::time::Duration::from_secs(900),
        )
        .unwrap();
        let token = other
            .issue(&Username::parse("kari").unwrap(), &SessionId::generate(), 1_000)
            .unwrap();
        assert_eq!(keys(&material).verify(&token, 1_001), Err(TokenError::Invalid));
    }

    #[test]
    fn a_verify_only_key_set_checks_tokens_but_holds_nothing_to_mint_with() {
        let material = KeyMaterial::generate().unwrap();
        let issuer = keys(&material);
        let token = issuer
            .issue(&Username::parse("kari").unwrap(), &SessionId::generate(), 1_000)
            .unwrap();
        // What account and buypass load: the public halves only.
        let public = KeyParts::from_material(&material).unwrap().verifying.unwrap();
        let verifier = TokenVerifier::new(&public, "https://portal.test", "hjemmekontor-api").unwrap();
        assert_eq!(verifier.verify(&token, 1_001).unwrap().sub, "kari");
        let held = AccessTokenKeys::VerifyOnly(verifier);
        assert!(
            held.issuer().is_none(),
            "a verify-only key set must not yield an issuer"
        );
        assert!(held.verifier().is_some());
        // A verifying key given where a signing key is expected is not a signing key.
        let as_signing = SigningKeyRecord {
            kid: public[0].kid.clone(),
            pkcs8: public[0].public_key.clone(),
        };
        assert!(TokenIssuer::new(
            &[as_signing],
            "https://portal.test",
            "hjemmekontor-api",
            std::time::Duration::from_secs(900)
        )
        .is_err());
    }
}
