//! SMS challenges: issue a code, resend it under throttles, verify it with attempt limits.

use std::time::Instant;

use serde_json::json;

use super::challenge_rules::{Answer, Opening, ResendRules};
use super::limits::{Allowance, Limit};
use crate::app::App;
use crate::audit::AuditKind;
use crate::clock::{after, secs};
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

/// The key of limits that count every account together.
const GLOBAL_KEY: &str = "all";

/// CloudWatch embedded-metric-format line written when a budget shared by every caller (a
/// limit kept under [`GLOBAL_KEY`]) refuses an SMS; infra/ alarms on `SmsBudgetExhausted` per
/// `Budget` (the limit's scope). `login` (new codes) and `sms-code` (resends) both write it.
pub fn budget_exhausted_metric(budget: &str, now: crate::clock::UnixTime) -> String {
    json!({
        "_aws": {
            "Timestamp": now.saturating_mul(1000),
            "CloudWatchMetrics": [{
                "Namespace": "Hjemmekontor",
                "Dimensions": [["Budget"]],
                "Metrics": [{ "Name": "SmsBudgetExhausted", "Unit": "Count" }]
            }]
        },
        "Budget": budget,
        "SmsBudgetExhausted": 1,
    })
    .to_string()
}

/// Lock scope of code entry for login, phone change and authenticator apps.
pub const CODE_LOCK_SCOPE: &str = "codes";
/// Lock scope of password-reset code entry: wrong reset codes (which anyone who knows a
/// username can cause) never lock login.
pub const RESET_CODE_LOCK_SCOPE: &str = "reset-codes";

/// Which per-account code-failure budget and lock a code counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeScope {
    /// Login (SMS or authenticator app), phone change, authenticator setup.
    Login,
    /// Forgot-password codes.
    Reset,
}

impl CodeScope {
    pub fn of(purpose: &ChallengePurpose) -> Self {
        match purpose {
            ChallengePurpose::PasswordReset => Self::Reset,
            ChallengePurpose::Login { .. } | ChallengePurpose::PhoneChange { .. } => Self::Login,
        }
    }

    fn lock_scope(self) -> &'static str {
        match self {
            Self::Login => CODE_LOCK_SCOPE,
            Self::Reset => RESET_CODE_LOCK_SCOPE,
        }
    }

    fn failure_scope(self) -> &'static str {
        match self {
            Self::Login => "code-failures",
            Self::Reset => "reset-code-failures",
        }
    }
}

impl App {
    fn sms_per_account(&self) -> Limit {
        Limit {
            scope: "sms-account",
            max: self.policy.sms_per_account_hour,
            window: 3600,
        }
    }

    /// Forgot-password's own SMS budget per account, apart from login's, so that anyone who
    /// knows a username cannot use up the SMS the user needs to log in.
    fn reset_sms_per_account(&self) -> Limit {
        Limit {
            scope: "sms-account-reset",
            max: self.policy.reset_sms_per_account_hour,
            window: 3600,
        }
    }

    /// Per number: an account's own (verified) number, or a stand-in for a decoy.
    fn sms_per_destination(&self) -> Limit {
        Limit {
            scope: "sms-destination",
            max: self.policy.sms_per_destination_day,
            window: 24 * 3600,
        }
    }

    /// Forgot-password's own budget per number and day: anonymous resets at their maximum
    /// rate never reduce the number's login budget ([`Self::sms_per_destination`]).
    fn reset_sms_per_destination(&self) -> Limit {
        Limit {
            scope: "sms-destination-reset",
            max: self.policy.reset_sms_per_destination_day,
            window: 24 * 3600,
        }
    }

    /// Forgot-password SMS of all accounts together: the ceiling on anonymous SMS spend.
    fn reset_sms_global(&self) -> Limit {
        Limit {
            scope: "sms-reset-global",
            max: self.policy.reset_sms_global_per_hour,
            window: 3600,
        }
    }

    /// Per number not (yet) on any account: a phone change's new number. Counted apart, so
    /// codes sent to someone's number by a phone change they did not ask for never use up
    /// what that number's own account needs.
    fn sms_per_unverified_destination(&self) -> Limit {
        Limit {
            scope: "sms-destination-unverified",
            max: self.policy.sms_per_destination_day,
            window: 24 * 3600,
        }
    }

