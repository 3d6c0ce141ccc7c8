//! Cryptography the portal relies on: password hashing, code hashing, tokens, key material.

pub mod codes;
pub mod key_parts;
pub mod keys;
pub mod passwords;
pub mod secretbox;
pub mod secrets_manager;
pub mod tokens;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `n` bytes from the OS CSPRNG, base64url.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 (hex) of a high-entropy secret; enough for random tokens, never for passwords.
pub fn sha256_hex(secret: &str) -> String {
    hex_encode(&Sha256::digest(secret.as_bytes()))
}

pub fn hex_encode(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Constant-time equality of two secrets (or their hashes).
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
