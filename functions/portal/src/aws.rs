//! The AWS SDK configuration every client shares: region, credentials and endpoint come from
//! the standard environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`…, `AWS_ENDPOINT_URL` and the
//! per-service `AWS_ENDPOINT_URL_<SERVICE>` for LocalStack or moto).
//!
//! Timeouts are short on purpose: every call is on a user's request path behind API Gateway, and
//! a dead endpoint must turn into a 503 within a couple of seconds, not hang until the gateway
//! gives up. DynamoDB and SNS answer in milliseconds when healthy.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};

/// Upper bound for one SDK call including retries.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(4);

/// Loads the shared configuration once per process.
pub async fn load_sdk_config() -> SdkConfig {
    loader().load().await
}

/// `PORTAL_AWS_OPERATION_TIMEOUT_SECS`, for an emulator on a busy machine that needs longer
/// than AWS ever does (the load test sets it; deployments leave it alone).
fn emulator_timeout() -> Option<Duration> {
    std::env::var("PORTAL_AWS_OPERATION_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| (1..=300).contains(s))
        .map(Duration::from_secs)
}

/// The environment-driven loader with the portal's timeouts and retries, for callers that
/// override parts of it (tests point it at the emulator explicitly).
pub fn loader() -> ConfigLoader {
    // With the emulator's longer timeout, one attempt gets all of it: an attempt that timed
    // out may still have been applied, and a conditional write sent again would then fail.
    let (attempt, operation) = match emulator_timeout() {
        Some(t) => (t, t),
        None => (Duration::from_secs(2), OPERATION_TIMEOUT),
    };
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(attempt)
        .operation_timeout(operation)
        .build();
    // Two quick retries ride out a dropped keep-alive connection or a throttle blip; more
    // would only delay the 503 the user gets when the service is really down.
    let retries = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_millis(500));
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(retries)
}
