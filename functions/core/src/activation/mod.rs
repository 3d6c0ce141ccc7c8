//! Serial activation (DESIGN §5): a `pending` serial becomes `active` in the certificate
//! registry, the gateway hears about it on its topic, and the user gets the "home office is
//! ready" SMS. Revoked serials are announced to the gateway too.
//!
//! Every step is idempotent and decided by conditional writes on the registry record:
//! - the `pending → active` write has one winner, and only the winner goes on to publish and
//!   send, holding a short lease on the record while it does;
//! - `gateway_activated`, `user_notified` and `revocation_published` record what is done, so a
//!   re-drive only does what is left;
//! - a duplicate or replayed event finds nothing left to do (or a live lease) and does nothing.
//!
//! Triggers: the DynamoDB stream (Lambda) or the local worker right after the callback, and a
//! sweep (EventBridge schedule / local timer) that re-drives whatever is still due.

pub mod gateway;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::app::SharedApp;
use crate::audit::AuditKind;
use crate::buypass::registry::{CardKey, CertificateRecord, Lease, SerialStatus, WORK_DUE};
use crate::clock::UnixTime;
use crate::services::sms_countries::sms_country_allowed;
use crate::sms::messages;
use crate::store::keys::SERIAL_PREFIX;
use crate::store::records::Stored;
use crate::store::StoreError;
use gateway::{GatewayEvent, GatewayEventKind, GatewayEvents};

#[derive(Debug, Clone)]
pub struct ActivationPolicy {
    /// How long a worker may hold a record while publishing and sending.
    pub lease_seconds: i64,
    /// Tries of one publish/send within one invocation.
    pub attempts_per_call: u32,
    /// Wait before the first in-call retry; doubles each time.
    pub retry_delay: Duration,
    /// After a failed invocation the sweep waits `base · 2^(attempts-1)` seconds, capped.
    pub backoff_base: i64,
    pub backoff_cap: i64,
}

impl Default for ActivationPolicy {
    fn default() -> Self {
        Self {
            lease_seconds: 60,
            attempts_per_call: 3,
            retry_delay: Duration::from_millis(200),
            backoff_base: 30,
            backoff_cap: 300,
        }
    }
}

impl ActivationPolicy {
    pub fn backoff(&self, attempts: u32) -> i64 {
        let exponent = attempts.saturating_sub(1).min(16);
        (self.backoff_base.saturating_mul(1i64 << exponent)).min(self.backoff_cap)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A stream record or the local worker's immediate notification: act now.
    Event,
    /// The periodic sweep: act only on records that are due.
    Sweep,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// This call won `pending → active` and finished the delivery.
    Activated,
    /// This call finished a delivery someone else had started.
    Delivered,
    RevocationPublished,
    /// Activation gave up for good (the reason is in the record).
    Failed(&'static str),
    /// Someone else holds the record, or it is not due yet.
    Deferred,
    /// Nothing left to do.
    Nothing,
}

#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("gateway topic: {0}")]
    Gateway(String),
    #[error("sms: {0}")]
    Sms(String),
    #[error("record kept changing under us")]
    Contended,
}

/// What one sweep saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    pub due: usize,
    pub processed: usize,
    pub failed: usize,
    pub pending: usize,
    /// Seconds since the oldest still-pending serial was registered.
    pub oldest_pending_age: i64,
}

pub struct Activator {
    app: SharedApp,
    gateway: Arc<dyn GatewayEvents>,
    policy: ActivationPolicy,
    /// Print CloudWatch EMF metric lines (Lambda); locally they would only be noise.
    emit_metrics: bool,
}

async fn with_retries<F, Fut, E>(attempts: u32, first_delay: Duration, mut f: F) -> Result<(), E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
{
    let mut delay = first_delay;
    let mut tries = 0;
    loop {
        tries += 1;
        match f().await {
            Ok(()) => return Ok(()),
            Err(e) if tries >= attempts.max(1) => return Err(e),
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
        }
    }
}

impl Activator {
    pub fn new(app: SharedApp, gateway: Arc<dyn GatewayEvents>, policy: ActivationPolicy, emit_metrics: bool) -> Self {
        Self {
            app,
            gateway,
            policy,
            emit_metrics,
        }
    }

    pub fn app(&self) -> &SharedApp {
        &self.app
    }

    async fn write(&self, stored: &Stored<CertificateRecord>, mut next: CertificateRecord) -> Result<bool, StoreError> {
        next.normalise();
        match self.app.repo.replace(stored, &next, self.app.now()).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Why a pending serial can no longer be activated, if it cannot.
    async fn blocker(&self, record: &CertificateRecord) -> Result<Option<&'static str>, StoreError> {
        let Some(account) = self.app.load_account(&record.username).await? else {
            return Ok(Some("account_missing"));
        };
        Ok(if account.disabled {
            Some("account_disabled")
        } else if !account.home_office {
            Some("home_office_not_enabled")
        } else if CardKey::of_account(&account).as_ref() != Some(&record.key()) {
            Some("superseded")
        } else {
            None
        })
    }

