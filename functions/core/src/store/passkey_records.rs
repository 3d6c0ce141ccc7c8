//! The stored shapes of passkeys and of the WebAuthn ceremonies in flight (keys in
//! [`super::keys`]: `ACCOUNT#<username>`/`PASSKEY#<id>`, `PASSKEY#<sha256(credential id)>`/
//! `OWNER`, and `CHALLENGE#<id>`/`PASSKEY_REGISTRATION`, `PASSKEY_LOGIN` or `PASSKEY_STEP_UP`).

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    CredentialID, PublicKeyCredential, SecurityKey, SecurityKeyAuthentication, SecurityKeyRegistration,
};

use super::keys::{account_pk, passkey_sk};
use super::Key;

use crate::clock::UnixTime;
use crate::domain::{PasskeyId, PasskeyName, SessionId, Username};

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
    /// What the passkey counts from for "this wasn't me" (`services::step_up`) when it was
    /// added while the account had a settled factor: that factor's date. `None`: its own
    /// `created_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts_since: Option<UnixTime>,
}

/// The account a credential id belongs to; inserted only if absent, so one credential can
/// never be registered to two accounts (`webauthn-rs`: the relying party must assert that).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasskeyOwner {
    pub username: Username,
    pub passkey: PasskeyId,
}

/// A step-up with a passkey opened by `POST /v1/account/step-up/options`: for this account's
/// session only, and deleted by the one answer that uses it (right or wrong).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasskeyStepUpState {
    pub username: Username,
    pub session: SessionId,
    pub state: SecurityKeyAuthentication,
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
    /// The passkeys the login offered, by credential id, so the verify reads the one an
    /// answer names in its batch instead of querying the account's passkeys. Empty in states
    /// written before it existed (those are verified stepwise).
    #[serde(default)]
    pub offered: Vec<OfferedPasskey>,
}

/// One passkey a login offered: its credential id and the record that holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OfferedPasskey {
    pub credential: CredentialID,
    pub passkey: PasskeyId,
}

impl PasskeyLoginState {
    /// The key of the offered passkey whose credential id the assertion names, if any.
    pub fn passkey_key(&self, username: &Username, credential: &PublicKeyCredential) -> Option<Key> {
        self.offered
            .iter()
            .find(|offered| offered.credential.as_ref() == credential.raw_id.as_ref())
            .map(|offered| Key::new(account_pk(username), passkey_sk(&offered.passkey)))
    }
}

/// "This account has had a passkey", under a fixed key beside the profile so the batched
/// login finds it in its first batch read and opens the passkey login stepwise (which reads
/// the passkeys themselves). Written with the first passkey and never removed: a mark left
/// after the last passkey is gone costs such an account one query at login and offers
/// nothing, whereas removing it could race with an enrolment and hide a passkey.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasskeysMark {
    pub since: UnixTime,
}

/// The WebAuthn challenge a password reset of an account with passkeys answered with 403
/// `second_factor_required`: bound to the account and to that reset challenge, and deleted
/// by the one assertion that passes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasskeyResetState {
    pub username: Username,
    pub reset_challenge: crate::domain::ChallengeId,
    pub state: SecurityKeyAuthentication,
}
