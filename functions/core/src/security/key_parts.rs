//! Key material split by purpose, so that each Lambda function holds only the keys its routes
//! use (DESIGN §1, issue 14 item 6).
//!
//! In AWS every purpose is its own Secrets Manager secret holding one small JSON document; a
//! function's environment names only the secrets of its purposes ([`KeyPurpose::env_var`]),
//! its role may read only those, and each secret's resource policy admits only those roles.
//! Locally `portal-local` keeps one `keys.json` ([`KeyMaterial`]) and builds the same parts
//! from it; `portal-admin key-documents` writes the per-purpose documents an operator stores.
//!
//! | purpose            | document                                 | functions                |
//! |--------------------|------------------------------------------|--------------------------|
//! | token signing      | `{"signing_keys":[{"kid","pkcs8"}]}`     | sms-code                 |
//! | token verification | `{"verifying_keys":[{"kid","public_key"}]}` | account, buypass      |
//! | code pepper        | `{"code_pepper":"…"}`                    | login, sms-code, account |
//! | TOTP key           | `{"totp_key":"…"}`                       | login, sms-code, account |
//! | Buypass client key | `{"buypass_client_key":"…"}`             | buypass                  |
//! | origin secret      | `{"origin_verify":["…"]}`                | every HTTP function but serial-activation |
//!
//! The verification document carries only public keys: a function that holds it can check
//! access tokens and cannot mint them ([`crate::security::tokens::TokenVerifier`] has no
//! `issue`). Rotation works as before: the signing document lists several keys, the first
//! signs; the verification document lists the public halves of all of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::keys::{KeyError, KeyMaterial, SigningKeyRecord, TOTP_KEY};

/// What a piece of key material is for; one secret each in AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyPurpose {
    /// Ed25519 private keys that mint access tokens.
    TokenSigning,
    /// The public halves of the signing keys: verify access tokens, cannot mint them.
    TokenVerifying,
    /// HMAC key of the one-time SMS codes (login, reset, phone change).
    CodePepper,
    /// AES-256 key of the authenticator-app secrets.
    TotpKey,
    /// ES256 key of our `private_key_jwt` client assertions at Buypass.
    BuypassClientKey,
    /// The header value CloudFront adds to every request it passes to the API; requests
    /// without it came around CloudFront and its WAF (`portal_http::origin`).
    OriginVerify,
}

impl KeyPurpose {
    pub const ALL: [KeyPurpose; 6] = [
        KeyPurpose::TokenSigning,
        KeyPurpose::TokenVerifying,
        KeyPurpose::CodePepper,
        KeyPurpose::TotpKey,
        KeyPurpose::BuypassClientKey,
        KeyPurpose::OriginVerify,
    ];

    /// The environment variable holding the secret's id (ARN or name) in a Lambda function.
    /// infra/checks/check_contract.py reads these arms.
    pub const fn env_var(self) -> &'static str {
        match self {
            KeyPurpose::TokenSigning => "PORTAL_TOKEN_SIGNING_SECRET_ID",
            KeyPurpose::TokenVerifying => "PORTAL_TOKEN_VERIFYING_SECRET_ID",
            KeyPurpose::CodePepper => "PORTAL_CODE_PEPPER_SECRET_ID",
            KeyPurpose::TotpKey => "PORTAL_TOTP_KEY_SECRET_ID",
            KeyPurpose::BuypassClientKey => "PORTAL_BUYPASS_CLIENT_KEY_SECRET_ID",
            KeyPurpose::OriginVerify => "PORTAL_ORIGIN_VERIFY_SECRET_ID",
        }
    }

    /// File name of the document `portal-admin key-documents` writes, and the secret's name
    /// suffix in infra/secrets.tf.
    pub const fn name(self) -> &'static str {
        match self {
            KeyPurpose::TokenSigning => "token-signing",
            KeyPurpose::TokenVerifying => "token-verifying",
            KeyPurpose::CodePepper => "code-pepper",
            KeyPurpose::TotpKey => "totp-key",
            KeyPurpose::BuypassClientKey => "buypass-client-key",
            KeyPurpose::OriginVerify => "origin-verify",
        }
    }
}