    /// Remembers a failed invocation (for the backoff and the operators) and frees the lease.
    async fn note_failure(&self, card: &CardKey, me: &str, error: &ActivationError) {
        let now = self.app.now();
        let Ok(Some(stored)) = self.app.certificate_record(card).await else {
            return;
        };
        if stored.value.lease.as_ref().is_some_and(|l| l.owner != me) {
            return;
        }
        let mut next = stored.value.clone();
        next.attempts = next.attempts.saturating_add(1);
        next.last_error = Some(error.to_string().chars().take(200).collect());
        next.due_at = now + self.policy.backoff(next.attempts);
        next.lease = None;
        if let Err(e) = self.write(&stored, next).await {
            tracing::warn!(error = %e, "could not record the failed attempt");
        }
    }

    /// Does whatever is left to do for `card`. Safe to call any number of times, from any
    /// number of places at once.
    pub async fn process(&self, card: &CardKey, trigger: Trigger) -> Result<Outcome, ActivationError> {
        let me = crate::security::random_token(9);
        let result = self.process_as(card, trigger, &me).await;
        if let Err(e) = &result {
            tracing::warn!(card = %card, error = %e, "activation attempt failed");
            self.note_failure(card, &me, e).await;
        }
        result
    }

    async fn process_as(&self, card: &CardKey, trigger: Trigger, me: &str) -> Result<Outcome, ActivationError> {
        let serial = &card.serial;
        let mut outcome = Outcome::Nothing;
        let (mut published_activation, mut sms_sent, mut published_revocation) = (false, false, false);
        for _ in 0..32 {
            let now = self.app.now();
            let Some(stored) = self.app.certificate_record(card).await? else {
                return Ok(outcome);
            };
            let record = stored.value.clone();
            let mine = record.lease.as_ref().is_some_and(|l| l.owner == me);
            if !record.has_work() {
                if mine {
                    let mut next = record.clone();
                    next.lease = None;
                    self.write(&stored, next).await?;
                    continue;
                }
                return Ok(outcome);
            }
            if !mine {
                if record.lease.as_ref().is_some_and(|l| l.until > now) {
                    return Ok(Outcome::Deferred);
                }
                if trigger == Trigger::Sweep && record.due_at > now {
                    return Ok(Outcome::Deferred);
                }
                let mut next = record.clone();
                next.lease = Some(Lease {
                    owner: me.to_owned(),
                    until: now + self.policy.lease_seconds,
                });
                next.due_at = now + self.policy.lease_seconds;
                let activating = record.status == SerialStatus::Pending;
                if activating {
                    if let Some(reason) = self.blocker(&record).await? {
                        let mut failed = record.clone();
                        failed.status = SerialStatus::Failed;
                        failed.failure_reason = Some(reason.to_owned());
                        failed.lease = None;
                        if self.write(&stored, failed).await? {
                            self.app
                                .repo
                                .audit(
                                    &record.username,
                                    AuditKind::SerialActivationFailed,
                                    None,
                                    json!({ "serial_number": serial, "issuer_id": card.issuer_id, "reason": reason }),
                                    now,
                                )
                                .await;
                            return Ok(Outcome::Failed(reason));
                        }
                        continue;
                    }
                    // The one conditional write that decides who activates, publishes and sends.
                    next.status = SerialStatus::Active;
                    next.activated_at = Some(now);
                }
                if self.write(&stored, next).await? && activating {
                    outcome = Outcome::Activated;
                    self.app
                        .repo
                        .audit(
                            &record.username,
                            AuditKind::SerialActivated,
                            None,
                            json!({ "serial_number": serial, "issuer_id": card.issuer_id }),
                            now,
                        )
                        .await;
                }
                continue;
            }
            match record.status {
                SerialStatus::Pending | SerialStatus::Failed => return Ok(outcome),
                SerialStatus::Active if !record.gateway_activated => {
                    if !published_activation {
                        let event = GatewayEvent::new(
                            GatewayEventKind::Activated,
                            card,
                            record.username.as_str(),
                            record.activated_at.unwrap_or(now),
                            stored.version(),
                        );
                        with_retries(self.policy.attempts_per_call, self.policy.retry_delay, || {
                            self.gateway.publish(&event)
                        })
                        .await
                        .map_err(|e| ActivationError::Gateway(e.to_string()))?;
                        published_activation = true;
                    }
                    let mut next = record.clone();
                    next.gateway_activated = true;
                    self.write(&stored, next).await?;
                }
                SerialStatus::Active => {
                    if !sms_sent {
                        let account = self
                            .app
                            .load_account(&record.username)
                            .await?
                            .ok_or_else(|| ActivationError::Sms("account is gone".into()))?;
                        // A number in a country not allowed for the account gets no text; the
                        // activation itself stands.
                        let allowed = sms_country_allowed(&account, &account.mobile);
                        if allowed {
                            with_retries(self.policy.attempts_per_call, self.policy.retry_delay, || {
                                self.app
                                    .sms
                                    .send(&account.mobile, messages::home_office_ready(account.language))
                            })
                            .await
                            .map_err(|e| ActivationError::Sms(e.to_string()))?;
                            self.app.record_sms_spend().await;
                        }
                        sms_sent = true;
                        self.app
                            .repo
                            .audit(
                                &record.username,
                                AuditKind::HomeOfficeReadyNotified,
                                None,
                                json!({ "serial_number": serial, "issuer_id": card.issuer_id, "to": account.mobile.masked(), "sent": allowed }),
                                now,
                            )
                            .await;
                    }
                    let mut next = record.clone();
                    next.user_notified = true;
                    next.lease = None;
                    next.last_error = None;
                    if self.write(&stored, next).await? && outcome == Outcome::Nothing {
                        outcome = Outcome::Delivered;
                    }
                }
                SerialStatus::Revoked => {
                    if !published_revocation {
                        let event = GatewayEvent::new(
                            GatewayEventKind::Revoked,
                            card,
                            record.username.as_str(),
                            record.revoked_at.unwrap_or(now),
                            stored.version(),
                        );
                        with_retries(self.policy.attempts_per_call, self.policy.retry_delay, || {
                            self.gateway.publish(&event)
                        })
                        .await
                        .map_err(|e| ActivationError::Gateway(e.to_string()))?;
                        published_revocation = true;
                    }
                    let mut next = record.clone();
                    next.revocation_published = true;
                    next.lease = None;
                    if self.write(&stored, next).await? {
                        outcome = Outcome::RevocationPublished;
                    }
                }
            }
        }
        Err(ActivationError::Contended)
    }

