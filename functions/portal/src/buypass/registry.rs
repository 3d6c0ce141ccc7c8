//! The certificate registry the gateway reads: one record per serial (`SERIAL#<serial>` /
//! `SERIAL`), created with `Condition::Absent` in the same transaction as the account update,
//! so a serial belongs to one account at a time.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::App;
use crate::audit::AuditKind;
use crate::buypass::certificate::AcceptedCertificate;
use crate::clock::UnixTime;
use crate::domain::{CertificateSerial, Username};
use crate::store::records::{account_pk, to_item, Account, Stored, PROFILE_SK};
use crate::store::{Condition, StoreError, WriteOp};

pub const SERIAL_SK: &str = "SERIAL";
/// Value of [`CertificateRecord::work`] while the activation worker has something to do;
/// the sweep scans for it.
pub const WORK_DUE: &str = "due";
/// A new record waits this long for its stream event before the sweep takes it.
pub const SWEEP_GRACE: i64 = 120;

pub fn serial_pk(serial: &CertificateSerial) -> String {
    format!("SERIAL#{serial}")
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SerialStatus {
    /// Registered, waiting for activation.
    Pending,
    /// Active for the gateway.
    Active,
    /// Activation gave up (account gone, disabled or no longer enabled for home office).
    Failed,
    /// Replaced by a new card or revoked by an operator.
    Revoked,
}

/// A worker's claim on a record while it publishes events / sends the SMS.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until: UnixTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CertificateRecord {
    pub serial_number: CertificateSerial,
    pub username: Username,
    pub status: SerialStatus,
    pub registered_at: UnixTime,
    #[serde(default)]
    pub activated_at: Option<UnixTime>,
    #[serde(default)]
    pub revoked_at: Option<UnixTime>,
    /// Certificate subject and issuer (for operators; no secret).
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub issuer: String,
    pub not_after: UnixTime,
    /// The activation event reached the gateway topic.
    #[serde(default)]
    pub gateway_activated: bool,
    /// The "home office is ready" SMS went out.
    #[serde(default)]
    pub user_notified: bool,
    /// The revocation event reached the gateway topic.
    #[serde(default)]
    pub revocation_published: bool,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub last_error: Option<String>,
    /// When the sweep may pick this record up next.
    pub due_at: UnixTime,
    #[serde(default)]
    pub lease: Option<Lease>,
    /// [`WORK_DUE`] while something is left to do, absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<String>,
    #[serde(default)]
    pub failure_reason: Option<String>,
}

impl CertificateRecord {
    pub fn new_pending(username: &Username, cert: &AcceptedCertificate, now: UnixTime) -> Self {
        let mut record = Self {
            serial_number: cert.serial.clone(),
            username: username.clone(),
            status: SerialStatus::Pending,
            registered_at: now,
            activated_at: None,
            revoked_at: None,
            subject: cert.subject.chars().take(512).collect(),
            issuer: cert.issuer.chars().take(512).collect(),
            not_after: cert.not_after,
            gateway_activated: false,
            user_notified: false,
            revocation_published: false,
            attempts: 0,
            last_error: None,
            due_at: now + SWEEP_GRACE,
            lease: None,
            work: None,
            failure_reason: None,
        };
        record.normalise();
        record
    }

    /// True while the activation worker has something left to do for this record.
    pub fn has_work(&self) -> bool {
        match self.status {
            SerialStatus::Pending => true,
            SerialStatus::Active => !self.gateway_activated || !self.user_notified,
            // Owed once the activation may have been announced: a call can publish it and stop
            // (crash, or a revocation's write winning the race) before recording that it did.
            // A revocation of a serial the gateway never heard of is harmless; a missing one
            // would leave a lost card working.
            SerialStatus::Revoked => {
                (self.gateway_activated || self.activated_at.is_some()) && !self.revocation_published
            }
            SerialStatus::Failed => false,
        }
    }

    /// Keeps the scan marker in step with the state; call before every write.
    pub fn normalise(&mut self) {
        self.work = self.has_work().then(|| WORK_DUE.to_owned());
    }

    pub fn revoked(&self, now: UnixTime) -> Self {
        let mut next = self.clone();
        next.status = SerialStatus::Revoked;
        next.revoked_at = Some(now);
        next.due_at = now + SWEEP_GRACE;
        next.attempts = 0;
        next.normalise();
        next
    }
}