    fn code_failures(&self, scope: CodeScope) -> Limit {
        Limit {
            scope: scope.failure_scope(),
            max: self.policy.code_failures_per_account_hour,
            window: 3600,
        }
    }

    /// The limits one SMS of a challenge with `purpose` counts against, in the order they are
    /// reserved, with the key each is kept under.
    fn sms_limits<'k>(
        &self,
        purpose: &ChallengePurpose,
        account_key: &'k str,
        destination_key: &'k str,
    ) -> Vec<(Limit, &'k str)> {
        match purpose {
            ChallengePurpose::Login { .. } => vec![
                (self.sms_per_account(), account_key),
                (self.sms_per_destination(), destination_key),
            ],
            // Decoys count against the global budget like real resets: were they left out, the
            // moment the budget runs out would tell real usernames from unknown ones.
            ChallengePurpose::PasswordReset => vec![
                (self.reset_sms_per_account(), account_key),
                (self.reset_sms_per_destination(), destination_key),
                (self.reset_sms_global(), GLOBAL_KEY),
            ],
            ChallengePurpose::PhoneChange { .. } => vec![
                (self.sms_per_account(), account_key),
                (self.sms_per_unverified_destination(), destination_key),
            ],
        }
    }

    /// Reserves one SMS for `username` to `to` under every limit its purpose counts against.
    async fn reserve_sms(
        &self,
        purpose: &ChallengePurpose,
        username: &Username,
        to: &MobileNumber,
    ) -> Result<(), ServiceError> {
        self.reserve_sms_under(purpose, username.as_str(), to.as_e164()).await
    }

    /// Reserves one SMS under the limits of `purpose`: per account for `account_key`, per
    /// number for `destination_key`; all or none. Decoys reserve under stand-in keys
    /// ([`decoy_destination_key`]) so their limits run out exactly when a real account's would.
    pub(crate) async fn reserve_sms_under(
        &self,
        purpose: &ChallengePurpose,
        account_key: &str,
        destination_key: &str,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        let limits = self.sms_limits(purpose, account_key, destination_key);
        for (i, (limit, key)) in limits.iter().enumerate() {
            let refused = match self.repo.limit_acquire(limit, key, now).await {
                Ok(Allowance::Allowed) => continue,
                // A budget of every caller together is a spend ceiling, not this caller's limit.
                Ok(Allowance::Wait(wait)) if *key == GLOBAL_KEY => {
                    println!("{}", budget_exhausted_metric(limit.scope, now));
                    tracing::warn!(budget = limit.scope, retry_after = wait, "shared SMS budget used up");
                    ServiceError::SmsBudgetExhausted { retry_after: wait }
                }
                Ok(Allowance::Wait(wait)) => ServiceError::SmsLimit { retry_after: wait },
                Err(e) => e.into(),
            };
            for (limit, key) in limits[..i].iter().rev() {
                self.repo.limit_release(limit, key, now).await?;
            }
            return Err(refused);
        }
        Ok(())
    }

    async fn unreserve_sms(&self, purpose: &ChallengePurpose, username: &Username, to: &MobileNumber) {
        let now = self.now();
        for (limit, key) in self.sms_limits(purpose, username.as_str(), to.as_e164()).iter().rev() {
            let _ = self.repo.limit_release(limit, key, now).await;
        }
    }

    pub(crate) async fn send_code(&self, challenge: &Challenge, code: &OneTimeCode) -> Result<(), ServiceError> {
        let body = match &challenge.purpose {
            ChallengePurpose::Login { .. } => messages::login_code(challenge.language, code),
            ChallengePurpose::PasswordReset => messages::reset_code(challenge.language, code),
            ChallengePurpose::PhoneChange { .. } => messages::phone_change_code(challenge.language, code),
        };
        self.sms
            .send(&challenge.destination, &body)
            .await
            .map_err(ServiceError::from)
    }

    /// Seconds left before code entry for login (and phone change, authenticator apps)
    /// unlocks for this account, if it is locked.
    pub async fn code_entry_locked(&self, username: &Username) -> Result<Option<u64>, ServiceError> {
        self.code_entry_locked_in(CodeScope::Login, username).await
    }

    /// Seconds left before code entry of `scope` unlocks for this account, if it is locked.
    pub async fn code_entry_locked_in(
        &self,
        scope: CodeScope,
        username: &Username,
    ) -> Result<Option<u64>, ServiceError> {
        Ok(self
            .repo
            .locked(scope.lock_scope(), username.as_str(), self.now())
            .await?)
    }

    /// Reserves one code attempt of `scope` for the account BEFORE any code is compared, in
    /// one conditional write: at most `code_failures_per_account_hour` comparisons can be
    /// under way or have failed within the hour, however many requests arrive at once. The
    /// rest are refused (`CodeEntryLocked`, with `Retry-After`) without looking at the code.
    /// Returns which slot this attempt took; a right code gives it back
    /// ([`Self::release_code_attempt`]), a wrong one keeps it as its failure
    /// ([`Self::code_failed`]).
    pub(crate) async fn reserve_code_attempt(
        &self,
        scope: CodeScope,
        username: &Username,
    ) -> Result<usize, ServiceError> {
        if let Some(wait) = self.code_entry_locked_in(scope, username).await? {
            return Err(ServiceError::CodeEntryLocked { retry_after: wait });
        }
        match self
            .repo
            .limit_acquire_counted(&self.code_failures(scope), username.as_str(), self.now())
            .await?
        {
            Ok(slot) => Ok(slot),
            Err(wait) => Err(ServiceError::CodeEntryLocked { retry_after: wait }),
        }
    }

    /// Gives back an attempt that did not fail (a right code, or a challenge that turned out
    /// to be gone): only wrong codes count towards the hourly limit.
    pub(crate) async fn release_code_attempt(&self, scope: CodeScope, username: &Username) {
        if let Err(e) = self
            .repo
            .limit_release(&self.code_failures(scope), username.as_str(), self.now())
            .await
        {
            tracing::warn!(error = %e, "code attempt not given back");
        }
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

    /// Records one wrong code (SMS or authenticator app) whose attempt took `slot` of the
    /// account's hourly limit of `scope`, and locks code entry of that scope for an hour
    /// when it took the last one. Returns the error to answer with.
    pub(crate) async fn code_failed(
        &self,
        scope: CodeScope,
        username: &Username,
        slot: usize,
        attempts_left: u32,
        source_ip: Option<&str>,
        detail: serde_json::Value,
    ) -> ServiceError {
        let now = self.now();
        self.repo
            .audit(username, AuditKind::CodeFailed, source_ip, detail, now)
            .await;
        if slot >= self.policy.code_failures_per_account_hour {
            let until = after(now, self.policy.code_lock);
            let started = match self.repo.lock(scope.lock_scope(), username.as_str(), until, now).await {
                Ok(started) => started,
                Err(e) => return e.into(),
            };
            // Parallel guesses can reach the limit together: one lockout, one audit event.
            if started {
                self.repo
                    .audit(
                        username,
                        AuditKind::CodeLocked,
                        source_ip,
                        json!({ "scope": scope.lock_scope() }),
                        now,
                    )
                    .await;
            }
            return ServiceError::CodeEntryLocked {
                retry_after: self.policy.code_lock.as_secs(),
            };
        }
        ServiceError::InvalidCode { attempts_left }
    }
}

fn purpose_name(p: &ChallengePurpose) -> &'static str {
    match p {
        ChallengePurpose::Login { .. } => "login",
        ChallengePurpose::PasswordReset => "password_reset",
        ChallengePurpose::PhoneChange { .. } => "phone_change",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_metric_is_one_embedded_metric_format_count() {
        let line: serde_json::Value =
            serde_json::from_str(&budget_exhausted_metric("sms-reset-global", 1_700_000_000)).unwrap();
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000i64);
        let declared = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "Hjemmekontor");
        assert_eq!(declared["Dimensions"], json!([["Budget"]]));
        assert_eq!(declared["Metrics"][0]["Name"], "SmsBudgetExhausted");
        assert_eq!(line["Budget"], "sms-reset-global");
        assert_eq!(line["SmsBudgetExhausted"], 1);
    }
}
