//! Every partition and sort key of the table, built here and nowhere else.
//!
//! The partition-key prefixes are what infra/iam.tf's `dynamodb:LeadingKeys` conditions grant
//! each function, and stored items are found again by these exact strings: a format changed
//! here is a data migration and an IAM change. The test below pins each one.

use crate::clock::UnixTime;
use crate::domain::{CertificateSerial, ChallengeId, IssuerId, PasskeyId, SessionId, Username};

// ---- accounts: profile, authenticator app, session index -------------------------------

pub fn account_pk(username: &Username) -> String {
    format!("ACCOUNT#{username}")
}
pub const PROFILE_SK: &str = "PROFILE";
/// The authenticator-app record, under [`account_pk`].
pub const TOTP_SK: &str = "TOTP";
/// Prefix of an account's passkeys under [`account_pk`] (one record each).
pub const PASSKEY_SK_PREFIX: &str = "PASSKEY#";
/// Whether the account has had a passkey, under [`account_pk`] (a fixed key for batch reads).
pub const PASSKEYS_MARK_SK: &str = "PASSKEYS";
pub fn passkey_sk(id: &PasskeyId) -> String {
    format!("{PASSKEY_SK_PREFIX}{id}")
}
/// The account's recovery codes (keyed hashes, one record), under [`account_pk`].
pub const RECOVERY_CODES_SK: &str = "RECOVERY_CODES";
/// Prefix of the session index under [`account_pk`].
pub const SESSION_INDEX_PREFIX: &str = "SESSION#";
pub fn session_index_sk(id: &SessionId) -> String {
    format!("{SESSION_INDEX_PREFIX}{id}")
}

/// A browser this account has logged in from, by the keyed hash of its device cookie
/// (`services::devices`), under [`account_pk`].
pub const DEVICE_PREFIX: &str = "DEVICE#";
pub fn device_sk(device_hash: &str) -> String {
    format!("{DEVICE_PREFIX}{device_hash}")
}

// ---- challenges and sessions ---------------------------------------------------------

pub fn challenge_pk(id: &ChallengeId) -> String {
    format!("CHALLENGE#{id}")
}
pub const CHALLENGE_SK: &str = "CHALLENGE";
pub fn session_pk(id: &SessionId) -> String {
    format!("SESSION#{id}")
}
pub const SESSION_SK: &str = "SESSION";
/// A passkey enrolment's WebAuthn state, under [`challenge_pk`] of the enrolment's id.
pub const PASSKEY_REGISTRATION_SK: &str = "PASSKEY_REGISTRATION";
/// A login challenge's WebAuthn state, beside the challenge under its [`challenge_pk`].
pub const PASSKEY_LOGIN_SK: &str = "PASSKEY_LOGIN";
/// A step-up's WebAuthn state (`POST /v1/account/step-up/options`), under [`challenge_pk`] of
/// the step-up's id.
pub const PASSKEY_STEP_UP_SK: &str = "PASSKEY_STEP_UP";
/// A password reset's WebAuthn state (the passkey it needs besides the SMS code), under
/// [`challenge_pk`] of its own id (`passkey_challenge_id`).
pub const PASSKEY_RESET_SK: &str = "PASSKEY_RESET";

// ---- passkeys: one owner per credential id -------------------------------------------

/// Which account a WebAuthn credential id is registered to, by a hash of the id (ids are up
/// to 1023 bytes, chosen by the authenticator): the insert that makes one credential belong to
/// one account only.
pub fn passkey_owner_pk(credential_id: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(credential_id);
    format!("PASSKEY#{}", crate::security::sha256_hex(&encoded))
}
pub const PASSKEY_OWNER_SK: &str = "OWNER";

// ---- limits, lockouts, password backoff ------------------------------------------------

/// The sliding log of limit `scope` for `key` (an account, a number, an address, `all`).
pub fn limit_pk(scope: &str, key: &str) -> String {
    format!("LIMIT#{scope}#{key}")
}
pub const LIMIT_LOG_SK: &str = "LOG";
/// The portal-wide SMS ceilings' counters (`services::sms_spend`), under
/// `limit_pk("sms-global", "all")`.
pub const SPEND_SK: &str = "SPEND";
/// The consecutive-failure streak of the password backoff (kept with the limits, so every
/// function that checks passwords needs no prefix beyond `LIMIT#`).
pub fn password_streak_pk(backoff_key: &str) -> String {
    limit_pk("pwfail", backoff_key)
}
pub const STREAK_SK: &str = "STREAK";
pub fn lock_pk(scope: &str, key: &str) -> String {
    format!("LOCK#{scope}#{key}")
}
pub const LOCK_SK: &str = "LOCK";
/// The per-number SMS limit key of a decoy challenge: one stand-in "number" per typed
/// username, so a name without an account runs into the per-number limit after as many
/// requests as one with an account. (A limit key, not a partition key: it goes into
/// [`limit_pk`].)
pub fn decoy_destination_key(username: &Username) -> String {
    format!("decoy#{username}")
}

// ---- SMS the portal published, by the provider's message id ---------------------------

/// A published SMS (`services::sms_delivery::SentSms`), found again by its delivery status.
pub fn sent_sms_pk(message_id: &str) -> String {
    format!("SMSID#{message_id}")
}
pub const SENT_SMS_SK: &str = "SMS";

