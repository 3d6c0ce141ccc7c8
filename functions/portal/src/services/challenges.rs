//! SMS challenges: issue a code, resend it under throttles, verify it with attempt limits.

use serde_json::json;

use super::limits::Limit;
use crate::app::App;
use crate::audit::AuditKind;
use crate::domain::{ChallengeId, MobileNumber, SmsCode, Username};
use crate::error::ApiError;
use crate::sms::messages;
use crate::store::records::{challenge_pk, Challenge, ChallengePurpose, Change, CHALLENGE_SK};

/// What the client is told after a code was sent.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IssuedChallenge {
    pub challenge_id: ChallengeId,
    pub phone_hint: String,
    pub expires_in: i64,
    pub resend_after: i64,
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Resent {
    pub expires_in: i64,
    pub resend_after: i64,
}

pub const CODE_LOCK_SCOPE: &str = "codes";

impl App {
    fn sms_per_account(&self) -> Limit {
        Limit {
            scope: "sms-account",
            max: self.policy.sms_per_account_hour,
            window: 3600,
        }
    }

    fn sms_per_destination(&self) -> Limit {
        Limit {
            scope: "sms-destination",
            max: self.policy.sms_per_destination_day,
            window: 24 * 3600,
        }
    }

    fn code_failures(&self) -> Limit {
        Limit {
            scope: "code-failures",
            max: self.policy.code_failures_per_account_hour,
            window: 3600,
        }
    }

    /// Reserves one SMS under both the per-account and per-number limits.
    async fn reserve_sms(&self, username: &Username, to: &MobileNumber) -> Result<(), ApiError> {
        self.reserve_sms_under(username.as_str(), to.as_e164()).await
    }

    /// Reserves one SMS under the per-account limit for `account_key` and the per-number limit
    /// for `destination_key`. Decoys reserve under stand-in keys ([`decoy_destination_key`]) so
    /// their limits run out exactly when a real account's would.
    pub(crate) async fn reserve_sms_under(&self, account_key: &str, destination_key: &str) -> Result<(), ApiError> {
        let now = self.now();
        let account = self.sms_per_account();
        if let Err(wait) = self.repo.limit_acquire(&account, account_key, now).await? {
            return Err(ApiError::SmsLimit { retry_after: wait });
        }
        let destination = self.sms_per_destination();
        if let Err(wait) = self.repo.limit_acquire(&destination, destination_key, now).await? {
            self.repo.limit_release(&account, account_key, now).await?;
            return Err(ApiError::SmsLimit { retry_after: wait });
        }
        Ok(())
    }

    async fn unreserve_sms(&self, username: &Username, to: &MobileNumber) {
        let now = self.now();
        let _ = self
            .repo
            .limit_release(&self.sms_per_account(), username.as_str(), now)
            .await;
        let _ = self
            .repo
            .limit_release(&self.sms_per_destination(), to.as_e164(), now)
            .await;
    }

    pub(crate) async fn send_code(&self, challenge: &Challenge, code: &SmsCode) -> Result<(), ApiError> {
        let body = match &challenge.purpose {
            ChallengePurpose::Login { .. } => messages::login_code(code),
            ChallengePurpose::PasswordReset => messages::reset_code(code),
            ChallengePurpose::PhoneChange { .. } => messages::phone_change_code(code),
        };
        self.sms
            .send(&challenge.destination, &body)
            .await
            .map_err(ApiError::from)
    }

    /// Seconds left before code entry unlocks for this account, if it is locked.
    pub async fn code_entry_locked(&self, username: &Username) -> Result<Option<u64>, ApiError> {
        Ok(self.repo.locked(CODE_LOCK_SCOPE, username.as_str(), self.now()).await?)
    }

    /// Opens a challenge and texts its code to `destination`. If the SMS cannot be sent,
    /// nothing is left behind and the caller gets 503, so the user can simply try again.
    pub async fn start_challenge(
        &self,
        username: &Username,
        destination: &MobileNumber,
        purpose: ChallengePurpose,
        source_ip: Option<&str>,
    ) -> Result<IssuedChallenge, ApiError> {
        let now = self.now();
        let (challenge, code) = self.open_challenge(username, destination, purpose).await?;
        if let Err(e) = self.send_code(&challenge, &code).await {
            let _ = self
                .repo
                .items()
                .delete(
                    &challenge_pk(&challenge.id),
                    CHALLENGE_SK,
                    crate::store::Condition::Always,
                    now,
                )
                .await;
            self.unreserve_sms(username, destination).await;
            return Err(e);
        }
        self.audit_code_sent(&challenge, source_ip).await;
        Ok(self.issued(&challenge))
    }

