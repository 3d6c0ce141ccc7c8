//! The rules of DESIGN §3, free of HTTP: handlers parse input, call these, and render results.

pub mod account_view;
pub mod admin;
pub mod challenge_rules;
pub mod challenges;
pub mod code_budgets;
pub mod devices;
pub mod limit_windows;
pub mod limits;
pub mod login;
mod login_batched;
pub mod login_verify;
pub mod passkey_login;
pub mod passkey_party;
pub mod passkeys;
pub mod password;
pub mod phone;
pub mod recovery;
pub mod refresh_tokens;
pub mod security_centre;
pub mod sessions;
pub mod sms_countries;
pub mod sms_delivery;
pub mod sms_spend;
pub mod step_up;
pub mod totp;
pub mod totp_codes;
pub mod totp_login;
