//! Configuration: the policy numbers of DESIGN §3 and the deployment settings.

use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// Every number the security rules use, in one place. Defaults are DESIGN §3.
#[derive(Debug, Clone)]
pub struct Policy {
    pub code_lifetime: Duration,
    pub code_attempts_per_challenge: u32,
    pub code_failures_per_account_hour: usize,
    pub code_lock: Duration,
    pub resend_interval: Duration,
    pub resends_per_challenge: u32,
    pub sms_per_account_hour: usize,
    /// Forgot-password SMS (codes and resends) per account and hour. Counted apart from
    /// `sms_per_account_hour`, so that anyone who knows a username cannot use up the SMS its
    /// owner needs to log in.
    pub reset_sms_per_account_hour: usize,
    pub sms_per_destination_day: usize,
    /// Forgot-password SMS per number and day, counted apart from `sms_per_destination_day`
    /// for the same reason: an anonymous reset never reduces what login may send.
    pub reset_sms_per_destination_day: usize,
    /// Forgot-password SMS of every account together per hour: a ceiling on what anonymous
    /// callers can spend on text messages. Past it, resets answer `sms_unavailable` and the
    /// functions log the `SmsBudgetExhausted` metric (alarmed in infra/).
    pub reset_sms_global_per_hour: usize,
    /// Every SMS of the portal (codes, resends, notices, operator texts), all accounts
    /// together, per hour and per day: the spend ceiling before SNS's monthly limit. Past
    /// either, new codes answer `sms_unavailable` and the `SmsBudgetExhausted` metric
    /// (`Budget` = `sms-global-hour` / `sms-global-day`) alarms; notices are counted but still
    /// sent (`services::sms_spend`).
    pub sms_global_per_hour: usize,
    pub sms_global_per_day: usize,
    /// Forgot-password requests per source address and hour (known and unknown names alike).
    pub forgot_requests_per_ip_hour: usize,
    /// Login challenges of users with an authenticator app send no SMS, so the SMS limits do
    /// not bound how many can be opened; this does.
    pub totp_challenges_per_account_hour: usize,
    pub password_failures_before_backoff: u32,
    pub password_backoff_cap: Duration,
    pub ip_failures_per_window: usize,
    pub ip_failure_window: Duration,
    pub access_token_lifetime: Duration,
    pub session_idle_timeout: Duration,
    pub session_absolute_lifetime: Duration,
    /// Forgot-password answers take at least this long whether or not the account exists, so
    /// the time an SMS takes to send does not tell accounts apart.
    pub forgot_password_min_response: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            code_lifetime: MINUTE.saturating_mul(5),
            code_attempts_per_challenge: 5,
            code_failures_per_account_hour: 20,
            code_lock: HOUR,
            resend_interval: Duration::from_secs(30),
            resends_per_challenge: 3,
            sms_per_account_hour: 10,
            reset_sms_per_account_hour: 3,
            sms_per_destination_day: 20,
            reset_sms_per_destination_day: 5,
            reset_sms_global_per_hour: 500,
            sms_global_per_hour: 1000,
            sms_global_per_day: 5000,
            forgot_requests_per_ip_hour: 10,
            totp_challenges_per_account_hour: 10,
            password_failures_before_backoff: 5,
            password_backoff_cap: MINUTE.saturating_mul(15),
            ip_failures_per_window: 30,
            ip_failure_window: MINUTE.saturating_mul(10),
            access_token_lifetime: MINUTE.saturating_mul(15),
            session_idle_timeout: MINUTE.saturating_mul(30),
            session_absolute_lifetime: HOUR.saturating_mul(12),
            forgot_password_min_response: Duration::from_millis(400),
        }
    }
}

impl Policy {
    /// How long to wait after `failures` consecutive wrong passwords: nothing for the first
    /// few, then 1, 2, 4… seconds, capped.
    pub fn password_backoff(&self, failures: u32) -> Duration {
        if failures < self.password_failures_before_backoff {
            return Duration::ZERO;
        }
        let exponent = failures - self.password_failures_before_backoff;
        if exponent >= 30 {
            return self.password_backoff_cap;
        }
        Duration::from_secs(1 << exponent).min(self.password_backoff_cap)
    }
}

/// Deployment settings shared by every function.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `iss` of access tokens.
    pub token_issuer: String,
    /// `aud` of access tokens.
    pub token_audience: String,
    /// Where the portal front end lives; the only CORS origin.
    pub portal_url: String,
    /// Name of the refresh cookie.
    pub refresh_cookie: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            token_issuer: "https://api.hjemmekontor.local".into(),
            token_audience: "hjemmekontor-portal".into(),
            portal_url: "http://127.0.0.1:8080".into(),
            refresh_cookie: "__Host-hk_refresh".into(),
        }
    }
}

/// A deployment setting that is missing or wrong, or a start-up step that failed: the process
/// reports it (`/runtime/init/error` in Lambda) and does not start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {0} has an invalid value: {1}")]
    Invalid(&'static str, String),
    #[error("could not initialise: {0}")]
    Init(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_design_section_3_in_seconds() {
        let p = Policy::default();
        let seconds = [
            p.code_lifetime,
            p.code_lock,
            p.resend_interval,
            p.password_backoff_cap,
            p.ip_failure_window,
            p.access_token_lifetime,
            p.session_idle_timeout,
            p.session_absolute_lifetime,
        ]
        .map(|d| d.as_secs());
        assert_eq!(seconds, [300, 3600, 30, 900, 600, 900, 1800, 43_200]);
        assert_eq!(p.forgot_password_min_response.as_millis(), 400);
    }

    #[test]
    fn backoff_curve_doubles_from_the_fifth_failure_and_caps_at_15_minutes() {
        let p = Policy::default();
        let curve: Vec<u64> = (0..16).map(|n| p.password_backoff(n).as_secs()).collect();
        assert_eq!(&curve[..10], &[0, 0, 0, 0, 0, 1, 2, 4, 8, 16]);
        assert_eq!(p.password_backoff(14).as_secs(), 512);
        assert_eq!(p.password_backoff(15).as_secs(), 900);
        assert_eq!(p.password_backoff(u32::MAX).as_secs(), 900);
    }
}
