//! Encryption at rest for small secrets (authenticator-app seeds): AES-256-GCM with a random
//! 96-bit nonce per seal and associated data that binds each ciphertext to what it belongs to
//! (a sealed secret copied onto another account does not open there).
//!
//! A random nonce is safe here: a key seals one secret per enrolment, many orders of magnitude
//! below the 2^32 messages AES-GCM allows per key with random nonces.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use serde::{Deserialize, Serialize};

/// Length of a secret-box key in bytes.
pub const KEY_LEN: usize = 32;

/// A ciphertext as stored: version, nonce and ciphertext-with-tag, base64url.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Format version; 1 = AES-256-GCM, 96-bit nonce, 128-bit tag.
    pub v: u8,
    pub nonce: String,
    pub ct: String,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealed(***)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretBoxError {
    #[error("secret-box key must be {KEY_LEN} bytes")]
    BadKey,
    /// Wrong key, wrong associated data, or a tampered/corrupt ciphertext.
    #[error("sealed secret cannot be opened")]
    Unopenable,
}

/// An AEAD key. Debug output never shows it.
pub struct SecretBox {
    key: LessSafeKey,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    pub fn new(key: &[u8]) -> Result<Self, SecretBoxError> {
        if key.len() != KEY_LEN {
            return Err(SecretBoxError::BadKey);
        }
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| SecretBoxError::BadKey)?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    /// A fresh random key, base64url (the form kept in the key material).
    pub fn generate_key() -> String {
        let mut key = [0u8; KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut key);
        URL_SAFE_NO_PAD.encode(key)
    }

    pub fn seal(&self, plaintext: &[u8], associated: &[u8]) -> Result<Sealed, SecretBoxError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut in_out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(associated), &mut in_out)
            .map_err(|_| SecretBoxError::Unopenable)?;
        Ok(Sealed {
            v: 1,
            nonce: URL_SAFE_NO_PAD.encode(nonce),
            ct: URL_SAFE_NO_PAD.encode(in_out),
        })
    }

    pub fn open(&self, sealed: &Sealed, associated: &[u8]) -> Result<Vec<u8>, SecretBoxError> {
        if sealed.v != 1 {
            return Err(SecretBoxError::Unopenable);
        }
        let nonce: [u8; NONCE_LEN] = URL_SAFE_NO_PAD
            .decode(&sealed.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(SecretBoxError::Unopenable)?;
        let mut in_out = URL_SAFE_NO_PAD
            .decode(&sealed.ct)
            .map_err(|_| SecretBoxError::Unopenable)?;
        let plain = self
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(associated), &mut in_out)
            .map_err(|_| SecretBoxError::Unopenable)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretBox {
        let raw = URL_SAFE_NO_PAD.decode(SecretBox::generate_key()).unwrap();
        SecretBox::new(&raw).unwrap()
    }

    #[test]
    fn opens_only_with_the_same_key_and_associated_data() {
        let (a, b) = (key(), key());
        let sealed = a.seal(b"twenty bytes secret!", b"user:kari").unwrap();
        assert_eq!(a.open(&sealed, b"user:kari").unwrap(), b"twenty bytes secret!");
        assert_eq!(b.open(&sealed, b"user:kari"), Err(SecretBoxError::Unopenable));
        assert_eq!(a.open(&sealed, b"user:ola"), Err(SecretBoxError::Unopenable));
    }

    #[test]
    fn every_seal_uses_a_new_nonce_and_tampering_is_detected() {
        let a = key();
        let one = a.seal(b"same", b"x").unwrap();
        let two = a.seal(b"same", b"x").unwrap();
        assert_ne!(one.nonce, two.nonce);
        assert_ne!(one.ct, two.ct);
        let mut bytes = URL_SAFE_NO_PAD.decode(&one.ct).unwrap();
        bytes[0] ^= 1;
        let tampered = Sealed {
            ct: URL_SAFE_NO_PAD.encode(bytes),
            ..one.clone()
        };
        assert_eq!(a.open(&tampered, b"x"), Err(SecretBoxError::Unopenable));
        let garbage = Sealed {
            nonce: "!!".into(),
            ..one
        };
        assert_eq!(a.open(&garbage, b"x"), Err(SecretBoxError::Unopenable));
        assert!(!format!("{two:?}").contains(&two.ct));
    }

    #[test]
    fn refuses_keys_of_the_wrong_length() {
        assert_eq!(SecretBox::new(&[0u8; 16]).unwrap_err(), SecretBoxError::BadKey);
    }
}