    /// Reserves the SMS and stores a new challenge with a fresh code; sends nothing.
    pub(crate) async fn open_challenge(
        &self,
        username: &Username,
        destination: &MobileNumber,
        purpose: ChallengePurpose,
    ) -> Result<(Challenge, SmsCode), ApiError> {
        let now = self.now();
        self.reserve_sms(username, destination).await?;
        let id = ChallengeId::generate();
        let code = SmsCode::generate();
        let challenge = Challenge {
            id: id.clone(),
            purpose,
            username: username.clone(),
            destination: destination.clone(),
            code_hash: Some(self.codes.hash(&id, &code)),
            code_expires_at: now + self.policy.code_lifetime,
            last_sent_at: now,
            resends: 0,
            failed_attempts: 0,
            consumed: false,
            totp: false,
        };
        self.repo
            .insert(
                &challenge_pk(&id),
                CHALLENGE_SK,
                &challenge,
                Some(challenge.code_expires_at),
                now,
            )
            .await?;
        Ok((challenge, code))
    }

    pub(crate) async fn audit_code_sent(&self, challenge: &Challenge, source_ip: Option<&str>) {
        self.repo
            .audit(
                &challenge.username,
                AuditKind::CodeSent,
                source_ip,
                json!({ "to": challenge.destination.masked(), "purpose": purpose_name(&challenge.purpose) }),
                self.now(),
            )
            .await;
    }

    pub(crate) fn issued(&self, challenge: &Challenge) -> IssuedChallenge {
        IssuedChallenge {
            challenge_id: challenge.id.clone(),
            phone_hint: challenge.destination.masked(),
            expires_in: self.policy.code_lifetime,
            resend_after: self.policy.resend_interval,
        }
    }

    /// A challenge that can still be answered, or 410.
    pub async fn live_challenge(&self, id: &ChallengeId) -> Result<Challenge, ApiError> {
        let stored = self
            .repo
            .load::<Challenge>(&challenge_pk(id), CHALLENGE_SK, self.now())
            .await?;
        match stored {
            Some(s) if !s.value.consumed && s.value.failed_attempts < self.policy.code_attempts_per_challenge => {
                Ok(s.value)
            }
            _ => Err(ApiError::ChallengeGone),
        }
    }

    /// Replaces the code with a new one (the old one dies) under the resend throttles. The first
    /// SMS of a challenge answered so far by authenticator app ("send me an SMS instead") goes
    /// out at once and is not counted as a resend.
    pub async fn resend_code(&self, id: &ChallengeId, source_ip: Option<&str>) -> Result<Resent, ApiError> {
        let now = self.now();
        let (interval, max_resends, lifetime) = (
            self.policy.resend_interval,
            self.policy.resends_per_challenge,
            self.policy.code_lifetime,
        );
        let challenge = self.live_challenge(id).await?;
        let decoy = challenge.code_hash.is_none() && !challenge.totp;
        let code = SmsCode::generate();
        let code_hash = self.codes.hash(id, &code);
        let attempts_max = self.policy.code_attempts_per_challenge;
        // Throttle checks and the new code are one conditional write, so two parallel resends
        // cannot both pass the 30-second rule.
        let previous = self
            .repo
            .modify::<Challenge, Challenge, ApiError, _>(&challenge_pk(id), CHALLENGE_SK, now, |current| {
                let Some(c) = current.filter(|c| !c.consumed && c.failed_attempts < attempts_max) else {
                    return Err(ApiError::ChallengeGone);
                };
                let first_sms = c.totp && c.code_hash.is_none();
                let since = now - c.last_sent_at;
                if since < interval && !first_sms {
                    return Err(ApiError::ResendTooSoon {
                        retry_after: (interval - since) as u64,
                    });
                }
                if c.resends >= max_resends && !first_sms {
                    return Err(ApiError::ResendLimit {
                        retry_after: (c.code_expires_at - now).max(1) as u64,
                    });
                }
                let mut next = c.clone();
                // A decoy stays a decoy: it has no code, so nothing can ever answer it.
                if c.code_hash.is_some() || c.totp {
                    next.code_hash = Some(code_hash.clone());
                }
                next.code_expires_at = now + lifetime;
                next.last_sent_at = now;
                next.resends += u32::from(!first_sms);
                Ok((Change::Write(next, c.clone()), Some(now + lifetime)))
            })
            .await?;
        if decoy {
            // A decoy challenge (unknown user): counts against the same limits, sends nothing.
            let reserved = self
                .reserve_sms_under(challenge.username.as_str(), &decoy_destination_key(&challenge.username))
                .await;
            if let Err(e) = reserved {
                self.restore_resend_state(id, &previous).await;
                return Err(e);
            }
            return Ok(Resent {
                expires_in: lifetime,
                resend_after: interval,
            });
        }
        let sent = async {
            self.reserve_sms(&challenge.username, &challenge.destination).await?;
            let mut current = challenge.clone();
            current.code_hash = Some(code_hash.clone());
            if let Err(e) = self.send_code(&current, &code).await {
                self.unreserve_sms(&challenge.username, &challenge.destination).await;
                return Err(e);
            }
            Ok(())
        }
        .await;
        if let Err(e) = sent {
            self.restore_resend_state(id, &previous).await;
            return Err(e);
        }
        self.repo
            .audit(
                &challenge.username,
                AuditKind::CodeSent,
                source_ip,
                json!({
                    "to": challenge.destination.masked(),
                    "resend": previous.code_hash.is_some(),
                    "instead_of_totp": previous.code_hash.is_none(),
                }),
                now,
            )
            .await;
        Ok(Resent {
            expires_in: lifetime,
            resend_after: interval,
        })
    }

