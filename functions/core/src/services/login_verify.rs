//! `POST /v1/auth/sms/verify`: the login code checked and the session opened as one decision,
//! in three DynamoDB round trips (issue 18): the challenge; the account's code lock, its hourly
//! code-failure log and its profile in one batch; one transaction with the outcome.
//!
//! Every rule of [`App::verify_code`] followed by [`App::open_login_session`] holds, kept by
//! version conditions instead of separate writes:
//! - exactly one answer consumes a challenge (the challenge is written on its version);
//! - no code is compared unless the account's hourly failure budget had room, and no answer
//!   is given unless the failure log is still as it was when it had room: a right code commits
//!   with a check that the log did not move, a wrong one commits its hit on the log's
//!   version. Parallel guesses therefore cannot learn more than the budget allows, as with the
//!   reservation before (a guess that loses the race is decided again stepwise, as before);
//! - the session is stored only while the account is as read (enabled, same password
//!   version), which closes the race with operators and password resets the way the re-read
//!   after storing did;
//! - the audit events are written in the same transaction as what they record;
//! - the browser is read in the same batch and, when new to the account, recorded in the
//!   same transaction (a known browser costs nothing more; a new one adds the notice's reads).

use serde_json::json;

use super::code_budgets::{CodeScope, CODE_LOCK_SCOPE};
use super::devices::{DeviceId, SessionOrigin};
use super::limit_windows::HitLog;
use super::sessions::{live_for_session, LoginFactor, Tokens};
use crate::app::App;
use crate::audit::{audit_op, AuditKind};
use crate::clock::{after, UnixTime};
use crate::domain::{ChallengeId, OneTimeCode};
use crate::error::ServiceError;
use crate::store::keys::{
    account_pk, challenge_pk, limit_pk, lock_pk, CHALLENGE_SK, LIMIT_LOG_SK, LOCK_SK, PROFILE_SK,
};
use crate::store::records::{check_op, write_op, Account, Challenge, ChallengePurpose, Stored};
use crate::store::{Key, StoreError};

/// What one round decided, committed or not.
enum Round {
    Done(Box<Result<Tokens, ServiceError>>),
    /// A record moved between the reads and the write: decide again.
    Lost,
}

impl App {
    /// Checks a login challenge's SMS code and opens the session it earns. Answers as
    /// `verify_code` (accepting login challenges only) followed by `open_login_session` did.
    pub async fn verify_login(
        &self,
        id: &ChallengeId,
        code: &OneTimeCode,
        source_ip: Option<&str>,
        origin: &SessionOrigin,
        device: &DeviceId,
    ) -> Result<Tokens, ServiceError> {
        if let Round::Done(result) = self.verify_login_round(id, code, source_ip, origin, device).await? {
            return *result;
        }
        // A record moved between the batch read and the transaction (parallel guesses at one
        // account collide on its failure log) and nothing was written: decided again
        // stepwise, whose reservation on the log waits its turn instead of racing again.
        let challenge = self
            .verify_code(id, code, source_ip, |c| {
                matches!(c.purpose, ChallengePurpose::Login { .. })
            })
            .await?;
        let tokens = self
            .open_login_session_from(&challenge, LoginFactor::Sms, source_ip, origin)
            .await?;
        self.note_login_device(
            &tokens.session,
            Some(device.clone()),
            origin.device.as_deref(),
            source_ip,
        )
        .await;
        Ok(tokens)
    }

