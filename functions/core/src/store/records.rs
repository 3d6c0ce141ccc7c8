//! Typed records and the read-modify-write helper every repository uses.
//!
//! Keys (single table):
//! | record | pk | sk |
//! |---|---|---|
//! | account profile | `ACCOUNT#<username>` | `PROFILE` |
//! | session index | `ACCOUNT#<username>` | `SESSION#<id>` |
//! | authenticator app (TOTP) | `ACCOUNT#<username>` | `TOTP` |
//! | passkey | `ACCOUNT#<username>` | `PASSKEY#<id>` |
//! | passkey owner (one account per credential id) | `PASSKEY#<sha256(credential id)>` | `OWNER` |
//! | passkey enrolment / login WebAuthn state | `CHALLENGE#<id>` | `PASSKEY_REGISTRATION` / `PASSKEY_LOGIN` |
//! | known browser (keyed hash of its device cookie) | `ACCOUNT#<username>` | `DEVICE#<hmac>` |
//! | open incident ("this wasn't me") | `INCIDENT` | `OPEN#<username>` |
//! | challenge | `CHALLENGE#<id>` | `CHALLENGE` |
//! | session | `SESSION#<id>` | `SESSION` |
//! | rate limit log | `LIMIT#<scope>#<key>` | `LOG` |
//! | lock | `LOCK#<scope>#<key>` | `LOCK` |
//! | audit event | `AUDIT#<username>` | `<time>#<random>` |
//! | stand-in for an audit event (no account; short TTL) | `DECOY#<sha256(name)>` | `<time>#<random>` |
//! | SMS published (by provider message id; short TTL) | `SMSID#<message id>` | `SMS` |
//! | SMS outbox (local) | `OUTBOX` | `MSG#<time>#…` |
//! | certificate serial (registry, unique per issuer) | `SERIAL#<serial>` | `SERIAL#<issuer id>` |
//! | OIDC login state (Buypass) | `OIDC#<sha256(state)>` | `STATE` |
//! | gateway events (local) | `GATEWAY_EVENTS` | `EVT#<time>#…` |

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Condition, Item, ItemStore, Key, StoreError, WriteOp};
use crate::clock::UnixTime;
use crate::domain::{CertificateSerial, ChallengeId, IssuerId, MobileNumber, SessionId, Username};
use crate::i18n::Lang;

/// How often a read-modify-write is retried when another writer got there first.
const MAX_RETRIES: usize = 16;

/// A record as read, with what is needed to write it back conditionally.
#[derive(Debug, Clone)]
pub struct Stored<T> {
    pub value: T,
    item: Item,
}

impl<T> Stored<T> {
    pub fn version(&self) -> u64 {
        self.item.version
    }

    pub fn expires_at(&self) -> Option<UnixTime> {
        self.item.expires_at
    }

    /// The condition under which this record is still as it was read.
    pub fn unchanged(&self) -> Condition {
        Condition::VersionIs(self.item.version)
    }
}

impl<T: DeserializeOwned> Stored<T> {
    /// A record from a batch read ([`Repo::load_many`]).
    pub fn decode(item: Option<Item>) -> Result<Option<Self>, StoreError> {
        item.map(|item| {
            Ok(Stored {
                value: decode(&item)?,
                item,
            })
        })
        .transpose()
    }
}

/// The write of a record read earlier as `stored` (or found absent), conditional on it still
/// being so: the building block of decisions over several records that commit in one
/// [`ItemStore::transact`] (a lost race fails the whole decision, which is then made again).
pub fn write_op<T: Serialize>(
    pk: &str,
    sk: &str,
    stored: Option<&Stored<T>>,
    value: &T,
    expires_at: Option<UnixTime>,
) -> Result<WriteOp, StoreError> {
    let mut item = to_item(pk, sk, value, expires_at)?;
    let condition = match stored {
        Some(s) => {
            item.version = s.item.version + 1;
            s.unchanged()
        }
        None => Condition::Absent,
    };
    Ok(WriteOp::Put { item, condition })
}

