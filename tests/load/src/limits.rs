//! The limits of DESIGN §3 the load test holds the portal to, read from `Policy::default()`
//! (what the portal enforces) instead of restated here.

use std::time::Duration;

use portal_core::config::Policy;

#[derive(Debug, Clone)]
pub(crate) struct Limits {
    policy: Policy,
    /// Password failures evaluated per source address and window.
    pub(crate) ip_failures_per_window: usize,
    /// Consecutive wrong passwords per name before the backoff.
    pub(crate) failures_before_backoff: usize,
    /// Wrong codes evaluated per challenge.
    pub(crate) codes_per_challenge: usize,
    /// Wrong codes evaluated per account and hour.
    pub(crate) codes_per_account_hour: usize,
    /// Login SMS per account and hour.
    pub(crate) sms_per_account_hour: usize,
}

impl Limits {
    pub(crate) fn of_policy() -> Self {
        let policy = Policy::default();
        Self {
            ip_failures_per_window: policy.ip_failures_per_window,
            failures_before_backoff: policy.password_failures_before_backoff as usize,
            codes_per_challenge: policy.code_attempts_per_challenge as usize,
            codes_per_account_hour: policy.code_failures_per_account_hour,
            sms_per_account_hour: policy.sms_per_account_hour,
            policy,
        }
    }

    /// Backoff windows (the policy's 1 s, 2 s, 4 s… after the first failures) that can have
    /// passed in `elapsed`: each allows one more evaluated failure.
    pub(crate) fn backoff_windows(&self, elapsed: Duration) -> usize {
        let mut windows = 0;
        let mut total = 0u64;
        while total <= elapsed.as_secs() + 1 {
            let failures = self.policy.password_failures_before_backoff + windows as u32;
            let wait = self.policy.password_backoff(failures).as_secs();
            total += wait.max(1);
            windows += 1;
        }
        windows
    }
}
