//! The certificate registry the gateway reads: one record per (issuer, serial), keyed
//! `SERIAL#<serial>` / `SERIAL#<issuer id>`, created with `Condition::Absent` in the same
//! transaction as the account update, so an (issuer, serial) belongs to one account at a time.
//!
//! Serials are unique per issuing CA only (RFC 5280 §4.1.2.2), so the issuer is part of the
//! key. The serial is the partition key so that the gateway's legacy serial-only lookup is one
//! Query (every issuer's record of that serial, in one partition) on both backends, and can
//! refuse when more than one issuer has the serial; keys still start with `SERIAL` for IAM
//! `LeadingKeys` conditions. Records written before this layout (`sk` = `SERIAL`) are never
//! read again; there was no production data to migrate.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::App;
use crate::audit::AuditKind;
use crate::buypass::certificate::AcceptedCertificate;
use crate::clock::UnixTime;
use crate::domain::{CertificateSerial, IssuerId, Username};
use crate::store::keys::{account_pk, serial_issuer_sk, serial_pk, PROFILE_SK, SERIAL_PREFIX};
use crate::store::records::{to_item, Account, Stored};
use crate::store::{Condition, StoreError, WriteOp};

/// Value of [`CertificateRecord::work`] while the activation worker has something to do;
/// the sweep scans for it.
pub const WORK_DUE: &str = "due";
/// A new record waits this long for its stream event before the sweep takes it.
pub const SWEEP_GRACE: i64 = 120;

/// One card: a serial within its issuer's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CardKey {
    pub issuer_id: IssuerId,
    pub serial: CertificateSerial,
}

impl CardKey {
    pub fn new(issuer_id: IssuerId, serial: CertificateSerial) -> Self {
        Self { issuer_id, serial }
    }

    pub fn of(cert: &AcceptedCertificate) -> Self {
        Self::new(cert.issuer_id.clone(), cert.serial.clone())
    }

    /// The account's current card; none when either half is missing.
    pub fn of_account(account: &Account) -> Option<Self> {
        Some(Self::new(
            account.buypass_issuer.clone()?,
            account.buypass_serial.clone()?,
        ))
    }

    pub fn pk(&self) -> String {
        serial_pk(&self.serial)
    }

    pub fn sk(&self) -> String {
        serial_issuer_sk(&self.issuer_id)
    }

    /// The key of a registry item, from its `pk` and `sk` (stream records); `None` for any
    /// other item, or a key not in canonical form.
    pub fn from_keys(pk: &str, sk: &str) -> Option<Self> {
        let serial = CertificateSerial::parse(pk.strip_prefix(SERIAL_PREFIX)?).ok()?;
        let issuer_id = IssuerId::parse(sk.strip_prefix(SERIAL_PREFIX)?).ok()?;
        let key = Self::new(issuer_id, serial);
        (key.pk() == pk && key.sk() == sk).then_some(key)
    }
}