/// What the account page shows about the card.
#[derive(Debug, Clone, PartialEq)]
pub struct CardStatus {
    pub status: &'static str,
    pub serial_number: Option<String>,
    pub registered_at: Option<UnixTime>,
    pub activated_at: Option<UnixTime>,
}

impl CardStatus {
    pub fn not_registered() -> Self {
        Self {
            status: "not_registered",
            serial_number: None,
            registered_at: None,
            activated_at: None,
        }
    }
}

/// How a registration ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// Recorded as pending (a new card, or the same card after a failure); the worker has
    /// work to do. `revoked` is the account's previous serial, if one was revoked.
    Pending { revoked: Option<CertificateSerial> },
    /// The account already has this card pending or active; nothing changed.
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("serial belongs to another account")]
    SerialInUse,
    #[error("account missing or disabled")]
    AccountUnavailable,
    #[error("account not enabled for home office")]
    HomeOfficeNotEnabled,
    #[error("storage: {0}")]
    Storage(String),
}

impl From<StoreError> for RegisterError {
    fn from(e: StoreError) -> Self {
        Self::Storage(e.to_string())
    }
}

const REGISTER_RETRIES: usize = 8;

fn put(item: crate::store::Item, condition: Condition) -> WriteOp {
    WriteOp::Put { item, condition }
}

fn replace_op<T: Serialize>(pk: &str, sk: &str, stored: &Stored<T>, value: &T) -> Result<WriteOp, StoreError> {
    let mut item = to_item(pk, sk, value, None)?;
    item.version = stored.version() + 1;
    Ok(put(item, Condition::VersionIs(stored.version())))
}

impl App {
    pub async fn certificate_record(
        &self,
        serial: &CertificateSerial,
    ) -> Result<Option<Stored<CertificateRecord>>, StoreError> {
        self.repo.load(&serial_pk(serial), SERIAL_SK, self.now()).await
    }

    /// The card status of an account, from its current serial's record.
    pub async fn card_status(&self, account: &Account) -> Result<CardStatus, StoreError> {
        let Some(serial) = &account.buypass_serial else {
            return Ok(CardStatus::not_registered());
        };
        let Some(record) = self.certificate_record(serial).await? else {
            return Ok(CardStatus::not_registered());
        };
        let record = record.value;
        if record.username != account.username {
            return Ok(CardStatus::not_registered());
        }
        let status = match record.status {
            SerialStatus::Pending => "pending",
            SerialStatus::Active => "active",
            SerialStatus::Failed => "failed",
            SerialStatus::Revoked => return Ok(CardStatus::not_registered()),
        };
        Ok(CardStatus {
            status,
            serial_number: Some(record.serial_number.to_string()),
            registered_at: Some(record.registered_at),
            activated_at: record.activated_at,
        })
    }

    /// Records `cert`'s serial as the account's card, `pending`, in one transaction with the
    /// account update; revokes the account's previous serial in the same transaction.
    pub async fn register_serial(
        &self,
        username: &Username,
        cert: &AcceptedCertificate,
        source_ip: Option<&str>,
    ) -> Result<Registered, RegisterError> {
        for _ in 0..REGISTER_RETRIES {
            let now = self.now();
            let account_key = account_pk(username);
            let Some(account) = self.repo.load::<Account>(&account_key, PROFILE_SK, now).await? else {
                return Err(RegisterError::AccountUnavailable);
            };
            if account.value.disabled {
                return Err(RegisterError::AccountUnavailable);
            }
            if !account.value.home_office {
                return Err(RegisterError::HomeOfficeNotEnabled);
            }
            let new_pk = serial_pk(&cert.serial);
            let existing = self.repo.load::<CertificateRecord>(&new_pk, SERIAL_SK, now).await?;
            let fresh = CertificateRecord::new_pending(username, cert, now);
            let mut ops = Vec::new();
            match &existing {
                None => ops.push(put(to_item(&new_pk, SERIAL_SK, &fresh, None)?, Condition::Absent)),
                Some(stored) if stored.value.status == SerialStatus::Revoked => {
                    // A card whose earlier registration was revoked may be registered again.
                    ops.push(replace_op(&new_pk, SERIAL_SK, stored, &fresh)?);
                }
                Some(stored) if stored.value.username != *username => return Err(RegisterError::SerialInUse),
                Some(stored) => {
                    let current = account.value.buypass_serial.as_ref() == Some(&cert.serial);
                    match stored.value.status {
                        SerialStatus::Pending | SerialStatus::Active if current => return Ok(Registered::Unchanged),
                        _ => ops.push(replace_op(&new_pk, SERIAL_SK, stored, &fresh)?),
                    }
                }
            }
            let mut revoked = None;
            if let Some(old) = account.value.buypass_serial.as_ref().filter(|s| **s != cert.serial) {
                let old_pk = serial_pk(old);
                if let Some(stored) = self.repo.load::<CertificateRecord>(&old_pk, SERIAL_SK, now).await? {
                    if stored.value.username == *username && stored.value.status != SerialStatus::Revoked {
                        ops.push(replace_op(&old_pk, SERIAL_SK, &stored, &stored.value.revoked(now))?);
                        revoked = Some(old.clone());
                    }
                }
            }
            let mut updated = account.value.clone();
            updated.buypass_serial = Some(cert.serial.clone());
            ops.push(replace_op(&account_key, PROFILE_SK, &account, &updated)?);
            match self.repo.items().transact(ops, now).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed) => {
                    // Someone else wrote one of the records: if it was this serial for another
                    // account, the next round says so; otherwise it simply tries again.
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            self.repo
                .audit(
                    username,
                    AuditKind::BuypassCardRegistered,
                    source_ip,
                    json!({ "serial_number": cert.serial, "revoked": revoked }),
                    now,
                )
                .await;
            return Ok(Registered::Pending { revoked });
        }
        Err(RegisterError::Storage("too many concurrent updates".into()))
    }

