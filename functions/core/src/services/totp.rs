//! Authenticator apps (TOTP, RFC 6238) as a second factor besides SMS, which NIST SP 800-63B
//! §5.2.10 calls a restricted authenticator.
//!
//! - Enrolment needs a live session and the current password; the secret (160 bits from the OS
//!   CSPRNG) is shown once, as base32, an `otpauth://` URI and a QR code, and becomes active
//!   only when a code computed from it is confirmed.
//! - Parameters every common app understands: HMAC-SHA-1, 6 digits, 30-second steps, one step
//!   of clock drift either way.
//! - A code is accepted at most once: the newest accepted time step is kept per account and
//!   only newer steps are accepted; the step and the challenge are written in one conditional
//!   transaction, so concurrent verifies of one code cannot both win.
//! - The secret is stored encrypted (AES-256-GCM under the key material's `totp_key`) with the
//!   username as associated data.
//! - Wrong codes count towards the same limits as wrong SMS codes: the challenge's 5 attempts
//!   and the account's 20 per hour.

use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use totp_rs::Totp;

use super::code_budgets::CodeScope;
use super::step_up::factor_settled;
use super::totp_codes::{associated_data, generator, match_code, Confirmed};
pub use super::totp_codes::{
    ActiveTotp, PendingTotp, TotpRecord, DIGITS, ISSUER, SECRET_BYTES, SKEW_STEPS, STEP_SECONDS,
};
use crate::app::App;
use crate::audit::AuditKind;
use crate::clock::UnixTime;
use crate::domain::{OneTimeCode, Password, Username};
use crate::error::ServiceError;
use crate::security::secretbox::{Sealed, SecretBox};
use crate::services::admin::AdminError;
use crate::sms::messages;
use crate::store::keys::{account_pk, TOTP_SK};
use crate::store::records::{Account, Change};

/// How long a started enrolment can be confirmed.
pub const ENROLMENT_LIFETIME: i64 = 10 * 60;

/// What the user gets once, to set up the app. Debug output hides the secret.
#[derive(Clone, Serialize)]
pub struct TotpEnrolment {
    /// The secret, base32 without padding, for typing into the app.
    pub secret: String,
    pub otpauth_uri: String,
    /// `data:image/png;base64,…` of a QR code of `otpauth_uri`.
    pub qr_code: String,
    pub algorithm: &'static str,
    pub digits: u8,
    pub period: i64,
    /// Seconds left to confirm the enrolment with a code.
    pub expires_in: i64,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TotpEnrolment(***, expires_in: {})", self.expires_in)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TotpStatus {
    pub enabled: bool,
    pub enabled_at: Option<UnixTime>,
    /// An enrolment was started and not yet confirmed.
    pub pending: bool,
}

impl App {
    fn secret_box(&self) -> Result<&SecretBox, ServiceError> {
        match &self.totp {
            crate::app::TotpKeying::Key(secret_box) => Ok(secret_box),
            crate::app::TotpKeying::HeldByOtherFunctions => {
                Err(ServiceError::Internal("this function holds no totp_key".into()))
            }
            crate::app::TotpKeying::Absent => Err(ServiceError::TotpUnavailable("the key material has no totp_key")),
        }
    }

    /// Encrypts an authenticator secret for `username`.
    pub fn seal_totp_secret(&self, username: &Username, secret: &[u8]) -> Result<Sealed, ServiceError> {
        self.secret_box()?
            .seal(secret, &associated_data(username))
            .map_err(|_| ServiceError::Internal("authenticator secret could not be sealed".into()))
    }

    /// Decrypts an authenticator secret of `username`.
    pub fn open_totp_secret(&self, username: &Username, sealed: &Sealed) -> Result<Vec<u8>, ServiceError> {
        self.secret_box()?
            .open(sealed, &associated_data(username))
            .map_err(|_| ServiceError::Internal("authenticator secret cannot be opened with this key".into()))
    }

    pub(crate) fn totp_generator(&self, username: &Username, sealed: &Sealed) -> Result<Totp, ServiceError> {
        generator(self.open_totp_secret(username, sealed)?, username)
    }

    pub async fn totp_record(&self, username: &Username) -> Result<Option<TotpRecord>, ServiceError> {
        Ok(self
            .repo
            .load::<TotpRecord>(&account_pk(username), TOTP_SK, self.now())
            .await?
            .map(|s| s.value))
    }

    /// Whether login should offer the authenticator app (and send no SMS unless asked). Never
    /// true when this deployment has no key to open secrets with: then SMS it is, as before.
    pub async fn totp_active(&self, username: &Username) -> Result<bool, ServiceError> {
        if matches!(self.totp, crate::app::TotpKeying::Absent) {
            return Ok(false);
        }
        Ok(self.totp_record(username).await?.is_some_and(|r| r.active.is_some()))
    }

