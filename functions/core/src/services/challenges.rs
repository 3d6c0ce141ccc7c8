//! SMS challenges: issue a code, resend it under throttles, verify it with attempt limits.

use std::time::Instant;

use serde_json::json;

use super::challenge_rules::{Answer, Opening, ResendRules};
use super::code_budgets::CodeScope;
use crate::app::App;
use crate::audit::AuditKind;
use crate::clock::secs;
use crate::domain::{ChallengeId, MobileNumber, OneTimeCode, Username};
use crate::error::ServiceError;
use crate::i18n::Lang;
use crate::sms::messages;
use crate::store::keys::{challenge_pk, decoy_destination_key, CHALLENGE_SK};
use crate::store::records::{Challenge, ChallengePurpose, Change};

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

impl App {
    pub(crate) async fn send_code(&self, challenge: &Challenge, code: &OneTimeCode) -> Result<(), ServiceError> {
        if let Err(refused) = self
            .check_sms_country(&challenge.username, &challenge.destination)
            .await
        {
            // Costs the write a sent SMS would (see `sent_sms_stand_in`).
            self.sent_sms_stand_in().await;
            return Err(refused);
        }
        let body = messages::code_message(&challenge.purpose, challenge.language, code, self.webotp_host.as_ref());
        self.publish_sms(
            &challenge.username,
            &challenge.destination,
            &body,
            purpose_name(&challenge.purpose),
            Some(challenge),
        )
        .await
        .map_err(ServiceError::from)
    }

    /// [`Self::send_code`] for a code whose SMS the batched login remembered by its number
    /// in its own transaction ([`Self::remember_code_by_number`]): published without the
    /// write of the message id.
    pub(crate) async fn send_code_remembered(
        &self,
        challenge: &Challenge,
        code: &OneTimeCode,
    ) -> Result<(), ServiceError> {
        self.check_sms_country(&challenge.username, &challenge.destination)
            .await?;
        let body = messages::code_message(&challenge.purpose, challenge.language, code, self.webotp_host.as_ref());
        self.sms
            .publish(&challenge.destination, &body)
            .await
            .map(|_| ())
            .map_err(ServiceError::from)
    }

    /// Opens a challenge and texts its code to `destination`. If the SMS cannot be sent,
    /// nothing is left behind and the caller gets 503, so the user can simply try again.
    pub async fn start_challenge(
        &self,
        username: &Username,
        destination: &MobileNumber,
        purpose: ChallengePurpose,
        password_version: Option<u64>,
        language: Lang,
        source_ip: Option<&str>,
    ) -> Result<IssuedChallenge, ServiceError> {
        let now = self.now();
        let (challenge, code) = self
            .open_challenge(username, destination, purpose, password_version, language)
            .await?;
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
            self.unreserve_sms(&challenge.purpose, username, destination).await;
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
        password_version: Option<u64>,
        language: Lang,
    ) -> Result<(Challenge, OneTimeCode), ServiceError> {
        let hasher = self.code_hasher()?;
        self.reserve_sms(&purpose, username, destination).await?;
        let id = ChallengeId::generate();
        let code = OneTimeCode::generate();
        let code_hash = hasher.hash(&id, &code);
        let opening = Opening {
            purpose,
            username: username.clone(),
            destination: destination.clone(),
            answer: Answer::Sms { code_hash },
            password_version,
            language,
        };
        Ok((self.insert_challenge(id, opening).await?, code))
    }