    /// The record the gateway may let in with: an `active` serial whose certificate has not
    /// expired, whose account still exists, is enabled, is enabled for home office and still
    /// has this serial as its card. Anything else is `None` (the gateway answers 404), so a
    /// revocation that has not been written or published yet never leaves a card working.
    pub async fn active_for_gateway(
        &self,
        serial: &CertificateSerial,
    ) -> Result<Option<CertificateRecord>, StoreError> {
        let now = self.now();
        let Some(record) = self.certificate_record(serial).await?.map(|s| s.value) else {
            return Ok(None);
        };
        if record.status != SerialStatus::Active || record.not_after <= now {
            return Ok(None);
        }
        let Some(account) = self.load_account(&record.username).await? else {
            return Ok(None);
        };
        let current = account.buypass_serial.as_ref() == Some(&record.serial_number);
        Ok((current && !account.disabled && account.home_office).then_some(record))
    }

    /// Revokes the account's card, if it has one (the account was disabled or taken off home
    /// office): the same revocation as [`Self::revoke_serial`], so the gateway hears about it
    /// the same way. Returns the revoked serial.
    pub async fn revoke_account_serial(
        &self,
        username: &Username,
        reason: &str,
    ) -> Result<Option<CertificateSerial>, RegisterError> {
        let Some(account) = self.load_account(username).await? else {
            return Ok(None);
        };
        let Some(serial) = account.buypass_serial else {
            return Ok(None);
        };
        if self.certificate_record(&serial).await?.is_none() {
            return Ok(None);
        }
        Ok(self.revoke_serial(&serial, reason).await?.then_some(serial))
    }

    /// An operator's revocation: the serial stops being active and the account no longer
    /// points at it. Returns false when it was already revoked.
    pub async fn revoke_serial(&self, serial: &CertificateSerial, reason: &str) -> Result<bool, RegisterError> {
        for _ in 0..REGISTER_RETRIES {
            let now = self.now();
            let pk = serial_pk(serial);
            let Some(stored) = self.repo.load::<CertificateRecord>(&pk, SERIAL_SK, now).await? else {
                return Err(RegisterError::Storage(format!("no serial {serial}")));
            };
            if stored.value.status == SerialStatus::Revoked {
                return Ok(false);
            }
            let username = stored.value.username.clone();
            let mut ops = vec![replace_op(&pk, SERIAL_SK, &stored, &stored.value.revoked(now))?];
            let account_key = account_pk(&username);
            if let Some(account) = self.repo.load::<Account>(&account_key, PROFILE_SK, now).await? {
                if account.value.buypass_serial.as_ref() == Some(serial) {
                    let mut updated = account.value.clone();
                    updated.buypass_serial = None;
                    ops.push(replace_op(&account_key, PROFILE_SK, &account, &updated)?);
                }
            }
            match self.repo.items().transact(ops, now).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
            self.repo
                .audit(
                    &username,
                    AuditKind::SerialRevoked,
                    None,
                    json!({ "serial_number": serial, "reason": reason }),
                    now,
                )
                .await;
            return Ok(true);
        }
        Err(RegisterError::Storage("too many concurrent updates".into()))
    }
}