/// The last login code texted to a number by the batched login, which cannot wait for the
/// message id (`services::sms_delivery`), under a keyed hash of the number.
pub fn sent_sms_to_pk(number_hash: &str) -> String {
    format!("SMSID#to-{number_hash}")
}

// ---- audit ---------------------------------------------------------------------------

pub fn audit_pk(username: &Username) -> String {
    format!("AUDIT#{username}")
}
/// Stand-ins for audit events where no account exists, keyed by a hash of the typed name.
pub fn audit_stand_in_pk(key: &str) -> String {
    format!("DECOY#{key}")
}
/// Time first, so a query returns events oldest first; `nonce` keeps events of one second apart.
pub fn audit_sk(now: UnixTime, nonce: &str) -> String {
    format!("{now:012}#{nonce}")
}

// ---- incidents: accounts whose owner said "this wasn't me" ----------------------------

/// One partition for the operators' list, so `portal-admin incidents` is one Query, no scan.
pub const INCIDENT_PK: &str = "INCIDENT";
/// One open incident per account: a second "not me" updates it instead of adding a row.
pub fn incident_sk(username: &Username) -> String {
    format!("OPEN#{username}")
}

// ---- Buypass: login state and the card registry --------------------------------------

/// An authorization request in flight, by a hash of its `state` (the state itself is a
/// bearer secret and never a key).
pub fn oidc_state_pk(state: &str) -> String {
    format!("OIDC#{}", crate::security::sha256_hex(state))
}
pub const OIDC_STATE_SK: &str = "STATE";
/// Every registry key (by serial, by issuer + serial, index records) starts with this.
pub const SERIAL_PREFIX: &str = "SERIAL#";
pub fn serial_pk(serial: &CertificateSerial) -> String {
    format!("{SERIAL_PREFIX}{serial}")
}
pub fn serial_issuer_sk(issuer: &IssuerId) -> String {
    format!("{SERIAL_PREFIX}{issuer}")
}

// ---- local-only logs: the SMS outbox and gateway events ------------------------------

pub const OUTBOX_PK: &str = "OUTBOX";
pub const OUTBOX_SK_PREFIX: &str = "MSG#";
pub const GATEWAY_EVENTS_PK: &str = "GATEWAY_EVENTS";
pub const GATEWAY_EVENT_SK_PREFIX: &str = "EVT#";
/// A log entry's sort key: time, then a wall-clock tiebreaker and randomness so concurrent
/// writes from several processes never collide and a query returns them in order.
pub fn log_sk(prefix: &str, now: UnixTime, nanos: i128, nonce: &str) -> String {
    format!("{prefix}{now:012}#{nanos:024}#{nonce}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_format_is_pinned() {
        let user = Username::parse("kari").unwrap();
        let challenge = ChallengeId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let session = SessionId::parse("BBBBBBBBBBBBBBBBBBBBBA").unwrap();
        let serial = CertificateSerial::parse("0a1b").unwrap();
        let issuer = IssuerId::parse(&"ab".repeat(32)).unwrap();
        let passkey = PasskeyId::parse("CCCCCCCCCCCCCCCCCCCCCA").unwrap();
        let vectors: [(String, &str); 22] = [
            (sent_sms_pk("m-1"), "SMSID#m-1"),
            (sent_sms_to_pk("ab12"), "SMSID#to-ab12"),
            (device_sk("ab12"), "DEVICE#ab12"),
            (incident_sk(&user), "OPEN#kari"),
            (passkey_sk(&passkey), "PASSKEY#CCCCCCCCCCCCCCCCCCCCCA"),
            (
                passkey_owner_pk(b"abc"),
                // sha256("YWJj"), the id's base64url
                "PASSKEY#35d95694d3f160215db293c7899daa5907837838fb4b8119ed713e32446c1266",
            ),
            (account_pk(&user), "ACCOUNT#kari"),
            (session_index_sk(&session), "SESSION#BBBBBBBBBBBBBBBBBBBBBA"),
            (challenge_pk(&challenge), "CHALLENGE#AAAAAAAAAAAAAAAAAAAAAA"),
            (session_pk(&session), "SESSION#BBBBBBBBBBBBBBBBBBBBBA"),
            (limit_pk("sms-account", "kari"), "LIMIT#sms-account#kari"),
            (password_streak_pk("h"), "LIMIT#pwfail#h"),
            (lock_pk("codes", "kari"), "LOCK#codes#kari"),
            (decoy_destination_key(&user), "decoy#kari"),
            (audit_pk(&user), "AUDIT#kari"),
            (audit_stand_in_pk("h"), "DECOY#h"),
            (audit_sk(1_700_000_000, "n"), "001700000000#n"),
            (
                oidc_state_pk("abc"),
                "OIDC#ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (serial_pk(&serial), "SERIAL#0A1B"),
            (
                serial_issuer_sk(&issuer),
                "SERIAL#abababababababababababababababababababababababababababababababab",
            ),
            (
                log_sk(OUTBOX_SK_PREFIX, 7, 8, "n"),
                "MSG#000000000007#000000000000000000000008#n",
            ),
            (
                log_sk(GATEWAY_EVENT_SK_PREFIX, 7, 8, "n"),
                "EVT#000000000007#000000000000000000000008#n",
            ),
        ];
        for (built, expected) in vectors {
            assert_eq!(built, expected);
        }
    }
}
