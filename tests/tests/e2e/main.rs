//! The end-to-end suite: the real `portal-local`, `portal-admin` and `portal-fixture` binaries
//! over HTTP. One test binary with a module per area, so the harness and the portal crates are
//! linked once. `E2E_BACKEND=aws` runs the same modules on DynamoDB and SNS in the emulator.

mod attacks;
mod buypass;
mod buypass_interop;
mod buypass_provider_attacks;
mod languages;
mod login_journey;
mod passkeys;
mod security_centre;
mod self_service;
mod totp;
