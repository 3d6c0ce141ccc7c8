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
use serde::{Deserialize, Serialize};
use serde_json::json;
use totp_rs::{Algorithm, Builder, Totp};

use super::challenge_rules::{Answer, Opening};
use super::challenges::{CodeScope, IssuedChallenge};
use super::limits::{Allowance, Limit};
use crate::app::App;
use crate::audit::AuditKind;
use crate::clock::UnixTime;
use crate::domain::{ChallengeId, OneTimeCode, Password, Username};
use crate::error::ServiceError;
use crate::security::ct_eq;
use crate::security::secretbox::{Sealed, SecretBox};
use crate::services::admin::AdminError;
use crate::sms::messages;
use crate::store::keys::{account_pk, challenge_pk, CHALLENGE_SK, TOTP_SK};
use crate::store::records::{to_item, Account, Challenge, ChallengePurpose, Change};
use crate::store::{Condition, StoreError, WriteOp};

/// The issuer authenticator apps show next to the account name.
pub const ISSUER: &str = "Norsk Helsenett Hjemmekontor";
pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u8 = 6;
/// Steps of clock drift accepted either way.
pub const SKEW_STEPS: i64 = 1;
/// 160 bits, as RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;
/// How long a started enrolment can be confirmed.
pub const ENROLMENT_LIFETIME: i64 = 10 * 60;
/// Retries of a read-modify-write over two records when another writer got there first.
const MAX_RETRIES: usize = 16;

/// The authenticator-app state of one account.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TotpRecord {
    /// The confirmed authenticator, usable at login.
    #[serde(default)]
    pub active: Option<ActiveTotp>,
    /// An enrolment waiting for its first code; replaces `active` when confirmed.
    #[serde(default)]
    pub pending: Option<PendingTotp>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ActiveTotp {
    pub secret: Sealed,
    pub enabled_at: UnixTime,
    /// The newest time step a code was accepted for; that step and older ones are refused.
    pub last_used_step: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingTotp {
    pub secret: Sealed,
    pub started_at: UnixTime,
    pub expires_at: UnixTime,
    pub failed_attempts: u32,
}

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

/// How a code relates to an authenticator's time steps around now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodeMatch {
    /// Right, for this step, newer than any used before.
    Fresh(i64),
    /// Right, but for a step whose code was already used (a replay).
    Reused,
    Wrong,
}

/// Builds the RFC 6238 generator for a secret.
fn generator(secret: Vec<u8>, username: &Username) -> Result<Totp, ServiceError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_skew(SKEW_STEPS as u16)
        .with_step_duration(STEP_SECONDS as u64)
        .with_secret(secret)
        .with_account_name(username.as_str())
        .with_issuer(Some(ISSUER))
        .build()
        // The error may quote the account name but never the secret; keep it short anyway.
        .map_err(|_| ServiceError::Internal("authenticator parameters rejected".into()))
}

/// Checks `code` against every step within the drift window (all of them, whatever matches
/// first), comparing in constant time.
fn match_code(totp: &Totp, code: &OneTimeCode, now: UnixTime, last_used_step: Option<i64>) -> CodeMatch {
    let current = now.div_euclid(STEP_SECONDS);
    let mut fresh = None;
    let mut reused = false;
    for step in (current - SKEW_STEPS)..=(current + SKEW_STEPS) {
        let Ok(at) = u64::try_from(step * STEP_SECONDS) else {
            continue;
        };
        let expected = totp.generate(at).to_string();
        if ct_eq(&expected, code.expose()) {
            if last_used_step.is_some_and(|last| step <= last) {
                reused = true;
            } else {
                fresh = Some(step);
            }
        }
    }
    match (fresh, reused) {
        (Some(step), _) => CodeMatch::Fresh(step),
        (None, true) => CodeMatch::Reused,
        (None, false) => CodeMatch::Wrong,
    }
}

/// Associated data of a sealed secret: binds it to its account.
fn associated_data(username: &Username) -> Vec<u8> {
    format!("hjemmekontor-totp-v1:{username}").into_bytes()
}