    /// Gives a resend back after its SMS could not be sent (or was over a limit), so the user
    /// may retry at once; the code it replaced stays dead. A TOTP login's first SMS that failed
    /// may be asked for again at once.
    async fn restore_resend_state(&self, id: &ChallengeId, previous: &Challenge) {
        let now = self.now();
        let lifetime = self.policy.code_lifetime;
        let _ = self
            .repo
            .modify::<Challenge, (), ApiError, _>(&challenge_pk(id), CHALLENGE_SK, now, |current| match current {
                Some(c) => {
                    let mut c = c.clone();
                    c.last_sent_at = previous.last_sent_at;
                    c.resends = previous.resends;
                    if previous.code_hash.is_none() {
                        c.code_hash = None;
                    }
                    Ok((Change::Write(c, ()), Some(now + lifetime)))
                }
                None => Ok((Change::Keep(()), None)),
            })
            .await;
    }

    /// Checks `code` against the challenge and, if right, consumes it: exactly one caller
    /// ever gets `Ok` for a challenge, however many verify it at once.
    ///
    /// `accepts` says whether this challenge may be answered here (right purpose, right user);
    /// one that may not is reported as gone, exactly like an unknown one.
    pub async fn verify_code(
        &self,
        id: &ChallengeId,
        code: &SmsCode,
        source_ip: Option<&str>,
        accepts: impl Fn(&Challenge) -> bool,
    ) -> Result<Challenge, ApiError> {
        let now = self.now();
        let challenge = self.live_challenge(id).await?;
        if !accepts(&challenge) {
            return Err(ApiError::ChallengeGone);
        }
        if let Some(wait) = self.code_entry_locked(&challenge.username).await? {
            return Err(ApiError::CodeEntryLocked { retry_after: wait });
        }
        let max = self.policy.code_attempts_per_challenge;
        let codes = &self.codes;
        let outcome = self
            .repo
            .modify::<Challenge, Result<Challenge, u32>, ApiError, _>(&challenge_pk(id), CHALLENGE_SK, now, |current| {
                let Some(c) = current.filter(|c| !c.consumed && c.failed_attempts < max) else {
                    return Err(ApiError::ChallengeGone);
                };
                let right = c
                    .code_hash
                    .as_deref()
                    .is_some_and(|stored| codes.matches(id, code, stored));
                let mut next = c.clone();
                if right {
                    next.consumed = true;
                    Ok((Change::Write(next.clone(), Ok(next)), Some(c.code_expires_at)))
                } else {
                    next.failed_attempts += 1;
                    let left = max - next.failed_attempts;
                    Ok((Change::Write(next, Err(left)), Some(c.code_expires_at)))
                }
            })
            .await?;
        match outcome {
            Ok(challenge) => Ok(challenge),
            Err(attempts_left) => Err(self
                .code_failed(
                    &challenge.username,
                    attempts_left,
                    source_ip,
                    json!({ "attempts_left": attempts_left }),
                )
                .await),
        }
    }

    /// Counts one wrong code (SMS or authenticator app) against the account and locks code
    /// entry when the hourly limit is reached. Returns the error to answer with.
    pub(crate) async fn code_failed(
        &self,
        username: &Username,
        attempts_left: u32,
        source_ip: Option<&str>,
        detail: serde_json::Value,
    ) -> ApiError {
        let now = self.now();
        let failures = match self
            .repo
            .limit_record(&self.code_failures(), username.as_str(), now)
            .await
        {
            Ok(n) => n,
            Err(e) => return e.into(),
        };
        self.repo
            .audit(username, AuditKind::CodeFailed, source_ip, detail, now)
            .await;
        if failures >= self.policy.code_failures_per_account_hour {
            let until = now + self.policy.code_lock_seconds;
            if let Err(e) = self.repo.lock(CODE_LOCK_SCOPE, username.as_str(), until, now).await {
                return e.into();
            }
            self.repo
                .audit(username, AuditKind::CodeLocked, source_ip, json!({}), now)
                .await;
            return ApiError::CodeEntryLocked {
                retry_after: self.policy.code_lock_seconds as u64,
            };
        }
        ApiError::InvalidCode { attempts_left }
    }
}

/// The per-number SMS limit key of a decoy challenge: one stand-in "number" per typed username,
/// so a username without an account runs into the per-number limit after as many requests as
/// one with an account.
pub(crate) fn decoy_destination_key(username: &Username) -> String {
    format!("decoy#{username}")
}

fn purpose_name(p: &ChallengePurpose) -> &'static str {
    match p {
        ChallengePurpose::Login { .. } => "login",
        ChallengePurpose::PasswordReset => "password_reset",
        ChallengePurpose::PhoneChange { .. } => "phone_change",
    }
}
