//! Step-up: a fresh second factor before the changes that would let someone holding the
//! password and a session (an SMS code from a swapped SIM, a session left open) keep the
//! account: registering or replacing the Buypass card, enrolling or removing a factor, and
//! "this wasn't me" (issue 17). Required only of accounts with a strong factor (an
//! authenticator app or a passkey); an account with SMS only has nothing to step up with.
//!
//! - A session's `second_factor_at` is stamped when a TOTP or passkey login opens it
//!   ([`super::sessions::LoginFactor`]) and when a step-up succeeds; it counts as fresh for
//!   [`STEP_UP_FRESHNESS`] ([`second_factor_fresh`], time passed in).
//! - [`App::require_fresh_second_factor`] is the one guard; the guarded rules call it after
//!   their password re-authentication.
//! - A TOTP step-up uses up the code's time step and stamps the session in one conditional
//!   transaction, so a code (or its replay) is accepted once, as at login.
//! - A passkey step-up answers a challenge opened by [`App::step_up_options`] for this
//!   account's session only, single use (deleted, conditionally, before the assertion is
//!   checked, whatever the answer), 5 minutes; the passkey's counter and the session are
//!   written in one conditional transaction.
//! - Wrong answers count against the account's code-attempt budget and lock code entry as
//!   wrong login codes do ([`super::code_budgets`]).
//! - "This wasn't me" asks only for a factor that has settled ([`NOT_ME_GRACE`] after its
//!   enrolment, [`StrongFactors::settled_methods`]): an intruder holding the password and an SMS
//!   code can enrol the account's first app or passkey without a step-up, and the owner must
//!   still be able to report them with the password alone. A factor older than that is the
//!   owner's, so the guard stands against someone holding the password and the SIM.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use webauthn_rs::prelude::{PublicKeyCredential, RequestChallengeResponse, SecurityKeyAuthentication};

use super::code_budgets::CodeScope;
use super::passkey_login::{assess, used_passkey_write};
use super::recovery_codes::RecoveryUse;
use super::sessions::Caller;
use super::totp_codes::{match_code, CodeMatch, TotpRecord};
use crate::app::App;
use crate::audit::{audit_op, AuditKind};
use crate::clock::{after, secs, UnixTime};
use crate::domain::{ChallengeId, OneTimeCode, PasskeyId, RecoveryCode, Username};
use crate::error::ServiceError;
use crate::store::keys::{account_pk, challenge_pk, session_pk, PASSKEY_STEP_UP_SK, SESSION_SK, TOTP_SK};
use crate::store::passkey_records::PasskeyStepUpState;
use crate::store::records::{write_op, Session, Stored};
use crate::store::{Condition, StoreError, WriteOp};

/// How long a second factor proved by a session counts as fresh.
pub const STEP_UP_FRESHNESS: Duration = Duration::from_secs(300);

/// How long a newly enrolled app or passkey does not count for the step-up of "this wasn't
/// me": the account's phone is told of every factor added, so this is the owner's window to
/// report an intruder's factor with the password alone. A factor settles after it.
pub const NOT_ME_GRACE: Duration = Duration::from_secs(24 * 3600);

/// The step-up method names, in the order they are offered.
pub const PASSKEY: &str = "passkey";
pub const TOTP: &str = "totp";
/// One of the account's single-use recovery codes: the last resort when the passkey and the
/// app are both lost, offered wherever either is.
pub const RECOVERY_CODE: &str = "recovery_code";

/// Retries of a read-modify-write that lost a race.
const MAX_RETRIES: usize = 16;

/// Whether a second factor proved at `second_factor_at` is still fresh at `now`.
pub fn second_factor_fresh(second_factor_at: Option<UnixTime>, now: UnixTime) -> bool {
    second_factor_at.is_some_and(|at| now < second_factor_valid_until(at))
}

/// The first second at which a second factor proved at `at` is no longer fresh.
pub fn second_factor_valid_until(at: UnixTime) -> UnixTime {
    at.saturating_add(secs(STEP_UP_FRESHNESS))
}

