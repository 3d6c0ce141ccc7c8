//! The stored shapes of passkeys and of the WebAuthn ceremonies in flight (keys in
//! [`super::keys`]: `ACCOUNT#<username>`/`PASSKEY#<id>`, `PASSKEY#<sha256(credential id)>`/
//! `OWNER`, and `CHALLENGE#<id>`/`PASSKEY_REGISTRATION` or `PASSKEY_LOGIN`).

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{SecurityKey, SecurityKeyAuthentication, SecurityKeyRegistration};

use crate::clock::UnixTime;
use crate::domain::{PasskeyId, PasskeyName, Username};

/// One registered passkey of an account. The credential holds the public key, the signature
/// counter and the backup flags (`webauthn-rs` keeps them; no secret is stored).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasskeyRecord {
    pub id: PasskeyId,
    pub name: PasskeyName,
    pub credential: SecurityKey,
    pub created_at: UnixTime,
    #[serde(default)]
    pub last_used_at: Option<UnixTime>,
    /// The highest signature counter accepted so far (0: the authenticator keeps none). Kept
    /// here because a login's WebAuthn state holds the credential as it was when the login
    /// began: a counter checked only against that copy would miss a regression behind a
    /// login that finished in between.
    #[serde(default)]
    pub counter: u32,
}

/// The account a credential id belongs to; inserted only if absent, so one credential can
/// never be registered to two accounts (`webauthn-rs`: the relying party must assert that).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasskeyOwner {
    pub username: Username,
    pub passkey: PasskeyId,
}

/// An enrolment started by `POST /v1/account/passkeys`, for `username` only; deleted by the
/// one confirmation that uses it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasskeyRegistrationState {
    pub username: Username,
    pub state: SecurityKeyRegistration,
}

/// The WebAuthn challenge of a login challenge whose account has passkeys; deleted together
/// with the consumption of the login challenge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasskeyLoginState {
    pub username: Username,
    pub state: SecurityKeyAuthentication,
}