/// A condition-only operation: the record under the key is still as read (`None`: still absent).
pub fn check_op<T>(pk: &str, sk: &str, stored: Option<&Stored<T>>) -> WriteOp {
    WriteOp::Check {
        pk: pk.to_owned(),
        sk: sk.to_owned(),
        condition: stored.map_or(Condition::Absent, Stored::unchanged),
    }
}

/// Deletes the record read as `stored`, if it is still as read.
pub fn delete_op<T>(pk: &str, sk: &str, stored: &Stored<T>) -> WriteOp {
    WriteOp::Delete {
        pk: pk.to_owned(),
        sk: sk.to_owned(),
        condition: stored.unchanged(),
    }
}

/// Typed access to the store. Cheap to clone.
#[derive(Clone)]
pub struct Repo {
    store: Arc<dyn ItemStore>,
    /// Read-modify-writes of one record within this process take turns (see [`Repo::modify`]).
    turns: Arc<KeyTurns>,
}

/// One async lock per record being modified in this process, dropped when nobody waits.
#[derive(Default)]
struct KeyTurns {
    locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyTurns {
    /// Waits for this process's turn at `key`; the turn ends when the returned value drops
    /// (also when the request is abandoned half way).
    async fn take(&self, key: String) -> Turn<'_> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.entry(key.clone()).or_default().clone()
        };
        let guard = lock.lock_owned().await;
        Turn {
            turns: self,
            key,
            guard: Some(guard),
        }
    }
}

struct Turn<'a> {
    turns: &'a KeyTurns,
    key: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut locks = self.turns.locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.guard.take();
        // Only the map holds it: nobody has or waits for a turn at this record.
        if locks.get(&self.key).is_some_and(|lock| Arc::strong_count(lock) == 1) {
            locks.remove(&self.key);
        }
    }
}

/// What a modification decided.
pub enum Change<T, R> {
    /// Write `T` (conditionally on the version read) and return `R`.
    Write(T, R),
    /// Write nothing and return `R`.
    Keep(R),
    /// Delete the record and return `R`.
    Delete(R),
}