/// Whether a factor enrolled at `enrolled_at` has settled at `now` ([`NOT_ME_GRACE`] later,
/// that second included). One dated in the future (a clock that went back) has not.
pub fn factor_settled(enrolled_at: UnixTime, now: UnixTime) -> bool {
    now >= after(enrolled_at, NOT_ME_GRACE)
}

/// The account's strong factors as login offers them, each by when it counts from for "this
/// wasn't me": its enrolment, or for one enrolled while the account had a settled factor (a
/// replaced app, a new laptop's passkey: enrolled after a step-up), that factor's date.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StrongFactors {
    /// Each passkey's `counts_since`, else when it was registered (`created_at`).
    pub passkeys: Vec<UnixTime>,
    /// The authenticator app's `counts_since`, else when it was enabled (`enabled_at`).
    pub totp: Option<UnixTime>,
}

impl StrongFactors {
    /// The methods the account can step up with, `passkey`, `totp`, then `recovery_code`;
    /// empty without a strong factor (recovery codes alone are none).
    pub fn methods(&self) -> Vec<&'static str> {
        let mut methods = Vec::new();
        if !self.passkeys.is_empty() {
            methods.push(PASSKEY);
        }
        if self.totp.is_some() {
            methods.push(TOTP);
        }
        if !methods.is_empty() {
            methods.push(RECOVERY_CODE);
        }
        methods
    }

    /// The rule of "this wasn't me": no step-up (empty) while every factor is younger than
    /// [`NOT_ME_GRACE`] at `now`; once one has settled, every method the account has, as
    /// any other guarded action asks.
    pub fn settled_methods(&self, now: UnixTime) -> Vec<&'static str> {
        let settled = self
            .passkeys
            .iter()
            .chain(self.totp.iter())
            .any(|&at| factor_settled(at, now));
        if settled {
            self.methods()
        } else {
            Vec::new()
        }
    }

    /// The date of the account's oldest factor that has settled at `now`, if any: what a
    /// factor enrolled now (after a step-up, so by whoever holds a settled factor) counts from.
    pub fn settled_since(&self, now: UnixTime) -> Option<UnixTime> {
        self.passkeys
            .iter()
            .chain(self.totp.iter())
            .copied()
            .filter(|&at| factor_settled(at, now))
            .min()
    }
}

/// What the confirmation of a new app or passkey needs to know of the factors before it
/// ([`App::guard_enrolment`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrolmentBasis {
    /// What the new factor counts from for "this wasn't me" (its `counts_since`): the oldest
    /// settled factor's date, when the account has one; `None`: from its own enrolment.
    pub counts_since: Option<UnixTime>,
    /// The account had no strong factor: this is its first, enrolled without a step-up.
    /// Recovery codes made before it (by anyone holding the password and an SMS code) must
    /// not stand in for it.
    pub first: bool,
}

/// What `POST /v1/account/step-up/options` answers.
#[derive(Debug, Clone, Serialize)]
pub struct StepUpOptions {
    /// `passkey`, `totp`, in that order, those the account has, then `recovery_code`.
    pub methods: Vec<&'static str>,
    /// The passkey step-up's id (when the account has passkeys).
    pub challenge_id: Option<ChallengeId>,
    /// `{"publicKey": …}` for `navigator.credentials.get`, as in the login answer.
    pub passkey: Option<RequestChallengeResponse>,
}

