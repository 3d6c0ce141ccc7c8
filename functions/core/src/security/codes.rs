//! One-time codes are stored only as HMAC-SHA256 under a server-side pepper, bound to the
//! challenge they were issued for, and compared in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::{ChallengeId, OneTimeCode};

#[derive(Clone)]
pub struct CodeHasher {
    pepper: Vec<u8>,
}

impl std::fmt::Debug for CodeHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeHasher(***)")
    }
}

impl CodeHasher {
    pub fn new(pepper: Vec<u8>) -> Self {
        Self { pepper }
    }

    pub fn hash(&self, challenge: &ChallengeId, code: &OneTimeCode) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.pepper)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(challenge.as_str().as_bytes());
        mac.update(b":");
        mac.update(code.expose().as_bytes());
        super::hex_encode(&mac.finalize().into_bytes())
    }

    /// A keyed hash of a non-code value under the same pepper, separated by `purpose` (device
    /// cookies, the security history's cursors): only the server can compute or check it.
    pub fn tag(&self, purpose: &str, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.pepper)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"hjemmekontor tag\0");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        super::hex_encode(&mac.finalize().into_bytes())
    }

    pub fn matches(&self, challenge: &ChallengeId, code: &OneTimeCode, stored: &str) -> bool {
        super::ct_eq(&self.hash(challenge, code), stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_bound_to_challenge_and_pepper() {
        let code = OneTimeCode::parse("123456").unwrap();
        let (c1, c2) = (ChallengeId::generate(), ChallengeId::generate());
        let h = CodeHasher::new(b"pepper-one".to_vec());
        let stored = h.hash(&c1, &code);
        assert!(h.matches(&c1, &code, &stored));
        assert!(!h.matches(&c2, &code, &stored));
        assert!(!CodeHasher::new(b"pepper-two".to_vec()).matches(&c1, &code, &stored));
        assert!(!stored.contains("123456"));
    }
}
