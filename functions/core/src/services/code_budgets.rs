//! What codes cost: the SMS budgets a challenge's texts count against (per account, per
//! number, all accounts together) and the per-account budget of code attempts with its
//! lockout. Each reservation is one conditional write ([`super::limits`]).

use serde_json::json;

use super::limits::{Allowance, Limit};
use crate::app::App;
use crate::audit::AuditKind;
use crate::clock::after;
use crate::domain::{MobileNumber, Username};
use crate::error::ServiceError;
use crate::store::records::ChallengePurpose;

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

/// The answer when the SMS limit `limit` under `key` is used up for `wait` seconds.
pub(crate) fn sms_refused(limit: &Limit, key: &str, wait: u64, now: crate::clock::UnixTime) -> ServiceError {
    // A budget of every caller together is a spend ceiling, not this caller's limit.
    if key == GLOBAL_KEY {
        println!("{}", budget_exhausted_metric(limit.scope, now));
        tracing::warn!(budget = limit.scope, retry_after = wait, "shared SMS budget used up");
        return ServiceError::SmsBudgetExhausted { retry_after: wait };
    }
    ServiceError::SmsLimit { retry_after: wait }
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
            window: std::time::Duration::from_secs(3600),
        }
    }

    /// Forgot-password's own SMS budget per account, apart from login's, so that anyone who
    /// knows a username cannot use up the SMS the user needs to log in.
    fn reset_sms_per_account(&self) -> Limit {
        Limit {
            scope: "sms-account-reset",
            max: self.policy.reset_sms_per_account_hour,
            window: std::time::Duration::from_secs(3600),
        }
    }

    /// Per number: an account's own (verified) number, or a stand-in for a decoy.
    fn sms_per_destination(&self) -> Limit {
        Limit {
            scope: "sms-destination",
            max: self.policy.sms_per_destination_day,
            window: std::time::Duration::from_secs(24 * 3600),
        }
    }

    /// Forgot-password's own budget per number and day: anonymous resets at their maximum
    /// rate never reduce the number's login budget ([`Self::sms_per_destination`]).
    fn reset_sms_per_destination(&self) -> Limit {
        Limit {
            scope: "sms-destination-reset",
            max: self.policy.reset_sms_per_destination_day,
            window: std::time::Duration::from_secs(24 * 3600),
        }
    }

    /// Forgot-password SMS of all accounts together: the ceiling on anonymous SMS spend.
    fn reset_sms_global(&self) -> Limit {
        Limit {
            scope: "sms-reset-global",
            max: self.policy.reset_sms_global_per_hour,
            window: std::time::Duration::from_secs(3600),
        }
    }

    /// Per number not (yet) on any account: a phone change's new number. Counted apart, so
    /// codes sent to someone's number by a phone change they did not ask for never use up
    /// what that number's own account needs.
    fn sms_per_unverified_destination(&self) -> Limit {
        Limit {
            scope: "sms-destination-unverified",
            max: self.policy.sms_per_destination_day,
            window: std::time::Duration::from_secs(24 * 3600),
        }
    }

    pub(crate) fn code_failures(&self, scope: CodeScope) -> Limit {
        Limit {
            scope: scope.failure_scope(),
            max: self.policy.code_failures_per_account_hour,
            window: std::time::Duration::from_secs(3600),
        }
    }

    /// The limits one SMS of a challenge with `purpose` counts against, in the order they are
    /// reserved, with the key each is kept under.
    pub(crate) fn sms_limits<'k>(
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
    pub(crate) async fn reserve_sms(
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
                Ok(Allowance::Wait(wait)) => sms_refused(limit, key, wait, now),
                Err(e) => e.into(),
            };
            for (limit, key) in limits[..i].iter().rev() {
                self.repo.limit_release(limit, key, now).await?;
            }
            return Err(refused);
        }
        // Last, the portal-wide ceilings every SMS counts against (decoys too: were they left
        // out, the moment a ceiling is reached would tell real usernames from unknown ones).
        if let Err(refused) = self.reserve_sms_spend(now).await {
            for (limit, key) in limits.iter().rev() {
                self.repo.limit_release(limit, key, now).await?;
            }
            return Err(refused);
        }
        Ok(())
    }

    pub(crate) async fn unreserve_sms(&self, purpose: &ChallengePurpose, username: &Username, to: &MobileNumber) {
        let now = self.now();
        self.release_sms_spend(now).await;
        for (limit, key) in self.sms_limits(purpose, username.as_str(), to.as_e164()).iter().rev() {
            let _ = self.repo.limit_release(limit, key, now).await;
        }
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