/// A step-up's answer.
pub enum StepUpAnswer<'a> {
    Totp(&'a OneTimeCode),
    RecoveryCode(&'a RecoveryCode),
    Passkey {
        challenge_id: &'a ChallengeId,
        credential: &'a PublicKeyCredential,
    },
}

/// How one step-up attempt ended (when it was decided at all).
enum Attempt {
    /// With a recovery code: how many are left after it.
    Right {
        at: UnixTime,
        recovery_codes_left: Option<usize>,
    },
    Wrong {
        reason: &'static str,
    },
}

impl App {
    /// The methods the account can step up with, `passkey` before `totp`; empty for an
    /// account with SMS only. As login offers them: nothing this deployment cannot check.
    pub async fn step_up_methods(&self, username: &Username) -> Result<Vec<&'static str>, ServiceError> {
        Ok(self.strong_factors(username).await?.methods())
    }

    /// The account's strong factors with their enrolment times, as login offers them (no
    /// passkeys where this deployment has no relying party, no app where it cannot open app
    /// secrets): the same two reads as [`App::step_up_methods`].
    pub async fn strong_factors(&self, username: &Username) -> Result<StrongFactors, ServiceError> {
        let passkeys = self
            .passkeys_for_login(username)
            .await?
            .iter()
            .map(|p| p.counts_since.unwrap_or(p.created_at))
            .collect();
        let totp = if matches!(self.totp, crate::app::TotpKeying::Absent) {
            None
        } else {
            self.totp_record(username)
                .await?
                .and_then(|r| r.active.map(|a| a.counts_since.unwrap_or(a.enabled_at)))
        };
        Ok(StrongFactors { passkeys, totp })
    }

    /// The guard of the sensitive changes: `Ok` when the account has no strong factor or
    /// the session proved one (`second_factor_at`, its [`Caller::second_factor_at`]) within
    /// [`STEP_UP_FRESHNESS`] of `now`; else [`ServiceError::StepUpRequired`] with the methods
    /// the account can step up with. Call it after the password re-authentication.
    pub async fn require_fresh_second_factor(
        &self,
        second_factor_at: Option<UnixTime>,
        username: &Username,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        if second_factor_fresh(second_factor_at, now) {
            return Ok(());
        }
        let methods = self.step_up_methods(username).await?;
        if methods.is_empty() {
            return Ok(());
        }
        Err(ServiceError::StepUpRequired { methods })
    }

    /// The guard of confirming a new app or passkey: as [`App::require_fresh_second_factor`]
    /// (always reading the account's factors), and what the new factor inherits from them.
    pub async fn guard_enrolment(
        &self,
        second_factor_at: Option<UnixTime>,
        username: &Username,
        now: UnixTime,
    ) -> Result<EnrolmentBasis, ServiceError> {
        let factors = self.strong_factors(username).await?;
        let methods = factors.methods();
        if !methods.is_empty() && !second_factor_fresh(second_factor_at, now) {
            return Err(ServiceError::StepUpRequired { methods });
        }
        Ok(EnrolmentBasis {
            counts_since: factors.settled_since(now),
            first: methods.is_empty(),
        })
    }

    /// The guard of "this wasn't me": as [`App::require_fresh_second_factor`], but only a
    /// factor that has settled ([`StrongFactors::settled_methods`]) makes it ask for a step-up.
    /// An account whose apps and passkeys were all added in the last [`NOT_ME_GRACE`] reports
    /// with the password alone.
    pub async fn require_fresh_settled_second_factor(
        &self,
        second_factor_at: Option<UnixTime>,
        username: &Username,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        if second_factor_fresh(second_factor_at, now) {
            return Ok(());
        }
        let methods = self.strong_factors(username).await?.settled_methods(now);
        if methods.is_empty() {
            return Ok(());
        }
        Err(ServiceError::StepUpRequired { methods })
    }

    /// `POST /v1/account/step-up/options`: the methods, and for an account with passkeys a
    /// single-use passkey challenge for this session, valid 5 minutes. An account without a
    /// strong factor gets [`ServiceError::NoSecondFactor`].
    pub async fn step_up_options(&self, caller: &Caller) -> Result<StepUpOptions, ServiceError> {
        let username = &caller.username;
        let passkeys = self.passkeys_for_login(username).await?;
        let mut methods = Vec::new();
        if !passkeys.is_empty() {
            methods.push(PASSKEY);
        }
        if self.totp_active(username).await? {
            methods.push(TOTP);
        }
        if methods.is_empty() {
            return Err(ServiceError::NoSecondFactor);
        }
        methods.push(RECOVERY_CODE);
        if passkeys.is_empty() {
            return Ok(StepUpOptions {
                methods,
                challenge_id: None,
                passkey: None,
            });
        }
        let now = self.now();
        // Each opens a stored challenge: bounded per session (the challenge answers only its
        // session), not per account, so an intruder's SMS session cannot use up the owner's.
        self.count_stored_challenge("step-up-challenges", caller.session.as_str(), now)
            .await?;
        let (options, state) = self.passkey_request(&passkeys)?;
        let id = ChallengeId::generate();
        let record = PasskeyStepUpState {
            username: username.clone(),
            session: caller.session.clone(),
            state,
        };
        self.repo
            .insert(
                &challenge_pk(&id),
                PASSKEY_STEP_UP_SK,
                &record,
                Some(now + secs(self.policy.code_lifetime)),
                now,
            )
            .await?;
        Ok(StepUpOptions {
            methods,
            challenge_id: Some(id),
            passkey: Some(options),
        })
    }

    /// `POST /v1/account/step-up`: checks the answer and stamps the session. Returns until
    /// when the second factor is fresh.
    pub async fn step_up(
        &self,
        caller: &Caller,
        answer: StepUpAnswer<'_>,
        source_ip: Option<&str>,
    ) -> Result<UnixTime, ServiceError> {
        match answer {
            StepUpAnswer::Totp(code) => self.step_up_with_totp(caller, code, source_ip).await,
            StepUpAnswer::RecoveryCode(code) => self.step_up_with_recovery_code(caller, code, source_ip).await,
            StepUpAnswer::Passkey {
                challenge_id,
                credential,
            } => {
                self.step_up_with_passkey(caller, challenge_id, credential, source_ip)
                    .await
            }
        }
    }

    async fn step_up_with_totp(
        &self,
        caller: &Caller,
        code: &OneTimeCode,
        source_ip: Option<&str>,
    ) -> Result<UnixTime, ServiceError> {
        let username = &caller.username;
        if !self.totp_active(username).await? {
            return Err(ServiceError::TotpNotEnrolled);
        }
        // Reserved before the code is compared, like every code attempt.
        let slot = self.reserve_code_attempt(CodeScope::Login, username).await?;
        let outcome = self.stamp_with_totp(caller, code, source_ip).await;
        self.settle(caller, TOTP, slot, outcome, source_ip).await
    }

    async fn step_up_with_recovery_code(
        &self,
        caller: &Caller,
        code: &RecoveryCode,
        source_ip: Option<&str>,
    ) -> Result<UnixTime, ServiceError> {
        let username = &caller.username;
        // Codes stand in for a passkey or an app; without either there is nothing to step up.
        if self.step_up_methods(username).await?.is_empty() {
            return Err(ServiceError::NoSecondFactor);
        }
        let slot = self.reserve_code_attempt(CodeScope::Login, username).await?;
        let outcome = self.stamp_with_recovery_code(caller, code, source_ip).await;
        let left = match &outcome {
            Ok(Attempt::Right {
                recovery_codes_left, ..
            }) => *recovery_codes_left,
            _ => None,
        };
        let valid_until = self.settle(caller, RECOVERY_CODE, slot, outcome, source_ip).await?;
        if let (Some(left), Some(account)) = (left, self.load_account(username).await?) {
            self.recovery_code_used(
                username,
                &account.mobile,
                account.language,
                RecoveryUse::StepUp,
                left,
                source_ip,
            )
            .await;
        }
        Ok(valid_until)
    }

    async fn step_up_with_passkey(
        &self,
        caller: &Caller,
        id: &ChallengeId,
        credential: &PublicKeyCredential,
        source_ip: Option<&str>,
    ) -> Result<UnixTime, ServiceError> {
        self.relying_party()?;
        let username = &caller.username;
        let now = self.now();
        let key = challenge_pk(id);
        // Another account's or another session's step-up is as unknown as a used one.
        let state = self
            .repo
            .load::<PasskeyStepUpState>(&key, PASSKEY_STEP_UP_SK, now)
            .await?
            .filter(|s| s.value.username == *username && s.value.session == caller.session)
            .ok_or(ServiceError::ChallengeGone)?;
        let slot = self.reserve_code_attempt(CodeScope::Login, username).await?;
        // Single use whatever the answer: only the request that deletes the version it read
        // goes on.
        match self
            .repo
            .items()
            .delete(&key, PASSKEY_STEP_UP_SK, Condition::VersionIs(state.version()), now)
            .await
        {
            Ok(()) => {}
            Err(e) => {
                self.release_code_attempt(CodeScope::Login, username).await;
                return Err(match e {
                    StoreError::ConditionFailed => ServiceError::ChallengeGone,
                    e => e.into(),
                });
            }
        }
        let outcome = self
            .stamp_with_passkey(caller, &state.value.state, credential, source_ip)
            .await;
        if let Ok(Attempt::Wrong {
            reason: "counter_regression",
        }) = outcome
        {
            self.repo
                .audit(
                    username,
                    AuditKind::PasskeyCounterRegression,
                    source_ip,
                    json!({ "credential": credential.id, "during": "step_up" }),
                    self.now(),
                )
                .await;
        }
        self.settle(caller, PASSKEY, slot, outcome, source_ip).await
    }

    /// The answer to a step-up attempt that took `slot` of the code-attempt budget: a right
    /// one gives the attempt back, a wrong one counts (and may lock).
    async fn settle(
        &self,
        caller: &Caller,
        method: &'static str,
        slot: usize,
        outcome: Result<Attempt, ServiceError>,
        source_ip: Option<&str>,
    ) -> Result<UnixTime, ServiceError> {
        let username = &caller.username;
        match outcome {
            Ok(Attempt::Right { at, .. }) => {
                self.release_code_attempt(CodeScope::Login, username).await;
                crate::audit::logged(username, AuditKind::StepUp);
                Ok(second_factor_valid_until(at))
            }
            Ok(Attempt::Wrong { reason }) => {
                let attempts_left = self.policy.code_failures_per_account_hour.saturating_sub(slot);
                let attempts_left = u32::try_from(attempts_left).unwrap_or(u32::MAX);
                let detail = json!({
                    "method": method,
                    "during": "step_up",
                    "attempts_left": attempts_left,
                    "reason": reason,
                });
                Err(self
                    .code_failed(CodeScope::Login, username, slot, attempts_left, source_ip, detail)
                    .await)
            }
            Err(e) => {
                self.release_code_attempt(CodeScope::Login, username).await;
                Err(e)
            }
        }
    }

    /// The caller's session as stored, if it is still live.
    async fn live_session(&self, caller: &Caller, now: UnixTime) -> Result<Stored<Session>, ServiceError> {
        self.repo
            .load::<Session>(&session_pk(&caller.session), SESSION_SK, now)
            .await?
            .filter(|s| s.value.username == caller.username && s.value.is_live(now, self.policy.session_idle_timeout))
            .ok_or(ServiceError::SessionExpired)
    }

    /// The writes that stamp `session` at `now` and record the step-up.
    fn stamp_ops(
        &self,
        session: &Stored<Session>,
        detail: serde_json::Value,
        source_ip: Option<&str>,
        now: UnixTime,
    ) -> Result<Vec<WriteOp>, StoreError> {
        let mut stamped = session.value.clone();
        stamped.second_factor_at = Some(now);
        Ok(vec![
            write_op(
                &session_pk(&session.value.id),
                SESSION_SK,
                Some(session),
                &stamped,
                Some(session.value.absolute_expires_at),
            )?,
            audit_op(&session.value.username, AuditKind::StepUp, source_ip, detail, now)?,
        ])
    }

    async fn stamp_with_totp(
        &self,
        caller: &Caller,
        code: &OneTimeCode,
        source_ip: Option<&str>,
    ) -> Result<Attempt, ServiceError> {
        let username = &caller.username;
        let record_key = account_pk(username);
        for _ in 0..MAX_RETRIES {
            let now = self.now();
            let session = self.live_session(caller, now).await?;
            let record = self.repo.load::<TotpRecord>(&record_key, TOTP_SK, now).await?;
            let Some((record, active)) = record.as_ref().and_then(|r| Some((r, r.value.active.as_ref()?))) else {
                // Removed since the step-up began: no code can be right.
                return Err(ServiceError::TotpNotEnrolled);
            };
            let verdict = match_code(
                &self.totp_generator(username, &active.secret)?,
                code,
                now,
                Some(active.last_used_step),
            );
            let step = match verdict {
                CodeMatch::Fresh(step) => step,
                CodeMatch::Reused => return Ok(Attempt::Wrong { reason: "reused" }),
                CodeMatch::Wrong => return Ok(Attempt::Wrong { reason: "wrong_code" }),
            };
            let mut used = record.value.clone();
            if let Some(a) = used.active.as_mut() {
                a.last_used_step = step;
            }
            let mut ops = vec![write_op(
                &record_key,
                TOTP_SK,
                Some(record),
                &used,
                record.expires_at(),
            )?];
            ops.extend(self.stamp_ops(&session, json!({ "method": TOTP }), source_ip, now)?);
            if let Some(done) = self.commit_stamp(ops, now, None).await? {
                return Ok(done);
            }
        }
        Err(StoreError::ConditionFailed.into())
    }

    /// Writes a step-up's `ops` (what it used up and the session's stamp) in one conditional
    /// transaction: the attempt's end, or `None` when a condition failed and it must read again.
    async fn commit_stamp(
        &self,
        ops: Vec<WriteOp>,
        now: UnixTime,
        recovery_codes_left: Option<usize>,
    ) -> Result<Option<Attempt>, ServiceError> {
        match self.repo.items().transact(ops, now).await {
            Ok(()) => Ok(Some(Attempt::Right {
                at: now,
                recovery_codes_left,
            })),
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Spends the code and stamps the session in one conditional transaction, so a code
    /// steps up at most one session.
    async fn stamp_with_recovery_code(
        &self,
        caller: &Caller,
        code: &RecoveryCode,
        source_ip: Option<&str>,
    ) -> Result<Attempt, ServiceError> {
        let presented = self.recovery_code_hash(&caller.username, code)?;
        for _ in 0..MAX_RETRIES {
            let now = self.now();
            let session = self.live_session(caller, now).await?;
            let Some((spend, left)) = self.recovery_code_spend(&caller.username, &presented, now).await? else {
                return Ok(Attempt::Wrong { reason: "wrong_code" });
            };
            let mut ops = vec![spend];
            ops.extend(self.stamp_ops(&session, json!({ "method": RECOVERY_CODE }), source_ip, now)?);
            if let Some(done) = self.commit_stamp(ops, now, Some(left)).await? {
                return Ok(done);
            }
        }
        Err(StoreError::ConditionFailed.into())
    }

    async fn stamp_with_passkey(
        &self,
        caller: &Caller,
        state: &SecurityKeyAuthentication,
        credential: &PublicKeyCredential,
        source_ip: Option<&str>,
    ) -> Result<Attempt, ServiceError> {
        let webauthn = self.relying_party()?;
        for _ in 0..MAX_RETRIES {
            let now = self.now();
            let session = self.live_session(caller, now).await?;
            // The passkey as it is now: one removed since the step-up began is unknown.
            let current = self.current_passkey(&caller.username, credential, now).await?;
            let result = match assess(webauthn, credential, state, current.as_ref().map(|(r, _)| r)) {
                Ok(result) => result,
                Err(reason) => return Ok(Attempt::Wrong { reason }),
            };
            let Some((record, item)) = current else {
                return Ok(Attempt::Wrong {
                    reason: "unknown_credential",
                });
            };
            let (passkey_write, passkey): (WriteOp, PasskeyId) = used_passkey_write(record, &item, &result, now)?;
            let mut ops = vec![passkey_write];
            ops.extend(self.stamp_ops(
                &session,
                json!({ "method": PASSKEY, "passkey": passkey }),
                source_ip,
                now,
            )?);
            if let Some(done) = self.commit_stamp(ops, now, None).await? {
                return Ok(done);
            }
        }
        Err(StoreError::ConditionFailed.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_factor_is_fresh_for_five_minutes_and_no_factor_never_is() {
        let at = 1_700_000_000;
        // (second factor at, now, fresh)
        for (proved, now, fresh) in [
            (None, at, false),
            (Some(at), at, true),
            (Some(at), at + 1, true),
            (Some(at), at + 299, true),
            (Some(at), at + 300, false),
            (Some(at), at + 3600, false),
            (Some(at - 301), at, false),
        ] {
            assert_eq!(second_factor_fresh(proved, now), fresh, "{proved:?} at {now}");
        }
        assert_eq!(second_factor_valid_until(at), at + 300);
    }

    #[test]
    fn a_factor_settles_24_hours_after_its_enrolment_to_the_second() {
        let at = 1_700_000_000;
        let day = 86_400;
        // (enrolled at, now, settled)
        for (enrolled, now, settled) in [
            (at, at, false),
            (at, at + 1, false),
            (at, at + day - 1, false),
            (at, at + day, true),
            (at, at + day + 1, true),
            (at, at + 30 * day, true),
            (at + 60, at, false),
        ] {
            assert_eq!(factor_settled(enrolled, now), settled, "{enrolled} at {now}");
        }
        assert_eq!(secs(NOT_ME_GRACE), day);
    }

    #[test]
    fn not_me_asks_for_a_step_up_once_any_factor_has_settled_and_then_offers_every_method() {
        let now = 1_700_000_000;
        let day = 86_400;
        let new = now - day + 1;
        let old = now - day;
        let factors = |passkeys: &[i64], totp: Option<i64>| StrongFactors {
            passkeys: passkeys.to_vec(),
            totp,
        };
        // (factors, what "not me" asks for, what every other guarded action asks for)
        let cases: [(StrongFactors, &[&str], &[&str]); 9] = [
            (factors(&[], None), &[], &[]),
            (factors(&[], Some(new)), &[], &[TOTP]),
            (factors(&[], Some(old)), &[TOTP], &[TOTP]),
            (factors(&[new], None), &[], &[PASSKEY]),
            (factors(&[old], None), &[PASSKEY], &[PASSKEY]),
            (factors(&[new, new], Some(new)), &[], &[PASSKEY, TOTP]),
            // One settled factor: the intruder's new ones answer the step-up too.
            (factors(&[new, old], None), &[PASSKEY], &[PASSKEY]),
            (factors(&[new], Some(old)), &[PASSKEY, TOTP], &[PASSKEY, TOTP]),
            (factors(&[old], Some(new)), &[PASSKEY, TOTP], &[PASSKEY, TOTP]),
        ];
        // A recovery code is offered after the factors wherever any is asked for.
        let with_recovery_code = |factors: &[&'static str]| {
            let mut methods = factors.to_vec();
            if !methods.is_empty() {
                methods.push(RECOVERY_CODE);
            }
            methods
        };
        for (f, not_me, others) in cases {
            assert_eq!(f.settled_methods(now), with_recovery_code(not_me), "{f:?}");
            assert_eq!(f.methods(), with_recovery_code(others), "{f:?}");
        }
    }

    #[test]
    fn a_factor_enrolled_now_inherits_the_oldest_settled_factors_date() {
        let now = 1_700_000_000;
        let day = 86_400;
        let factors = |passkeys: &[i64], totp: Option<i64>| StrongFactors {
            passkeys: passkeys.to_vec(),
            totp,
        };
        assert_eq!(factors(&[], None).settled_since(now), None);
        assert_eq!(factors(&[now - day + 1], Some(now - 5)).settled_since(now), None);
        assert_eq!(
            factors(&[now - day + 1], Some(now - day)).settled_since(now),
            Some(now - day)
        );
        assert_eq!(
            factors(&[now - 3 * day, now - 9 * day], Some(now - 2 * day)).settled_since(now),
            Some(now - 9 * day)
        );
    }
}
