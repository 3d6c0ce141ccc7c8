//! ES256 (P-256) signing keys: our Buypass client key (signs `private_key_jwt` assertions) and,
//! locally, the stand-in provider's ID-token key. Public halves are published as JWKs with an
//! RFC 7638 thumbprint as `kid`.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::clock::UnixTime;
use crate::security::keys::{write_private, KeyError, KeyMaterial};

/// Name of our client key in [`KeyMaterial::extra`] (base64url PKCS#8).
pub const CLIENT_KEY_NAME: &str = "buypass_client_key";

/// Longest lifetime of a client assertion (DESIGN §4: `exp` ≤ 60 s).
pub const ASSERTION_LIFETIME: i64 = 60;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A P-256 key pair. Debug output shows only the `kid`.
#[derive(Clone)]
pub struct Es256Key {
    kid: String,
    pkcs8: Vec<u8>,
    public_point: Vec<u8>,
}

impl std::fmt::Debug for Es256Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Es256Key({})", self.kid)
    }
}

impl Es256Key {
    pub fn generate() -> Result<Self, KeyError> {
        let rng = ring::rand::SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|e| KeyError::Invalid(format!("P-256 key generation: {e}")))?;
        Self::from_pkcs8(doc.as_ref())
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|e| KeyError::Invalid(format!("P-256 key: {e}")))?;
        let public_point = pair.public_key().as_ref().to_vec();
        if public_point.len() != 65 || public_point[0] != 4 {
            return Err(KeyError::Invalid("P-256 key: unexpected public key encoding".into()));
        }
        let mut key = Self {
            kid: String::new(),
            pkcs8: der.to_vec(),
            public_point,
        };
        key.kid = key.thumbprint();
        Ok(key)
    }

    /// base64url PKCS#8, as stored in key material.
    pub fn from_encoded(encoded: &str) -> Result<Self, KeyError> {
        let der = URL_SAFE_NO_PAD
            .decode(encoded.trim())
            .map_err(|e| KeyError::Invalid(format!("P-256 key: {e}")))?;
        Self::from_pkcs8(&der)
    }

    pub fn encoded(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.pkcs8)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    fn coordinates(&self) -> (String, String) {
        (
            URL_SAFE_NO_PAD.encode(&self.public_point[1..33]),
            URL_SAFE_NO_PAD.encode(&self.public_point[33..65]),
        )
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url).
    fn thumbprint(&self) -> String {
        let (x, y) = self.coordinates();
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The public key as a JWK (never the private part).
    pub fn public_jwk(&self) -> Value {
        let (x, y) = self.coordinates();
        json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": self.kid, "use": "sig", "alg": "ES256" })
    }

    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.public_jwk()] })
    }

    /// Signs `claims` as a compact JWS (ES256, with `kid`).
    pub fn sign(&self, claims: &Value, typ: Option<&str>) -> Result<String, KeyError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = typ.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8))
            .map_err(|e| KeyError::Invalid(format!("signing: {e}")))
    }

    /// A `private_key_jwt` client assertion (RFC 7523): `iss` = `sub` = client id, `aud` = the
    /// token endpoint, a fresh `jti`, valid for [`ASSERTION_LIFETIME`] seconds.
    pub fn client_assertion(&self, client_id: &str, audience: &str, now: UnixTime) -> Result<String, KeyError> {
        let claims = json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": crate::security::random_token(16),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        self.sign(&claims, Some("JWT"))
    }
}

/// Our client key from key material, if one is configured.
pub fn client_key_from(material: &KeyMaterial) -> Result<Option<Es256Key>, KeyError> {
    material
        .extra
        .get(CLIENT_KEY_NAME)
        .map(|encoded| Es256Key::from_encoded(encoded))
        .transpose()
}

/// Locally: makes sure the key file in `data_dir` holds a client key, generating one on first
/// start (the file is rewritten atomically, owner-only). Returns the key in use.
pub fn ensure_local_client_key(data_dir: &Path, material: &mut KeyMaterial) -> Result<Es256Key, KeyError> {
    if let Some(key) = client_key_from(material)? {
        return Ok(key);
    }
    let key = Es256Key::generate()?;
    let mut updated = material.clone();
    updated.extra.insert(CLIENT_KEY_NAME.into(), key.encoded());
    let path = data_dir.join("keys.json");
    let temp = data_dir.join(format!("keys.json.{}.tmp", crate::security::random_token(6)));
    write_private(&temp, updated.to_json().as_bytes())?;
    std::fs::rename(&temp, &path).map_err(|e| KeyError::Unreadable(format!("{}: {e}", path.display())))?;
    // Another process may have written its own key at the same moment; use what is on disk.
    let raw = std::fs::read_to_string(&path).map_err(|e| KeyError::Unreadable(e.to_string()))?;
    *material = KeyMaterial::from_json(&raw)?;
    client_key_from(material)?.ok_or_else(|| KeyError::Invalid("client key missing after write".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn assertion_verifies_with_the_published_jwk_and_lives_at_most_a_minute() {
        let key = Es256Key::generate().unwrap();
        let jwk = key.public_jwk();
        assert!(jwk.get("d").is_none(), "private part published");
        let token = key.client_assertion("hk", "https://op/token", 1_000).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        let decoding = DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap()).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&["https://op/token"]);
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Value>(&token, &decoding, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["iss"], "hk");
        assert_eq!(claims["sub"], "hk");
        assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 60);
        let other = key.client_assertion("hk", "https://op/token", 1_000).unwrap();
        let other_claims = jsonwebtoken::decode::<Value>(&other, &decoding, &validation)
            .unwrap()
            .claims;
        assert_ne!(claims["jti"], other_claims["jti"]);
    }

    #[test]
    fn key_round_trips_and_debug_hides_it() {
        let key = Es256Key::generate().unwrap();
        let back = Es256Key::from_encoded(&key.encoded()).unwrap();
        assert_eq!(back.kid(), key.kid());
        assert!(!format!("{key:?}").contains(&key.encoded()));
    }

    #[test]
    fn local_key_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (mut material, _) = KeyMaterial::load_or_create(dir.path()).unwrap();
        let first = ensure_local_client_key(dir.path(), &mut material).unwrap();
        let (mut reread, _) = KeyMaterial::load_or_create(dir.path()).unwrap();
        let second = ensure_local_client_key(dir.path(), &mut reread).unwrap();
        assert_eq!(first.kid(), second.kid());
        assert_eq!(reread.code_pepper, material.code_pepper, "other keys survive");
    }
}
