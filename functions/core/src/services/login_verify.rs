//! `POST /v1/auth/sms/verify` and `POST /v1/auth/passkey/verify`: the login challenge's
//! answer checked and the session opened as one decision, in three DynamoDB round trips
//! (issue 18): the challenge (for a passkey, with the login's WebAuthn state beside it); the
//! account's code lock, its hourly code-failure log, its profile and the browser (for a
//! passkey, and the passkey the answer names) in one batch; one transaction with the outcome.
//!
//! Every rule of [`App::verify_code`] (or [`App::verify_passkey`]) followed by
//! [`App::open_login_session_from`] holds, kept by version conditions instead of separate
//! writes:
//! - exactly one answer consumes a challenge (the challenge is written on its version);
//! - no answer is checked unless the account's hourly failure budget had room, and no verdict
//!   is given unless the failure log is still as it was when it had room: a right answer
//!   commits with a check that the log did not move, a wrong one commits its hit on the log's
//!   version. Parallel guesses therefore cannot learn more than the budget allows, as with the
//!   reservation before (a guess that loses the race is decided again stepwise, as before);
//! - the session is stored only while the account is as read (enabled, same password
//!   version), which closes the race with operators and password resets the way the re-read
//!   after storing did;
//! - the audit events are written in the same transaction as what they record;
//! - the browser is read in the same batch and, when new to the account, recorded in the
//!   same transaction (a known browser costs nothing more; a new one adds the notice's reads);
//! - a passkey's new counter is written on the passkey's version, so two assertions cannot
//!   both be accepted over one counter value, and a passkey removed since the read is not used.

use serde_json::json;
use webauthn_rs::prelude::PublicKeyCredential;

use super::code_budgets::{CodeScope, CODE_LOCK_SCOPE};
use super::devices::{DeviceId, SessionOrigin};
use super::limit_windows::HitLog;
use super::passkey_login::PasskeyVerdict;
use super::sessions::{live_for_session, LoginFactor, Tokens};
use crate::app::App;
use crate::audit::{audit_op, AuditKind};
use crate::clock::{after, UnixTime};
use crate::domain::{ChallengeId, OneTimeCode};
use crate::error::ServiceError;
use crate::store::keys::{
    account_pk, challenge_pk, limit_pk, lock_pk, CHALLENGE_SK, LIMIT_LOG_SK, LOCK_SK, PASSKEY_LOGIN_SK, PROFILE_SK,
};
use crate::store::passkey_records::PasskeyLoginState;
use crate::store::records::{check_op, write_op, Account, Challenge, ChallengePurpose, Stored};
use crate::store::{Item, Key, StoreError, WriteOp};