impl std::fmt::Display for CardKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.issuer_id, self.serial)
    }
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
    pub issuer_id: IssuerId,
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
    /// The Buypass ID token's `sub` of the login that registered the card.
    #[serde(default)]
    pub id_token_subject: Option<String>,
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
    pub fn new_pending(
        username: &Username,
        cert: &AcceptedCertificate,
        id_token_subject: Option<&str>,
        now: UnixTime,
    ) -> Self {
        let mut record = Self {
            serial_number: cert.serial.clone(),
            issuer_id: cert.issuer_id.clone(),
            username: username.clone(),
            status: SerialStatus::Pending,
            registered_at: now,
            activated_at: None,
            revoked_at: None,
            subject: cert.subject.chars().take(512).collect(),
            issuer: cert.issuer.chars().take(512).collect(),
            id_token_subject: id_token_subject.map(|s| s.chars().take(255).collect()),
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

    pub fn key(&self) -> CardKey {
        CardKey::new(self.issuer_id.clone(), self.serial_number.clone())
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
    /// work to do. `revoked` is the account's previous card, if one was revoked.
    Pending { revoked: Option<CardKey> },
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

/// What the serial-only gateway lookup found.
#[derive(Debug, Clone, PartialEq)]
pub enum SerialLookup {
    /// Exactly one issuer has this serial registered, and that card may be let in.
    Active(Box<CertificateRecord>),
    /// No card may be let in with this serial.
    None,
    /// More than one issuer has this serial registered (in any state): the serial alone cannot
    /// say which card the gateway is looking at.
    Ambiguous { issuers: usize },
}

/// The outcome of a registration, with what the callback needs to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub registered: Registered,
    /// The account's mobile number and language when a previous card was replaced (for the notice).
    pub replaced_notice_to: Option<(crate::domain::MobileNumber, crate::i18n::Lang)>,
}

impl App {
    pub async fn certificate_record(&self, card: &CardKey) -> Result<Option<Stored<CertificateRecord>>, StoreError> {
        self.repo.load(&card.pk(), &card.sk(), self.now()).await
    }

    /// Every issuer's record of `serial`: one Query on the serial's partition.
    pub async fn certificate_records_by_serial(
        &self,
        serial: &CertificateSerial,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let items = self
            .repo
            .items()
            .query(&serial_pk(serial), SERIAL_PREFIX, self.now())
            .await?;
        items
            .into_iter()
            .map(|item| {
                serde_json::from_value(item.data)
                    .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", item.pk, item.sk)))
            })
            .collect()
    }

    /// The card status of an account, from its current card's record.
    pub async fn card_status(&self, account: &Account) -> Result<CardStatus, StoreError> {
        let Some(card) = CardKey::of_account(account) else {
            return Ok(CardStatus::not_registered());
        };
        let Some(record) = self.certificate_record(&card).await? else {
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

    /// Records `cert`'s (issuer, serial) as the account's card, `pending`, in one transaction
    /// with the account update; revokes the account's previous card in the same transaction.
    /// `id_token_subject` is the `sub` of the Buypass login that presented the certificate.
    pub async fn register_serial(
        &self,
        username: &Username,
        cert: &AcceptedCertificate,
        id_token_subject: Option<&str>,
        source_ip: Option<&str>,
    ) -> Result<Registration, RegisterError> {
        let card = CardKey::of(cert);
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
            let (new_pk, new_sk) = (card.pk(), card.sk());
            let existing = self.repo.load::<CertificateRecord>(&new_pk, &new_sk, now).await?;
            let fresh = CertificateRecord::new_pending(username, cert, id_token_subject, now);
            let current_card = CardKey::of_account(&account.value);
            let mut ops = Vec::new();
            match &existing {
                None => ops.push(put(to_item(&new_pk, &new_sk, &fresh, None)?, Condition::Absent)),
                Some(stored) if stored.value.status == SerialStatus::Revoked => {
                    // A card whose earlier registration was revoked may be registered again.
                    ops.push(replace_op(&new_pk, &new_sk, stored, &fresh)?);
                }
                Some(stored) if stored.value.username != *username => return Err(RegisterError::SerialInUse),
                Some(stored) => {
                    let current = current_card.as_ref() == Some(&card);
                    match stored.value.status {
                        SerialStatus::Pending | SerialStatus::Active if current => {
                            return Ok(Registration {
                                registered: Registered::Unchanged,
                                replaced_notice_to: None,
                            })
                        }
                        _ => ops.push(replace_op(&new_pk, &new_sk, stored, &fresh)?),
                    }
                }
            }
            let mut revoked = None;
            if let Some(old) = current_card.filter(|old| *old != card) {
                if let Some(stored) = self.repo.load::<CertificateRecord>(&old.pk(), &old.sk(), now).await? {
                    if stored.value.username == *username && stored.value.status != SerialStatus::Revoked {
                        ops.push(replace_op(&old.pk(), &old.sk(), &stored, &stored.value.revoked(now))?);
                        revoked = Some(old);
                    }
                }
            }
            let mut updated = account.value.clone();
            updated.buypass_serial = Some(card.serial.clone());
            updated.buypass_issuer = Some(card.issuer_id.clone());
            ops.push(replace_op(&account_key, PROFILE_SK, &account, &updated)?);
            match self.repo.items().transact(ops, now).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed) => {
                    // Someone else wrote one of the records: if it was this card for another
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
                    json!({
                        "serial_number": card.serial,
                        "issuer_id": card.issuer_id,
                        "subject": fresh.subject,
                        "id_token_sub": fresh.id_token_subject,
                        "revoked": revoked.as_ref().map(|r| json!({ "serial_number": r.serial, "issuer_id": r.issuer_id })),
                    }),
                    now,
                )
                .await;
            let replaced_notice_to = revoked
                .is_some()
                .then(|| (account.value.mobile.clone(), account.value.language));
            return Ok(Registration {
                registered: Registered::Pending { revoked },
                replaced_notice_to,
            });
        }
        Err(RegisterError::Storage("too many concurrent updates".into()))
    }

    /// Whether `record` may let its card in now: `active` and its certificate not expired.
    /// The account needs no read: a record is `active` only while its account is enabled, on
    /// home office and has this card, because every write that ends one of those revokes the
    /// card in the same transaction ([`Self::update_account_revoking_card`],
    /// [`Self::register_serial`], [`Self::revoke_serial`]) and activation writes on the
    /// record's version, so it loses to any of them.
    fn may_enter(&self, record: &CertificateRecord) -> bool {
        record.status == SerialStatus::Active && record.not_after > self.now()
    }

    /// The record the gateway may let in with (see [`Self::may_enter`]); anything else is
    /// `None` (the gateway answers 404), so a revocation that has not been written or published
    /// yet never leaves a card working.
    pub async fn active_for_gateway(&self, card: &CardKey) -> Result<Option<CertificateRecord>, StoreError> {
        let Some(record) = self.certificate_record(card).await?.map(|s| s.value) else {
            return Ok(None);
        };
        Ok(self.may_enter(&record).then_some(record))
    }

    /// The legacy serial-only lookup: refuses as ambiguous when more than one issuer has the
    /// serial registered in any state (a revoked card of one CA must not be let in on the
    /// strength of another CA's active card with the same serial).
    pub async fn active_for_gateway_by_serial(&self, serial: &CertificateSerial) -> Result<SerialLookup, StoreError> {
        let mut records = self.certificate_records_by_serial(serial).await?;
        if records.len() > 1 {
            return Ok(SerialLookup::Ambiguous { issuers: records.len() });
        }
        let Some(record) = records.pop() else {
            return Ok(SerialLookup::None);
        };
        Ok(if self.may_enter(&record) {
            SerialLookup::Active(Box::new(record))
        } else {
            SerialLookup::None
        })
    }

    /// The cards registered (in any state) under `serial`, one per issuer.
    pub async fn cards_with_serial(&self, serial: &CertificateSerial) -> Result<Vec<CardKey>, StoreError> {
        Ok(self
            .certificate_records_by_serial(serial)
            .await?
            .iter()
            .map(CertificateRecord::key)
            .collect())
    }

    /// Applies `change` to the account and, when it may no longer use its card afterwards
    /// (disabled, off home office, or pointed elsewhere), revokes the card (`reason`) in the
    /// same transaction and detaches it, so
    /// no moment exists in which the card is `active` for an account that may not use it (the
    /// gateway lookup reads only the card, [`Self::may_enter`]). `None`: no such account.
    pub async fn update_account_revoking_card(
        &self,
        username: &Username,
        change: impl Fn(&mut Account),
        reason: &str,
    ) -> Result<Option<(Account, Option<CardKey>)>, RegisterError> {
        for _ in 0..REGISTER_RETRIES {
            let now = self.now();
            let account_key = account_pk(username);
            let Some(account) = self.repo.load::<Account>(&account_key, PROFILE_SK, now).await? else {
                return Ok(None);
            };
            let mut next = account.value.clone();
            change(&mut next);
            let mut ops = Vec::new();
            let mut revoked = None;
            let card = CardKey::of_account(&account.value);
            let keeps_card = !next.disabled && next.home_office && CardKey::of_account(&next) == card;
            if let Some(card) = card.filter(|_| !keeps_card) {
                let (pk, sk) = (card.pk(), card.sk());
                if let Some(stored) = self.repo.load::<CertificateRecord>(&pk, &sk, now).await? {
                    if stored.value.username == *username && stored.value.status != SerialStatus::Revoked {
                        ops.push(replace_op(&pk, &sk, &stored, &stored.value.revoked(now))?);
                        next.buypass_serial = None;
                        next.buypass_issuer = None;
                        revoked = Some(card);
                    }
                }
            }
            ops.push(replace_op(&account_key, PROFILE_SK, &account, &next)?);
            match self.repo.items().transact(ops, now).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
            if let Some(card) = &revoked {
                self.repo
                    .audit(
                        username,
                        AuditKind::SerialRevoked,
                        None,
                        json!({ "serial_number": card.serial, "issuer_id": card.issuer_id, "reason": reason }),
                        now,
                    )
                    .await;
            }
            return Ok(Some((next, revoked)));
        }
        Err(RegisterError::Storage("too many concurrent updates".into()))
    }

    /// Revokes the account's card, if it has one (the account was disabled or taken off home
    /// office): the same revocation as [`Self::revoke_serial`], so the gateway hears about it
    /// the same way. Returns the revoked card.
    pub async fn revoke_account_serial(
        &self,
        username: &Username,
        reason: &str,
    ) -> Result<Option<CardKey>, RegisterError> {
        let Some(account) = self.load_account(username).await? else {
            return Ok(None);
        };
        let Some(card) = CardKey::of_account(&account) else {
            return Ok(None);
        };
        if self.certificate_record(&card).await?.is_none() {
            return Ok(None);
        }
        Ok(self.revoke_serial(&card, reason).await?.then_some(card))
    }

    /// An operator's revocation: the card stops being active and the account no longer
    /// points at it. Returns false when it was already revoked.
    pub async fn revoke_serial(&self, card: &CardKey, reason: &str) -> Result<bool, RegisterError> {
        for _ in 0..REGISTER_RETRIES {
            let now = self.now();
            let (pk, sk) = (card.pk(), card.sk());
            let Some(stored) = self.repo.load::<CertificateRecord>(&pk, &sk, now).await? else {
                return Err(RegisterError::Storage(format!("no card {card}")));
            };
            if stored.value.status == SerialStatus::Revoked {
                return Ok(false);
            }
            let username = stored.value.username.clone();
            let mut ops = vec![replace_op(&pk, &sk, &stored, &stored.value.revoked(now))?];
            let account_key = account_pk(&username);
            if let Some(account) = self.repo.load::<Account>(&account_key, PROFILE_SK, now).await? {
                if CardKey::of_account(&account.value).as_ref() == Some(card) {
                    let mut updated = account.value.clone();
                    updated.buypass_serial = None;
                    updated.buypass_issuer = None;
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
                    json!({ "serial_number": card.serial, "issuer_id": card.issuer_id, "reason": reason }),
                    now,
                )
                .await;
            return Ok(true);
        }
        Err(RegisterError::Storage("too many concurrent updates".into()))
    }
}