/// A write of `value` conditional on the record still being at `read_version`.
fn versioned_put<T: Serialize>(
    pk: &str,
    sk: &str,
    value: &T,
    read_version: u64,
    expires_at: Option<UnixTime>,
) -> Result<WriteOp, StoreError> {
    let mut item = to_item(pk, sk, value, expires_at)?;
    item.version = read_version + 1;
    Ok(WriteOp::Put {
        item,
        condition: Condition::VersionIs(read_version),
    })
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

    fn totp_generator(&self, username: &Username, sealed: &Sealed) -> Result<Totp, ServiceError> {
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
    pub async fn start_totp_enrolment(
        &self,
        username: &Username,
        password: &Password,
        source_ip: Option<&str>,
    ) -> Result<TotpEnrolment, ServiceError> {
        self.secret_box()?;
        self.reauthenticated(username, password, source_ip, "totp_enrolment")
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
        code: &OneTimeCode,
        source_ip: Option<&str>,
    ) -> Result<(), ServiceError> {
        self.secret_box()?;
        // Reserved before the code is compared, like every code attempt.
        let slot = self.reserve_code_attempt(CodeScope::Login, username).await?;
        let now = self.now();
        let max = self.policy.code_attempts_per_challenge;
        enum Confirmed {
            Enabled { replaced: bool },
            Wrong(u32),
        }
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
                let totp = self.totp_generator(username, &pending.secret)?;
                let mut next = record.clone();
                match match_code(&totp, code, now, None) {
                    CodeMatch::Fresh(step) => {
                        next.active = Some(ActiveTotp {
                            secret: pending.secret.clone(),
                            enabled_at: now,
                            // The confirming code is used up: it cannot also log in.
                            last_used_step: step,
                        });
                        next.pending = None;
                        let replaced = record.active.is_some();
                        Ok((Change::Write(next, Confirmed::Enabled { replaced }), None))
                    }
                    CodeMatch::Reused | CodeMatch::Wrong => {
                        let failed = pending.failed_attempts + 1;
                        next.pending = (failed < max).then(|| PendingTotp {
                            failed_attempts: failed,
                            ..pending.clone()
                        });
                        Ok((Change::Write(next, Confirmed::Wrong(max - failed)), None))
                    }
                }
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
        let account = self.account(username).await?;
        let notified = self
            .send_notice(&account.mobile, messages::totp_enabled(account.language))
            .await;
        self.repo
            .audit(
                username,
                AuditKind::TotpEnabled,
                source_ip,
                json!({
                    "replaced": replaced,
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
        password: &Password,
        source_ip: Option<&str>,
    ) -> Result<(), ServiceError> {
        let account = self
            .reauthenticated(username, password, source_ip, "totp_removal")
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

    async fn admin_account(&self, username: &Username) -> Result<Account, AdminError> {
        self.repo
            .load::<Account>(&account_pk(username), crate::store::keys::PROFILE_SK, self.now())
            .await?
            .map(|s| s.value)
            .ok_or_else(|| AdminError::NoSuchAccount(username.to_string()))
    }

    /// Deletes the record; `None` if there was none, else whether it had an active authenticator.
    async fn delete_totp(&self, username: &Username) -> Result<Option<bool>, ServiceError> {
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

    /// Notice to the account's phone (best effort) and audit event of a removal.
    async fn totp_removed(&self, account: &Account, source_ip: Option<&str>, by: &'static str) {
        let notified = self
            .send_notice(&account.mobile, messages::totp_removed(account.language))
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

    /// Opens a login challenge for a user with an authenticator app. No SMS is sent; the user
    /// may ask for one (`/v1/auth/sms/resend`), which then goes out at once.
    pub(crate) async fn start_totp_login(
        &self,
        account: &Account,
        remember_me: bool,
    ) -> Result<IssuedChallenge, ServiceError> {
        let now = self.now();
        // Sends no SMS, so the SMS limits do not bound these; each counts here instead.
        let opened = Limit {
            scope: "totp-challenges",
            max: self.policy.totp_challenges_per_account_hour,
            window: 3600,
        };
        if let Allowance::Wait(wait) = self.repo.limit_acquire(&opened, account.username.as_str(), now).await? {
            return Err(ServiceError::TooManyAttempts { retry_after: wait });
        }
        let opening = Opening {
            purpose: ChallengePurpose::Login { remember_me },
            username: account.username.clone(),
            destination: account.mobile.clone(),
            answer: Answer::App,
            password_version: Some(account.password_version),
            language: account.language,
        };
        let challenge = self.insert_challenge(ChallengeId::generate(), opening).await?;
        Ok(IssuedChallenge {
            challenge_id: challenge.id,
            phone_hint: account.mobile.masked(),
            expires_in: crate::clock::secs(self.policy.code_lifetime),
            resend_after: 0,
        })
    }

    /// `POST /v1/auth/totp/verify`: checks an authenticator code against a login challenge
    /// and, if right and not used before, consumes the challenge and the code's time step
    /// together: exactly one caller ever gets `Ok` for a challenge, and a code opens at most
    /// one session, however many verify it at once. Like an SMS code, the attempt is reserved
    /// against the account's hourly code-failure limit before the code is compared.
    pub async fn verify_totp(
        &self,
        id: &ChallengeId,
        code: &OneTimeCode,
        source_ip: Option<&str>,
    ) -> Result<Challenge, ServiceError> {
        let challenge = self.live_challenge(id).await?;
        if !challenge.totp || !matches!(challenge.purpose, ChallengePurpose::Login { .. }) {
            return Err(ServiceError::ChallengeGone);
        }
        let username = challenge.username;
        let slot = self.reserve_code_attempt(CodeScope::Login, &username).await?;
        match self.compare_totp(id, &username, code).await {
            Ok(TotpAttempt::Right(consumed)) => {
                self.release_code_attempt(CodeScope::Login, &username).await;
                self.repo
                    .audit(&username, AuditKind::TotpVerified, source_ip, json!({}), self.now())
                    .await;
                Ok(consumed)
            }
            Ok(TotpAttempt::Wrong { attempts_left, reused }) => {
                let detail = json!({
                    "method": "totp",
                    "attempts_left": attempts_left,
                    "reused": reused,
                });
                Err(self
                    .code_failed(CodeScope::Login, &username, slot, attempts_left, source_ip, detail)
                    .await)
            }
            Err(e) => {
                self.release_code_attempt(CodeScope::Login, &username).await;
                Err(e)
            }
        }
    }

    /// Compares `code` and records the outcome on the challenge (and, if right, the used time
    /// step) in one conditional transaction.
    async fn compare_totp(
        &self,
        id: &ChallengeId,
        username: &Username,
        code: &OneTimeCode,
    ) -> Result<TotpAttempt, ServiceError> {
        let now = self.now();
        let max = self.policy.code_attempts_per_challenge;
        let (challenge_key, record_key) = (challenge_pk(id), account_pk(username));
        for _ in 0..MAX_RETRIES {
            let Some(stored) = self.repo.load::<Challenge>(&challenge_key, CHALLENGE_SK, now).await? else {
                return Err(ServiceError::ChallengeGone);
            };
            let c = &stored.value;
            if c.consumed || c.failed_attempts >= max {
                return Err(ServiceError::ChallengeGone);
            }
            let record = self.repo.load::<TotpRecord>(&record_key, TOTP_SK, now).await?;
            let active = record.as_ref().and_then(|r| r.value.active.as_ref());
            let verdict = match active {
                Some(a) => match_code(
                    &self.totp_generator(username, &a.secret)?,
                    code,
                    now,
                    Some(a.last_used_step),
                ),
                // Removed since the login began: no code can be right.
                None => CodeMatch::Wrong,
            };
            let mut next = c.clone();
            let ops = match (verdict, &record) {
                (CodeMatch::Fresh(step), Some(record)) => {
                    next.consumed = true;
                    let mut used = record.value.clone();
                    if let Some(a) = used.active.as_mut() {
                        a.last_used_step = step;
                    }
                    vec![
                        versioned_put(
                            &challenge_key,
                            CHALLENGE_SK,
                            &next,
                            stored.version(),
                            Some(c.code_expires_at),
                        )?,
                        versioned_put(&record_key, TOTP_SK, &used, record.version(), None)?,
                    ]
                }
                _ => {
                    next.failed_attempts += 1;
                    vec![versioned_put(
                        &challenge_key,
                        CHALLENGE_SK,
                        &next,
                        stored.version(),
                        Some(c.code_expires_at),
                    )?]
                }
            };
            match self.repo.items().transact(ops, now).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
            if next.consumed {
                return Ok(TotpAttempt::Right(next));
            }
            return Ok(TotpAttempt::Wrong {
                attempts_left: max - next.failed_attempts,
                reused: verdict == CodeMatch::Reused,
            });
        }
        Err(StoreError::ConditionFailed.into())
    }
}

/// How one authenticator-code attempt on a login challenge ended.
enum TotpAttempt {
    /// Right: the challenge is consumed.
    Right(Challenge),
    Wrong {
        attempts_left: u32,
        reused: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totp() -> Totp {
        generator(vec![7u8; SECRET_BYTES], &Username::parse("kari").unwrap()).unwrap()
    }

    fn code_at(totp: &Totp, at: i64) -> OneTimeCode {
        OneTimeCode::parse(&totp.generate(at as u64).to_string()).unwrap()
    }

    #[test]
    fn rfc_6238_sha1_test_vector() {
        // RFC 6238 appendix B: secret "12345678901234567890", T = 59 s -> 94287082 (8 digits);
        // the 6-digit code is its last six digits.
        let t = generator(b"12345678901234567890".to_vec(), &Username::parse("kari").unwrap()).unwrap();
        assert_eq!(t.generate(59).to_string(), "287082");
        assert_eq!(t.generate(1_111_111_109).to_string(), "081804");
    }

    #[test]
    fn accepts_one_step_of_drift_either_way_and_no_more() {
        let t = totp();
        let now = 1_767_225_615;
        for (offset, expected) in [(-60, false), (-30, true), (0, true), (30, true), (60, false)] {
            let verdict = match_code(&t, &code_at(&t, now + offset), now, None);
            assert_eq!(matches!(verdict, CodeMatch::Fresh(_)), expected, "offset {offset}");
        }
    }

    #[test]
    fn steps_at_or_before_the_last_used_one_are_reused_not_fresh() {
        let t = totp();
        let now = 1_767_225_615;
        let step = now / STEP_SECONDS;
        assert_eq!(match_code(&t, &code_at(&t, now), now, Some(step)), CodeMatch::Reused);
        assert_eq!(
            match_code(&t, &code_at(&t, now - 30), now, Some(step)),
            CodeMatch::Reused
        );
        assert_eq!(
            match_code(&t, &code_at(&t, now + 30), now, Some(step)),
            CodeMatch::Fresh(step + 1)
        );
        let wrong = OneTimeCode::parse(if code_at(&t, now).expose() == "000000" {
            "000001"
        } else {
            "000000"
        })
        .unwrap();
        assert_eq!(match_code(&t, &wrong, now, None), CodeMatch::Wrong);
    }

    #[test]
    fn otpauth_uri_names_the_issuer_and_account_with_default_parameters() {
        let uri = totp().to_url().unwrap();
        assert!(
            uri.starts_with("otpauth://totp/Norsk%20Helsenett%20Hjemmekontor:kari?secret="),
            "{uri}"
        );
        assert!(uri.contains("issuer=Norsk%20Helsenett%20Hjemmekontor"), "{uri}");
        // SHA-1, 6 digits and 30 s are the defaults and therefore implied.
        assert!(
            !uri.contains("algorithm=") && !uri.contains("digits=") && !uri.contains("period="),
            "{uri}"
        );
    }
}
