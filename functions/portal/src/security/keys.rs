//! Key material: token signing keys (Ed25519, with `kid`) and the code-hash pepper.
//!
//! Serialised as one JSON document: a file in the data dir locally, a Secrets Manager secret in
//! AWS. The first signing key signs; every listed key verifies, which is how rotation works
//! (add a new key first, keep the old one until its tokens have expired).

use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use ring::signature::{Ed25519KeyPair, KeyPair};

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// PKCS#8 v2 document, base64url.
    pub pkcs8: String,
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct KeyMaterial {
    pub signing_keys: Vec<SigningKeyRecord>,
    /// base64url, at least 32 bytes.
    pub code_pepper: String,
    /// Further named secrets (TOTP encryption key, Buypass client key…), base64url or PEM.
    #[serde(default)]
    pub extra: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.signing_keys.iter().map(|k| k.kid.as_str()).collect();
        write!(f, "KeyMaterial {{ kids: {kids:?}, .. }}")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key material unreadable: {0}")]
    Unreadable(String),
    #[error("key material invalid: {0}")]
    Invalid(String),
}

impl KeyMaterial {
    pub fn generate() -> Result<Self, KeyError> {
        let mut pepper = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut pepper);
        Ok(Self {
            signing_keys: vec![new_signing_key()?],
            code_pepper: URL_SAFE_NO_PAD.encode(pepper),
            extra: Default::default(),
        })
    }

    pub fn from_json(raw: &str) -> Result<Self, KeyError> {
        let material: Self = serde_json::from_str(raw).map_err(|e| KeyError::Invalid(e.to_string()))?;
        material.validate()?;
        Ok(material)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    fn validate(&self) -> Result<(), KeyError> {
        if self.signing_keys.is_empty() {
            return Err(KeyError::Invalid("no signing key".into()));
        }
        if self.pepper()?.len() < 32 {
            return Err(KeyError::Invalid("code_pepper shorter than 32 bytes".into()));
        }
        for key in &self.signing_keys {
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(&key.der()?)
                .map_err(|e| KeyError::Invalid(format!("signing key {}: {e}", key.kid)))?;
        }
        Ok(())
    }

    pub fn pepper(&self) -> Result<Vec<u8>, KeyError> {
        URL_SAFE_NO_PAD
            .decode(&self.code_pepper)
            .map_err(|e| KeyError::Invalid(format!("code_pepper: {e}")))
    }

    /// Reads the key file in `data_dir`, creating it (mode 0600) on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<(Self, bool), KeyError> {
        let path = data_dir.join("keys.json");
        match std::fs::read_to_string(&path) {
            Ok(raw) => Ok((Self::from_json(&raw)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let material = Self::generate()?;
                write_private(&path, material.to_json().as_bytes())?;
                // Another process may have won the race to create it; use whatever is there.
                let raw = std::fs::read_to_string(&path).map_err(|e| KeyError::Unreadable(e.to_string()))?;
                Ok((Self::from_json(&raw)?, true))
            }
            Err(e) => Err(KeyError::Unreadable(format!("{}: {e}", path.display()))),
        }
    }
}

impl SigningKeyRecord {
    pub fn der(&self) -> Result<Vec<u8>, KeyError> {
        URL_SAFE_NO_PAD
            .decode(&self.pkcs8)
            .map_err(|e| KeyError::Invalid(format!("signing key {}: {e}", self.kid)))
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key(&self) -> Result<Vec<u8>, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&self.der()?)
            .map_err(|e| KeyError::Invalid(format!("signing key {}: {e}", self.kid)))?;
        Ok(pair.public_key().as_ref().to_vec())
    }
}

pub fn new_signing_key() -> Result<SigningKeyRecord, KeyError> {
    let rng = ring::rand::SystemRandom::new();
    let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| KeyError::Invalid(e.to_string()))?;
    let kid = format!(
        "{}-{}",
        time::OffsetDateTime::now_utc().date(),
        &crate::security::random_token(6)
    );
    Ok(SigningKeyRecord {
        kid,
        pkcs8: URL_SAFE_NO_PAD.encode(doc.as_ref()),
    })
}

/// Creates `path` with owner-only permissions; fails if it already exists.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => file
            .write_all(bytes)
            .and_then(|_| file.sync_all())
            .map_err(|e| KeyError::Unreadable(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(KeyError::Unreadable(format!("{}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_material_round_trips_and_debug_hides_it() {
        let m = KeyMaterial::generate().unwrap();
        let back = KeyMaterial::from_json(&m.to_json()).unwrap();
        assert_eq!(back.signing_keys[0].kid, m.signing_keys[0].kid);
        assert!(!format!("{m:?}").contains(&m.code_pepper));
    }

    #[test]
    fn rejects_material_without_keys_or_with_a_short_pepper() {
        let mut m = KeyMaterial::generate().unwrap();
        m.code_pepper = URL_SAFE_NO_PAD.encode([1u8; 8]);
        assert!(KeyMaterial::from_json(&m.to_json()).is_err());
        let mut m = KeyMaterial::generate().unwrap();
        m.signing_keys.clear();
        assert!(KeyMaterial::from_json(&m.to_json()).is_err());
    }

    #[test]
    fn file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = KeyMaterial::load_or_create(dir.path()).unwrap();
        assert!(created);
        let (second, created) = KeyMaterial::load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(first.code_pepper, second.code_pepper);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("keys.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "key file readable by others");
        }
    }
}
