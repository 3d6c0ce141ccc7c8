//! Key material: token signing keys (Ed25519, with `kid`) and the code-hash pepper.
//!
//! Serialised as one JSON document, the local data dir's `keys.json`. In AWS the same keys are
//! split into one secret per purpose ([`super::key_parts`]), so each function holds only its
//! own; `portal-local` builds the same parts from this file. The first signing key signs;
//! every listed key verifies, which is how rotation works (add a new key first, keep the old
//! one until its tokens have expired).

use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use ring::signature::{Ed25519KeyPair, KeyPair};

/// Name in [`KeyMaterial::extra`] of the AES-256 key that encrypts authenticator-app secrets
/// (32 bytes, base64url).
pub const TOTP_KEY: &str = "totp_key";

/// Where a local data dir whose `keys.json` predates [`TOTP_KEY`] keeps that key.
const TOTP_KEY_FILE: &str = "totp-key.json";

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
    /// A setting the app derives something from once (`PORTAL_URL`'s WebAuthn relying party).
    #[error("setting invalid: {0}")]
    Setting(String),
}

impl KeyMaterial {
    pub fn generate() -> Result<Self, KeyError> {
        let mut pepper = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut pepper);
        let mut extra = std::collections::BTreeMap::new();
        extra.insert(TOTP_KEY.to_owned(), super::secretbox::SecretBox::generate_key());
        Ok(Self {
            signing_keys: vec![new_signing_key()?],
            code_pepper: URL_SAFE_NO_PAD.encode(pepper),
            extra,
        })
    }

    pub fn from_json(raw: &str) -> Result<Self, KeyError> {
        // serde's messages quote the offending value, which here would be a secret: report
        // only where the document is wrong.
        let material: Self = serde_json::from_str(raw).map_err(|e| {
            KeyError::Invalid(format!(
                "not a key material document ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
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
        self.totp_key()?;
        Ok(())
    }

    /// The key that encrypts authenticator-app secrets, if the material has one. Without it
    /// the portal runs, but enrolling an authenticator app is refused.
    pub fn totp_key(&self) -> Result<Option<Vec<u8>>, KeyError> {
        let Some(encoded) = self.extra.get(TOTP_KEY) else {
            return Ok(None);
        };
        let key = URL_SAFE_NO_PAD
            .decode(encoded.trim())
            .map_err(|_| KeyError::Invalid(format!("{TOTP_KEY}: not base64url")))?;
        if key.len() != super::secretbox::KEY_LEN {
            return Err(KeyError::Invalid(format!(
                "{TOTP_KEY}: must be {} bytes",
                super::secretbox::KEY_LEN
            )));
        }
        Ok(Some(key))
    }

    /// Gives material from a `keys.json` written before [`TOTP_KEY`] existed a TOTP key of its
    /// own, kept beside it. The file is created exclusively and then read back, so processes
    /// starting together on one data dir all end up with the same key.
    fn ensure_local_totp_key(&mut self, data_dir: &Path) -> Result<(), KeyError> {
        if self.extra.contains_key(TOTP_KEY) {
            return Ok(());
        }
        let path = data_dir.join(TOTP_KEY_FILE);
        let fresh = serde_json::json!({ TOTP_KEY: super::secretbox::SecretBox::generate_key() });
        write_private(&path, fresh.to_string().as_bytes())?;
        let raw =
            std::fs::read_to_string(&path).map_err(|e| KeyError::Unreadable(format!("{}: {e}", path.display())))?;
        let stored: std::collections::BTreeMap<String, String> = serde_json::from_str(&raw)
            .map_err(|_| KeyError::Invalid(format!("{}: not a key document", path.display())))?;
        let key = stored
            .get(TOTP_KEY)
            .ok_or_else(|| KeyError::Invalid(format!("{}: no {TOTP_KEY}", path.display())))?;
        self.extra.insert(TOTP_KEY.to_owned(), key.clone());
        self.totp_key()?;
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
            Ok(raw) => {
                let mut material = Self::from_json(&raw)?;
                material.ensure_local_totp_key(data_dir)?;
                Ok((material, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let material = Self::generate()?;
                write_private(&path, material.to_json().as_bytes())?;
                // Another process may have won the race to create it; use whatever is there.
                let raw = std::fs::read_to_string(&path).map_err(|e| KeyError::Unreadable(e.to_string()))?;
                let mut material = Self::from_json(&raw)?;
                material.ensure_local_totp_key(data_dir)?;
                Ok((material, true))
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
    fn generated_material_has_a_totp_key_and_a_bad_one_is_refused() {
        let m = KeyMaterial::generate().unwrap();
        assert_eq!(m.totp_key().unwrap().map(|k| k.len()), Some(32));
        let mut short = m.clone();
        short.extra.insert(TOTP_KEY.into(), URL_SAFE_NO_PAD.encode([7u8; 16]));
        assert!(KeyMaterial::from_json(&short.to_json()).is_err());
        let mut none = m;
        none.extra.clear();
        assert_eq!(
            KeyMaterial::from_json(&none.to_json()).unwrap().totp_key().unwrap(),
            None
        );
    }

    #[test]
    fn a_key_file_without_a_totp_key_gets_one_that_stays_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let mut old = KeyMaterial::generate().unwrap();
        old.extra.clear();
        std::fs::write(dir.path().join("keys.json"), old.to_json()).unwrap();
        let (first, _) = KeyMaterial::load_or_create(dir.path()).unwrap();
        let (second, _) = KeyMaterial::load_or_create(dir.path()).unwrap();
        let key = first.totp_key().unwrap().expect("a TOTP key was added");
        assert_eq!(second.totp_key().unwrap(), Some(key));
        assert_eq!(
            first.code_pepper, old.code_pepper,
            "the rest of the material is untouched"
        );
    }

    #[test]
    fn errors_about_a_malformed_document_do_not_quote_its_secrets() {
        let m = KeyMaterial::generate().unwrap();
        let wrong_type = format!(
            r#"{{"signing_keys":"{}","code_pepper":"{}"}}"#,
            m.signing_keys[0].pkcs8, m.code_pepper
        );
        let message = KeyMaterial::from_json(&wrong_type).unwrap_err().to_string();
        assert!(!message.contains(&m.signing_keys[0].pkcs8), "{message}");
        assert!(message.contains("line 1"), "{message}");
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