/// A public token-verification key: the raw 32-byte Ed25519 public key, base64url.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyingKeyRecord {
    pub kid: String,
    pub public_key: String,
}

impl VerifyingKeyRecord {
    pub fn raw(&self) -> Result<Vec<u8>, KeyError> {
        let raw = URL_SAFE_NO_PAD
            .decode(self.public_key.trim())
            .map_err(|_| KeyError::Invalid(format!("verifying key {}: not base64url", self.kid)))?;
        if raw.len() != 32 {
            return Err(KeyError::Invalid(format!(
                "verifying key {}: not a 32-byte Ed25519 public key",
                self.kid
            )));
        }
        Ok(raw)
    }
}

// The documents. `deny_unknown_fields` makes a document of one purpose unusable as another: a
// verify-only function configured with the signing secret by mistake refuses to start rather
// than holding private keys.

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SigningDocument {
    signing_keys: Vec<SigningKeyRecord>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyingDocument {
    verifying_keys: Vec<VerifyingKeyRecord>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PepperDocument {
    code_pepper: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TotpDocument {
    totp_key: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuypassDocument {
    buypass_client_key: String,
}

/// Every listed value is accepted (rotation: add the new one, switch CloudFront, drop the old).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OriginDocument {
    origin_verify: Vec<String>,
}

/// Shortest origin secret accepted: it must not be guessable.
pub const ORIGIN_SECRET_MIN_LEN: usize = 32;

/// Whether a function can open authenticator-app secrets.
#[derive(Clone, Default)]
pub enum TotpPart {
    /// It holds the key (login, sms-code, account, portal-local).
    Key(Vec<u8>),
    /// It does not, but the functions that do are deployed with it: the Buypass start only
    /// needs to know that authenticator apps work (to ask an app's owner for a step-up).
    HeldByOtherFunctions,
    /// No TOTP key anywhere: enrolment is refused and login uses SMS.
    #[default]
    Absent,
}

/// The key material one process holds, each part present only if it was loaded. Debug output
/// shows which parts are present, never their values.
#[derive(Clone, Default)]
pub struct KeyParts {
    pub signing: Option<Vec<SigningKeyRecord>>,
    pub verifying: Option<Vec<VerifyingKeyRecord>>,
    pub code_pepper: Option<Vec<u8>>,
    pub totp: TotpPart,
    /// PKCS#8 base64url (see [`crate::buypass::keys::Es256Key::from_encoded`]).
    pub buypass_client_key: Option<String>,
    /// The header values CloudFront may send (`portal_http::origin`).
    pub origin_verify: Option<Vec<String>>,
}

impl std::fmt::Debug for KeyParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyParts {{ held: {:?} }}", self.held())
    }
}

fn invalid_document(purpose: KeyPurpose, e: &serde_json::Error) -> KeyError {
    // serde's messages may quote the offending value, which here would be a secret.
    KeyError::Invalid(format!(
        "not a {} document ({:?} error at line {} column {})",
        purpose.name(),
        e.classify(),
        e.line(),
        e.column()
    ))
}

impl KeyParts {
    /// A fresh origin secret (`portal-admin keys generate`).
    pub fn generate_origin_secret() -> String {
        super::random_token(32)
    }

    /// Fresh key material of every purpose but the Buypass client key and the origin secret
    /// (tests, benches).
    pub fn generate() -> Result<Self, KeyError> {
        Self::from_material(&KeyMaterial::generate()?)
    }

    /// Every part of one local key file; the verification keys are derived from the signing
    /// keys.
    pub fn from_material(material: &KeyMaterial) -> Result<Self, KeyError> {
        let verifying = material
            .signing_keys
            .iter()
            .map(|k| {
                Ok(VerifyingKeyRecord {
                    kid: k.kid.clone(),
                    public_key: URL_SAFE_NO_PAD.encode(k.public_key()?),
                })
            })
            .collect::<Result<Vec<_>, KeyError>>()?;
        Ok(Self {
            signing: Some(material.signing_keys.clone()),
            verifying: Some(verifying),
            code_pepper: Some(material.pepper()?),
            totp: material.totp_key()?.map(TotpPart::Key).unwrap_or_default(),
            buypass_client_key: material.extra.get(crate::buypass::keys::CLIENT_KEY_NAME).cloned(),
            // Locally there is no CloudFront in front: nothing to check.
            origin_verify: None,
        })
    }

    /// Only the parts for `purposes`; the rest are dropped.
    pub fn only(mut self, purposes: &[KeyPurpose]) -> Self {
        let keep = |p: KeyPurpose| purposes.contains(&p);
        if !keep(KeyPurpose::TokenSigning) {
            self.signing = None;
        }
        if !keep(KeyPurpose::TokenVerifying) {
            self.verifying = None;
        }
        if !keep(KeyPurpose::CodePepper) {
            self.code_pepper = None;
        }
        if !keep(KeyPurpose::TotpKey) {
            self.totp = TotpPart::Absent;
        }
        if !keep(KeyPurpose::BuypassClientKey) {
            self.buypass_client_key = None;
        }
        if !keep(KeyPurpose::OriginVerify) {
            self.origin_verify = None;
        }
        self
    }

    /// The purposes whose parts are present.
    pub fn held(&self) -> Vec<KeyPurpose> {
        let mut out = Vec::new();
        if self.signing.is_some() {
            out.push(KeyPurpose::TokenSigning);
        }
        if self.verifying.is_some() {
            out.push(KeyPurpose::TokenVerifying);
        }
        if self.code_pepper.is_some() {
            out.push(KeyPurpose::CodePepper);
        }
        if matches!(self.totp, TotpPart::Key(_)) {
            out.push(KeyPurpose::TotpKey);
        }
        if self.buypass_client_key.is_some() {
            out.push(KeyPurpose::BuypassClientKey);
        }
        if self.origin_verify.is_some() {
            out.push(KeyPurpose::OriginVerify);
        }
        out
    }

    /// Reads one per-purpose document (a secret's value) into its part, validating it.
    pub fn add_document(&mut self, purpose: KeyPurpose, raw: &str) -> Result<(), KeyError> {
        match purpose {
            KeyPurpose::TokenSigning => {
                let doc: SigningDocument = serde_json::from_str(raw).map_err(|e| invalid_document(purpose, &e))?;
                if doc.signing_keys.is_empty() {
                    return Err(KeyError::Invalid("token-signing: no signing key".into()));
                }
                for key in &doc.signing_keys {
                    key.public_key()?;
                }
                self.signing = Some(doc.signing_keys);
            }
            KeyPurpose::TokenVerifying => {
                let doc: VerifyingDocument = serde_json::from_str(raw).map_err(|e| invalid_document(purpose, &e))?;
                if doc.verifying_keys.is_empty() {
                    return Err(KeyError::Invalid("token-verifying: no verifying key".into()));
                }
                for key in &doc.verifying_keys {
                    key.raw()?;
                }
                self.verifying = Some(doc.verifying_keys);
            }
            KeyPurpose::CodePepper => {
                let doc: PepperDocument = serde_json::from_str(raw).map_err(|e| invalid_document(purpose, &e))?;
                let pepper = URL_SAFE_NO_PAD
                    .decode(doc.code_pepper.trim())
                    .map_err(|_| KeyError::Invalid("code_pepper: not base64url".into()))?;
                if pepper.len() < 32 {
                    return Err(KeyError::Invalid("code_pepper shorter than 32 bytes".into()));
                }
                self.code_pepper = Some(pepper);
            }
            KeyPurpose::TotpKey => {
                let doc: TotpDocument = serde_json::from_str(raw).map_err(|e| invalid_document(purpose, &e))?;
                let key = URL_SAFE_NO_PAD
                    .decode(doc.totp_key.trim())
                    .map_err(|_| KeyError::Invalid(format!("{TOTP_KEY}: not base64url")))?;
                if key.len() != super::secretbox::KEY_LEN {
                    return Err(KeyError::Invalid(format!(
                        "{TOTP_KEY}: must be {} bytes",
                        super::secretbox::KEY_LEN
                    )));
                }
                self.totp = TotpPart::Key(key);
            }
            KeyPurpose::BuypassClientKey => {
                let doc: BuypassDocument = serde_json::from_str(raw).map_err(|e| invalid_document(purpose, &e))?;
                crate::buypass::keys::Es256Key::from_encoded(&doc.buypass_client_key)?;
                self.buypass_client_key = Some(doc.buypass_client_key);
            }
            KeyPurpose::OriginVerify => {
                let doc: OriginDocument = serde_json::from_str(raw).map_err(|e| invalid_document(purpose, &e))?;
                if doc.origin_verify.is_empty() {
                    return Err(KeyError::Invalid("origin_verify: no value".into()));
                }
                // A header value: long, random, and nothing a proxy would rewrite.
                let usable = |v: &String| {
                    v.len() >= ORIGIN_SECRET_MIN_LEN
                        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                };
                if !doc.origin_verify.iter().all(usable) {
                    return Err(KeyError::Invalid(format!(
                        "origin_verify: each value must be at least {ORIGIN_SECRET_MIN_LEN} characters of A-Z a-z 0-9 - _"
                    )));
                }
                self.origin_verify = Some(doc.origin_verify);
            }
        }
        Ok(())
    }

    /// The per-purpose documents of the parts present (what an operator stores as secret
    /// values), in [`KeyPurpose::ALL`] order.
    pub fn documents(&self) -> Vec<(KeyPurpose, String)> {
        let mut out: Vec<(KeyPurpose, String)> = Vec::new();
        if let Some(keys) = &self.signing {
            out.push((
                KeyPurpose::TokenSigning,
                pretty(&SigningDocument {
                    signing_keys: keys.clone(),
                }),
            ));
        }
        if let Some(keys) = &self.verifying {
            out.push((
                KeyPurpose::TokenVerifying,
                pretty(&VerifyingDocument {
                    verifying_keys: keys.clone(),
                }),
            ));
        }
        if let Some(pepper) = &self.code_pepper {
            out.push((
                KeyPurpose::CodePepper,
                pretty(&PepperDocument {
                    code_pepper: URL_SAFE_NO_PAD.encode(pepper),
                }),
            ));
        }
        if let TotpPart::Key(key) = &self.totp {
            out.push((
                KeyPurpose::TotpKey,
                pretty(&TotpDocument {
                    totp_key: URL_SAFE_NO_PAD.encode(key),
                }),
            ));
        }
        if let Some(key) = &self.buypass_client_key {
            out.push((
                KeyPurpose::BuypassClientKey,
                pretty(&BuypassDocument {
                    buypass_client_key: key.clone(),
                }),
            ));
        }
        if let Some(values) = &self.origin_verify {
            out.push((
                KeyPurpose::OriginVerify,
                pretty(&OriginDocument {
                    origin_verify: values.clone(),
                }),
            ));
        }
        out
    }

    /// Puts a new signing key first (it signs from now on) and publishes its public half in
    /// the verification keys; the old keys keep verifying until [`Self::retire`].
    pub fn rotate_signing(&mut self) -> Result<String, KeyError> {
        let signing = self
            .signing
            .as_mut()
            .ok_or_else(|| KeyError::Invalid("no token-signing document to rotate".into()))?;
        let fresh = super::keys::new_signing_key()?;
        let kid = fresh.kid.clone();
        let public = VerifyingKeyRecord {
            kid: kid.clone(),
            public_key: URL_SAFE_NO_PAD.encode(fresh.public_key()?),
        };
        signing.insert(0, fresh);
        self.verifying.get_or_insert_with(Vec::new).insert(0, public);
        Ok(kid)
    }

    /// Drops key `kid` from signing and verification (after the access-token lifetime has
    /// passed since the key after it started signing). The signing key in use cannot go.
    pub fn retire(&mut self, kid: &str) -> Result<(), KeyError> {
        let signing = self
            .signing
            .as_mut()
            .ok_or_else(|| KeyError::Invalid("no token-signing document".into()))?;
        match signing.iter().position(|k| k.kid == kid) {
            Some(0) => return Err(KeyError::Invalid(format!("{kid} is the key that signs; rotate first"))),
            Some(i) => {
                signing.remove(i);
            }
            None => return Err(KeyError::Invalid(format!("no signing key {kid}"))),
        }
        if let Some(verifying) = self.verifying.as_mut() {
            verifying.retain(|k| k.kid != kid);
        }
        Ok(())
    }

    /// Reads per-purpose documents by name (`<purpose name>.json` files' contents).
    pub fn from_documents(documents: &BTreeMap<KeyPurpose, String>) -> Result<Self, KeyError> {
        let mut parts = Self::default();
        for (purpose, raw) in documents {
            parts.add_document(*purpose, raw)?;
        }
        Ok(parts)
    }
}

/// File name of a purpose's document in an operator's key directory.
pub fn document_file(purpose: KeyPurpose) -> String {
    format!("{}.json", purpose.name())
}

/// Writes the documents of `parts` into `dir` (created owner-only), one owner-only file per
/// purpose. With `replace`, existing files are replaced atomically (rotation); without it,
/// an existing file is an error, so a second `generate` never overwrites live keys.
pub fn write_documents(dir: &Path, parts: &KeyParts, replace: bool) -> Result<Vec<PathBuf>, KeyError> {
    let io = |path: &Path, e: std::io::Error| KeyError::Unreadable(format!("{}: {e}", path.display()));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| io(dir, e))?;
    }
    let documents = parts.documents();
    if !replace {
        if let Some(existing) = documents
            .iter()
            .map(|(p, _)| dir.join(document_file(*p)))
            .find(|path| path.exists())
        {
            return Err(KeyError::Invalid(format!(
                "{} exists already; not overwriting key material",
                existing.display()
            )));
        }
    }
    let mut written = Vec::new();
    for (purpose, document) in documents {
        let path = dir.join(document_file(purpose));
        let temp = dir.join(format!(".{}.{}.tmp", document_file(purpose), super::random_token(6)));
        super::keys::write_private(&temp, document.as_bytes())?;
        std::fs::rename(&temp, &path).map_err(|e| io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

/// Reads every per-purpose document present in `dir`.
pub fn read_documents(dir: &Path) -> Result<KeyParts, KeyError> {
    let mut documents = BTreeMap::new();
    for purpose in KeyPurpose::ALL {
        let path = dir.join(document_file(purpose));
        match std::fs::read_to_string(&path) {
            Ok(raw) => {
                documents.insert(purpose, raw);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(KeyError::Unreadable(format!("{}: {e}", path.display()))),
        }
    }
    if documents.is_empty() {
        return Err(KeyError::Invalid(format!("{}: no key documents", dir.display())));
    }
    KeyParts::from_documents(&documents)
}

fn pretty<T: Serialize>(document: &T) -> String {
    serde_json::to_string_pretty(document).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_parts() -> KeyParts {
        KeyParts::from_material(&KeyMaterial::generate().unwrap()).unwrap()
    }

    #[test]
    fn documents_round_trip_per_purpose() {
        let parts = all_parts();
        let docs: BTreeMap<KeyPurpose, String> = parts.documents().into_iter().collect();
        let back = KeyParts::from_documents(&docs).unwrap();
        assert_eq!(back.held(), parts.held());
        assert_eq!(back.code_pepper, parts.code_pepper);
        assert_eq!(back.verifying, parts.verifying);
    }

    #[test]
    fn the_verification_document_holds_no_private_key() {
        let parts = all_parts();
        let signing = &parts.signing.as_ref().unwrap()[0];
        let docs: BTreeMap<KeyPurpose, String> = parts.documents().into_iter().collect();
        let verifying = &docs[&KeyPurpose::TokenVerifying];
        assert!(!verifying.contains(&signing.pkcs8), "{verifying}");
        assert!(!verifying.contains("pkcs8"), "{verifying}");
    }

    #[test]
    fn a_document_of_another_purpose_is_refused_without_quoting_it() {
        let parts = all_parts();
        let docs: BTreeMap<KeyPurpose, String> = parts.documents().into_iter().collect();
        let signing_doc = &docs[&KeyPurpose::TokenSigning];
        let mut verify_only = KeyParts::default();
        let error = verify_only
            .add_document(KeyPurpose::TokenVerifying, signing_doc)
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a token-verifying document"), "{error}");
        assert!(!error.contains(&parts.signing.as_ref().unwrap()[0].pkcs8), "{error}");
        assert!(verify_only.signing.is_none() && verify_only.verifying.is_none());
    }

    #[test]
    fn only_keeps_the_named_purposes() {
        let parts = all_parts().only(&[KeyPurpose::TokenVerifying, KeyPurpose::BuypassClientKey]);
        assert!(parts.signing.is_none());
        assert!(parts.code_pepper.is_none());
        assert!(matches!(parts.totp, TotpPart::Absent));
        assert_eq!(parts.held(), vec![KeyPurpose::TokenVerifying]);
    }

    #[test]
    fn rotation_signs_with_the_new_key_and_keeps_the_old_one_verifying_until_retired() {
        let mut parts = all_parts();
        let old = parts.signing.as_ref().unwrap()[0].kid.clone();
        let new = parts.rotate_signing().unwrap();
        let kids = |p: &KeyParts| -> (Vec<String>, Vec<String>) {
            (
                p.signing.as_ref().unwrap().iter().map(|k| k.kid.clone()).collect(),
                p.verifying.as_ref().unwrap().iter().map(|k| k.kid.clone()).collect(),
            )
        };
        assert_eq!(
            kids(&parts),
            (vec![new.clone(), old.clone()], vec![new.clone(), old.clone()])
        );
        assert!(parts.retire(&new).is_err(), "the signing key cannot be retired");
        parts.retire(&old).unwrap();
        assert_eq!(kids(&parts), (vec![new.clone()], vec![new]));
    }

    #[test]
    fn key_documents_are_written_owner_only_never_overwritten_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("keys");
        let parts = all_parts();
        let written = write_documents(&out, &parts, false).unwrap();
        assert_eq!(written.len(), parts.held().len());
        #[cfg(unix)]
        for path in &written {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} readable by others", path.display());
        }
        let before = std::fs::read_to_string(&written[0]).unwrap();
        assert!(write_documents(&out, &all_parts(), false).is_err());
        assert_eq!(
            std::fs::read_to_string(&written[0]).unwrap(),
            before,
            "live keys untouched"
        );
        let mut back = read_documents(&out).unwrap();
        assert_eq!(back.held(), parts.held());
        back.rotate_signing().unwrap();
        write_documents(&out, &back, true).unwrap();
        let rotated = read_documents(&out).unwrap();
        assert_eq!(rotated.signing.as_ref().unwrap().len(), 2);
        assert_eq!(rotated.verifying.as_ref().unwrap().len(), 2);
        assert_eq!(
            rotated.code_pepper, parts.code_pepper,
            "rotation leaves the other purposes alone"
        );
    }
}
