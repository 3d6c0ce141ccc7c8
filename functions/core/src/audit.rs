//! The security audit trail: who, what, when, from where. Never a secret, never a full number.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::{rfc3339, UnixTime};
use crate::domain::Username;
use crate::store::keys;
use crate::store::records::{to_item, Repo};
use crate::store::{Condition, StoreError, WriteOp};

/// Audit events are kept 90 days (issue 16): the user's security history shows exactly what
/// the store still holds, and the table's TTL removes the rest.
pub const RETENTION: i64 = 90 * 24 * 3600;
/// The part of an audit event's sort key after its second: the wall clock's microseconds (so
/// events of one second list in the order they happened, newest first in the security
/// history) and 48 random bits (so two at the same microsecond, as the several events of one
/// transaction can be, do not collide: a collision would fail the whole transaction). 24
/// characters in all, the most a paging cursor accepts (`services::security_centre`).
fn audit_nonce() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() % 10_u128.pow(16));
    format!("{micros:016}{}", crate::security::random_token(6))
}

/// Stand-ins for audit events of names without an account are only there to cost a write.
const STAND_IN_LIFETIME: i64 = 15 * 60;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    LoginPasswordOk,
    LoginFailed,
    LoginThrottled,
    CodeSent,
    CodeFailed,
    CodeLocked,
    LoginCompleted,
    /// No longer written (a refresh is routine; see `App::refresh_session`); kept so events
    /// stored before still read.
    SessionRefreshed,
    SessionRevoked,
    RefreshReuseDetected,
    PasswordChanged,
    PasswordReset,
    PasswordResetRequested,
    PhoneChangeRequested,
    PhoneChanged,
    AccountCreated,
    AccountDisabled,
    AccountEnabled,
    HomeOfficeChanged,
    InitialPasswordIssued,
    BuypassCardRegistered,
    BuypassRegistrationRejected,
    BuypassCardReplacedNotified,
    SerialActivated,
    SerialActivationFailed,
    SerialRevoked,
    HomeOfficeReadyNotified,
    TotpEnrolmentStarted,
    TotpEnabled,
    TotpRemoved,
    TotpVerified,
    PasskeyAdded,
    PasskeyRemoved,
    PasskeyVerified,
    /// An enrolment's attestation did not verify.
    PasskeyRejected,
    /// A login assertion whose signature counter did not grow (a cloned authenticator?).
    PasskeyCounterRegression,
    SmsCountryAllowed,
    SmsCountryDisallowed,
    SmsDeliveryFailed,
    /// The user said "this wasn't me" (`POST /v1/account/not-me`).
    NotMeReported,
    /// A login from a browser the account had not used before was texted to the account.
    NewDeviceNotified,
    /// New recovery codes replaced every earlier one (`POST /v1/account/recovery-codes`).
    RecoveryCodesGenerated,
    /// A recovery code was used (login or password reset); it no longer works.
    RecoveryCodeUsed,
    /// An operator closed the account's incident (`portal-admin incident-close`).
    IncidentClosed,
    /// A session proved a fresh second factor (`POST /v1/account/step-up`); `method` says which.
    StepUp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditEvent {
    pub at: String,
    pub event: AuditKind,
    pub username: String,
    pub source_ip: Option<String>,
    /// Non-secret context (masked numbers, reasons).
    #[serde(default)]
    pub detail: Value,
}

/// The write of one audit event, for a transaction that records it together with the change
/// it describes (so the event exists exactly when the change does, at no extra round trip).
/// Call [`logged`] once the transaction has committed.
pub fn audit_op(
    username: &Username,
    kind: AuditKind,
    source_ip: Option<&str>,
    detail: Value,
    now: UnixTime,
) -> Result<WriteOp, StoreError> {
    let event = AuditEvent {
        at: rfc3339(now),
        event: kind,
        username: username.as_str().to_owned(),
        source_ip: source_ip.map(str::to_owned),
        detail,
    };
    let sk = keys::audit_sk(now, &audit_nonce());
    Ok(WriteOp::Put {
        item: to_item(&keys::audit_pk(username), &sk, &event, Some(now + RETENTION))?,
        condition: Condition::Absent,
    })
}

/// The stand-in of [`audit_op`] where no account exists (see [`Repo::audit_stand_in`]).
pub fn audit_stand_in_op(key: &str, kind: AuditKind, now: UnixTime) -> Result<WriteOp, StoreError> {
    let event = AuditEvent {
        at: rfc3339(now),
        event: kind,
        username: String::new(),
        source_ip: None,
        detail: Value::Null,
    };
    let sk = keys::audit_sk(now, &audit_nonce());
    Ok(WriteOp::Put {
        item: to_item(
            &keys::audit_stand_in_pk(key),
            &sk,
            &event,
            Some(now + STAND_IN_LIFETIME),
        )?,
        condition: Condition::Absent,
    })
}

/// The log line of an audit event written by [`audit_op`] in a committed transaction.
pub fn logged(username: &Username, kind: AuditKind) {
    tracing::info!(event = ?kind, user = %crate::observability::user_tag(username), "audit");
}

impl Repo {
    /// Records an event. Failure to audit is logged, never shown to the user: the action it
    /// describes has already happened.
    pub async fn audit(
        &self,
        username: &Username,
        kind: AuditKind,
        source_ip: Option<&str>,
        detail: Value,
        now: UnixTime,
    ) {
        let result = match audit_op(username, kind, source_ip, detail, now) {
            Ok(op) => self.items().transact(vec![op], now).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, event = ?kind, "audit event not stored");
        }
        logged(username, kind);
    }

    /// Where no account exists (an unknown username at login, a decoy challenge), writes an
    /// item of the same shape and size as an audit event instead, so the path costs the same
    /// awaited write as one with an account and timing does not tell them apart. Keyed by
    /// `key` (a hash of the typed name, never the name itself), kept only briefly, and never
    /// read.
    pub async fn audit_stand_in(&self, key: &str, kind: AuditKind, now: UnixTime) {
        let result = match audit_stand_in_op(key, kind, now) {
            Ok(op) => self.items().transact(vec![op], now).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, event = ?kind, "stand-in event not stored");
        }
    }

    /// Oldest first.
    pub async fn audit_trail(
        &self,
        username: &Username,
        now: UnixTime,
    ) -> Result<Vec<AuditEvent>, crate::store::StoreError> {
        let items = self.items().query(&keys::audit_pk(username), "", now).await?;
        Ok(items
            .into_iter()
            .filter_map(|i| serde_json::from_value(i.data).ok())
            .collect())
    }
}