    /// Stores a new challenge `id` (a fresh id, so the insert is conditional on its absence):
    /// the one way every kind of challenge (SMS, app, decoy) comes to be.
    pub(crate) async fn insert_challenge(&self, id: ChallengeId, opening: Opening) -> Result<Challenge, ServiceError> {
        let now = self.now();
        let challenge = Challenge::new(id, opening, now, self.policy.code_lifetime);
        self.repo
            .insert(
                &challenge_pk(&challenge.id),
                CHALLENGE_SK,
                &challenge,
                Some(challenge.code_expires_at),
                now,
            )
            .await?;
        Ok(challenge)
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
            expires_in: secs(self.policy.code_lifetime),
            resend_after: secs(self.policy.resend_interval),
        }
    }

    /// A challenge that can still be answered, or 410.
    pub async fn live_challenge(&self, id: &ChallengeId) -> Result<Challenge, ServiceError> {
        let stored = self
            .repo
            .load::<Challenge>(&challenge_pk(id), CHALLENGE_SK, self.now())
            .await?;
        match stored {
            Some(s) if s.value.is_live(self.policy.code_attempts_per_challenge) => Ok(s.value),
            _ => Err(ServiceError::ChallengeGone),
        }
    }

    /// Replaces the code with a new one (the old one dies) under the resend throttles. The first
    /// SMS of a challenge answered so far by authenticator app ("send me an SMS instead") goes
    /// out at once and is not counted as a resend.
    ///
    /// A password-reset challenge may be a decoy (forgot-password for a name without an
    /// account), so resends of reset challenges, real or decoy, answer alike: after at least
    /// the forgot-password minimum time, with the same storage writes, and with success even
    /// when the SMS of a real one could not be sent (it is logged; the user can ask again).
    pub async fn resend_code(&self, id: &ChallengeId, source_ip: Option<&str>) -> Result<Resent, ServiceError> {
        let started = Instant::now();
        let challenge = self.live_challenge(id).await?;
        if !matches!(challenge.purpose, ChallengePurpose::PasswordReset) {
            return self.resend(challenge, source_ip).await;
        }
        let result = self.resend(challenge, source_ip).await;
        self.pad_to_forgot_floor(started).await;
        result
    }

    /// Waits until `forgot_password_min_response` has passed since `started`, so answers
    /// about password resets take the same time whether or not an SMS was sent.
    pub(crate) async fn pad_to_forgot_floor(&self, started: Instant) {
        if let Some(rest) = self.policy.forgot_password_min_response.checked_sub(started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }

    async fn resend(&self, challenge: Challenge, source_ip: Option<&str>) -> Result<Resent, ServiceError> {
        let now = self.now();
        let id = &challenge.id;
        let rules = ResendRules {
            interval: self.policy.resend_interval,
            max_resends: self.policy.resends_per_challenge,
            lifetime: self.policy.code_lifetime,
        };
        let lifetime = secs(rules.lifetime);
        let decoy = challenge.is_decoy();
        let is_reset = matches!(challenge.purpose, ChallengePurpose::PasswordReset);
        let code = OneTimeCode::generate();
        let code_hash = self.code_hasher()?.hash(id, &code);
        let attempts_max = self.policy.code_attempts_per_challenge;
        // Throttle checks and the new code are one conditional write, so two parallel resends
        // cannot both pass the 30-second rule.
        let previous = self
            .repo
            .modify::<Challenge, Challenge, ServiceError, _>(&challenge_pk(id), CHALLENGE_SK, now, |current| {
                let Some(c) = current.filter(|c| c.is_live(attempts_max)) else {
                    return Err(ServiceError::ChallengeGone);
                };
                let next = c.resent(now, rules, &code_hash)?;
                Ok((Change::Write(next, c.clone()), Some(now + lifetime)))
            })
            .await?;
        let resent = Resent {
            expires_in: lifetime,
            resend_after: secs(rules.interval),
        };
        if decoy {
            // A decoy challenge (unknown user): counts against the same limits, sends nothing,
            // and writes a stand-in where a real one records that it sent a code.
            let reserved = self
                .reserve_sms_under(
                    &challenge.purpose,
                    challenge.username.as_str(),
                    &decoy_destination_key(&challenge.username),
                )
                .await;
            if let Err(e) = reserved {
                self.restore_resend_state(id, &previous).await;
                return Err(e);
            }
            self.sent_sms_stand_in().await;
            self.repo
                .audit_stand_in(
                    &Self::backoff_key(challenge.username.as_str()),
                    AuditKind::CodeSent,
                    now,
                )
                .await;
            return Ok(resent);
        }
        if let Err(e) = self
            .reserve_sms(&challenge.purpose, &challenge.username, &challenge.destination)
            .await
        {
            self.restore_resend_state(id, &previous).await;
            return Err(e);
        }
        let mut current = challenge.clone();
        current.code_hash = Some(code_hash.clone());
        current.last_sent_at = now;
        let sent = match self.send_code(&current, &code).await {
            Ok(()) => true,
            // A 503 here would tell a real reset challenge from a decoy: the failure is only
            // logged, the SMS stays counted (as a decoy's does), and "send again" retries it.
            Err(e) if is_reset => {
                tracing::warn!(error = %e, "reset code not resent");
                false
            }
            Err(e) => {
                self.unreserve_sms(&challenge.purpose, &challenge.username, &challenge.destination)
                    .await;
                self.restore_resend_state(id, &previous).await;
                return Err(e);
            }
        };
        self.repo
            .audit(
                &challenge.username,
                AuditKind::CodeSent,
                source_ip,
                json!({
                    "to": challenge.destination.masked(),
                    "resend": previous.code_hash.is_some(),
                    "instead_of_totp": previous.code_hash.is_none(),
                    "sent": sent,
                }),
                now,
            )
            .await;
        Ok(resent)
    }

    /// Gives a resend back after its SMS could not be sent (or was over a limit), so the user
    /// may retry at once; the code it replaced stays dead. A TOTP login's first SMS that failed
    /// may be asked for again at once.
    async fn restore_resend_state(&self, id: &ChallengeId, previous: &Challenge) {
        let now = self.now();
        let lifetime = secs(self.policy.code_lifetime);
        let _ = self
            .repo
            .modify::<Challenge, (), ServiceError, _>(&challenge_pk(id), CHALLENGE_SK, now, |current| match current {
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
    ///
    /// The attempt is reserved against the account's hourly code-failure limit before the code
    /// is compared ([`Self::reserve_code_attempt`]), so parallel guesses across many
    /// challenges cannot get more comparisons than the limit allows.
    pub async fn verify_code(
        &self,
        id: &ChallengeId,
        code: &OneTimeCode,
        source_ip: Option<&str>,
        accepts: impl Fn(&Challenge) -> bool,
    ) -> Result<Challenge, ServiceError> {
        self.answer_code(id, code, source_ip, accepts, true).await
    }

    /// [`Self::verify_code`] that leaves a right code unused (the challenge as it was): a
    /// password reset that needs a second factor checks the code first and spends it only
    /// with the factor. A wrong code counts exactly as there.
    pub(crate) async fn check_code_unspent(
        &self,
        id: &ChallengeId,
        code: &OneTimeCode,
        source_ip: Option<&str>,
        accepts: impl Fn(&Challenge) -> bool,
    ) -> Result<Challenge, ServiceError> {
        self.answer_code(id, code, source_ip, accepts, false).await
    }

    async fn answer_code(
        &self,
        id: &ChallengeId,
        code: &OneTimeCode,
        source_ip: Option<&str>,
        accepts: impl Fn(&Challenge) -> bool,
        spend: bool,
    ) -> Result<Challenge, ServiceError> {
        let now = self.now();
        let challenge = self.live_challenge(id).await?;
        if !accepts(&challenge) {
            return Err(ServiceError::ChallengeGone);
        }
        let scope = CodeScope::of(&challenge.purpose);
        let slot = self.reserve_code_attempt(scope, &challenge.username).await?;
        let max = self.policy.code_attempts_per_challenge;
        let codes = self.code_hasher()?;
        let outcome = self
            .repo
            .modify::<Challenge, Result<Challenge, u32>, ServiceError, _>(
                &challenge_pk(id),
                CHALLENGE_SK,
                now,
                |current| {
                    let Some(c) = current.filter(|c| c.is_live(max)) else {
                        return Err(ServiceError::ChallengeGone);
                    };
                    let right = c
                        .code_hash
                        .as_deref()
                        .is_some_and(|stored| codes.matches(id, code, stored));
                    if right && !spend {
                        return Ok((Change::Keep(Ok(c.clone())), None));
                    }
                    let (next, outcome) = c.answered(right, max);
                    let result = outcome.map(|()| next.clone());
                    Ok((Change::Write(next, result), Some(c.code_expires_at)))
                },
            )
            .await;
        match outcome {
            Ok(Ok(consumed)) => {
                self.release_code_attempt(scope, &challenge.username).await;
                Ok(consumed)
            }
            Ok(Err(attempts_left)) => Err(self
                .code_failed(
                    scope,
                    &challenge.username,
                    slot,
                    attempts_left,
                    source_ip,
                    json!({ "attempts_left": attempts_left }),
                )
                .await),
            Err(e) => {
                // Not a wrong code (gone meanwhile, or storage trouble): no failure to count.
                self.release_code_attempt(scope, &challenge.username).await;
                Err(e)
            }
        }
    }
}

pub(crate) fn purpose_name(p: &ChallengePurpose) -> &'static str {
    match p {
        ChallengePurpose::Login { .. } => "login",
        ChallengePurpose::PasswordReset => "password_reset",
        ChallengePurpose::PhoneChange { .. } => "phone_change",
    }
}
