//! The portal's behaviour through its HTTP layer and rules, against the test kit's app (an
//! in-memory store, a movable clock, capturing SMS): one test binary, one module per subject.

mod activation;
mod buypass_http;
mod contract;
mod fuzz;
mod harness;
mod passkeys;
mod recovery;
mod rules;
mod security_centre;
mod self_service;
mod sms_guard;
mod step_up;
mod throttle_races;
mod totp;