    /// Re-drives every record that is due (pending past its grace period, or a delivery or
    /// revocation whose backoff has run out) and reports the oldest pending activation's age.
    pub async fn sweep(&self) -> Result<SweepReport, ActivationError> {
        let now = self.app.now();
        let items = self
            .app
            .repo
            .items()
            .scan_by_field(SERIAL_PREFIX, "work", WORK_DUE, now)
            .await?;
        let mut report = SweepReport::default();
        for item in items {
            let record: CertificateRecord = match serde_json::from_value(item.data) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(pk = %item.pk, error = %e, "unreadable registry record");
                    report.failed += 1;
                    continue;
                }
            };
            if record.status == SerialStatus::Pending {
                report.pending += 1;
                report.oldest_pending_age = report.oldest_pending_age.max(now - record.registered_at);
            }
            if record.due_at > now || record.lease.as_ref().is_some_and(|l| l.until > now) {
                continue;
            }
            report.due += 1;
            match self.process(&record.key(), Trigger::Sweep).await {
                Ok(Outcome::Deferred) => {}
                Ok(_) => report.processed += 1,
                Err(_) => report.failed += 1,
            }
        }
        if self.emit_metrics {
            println!("{}", emf_line(&report, now));
        }
        tracing::info!(
            due = report.due,
            processed = report.processed,
            failed = report.failed,
            pending = report.pending,
            oldest_pending_age = report.oldest_pending_age,
            "activation sweep"
        );
        Ok(report)
    }
}

/// CloudWatch embedded-metric-format line for the sweep (the alarm watches
/// `OldestPendingActivationAge`; DESIGN §3 promises ≤ 15 min).
pub fn emf_line(report: &SweepReport, now: UnixTime) -> String {
    json!({
        "_aws": {
            "Timestamp": now.saturating_mul(1000),
            "CloudWatchMetrics": [{
                "Namespace": "Hjemmekontor",
                "Dimensions": [["Function"]],
                "Metrics": [
                    { "Name": "OldestPendingActivationAge", "Unit": "Seconds" },
                    { "Name": "PendingActivations", "Unit": "Count" },
                    { "Name": "ActivationSweepFailures", "Unit": "Count" }
                ]
            }]
        },
        "Function": "serial-activation",
        "OldestPendingActivationAge": report.oldest_pending_age,
        "PendingActivations": report.pending,
        "ActivationSweepFailures": report.failed,
    })
    .to_string()
}

/// The card a stream record's keys name, if it is a registry record.
pub fn card_from_keys(pk: &str, sk: &str) -> Option<CardKey> {
    CardKey::from_keys(pk, sk)
}