    async fn verify_login_round(
        &self,
        id: &ChallengeId,
        code: &OneTimeCode,
        source_ip: Option<&str>,
        origin: &SessionOrigin,
        device: &DeviceId,
    ) -> Result<Round, ServiceError> {
        let now = self.now();
        let max = self.policy.code_attempts_per_challenge;
        let challenge_key = challenge_pk(id);
        let challenge = self.repo.load::<Challenge>(&challenge_key, CHALLENGE_SK, now).await?;
        let Some(challenge) = challenge.filter(|c| c.value.is_live(max)) else {
            return Err(ServiceError::ChallengeGone);
        };
        let ChallengePurpose::Login { remember_me } = challenge.value.purpose else {
            return Err(ServiceError::ChallengeGone);
        };
        let username = challenge.value.username.clone();
        let failures = self.code_failures(CodeScope::Login);
        let (lock_key, log_key, account_key) = (
            lock_pk(CODE_LOCK_SCOPE, username.as_str()),
            limit_pk(failures.scope, username.as_str()),
            account_pk(&username),
        );
        let device_key = self.device_key(&username, device)?;
        let [lock, log, account, known_device]: [Option<crate::store::Item>; 4] = self
            .repo
            .load_many(
                &[
                    Key::new(&lock_key, LOCK_SK),
                    Key::new(&log_key, LIMIT_LOG_SK),
                    Key::new(&account_key, PROFILE_SK),
                    device_key,
                ],
                now,
            )
            .await?
            .try_into()
            .map_err(|_| ServiceError::Internal("batch read answered the wrong number of keys".into()))?;
        if let Some(lock) = Stored::<UnixTime>::decode(lock)? {
            return Err(ServiceError::CodeEntryLocked {
                retry_after: (lock.value - now).max(1) as u64,
            });
        }
        let log = Stored::<HitLog>::decode(log)?;
        let current = HitLog::current(log.as_ref().map(|l| &l.value), &failures, now);
        // The budget must have room before any code is compared.
        let (with_hit, slot) = match current.with_hit(&failures, now) {
            Ok(next) => next,
            Err(wait) => return Err(ServiceError::CodeEntryLocked { retry_after: wait }),
        };
        let codes = self.code_hasher()?;
        let right = challenge
            .value
            .code_hash
            .as_deref()
            .is_some_and(|stored| codes.matches(id, code, stored));
        let (answered, outcome) = challenge.value.answered(right, max);
        let challenge_write = write_op(
            &challenge_key,
            CHALLENGE_SK,
            Some(&challenge),
            &answered,
            Some(challenge.value.code_expires_at),
        )?;
        let mut ops = vec![challenge_write];
        if let Err(attempts_left) = outcome {
            let expires = with_hit.expires(&failures, now);
            ops.push(write_op(
                &log_key,
                LIMIT_LOG_SK,
                log.as_ref(),
                &with_hit,
                Some(expires),
            )?);
            ops.push(audit_op(
                &username,
                AuditKind::CodeFailed,
                source_ip,
                json!({ "attempts_left": attempts_left }),
                now,
            )?);
            // The last slot of the hour locks code entry, in the same write as the failure.
            let locks = slot >= self.policy.code_failures_per_account_hour;
            if locks {
                let until = after(now, self.policy.code_lock);
                ops.push(write_op::<UnixTime>(&lock_key, LOCK_SK, None, &until, Some(until))?);
                ops.push(audit_op(
                    &username,
                    AuditKind::CodeLocked,
                    source_ip,
                    json!({ "scope": CODE_LOCK_SCOPE }),
                    now,
                )?);
            }
            return Ok(match self.repo.items().transact(ops, now).await {
                Ok(()) => {
                    crate::audit::logged(&username, AuditKind::CodeFailed);
                    Round::Done(Box::new(Err(if locks {
                        crate::audit::logged(&username, AuditKind::CodeLocked);
                        ServiceError::CodeEntryLocked {
                            retry_after: self.policy.code_lock.as_secs(),
                        }
                    } else {
                        ServiceError::InvalidCode { attempts_left }
                    })))
                }
                Err(StoreError::ConditionFailed) => Round::Lost,
                Err(e) => return Err(e.into()),
            });
        }
        // A right code: a session, if the account may still have one.
        let account = Stored::<Account>::decode(account)?;
        let Some(password_version) = challenge.value.password_version else {
            return Err(ServiceError::ChallengeGone);
        };
        let account = live_for_session(account.as_ref(), Some(password_version))?;
        let (opening, session_ops) =
            self.session_opening(account, remember_me, LoginFactor::Sms, source_ip, origin, now)?;
        ops.extend(session_ops);
        ops.push(check_op(&log_key, LIMIT_LOG_SK, log.as_ref()));
        let new_device = known_device.is_none();
        // A browser new to an account that has one already is texted; the first one is the
        // baseline, recorded silently with the account marked in the same transaction.
        let notify = new_device && account.value.browsers_known;
        if new_device && !account.value.browsers_known {
            let mut marked = account.value.clone();
            marked.browsers_known = true;
            ops.push(write_op(&account_key, PROFILE_SK, Some(account), &marked, None)?);
        } else {
            ops.push(check_op(&account_key, PROFILE_SK, Some(account)));
        }
        if new_device {
            // Absent only: two logins from one new browser at once record (and text) it once.
            ops.push(self.new_device_op(&username, device, origin.device.as_deref(), now)?);
        }
        Ok(match self.repo.items().transact(ops, now).await {
            Ok(()) => {
                if notify {
                    self.new_device_notice(&account.value, origin.device.as_deref(), source_ip, now)
                        .await;
                }
                Round::Done(Box::new(self.opened(opening, now)))
            }
            Err(StoreError::ConditionFailed) => Round::Lost,
            Err(e) => return Err(e.into()),
        })
    }
}