impl Repo {
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self {
            store,
            turns: Arc::default(),
        }
    }

    pub fn items(&self) -> &Arc<dyn ItemStore> {
        &self.store
    }

    pub async fn load<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
        now: UnixTime,
    ) -> Result<Option<Stored<T>>, StoreError> {
        match self.store.get(pk, sk, now).await? {
            Some(item) => Ok(Some(Stored {
                value: decode(&item)?,
                item,
            })),
            None => Ok(None),
        }
    }

    /// Several records in one strongly consistent batch read ([`ItemStore::get_many`]), in
    /// the order asked; decode each with [`Stored::decode`].
    pub async fn load_many(&self, keys: &[Key], now: UnixTime) -> Result<Vec<Option<Item>>, StoreError> {
        self.store.get_many(keys, now).await
    }

    /// Writes a new record; [`StoreError::ConditionFailed`] if a live one exists.
    pub async fn insert<T: Serialize>(
        &self,
        pk: &str,
        sk: &str,
        value: &T,
        expires_at: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let item = to_item(pk, sk, value, expires_at)?;
        self.store.put(item, Condition::Absent, now).await
    }

    /// Writes `value` back if the record is still at the version it was read at.
    pub async fn replace<T: Serialize>(&self, stored: &Stored<T>, value: &T, now: UnixTime) -> Result<(), StoreError> {
        self.replace_expiring(stored, value, stored.item.expires_at, now).await
    }

    pub async fn replace_expiring<T: Serialize>(
        &self,
        stored: &Stored<T>,
        value: &T,
        expires_at: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut item = to_item(&stored.item.pk, &stored.item.sk, value, expires_at)?;
        item.version = stored.item.version + 1;
        self.store
            .put(item, Condition::VersionIs(stored.item.version), now)
            .await
    }

    /// Optimistic read-modify-write: `f` sees the current record (or `None`) and decides;
    /// a lost race re-reads and asks `f` again. `expires_at` is applied to written records.
    pub async fn modify<T, R, E, F>(&self, pk: &str, sk: &str, now: UnixTime, f: F) -> Result<R, E>
    where
        T: Serialize + DeserializeOwned,
        E: From<StoreError>,
        F: FnMut(Option<&T>) -> Result<(Change<T, R>, Option<UnixTime>), E>,
    {
        // Writers of one record in this process take turns, so a hot record (the per-address
        // limit of an office logging in at 8 o'clock) is not a storm of lost races; writers in
        // other processes are still kept apart by the version condition and the retries.
        let _turn = self.turns.take(format!("{pk}\u{0}{sk}")).await;
        self.modify_unserialised(pk, sk, now, f).await
    }

    async fn modify_unserialised<T, R, E, F>(&self, pk: &str, sk: &str, now: UnixTime, mut f: F) -> Result<R, E>
    where
        T: Serialize + DeserializeOwned,
        E: From<StoreError>,
        F: FnMut(Option<&T>) -> Result<(Change<T, R>, Option<UnixTime>), E>,
    {
        for attempt in 0..MAX_RETRIES {
            let current = self.load::<T>(pk, sk, now).await?;
            let (change, expires_at) = f(current.as_ref().map(|s| &s.value))?;
            let op = match (&change, &current) {
                (Change::Keep(_), _) => None,
                (Change::Write(value, _), Some(stored)) => {
                    let mut item = to_item(pk, sk, value, expires_at)?;
                    item.version = stored.item.version + 1;
                    Some(WriteOp::Put {
                        item,
                        condition: Condition::VersionIs(stored.item.version),
                    })
                }
                (Change::Write(value, _), None) => Some(WriteOp::Put {
                    item: to_item(pk, sk, value, expires_at)?,
                    condition: Condition::Absent,
                }),
                (Change::Delete(_), Some(stored)) => Some(WriteOp::Delete {
                    pk: pk.to_owned(),
                    sk: sk.to_owned(),
                    condition: Condition::VersionIs(stored.item.version),
                }),
                (Change::Delete(_), None) => None,
            };
            if let Some(op) = op {
                match self.store.transact(vec![op], now).await {
                    Ok(()) => {}
                    Err(StoreError::ConditionFailed) => {
                        contention_backoff(attempt).await;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            return Ok(match change {
                Change::Write(_, r) | Change::Keep(r) | Change::Delete(r) => r,
            });
        }
        Err(StoreError::ConditionFailed.into())
    }
}

/// A short random pause after losing a race for one record, growing with the attempts (at most
/// 32 ms), so the writers of a hot record (an office's per-address limit at 8 o'clock) stop
/// colliding instead of retrying in lockstep.
async fn contention_backoff(attempt: usize) {
    let cap = 1u64 << attempt.min(5);
    let millis = rand::random::<u64>() % (cap + 1);
    if millis > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
    }
}

pub fn to_item<T: Serialize>(pk: &str, sk: &str, value: &T, expires_at: Option<UnixTime>) -> Result<Item, StoreError> {
    let data = serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Item {
        pk: pk.to_owned(),
        sk: sk.to_owned(),
        version: 1,
        expires_at,
        data,
    })
}

/// Reads the record from the item's JSON in place (no copy of the tree, as `from_value` would
/// need: every hot path decodes several records per request).
pub fn decode<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    T::deserialize(&item.data).map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", item.pk, item.sk)))
}

// ---- records ----------------------------------------------------------------------------

/// A password hash in PHC form. Debug output hides it.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct PhcHash(pub String);

