//! Refresh tokens without I/O: their format, and how a token of any generation of a session is
//! recognised as genuine from the stored salt and family hash alone.

use crate::domain::SessionId;
use crate::security::{ct_eq, random_token, sha256_hex};
use crate::store::records::Session;

/// The refresh cookie's value: `<session id>.<generation>.<family>.<secret>`.
///
/// Every token of a session shares its 256-bit `family` (only its hash is stored); each
/// rotation moves to the next `generation`, whose secret is HMAC-SHA256 keyed with the family
/// over the session's stored salt and the generation number. So the server can recognise a
/// token of ANY earlier generation as genuine without keeping a list of them, and presenting
/// one means it was copied (OAuth 2.0 Security BCP §4.14.2): the whole session ends. Someone
/// holding an old token cannot compute a newer one (that needs the salt, which never leaves
/// the store), and someone reading the store cannot compute any (that needs the family).
#[derive(Clone)]
pub struct RefreshToken {
    pub session: SessionId,
    pub(crate) generation: u64,
    family: String,
    secret: String,
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RefreshToken({}, generation {}, ***)", self.session, self.generation)
    }
}

/// Length of a 256-bit value in unpadded base64url.
const ENCODED_256_BITS: usize = 43;

/// Generations are counted from 1; a session refreshed every second for its whole life stays
/// far below this, so a longer number is a forgery.
const MAX_GENERATION_DIGITS: usize = 8;

fn is_encoded_256_bits(s: &str) -> bool {
    s.len() == ENCODED_256_BITS && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The secret of `generation` in the family `family` with the session's `salt`.
fn generation_secret(family: &str, salt: &str, generation: u64) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(family.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"hjemmekontor refresh token\0");
    mac.update(salt.as_bytes());
    mac.update(&generation.to_be_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// What the store keeps of a session's refresh tokens: nothing that lets anyone make one.
pub(crate) struct RefreshFamily {
    pub(crate) family_hash: String,
    pub(crate) salt: String,
}

impl RefreshToken {
    /// The first token of a new session, and what the session record stores of it.
    pub(crate) fn first(session: SessionId) -> (Self, RefreshFamily) {
        let family = random_token(32);
        let salt = random_token(32);
        let token = Self {
            session,
            generation: 1,
            secret: generation_secret(&family, &salt, 1),
            family: family.clone(),
        };
        (
            token,
            RefreshFamily {
                family_hash: sha256_hex(&family),
                salt,
            },
        )
    }

    /// The token that replaces this one.
    pub(crate) fn next(&self, salt: &str) -> Self {
        let generation = self.generation + 1;
        Self {
            session: self.session.clone(),
            generation,
            family: self.family.clone(),
            secret: generation_secret(&self.family, salt, generation),
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.split('.');
        let (sid, generation, family, secret) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !is_encoded_256_bits(family) || !is_encoded_256_bits(secret) {
            return None;
        }
        let well_formed_generation = !generation.is_empty()
            && generation.len() <= MAX_GENERATION_DIGITS
            && generation.bytes().all(|b| b.is_ascii_digit())
            && !generation.starts_with('0');
        if !well_formed_generation {
            return None;
        }
        Some(Self {
            session: SessionId::parse(sid).ok()?,
            generation: generation.parse().ok()?,
            family: family.to_owned(),
            secret: secret.to_owned(),
        })
    }

    pub fn encode(&self) -> String {
        format!("{}.{}.{}.{}", self.session, self.generation, self.family, self.secret)
    }

    /// Whether this token was issued for `session` (at whatever generation).
    pub(crate) fn is_genuine_for(&self, session: &Session) -> bool {
        session.refresh_family_hash.as_deref().is_some_and(|stored| {
            ct_eq(stored, &sha256_hex(&self.family))
                && ct_eq(
                    &self.secret,
                    &generation_secret(&self.family, &session.refresh_salt, self.generation),
                )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Username;

    fn session_for(token: &RefreshToken, family: RefreshFamily) -> Session {
        Session {
            id: token.session.clone(),
            username: Username::parse("kari").unwrap(),
            refresh_family_hash: Some(family.family_hash),
            refresh_salt: family.salt,
            refresh_generation: token.generation,
            created_at: 0,
            last_used_at: 0,
            absolute_expires_at: 100,
            remember_me: false,
            revoked_at: None,
            password_change_required: Some(false),
            second_factor_at: None,
        }
    }

    #[test]
    fn refresh_token_parse_rejects_malformed_values() {
        let (t, _) = RefreshToken::first(SessionId::generate());
        assert!(RefreshToken::parse(&t.encode()).is_some());
        let family = "f".repeat(43);
        let secret = "s".repeat(43);
        for bad in [
            "".to_owned(),
            "abc".to_owned(),
            "a.b".to_owned(),
            format!("{}.{secret}", t.session),
            format!("{}.1.{family}", t.session),
            format!("{}.1.{family}.short", t.session),
            format!("{}.0.{family}.{secret}", t.session),
            format!("{}.01.{family}.{secret}", t.session),
            format!("{}.-1.{family}.{secret}", t.session),
            format!("{}.123456789.{family}.{secret}", t.session),
            format!("{}.1.{family}.{secret}.x", t.session),
            format!("{}x", t.encode()),
        ] {
            assert!(RefreshToken::parse(&bad).is_none(), "{bad:?}");
        }
        assert!(!format!("{t:?}").contains(&t.secret));
        assert!(!format!("{t:?}").contains(&t.family));
    }

    #[test]
    fn every_generation_is_recognised_and_none_can_be_made_without_the_salt() {
        let (first, family) = RefreshToken::first(SessionId::generate());
        let salt = family.salt.clone();
        let mut session = session_for(&first, family);
        let mut tokens = vec![first];
        for _ in 0..5 {
            let next = tokens.last().unwrap().next(&salt);
            session.refresh_generation = next.generation;
            tokens.push(next);
        }
        for token in &tokens {
            assert!(token.is_genuine_for(&session), "generation {}", token.generation);
        }
        // Whoever holds a token knows its family but not the salt: a guess at the next one fails.
        let guessed = tokens[0].next("not the salt");
        assert!(!guessed.is_genuine_for(&session));
        let mut relabelled = tokens[5].clone();
        relabelled.generation = 2;
        assert!(
            !relabelled.is_genuine_for(&session),
            "a generation number is bound to its secret"
        );
        // The store holds only the family's hash and the salt: neither is a token.
        let stored = serde_json::to_string(&session).unwrap();
        assert!(tokens
            .iter()
            .all(|t| !stored.contains(&t.secret) && !stored.contains(&t.family)));
    }
}