/// What a login challenge is answered with.
#[derive(Clone, Copy)]
pub enum LoginAnswer<'a> {
    Code(&'a OneTimeCode),
    Passkey(&'a PublicKeyCredential),
}

/// One answer judged against what the round read.
pub(crate) struct Judged {
    pub right: bool,
    /// Fields of the `CodeFailed` event besides `attempts_left` (a wrong answer only).
    pub failure_detail: serde_json::Map<String, serde_json::Value>,
    /// Written in the same transaction as the outcome (a passkey's counter and its spent
    /// WebAuthn state when right; a counter regression's event when wrong).
    pub writes: Vec<WriteOp>,
    /// The audit events among `writes`, logged once they have committed.
    pub events: Vec<AuditKind>,
}

/// What one round decided, committed or not.
enum Round {
    Done(Box<Result<Tokens, ServiceError>>),
    /// A record moved between the reads and the write: decide again.
    Lost,
}

impl App {
    /// Checks a login challenge's answer (its SMS code, or a passkey's assertion) and opens
    /// the session it earns. Answers as `verify_code` (accepting login challenges only) or
    /// `verify_passkey`, followed by `open_login_session_from`, did.
    pub async fn verify_login(
        &self,
        id: &ChallengeId,
        answer: LoginAnswer<'_>,
        source_ip: Option<&str>,
        origin: &SessionOrigin,
        device: &DeviceId,
    ) -> Result<Tokens, ServiceError> {
        if let Round::Done(result) = self.verify_login_round(id, answer, source_ip, origin, device).await? {
            return *result;
        }
        // A record moved between the batch read and the transaction (parallel guesses at one
        // account collide on its failure log) and nothing was written: decided again
        // stepwise, whose reservation on the log waits its turn instead of racing again.
        let (challenge, factor) = match answer {
            LoginAnswer::Code(code) => (
                self.verify_code(id, code, source_ip, |c| {
                    matches!(c.purpose, ChallengePurpose::Login { .. })
                })
                .await?,
                LoginFactor::Sms,
            ),
            LoginAnswer::Passkey(credential) => (
                self.verify_passkey(id, credential, source_ip).await?,
                LoginFactor::Passkey,
            ),
        };
        let tokens = self
            .open_login_session_from(&challenge, factor, source_ip, origin)
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
        answer: LoginAnswer<'_>,
        source_ip: Option<&str>,
        origin: &SessionOrigin,
        device: &DeviceId,
    ) -> Result<Round, ServiceError> {
        let now = self.now();
        let max = self.policy.code_attempts_per_challenge;
        let challenge_key = challenge_pk(id);
        let (challenge, passkey_state) = match answer {
            LoginAnswer::Code(_) => (
                self.repo.load::<Challenge>(&challenge_key, CHALLENGE_SK, now).await?,
                None,
            ),
            LoginAnswer::Passkey(_) => {
                self.relying_party()?;
                let [challenge, state] = batch::<2>(
                    self.repo
                        .load_many(
                            &[
                                Key::new(&challenge_key, CHALLENGE_SK),
                                Key::new(&challenge_key, PASSKEY_LOGIN_SK),
                            ],
                            now,
                        )
                        .await?,
                )?;
                (
                    Stored::<Challenge>::decode(challenge)?,
                    Stored::<PasskeyLoginState>::decode(state)?,
                )
            }
        };
        let Some(challenge) = challenge.filter(|c| c.value.is_live(max)) else {
            return Err(ServiceError::ChallengeGone);
        };
        let ChallengePurpose::Login { remember_me } = challenge.value.purpose else {
            return Err(ServiceError::ChallengeGone);
        };
        let username = challenge.value.username.clone();
        let (factor, passkey_key) = match answer {
            LoginAnswer::Code(_) => (LoginFactor::Sms, None),
            LoginAnswer::Passkey(credential) => {
                // Opened without passkeys (an app-only account), or its state has lapsed.
                let Some(state) = passkey_state
                    .as_ref()
                    .filter(|s| challenge.value.totp && s.value.username == username)
                else {
                    return Err(ServiceError::ChallengeGone);
                };
                if state.value.offered.is_empty() {
                    // Written before the state named its passkeys: the stepwise path finds it.
                    return Ok(Round::Lost);
                }
                (LoginFactor::Passkey, state.value.passkey_key(&username, credential))
            }
        };
        let failures = self.code_failures(CodeScope::Login);
        let (lock_key, log_key, account_key) = (
            lock_pk(CODE_LOCK_SCOPE, username.as_str()),
            limit_pk(failures.scope, username.as_str()),
            account_pk(&username),
        );
        let mut keys = vec![
            Key::new(&lock_key, LOCK_SK),
            Key::new(&log_key, LIMIT_LOG_SK),
            Key::new(&account_key, PROFILE_SK),
            self.device_key(&username, device)?,
        ];
        keys.extend(passkey_key);
        let mut read = self.repo.load_many(&keys, now).await?;
        if read.len() != keys.len() {
            return Err(ServiceError::Internal(
                "batch read answered the wrong number of keys".into(),
            ));
        }
        let passkey = read.split_off(4).pop().flatten();
        let [lock, log, account, known_device] = batch::<4>(read)?;
        if let Some(lock) = Stored::<UnixTime>::decode(lock)? {
            return Err(ServiceError::CodeEntryLocked {
                retry_after: (lock.value - now).max(1) as u64,
            });
        }
        let log = Stored::<HitLog>::decode(log)?;
        let current = HitLog::current(log.as_ref().map(|l| &l.value), &failures, now);
        // The budget must have room before any answer is checked.
        let (with_hit, slot) = match current.with_hit(&failures, now) {
            Ok(next) => next,
            Err(wait) => return Err(ServiceError::CodeEntryLocked { retry_after: wait }),
        };
        let judged = match answer {
            LoginAnswer::Code(code) => {
                let codes = self.code_hasher()?;
                let right = challenge
                    .value
                    .code_hash
                    .as_deref()
                    .is_some_and(|stored| codes.matches(id, code, stored));
                Judged {
                    right,
                    failure_detail: serde_json::Map::new(),
                    writes: Vec::new(),
                    events: Vec::new(),
                }
            }
            LoginAnswer::Passkey(credential) => {
                let Some(state) = passkey_state.as_ref() else {
                    return Err(ServiceError::ChallengeGone);
                };
                PasskeyVerdict {
                    webauthn: self.relying_party()?,
                    credential,
                    username: &username,
                    state,
                    state_key: &challenge_key,
                    source_ip,
                    now,
                }
                .judge(Stored::decode(passkey)?)?
            }
        };
        let (answered, outcome) = challenge.value.answered(judged.right, max);
        let challenge_write = write_op(
            &challenge_key,
            CHALLENGE_SK,
            Some(&challenge),
            &answered,
            Some(challenge.value.code_expires_at),
        )?;
        let mut ops = vec![challenge_write];
        ops.extend(judged.writes);
        let committed = |username: &crate::domain::Username| {
            for event in &judged.events {
                crate::audit::logged(username, *event);
            }
        };
        if let Err(attempts_left) = outcome {
            let expires = with_hit.expires(&failures, now);
            ops.push(write_op(
                &log_key,
                LIMIT_LOG_SK,
                log.as_ref(),
                &with_hit,
                Some(expires),
            )?);
            let mut detail = judged.failure_detail.clone();
            detail.insert("attempts_left".into(), json!(attempts_left));
            ops.push(audit_op(
                &username,
                AuditKind::CodeFailed,
                source_ip,
                serde_json::Value::Object(detail),
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
                    committed(&username);
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
        // A right answer: a session, if the account may still have one.
        ops.push(check_op(&log_key, LIMIT_LOG_SK, log.as_ref()));
        let account = Stored::<Account>::decode(account)?;
        let account = match challenge.value.password_version {
            Some(version) => live_for_session(account.as_ref(), Some(version)),
            None => Err(ServiceError::ChallengeGone),
        };
        let account = match account {
            Ok(account) => account,
            // Disabled, or the password changed, since the login began: no session, but the
            // answer is spent all the same (the challenge consumed, a passkey's state and
            // counter written, the event kept), so it cannot open one later and the trail
            // shows that it was tried.
            Err(refused) => {
                return Ok(match self.repo.items().transact(ops, now).await {
                    Ok(()) => {
                        committed(&username);
                        Round::Done(Box::new(Err(refused)))
                    }
                    Err(StoreError::ConditionFailed) => Round::Lost,
                    Err(e) => return Err(e.into()),
                });
            }
        };
        let (opening, session_ops) = self.session_opening(account, remember_me, factor, source_ip, origin, now)?;
        ops.extend(session_ops);
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
                committed(&username);
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

/// The `N` items of a batch read of `N` keys.
fn batch<const N: usize>(items: Vec<Option<Item>>) -> Result<[Option<Item>; N], ServiceError> {
    items
        .try_into()
        .map_err(|_| ServiceError::Internal("batch read answered the wrong number of keys".into()))
}