    pub async fn totp_status(&self, username: &Username) -> Result<TotpStatus, ServiceError> {
        let now = self.now();
        let record = self.totp_record(username).await?.unwrap_or_default();
        Ok(TotpStatus {
            enabled: record.active.is_some(),
            enabled_at: record.active.as_ref().map(|a| a.enabled_at),
            pending: record.pending.as_ref().is_some_and(|p| p.expires_at > now),
        })
    }

    /// The signed-in user's account after re-authentication with the current password (the
    /// login throttles apply; a wrong password is 403 and counts as a failed login).
    async fn reauthenticated(
        &self,
        username: &Username,
        password: &Password,
        source_ip: Option<&str>,
        during: &'static str,
    ) -> Result<Account, ServiceError> {
        let account = self.account(username).await?;
        self.reauthenticate(&account, password, source_ip, during).await?;
        Ok(account)
    }

    /// `POST /v1/account/totp`: a fresh secret, shown this once. Replaces any unconfirmed
    /// enrolment; an active authenticator stays active until the new one is confirmed.
    ///
    /// `second_factor_at` is the session's ([`crate::services::sessions::Caller`]): an account
    /// with a strong factor needs a fresh one ([`App::require_fresh_second_factor`]).
    pub async fn start_totp_enrolment(
        &self,
        username: &Username,
        second_factor_at: Option<UnixTime>,
        password: &Password,
        source_ip: Option<&str>,
    ) -> Result<TotpEnrolment, ServiceError> {
        self.secret_box()?;
        self.reauthenticated(username, password, source_ip, "totp_enrolment")
            .await?;
        self.require_fresh_second_factor(second_factor_at, username, self.now())
            .await?;
        let mut secret = vec![0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let sealed = self.seal_totp_secret(username, &secret)?;
        let totp = generator(secret, username)?;
        let otpauth_uri = totp
            .to_url()
            .map_err(|_| ServiceError::Internal("otpauth URI could not be built".into()))?;
        let qr = totp
            .to_qr_base64()
            .map_err(|_| ServiceError::Internal("QR code could not be drawn".into()))?;
        let now = self.now();
        let pending = PendingTotp {
            secret: sealed,
            started_at: now,
            expires_at: now + ENROLMENT_LIFETIME,
            failed_attempts: 0,
        };
        self.repo
            .modify::<TotpRecord, (), ServiceError, _>(&account_pk(username), TOTP_SK, now, |current| {
                let mut next = current.cloned().unwrap_or_default();
                next.pending = Some(pending.clone());
                Ok((Change::Write(next, ()), None))
            })
            .await?;
        self.repo
            .audit(username, AuditKind::TotpEnrolmentStarted, source_ip, json!({}), now)
            .await;
        Ok(TotpEnrolment {
            secret: totp.secret().to_base32(),
            otpauth_uri,
            qr_code: format!("data:image/png;base64,{qr}"),
            algorithm: "SHA1",
            digits: DIGITS,
            period: STEP_SECONDS,
            expires_in: ENROLMENT_LIFETIME,
        })
    }

    /// `POST /v1/account/totp/confirm`: activates the pending secret once a code from it is
    /// right. Wrong codes count like wrong login codes; 5 end the enrolment.
    pub async fn confirm_totp_enrolment(
        &self,
        username: &Username,
        second_factor_at: Option<UnixTime>,
        code: &OneTimeCode,
        source_ip: Option<&str>,
    ) -> Result<(), ServiceError> {
        self.secret_box()?;
        let basis = self.guard_enrolment(second_factor_at, username, self.now()).await?;
        // Reserved before the code is compared, like every code attempt.
        let slot = self.reserve_code_attempt(CodeScope::Login, username).await?;
        let now = self.now();
        let max = self.policy.code_attempts_per_challenge;
        let outcome = self
            .repo
            .modify::<TotpRecord, Confirmed, ServiceError, _>(&account_pk(username), TOTP_SK, now, |current| {
                let Some(record) = current else {
                    return Err(ServiceError::TotpEnrolmentGone);
                };
                let Some(pending) = record
                    .pending
                    .as_ref()
                    .filter(|p| p.expires_at > now && p.failed_attempts < max)
                else {
                    return Err(ServiceError::TotpEnrolmentGone);
                };
                let verdict = match_code(&self.totp_generator(username, &pending.secret)?, code, now, None);
                let (mut next, confirmed) = record.confirmed(pending, verdict, now, max);
                if let (Confirmed::Enabled { .. }, Some(active)) = (&confirmed, next.active.as_mut()) {
                    // A replacement after a step-up with a settled factor is the owner's.
                    active.counts_since = basis.counts_since;
                }
                Ok((Change::Write(next, confirmed), None))
            })
            .await;
        let replaced = match outcome {
            Ok(Confirmed::Enabled { replaced }) => replaced,
            Ok(Confirmed::Wrong(attempts_left)) => {
                return Err(self
                    .code_failed(
                        CodeScope::Login,
                        username,
                        slot,
                        attempts_left,
                        source_ip,
                        json!({ "method": "totp", "during": "enrolment", "attempts_left": attempts_left }),
                    )
                    .await);
            }
            Err(e) => {
                self.release_code_attempt(CodeScope::Login, username).await;
                return Err(e);
            }
        };
        // A right code is no failure: its reserved attempt goes back.
        self.release_code_attempt(CodeScope::Login, username).await;
        // The account's first strong factor: recovery codes made before it stand in for nothing
        // the owner chose (whoever held the password and an SMS code could make them).
        let recovery_codes_removed = basis.first && self.delete_recovery_codes(username).await?;
        let account = self.account(username).await?;
        let notified = self
            .send_notice(
                &account.username,
                &account.mobile,
                messages::totp_enabled(account.language),
            )
            .await;
        self.repo
            .audit(
                username,
                AuditKind::TotpEnabled,
                source_ip,
                json!({
                    "replaced": replaced,
                    "recovery_codes_removed": recovery_codes_removed,
                    "notice_to": account.mobile.masked(),
                    "notice_sent": notified,
                }),
                now,
            )
            .await;
        Ok(())
    }

    /// `DELETE /v1/account/totp`: removes the authenticator (and any unconfirmed enrolment).
    pub async fn remove_totp(
        &self,
        username: &Username,
        second_factor_at: Option<UnixTime>,
        password: &Password,
        source_ip: Option<&str>,
    ) -> Result<(), ServiceError> {
        let account = self
            .reauthenticated(username, password, source_ip, "totp_removal")
            .await?;
        self.require_fresh_second_factor(second_factor_at, username, self.now())
            .await?;
        match self.delete_totp(username).await? {
            None => Err(ServiceError::TotpNotEnrolled),
            Some(false) => Ok(()),
            Some(true) => {
                self.totp_removed(&account, source_ip, "user").await;
                Ok(())
            }
        }
    }

    /// `portal-admin remove-totp` (the user lost the phone with the app). Returns whether an
    /// active authenticator was removed.
    pub async fn admin_remove_totp(&self, username: &Username) -> Result<bool, AdminError> {
        let account = self.admin_account(username).await?;
        let had_active = self.delete_totp(username).await? == Some(true);
        if had_active {
            self.totp_removed(&account, None, "operator").await;
        }
        Ok(had_active)
    }

    /// `portal-admin totp-status`.
    pub async fn admin_totp_status(&self, username: &Username) -> Result<TotpStatus, AdminError> {
        self.admin_account(username).await?;
        Ok(self.totp_status(username).await?)
    }

    pub(crate) async fn admin_account(&self, username: &Username) -> Result<Account, AdminError> {
        self.repo
            .load::<Account>(&account_pk(username), crate::store::keys::PROFILE_SK, self.now())
            .await?
            .map(|s| s.value)
            .ok_or_else(|| AdminError::NoSuchAccount(username.to_string()))
    }

    /// Deletes the record; `None` if there was none, else whether it had an active authenticator.
    pub(crate) async fn delete_totp(&self, username: &Username) -> Result<Option<bool>, ServiceError> {
        self.repo
            .modify::<TotpRecord, Option<bool>, ServiceError, _>(
                &account_pk(username),
                TOTP_SK,
                self.now(),
                |current| {
                    Ok(match current {
                        None => (Change::Keep(None), None),
                        Some(r) => (Change::Delete(Some(r.active.is_some())), None),
                    })
                },
            )
            .await
    }

    /// "This wasn't me": removes the authenticator app unless it has settled ([`factor_settled`]
    /// from its `counts_since`; the owner's, as for passkeys in
    /// [`App::remove_unsettled_passkeys`]), and any unfinished enrolment either way. Returns
    /// whether an active app was removed.
    pub(crate) async fn remove_unsettled_totp(&self, username: &Username, now: UnixTime) -> Result<bool, ServiceError> {
        self.repo
            .modify::<TotpRecord, bool, ServiceError, _>(&account_pk(username), TOTP_SK, now, |current| {
                Ok(match current {
                    None => (Change::Keep(false), None),
                    Some(r) => match &r.active {
                        Some(a) if factor_settled(a.counts_since.unwrap_or(a.enabled_at), now) => {
                            if r.pending.is_none() {
                                (Change::Keep(false), None)
                            } else {
                                let kept = TotpRecord {
                                    active: r.active.clone(),
                                    pending: None,
                                };
                                (Change::Write(kept, false), None)
                            }
                        }
                        active => (Change::Delete(active.is_some()), None),
                    },
                })
            })
            .await
    }

    /// Notice to the account's phone (best effort) and audit event of a removal.
    async fn totp_removed(&self, account: &Account, source_ip: Option<&str>, by: &'static str) {
        let notified = self
            .send_notice(
                &account.username,
                &account.mobile,
                messages::totp_removed(account.language),
            )
            .await;
        self.repo
            .audit(
                &account.username,
                AuditKind::TotpRemoved,
                source_ip,
                json!({
                    "by": by,
                    "notice_to": account.mobile.masked(),
                    "notice_sent": notified,
                }),
                self.now(),
            )
            .await;
    }
}