impl std::fmt::Debug for PhcHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PhcHash(***)")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Account {
    pub username: Username,
    pub name: String,
    pub email: Option<String>,
    pub mobile: MobileNumber,
    pub password_hash: PhcHash,
    pub disabled: bool,
    pub home_office: bool,
    /// Set for generated initial passwords and operator resets. Sessions keep a copy of it
    /// ([`Session::password_change_required`]), so whoever sets it must also revoke every
    /// session of the account (as [`crate::app::App::reset_password_by_operator`] does).
    #[serde(default)]
    pub password_change_required: bool,
    pub created_at: UnixTime,
    #[serde(default)]
    pub password_changed_at: Option<UnixTime>,
    /// Counts password changes (by the user, a reset or an operator): login challenges record
    /// it, so a challenge opened with the old password cannot open a session after a change.
    #[serde(default)]
    pub password_version: u64,
    /// The registered Buypass card's serial; its state lives in the certificate registry
    /// (`SERIAL#<serial>` / `SERIAL#<issuer id>`, see `buypass::registry`).
    #[serde(default)]
    pub buypass_serial: Option<CertificateSerial>,
    /// The issuer of that serial ([`IssuerId`]); a serial without one (written before serials
    /// were keyed by issuer) counts as no card.
    #[serde(default)]
    pub buypass_issuer: Option<IssuerId>,
    /// The language of the account's SMS; bokmål for records written before languages
    /// existed.
    #[serde(default)]
    pub language: Lang,
    /// Countries outside Norway whose numbers may receive this account's codes and notices,
    /// set only by an operator (`portal-admin allow-country`); see `services::sms_countries`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sms_countries: Vec<crate::domain::CountryCode>,
    /// Set by the first login that records a browser (the baseline, see
    /// `services::devices`): from then on a login from a browser the account has not used
    /// is texted to it. On the profile, so a login reads it in the batch it reads anyway.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub browsers_known: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChallengePurpose {
    Login { remember_me: bool },
    PasswordReset,
    PhoneChange { new_mobile: MobileNumber },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Challenge {
    pub id: ChallengeId,
    pub purpose: ChallengePurpose,
    pub username: Username,
    /// Where the code went.
    pub destination: MobileNumber,
    /// HMAC of the current code; `None` for a challenge whose SMS has not been sent (e.g.
    /// forgot-password for an unknown user, which must look the same from outside).
    pub code_hash: Option<String>,
    pub code_expires_at: UnixTime,
    pub last_sent_at: UnixTime,
    pub resends: u32,
    pub failed_attempts: u32,
    pub consumed: bool,
    /// A login challenge of a user with an authenticator app: it may be answered with a TOTP
    /// code, and no SMS is sent until the user asks for one (then `code_hash` gets set).
    #[serde(default)]
    pub totp: bool,
    /// Login challenges: the account's [`Account::password_version`] when the password was
    /// checked. A session opens only while it is still current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_version: Option<u64>,
    /// The account's language when the challenge was opened: its codes (resends too) are
    /// written in it without loading the account again.
    #[serde(default)]
    pub language: Lang,
    /// The carrier reported that the last SMS of this challenge was not delivered
    /// (`services::sms_delivery`); a resend clears it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sms_undelivered: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub username: Username,
    /// SHA-256 of the family secret every refresh token of this session carries
    /// (`services::sessions::RefreshToken`). `None` for sessions stored before token families
    /// existed: they cannot be refreshed.
    #[serde(default)]
    pub refresh_family_hash: Option<String>,
    /// Mixed into each generation's secret, so a token's holder cannot compute the next one.
    #[serde(default)]
    pub refresh_salt: String,
    /// The generation of the only refresh token that may rotate; every lower one is reuse.
    #[serde(default)]
    pub refresh_generation: u64,
    pub created_at: UnixTime,
    pub last_used_at: UnixTime,
    pub absolute_expires_at: UnixTime,
    pub remember_me: bool,
    pub revoked_at: Option<UnixTime>,
    /// The account's flag as it was when the session opened, so every authenticated request can
    /// enforce it without reading the account. `None` (sessions stored before the copy existed)
    /// means "ask the account".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_change_required: Option<bool>,
    /// When this session last proved a strong second factor (an authenticator app or a
    /// passkey): set by such a login and by a step-up (`services::step_up`); `None` for a
    /// session opened with an SMS code. Sensitive changes need it to be fresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_factor_at: Option<UnixTime>,
}

impl Session {
    pub fn is_live(&self, now: UnixTime, idle_timeout: std::time::Duration) -> bool {
        self.revoked_at.is_none()
            && now < self.absolute_expires_at
            && now - self.last_used_at < crate::clock::secs(idle_timeout)
    }
}
