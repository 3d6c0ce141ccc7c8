//! The Hjemmekontor portal's core: the domain types, the rules (services), the storage trait
//! with its SQLite and DynamoDB backends, the security primitives, SMS senders, Buypass
//! OpenID Connect and certificate checks, and serial activation.
//!
//! Nothing here knows HTTP or Lambda: `portal-http` turns requests into calls of
//! [`services`] and their [`error::ServiceError`]s into problem+json; `portal-lambda` and
//! `portal-local` build an [`app::App`] once per process. See ARCHITECTURE.md.

pub mod activation;
pub mod app;
pub mod audit;
pub mod aws;
pub mod buypass;
pub mod clock;
pub mod config;
pub mod deployment;
pub mod domain;
pub mod error;
pub mod event_log;
pub mod i18n;
pub mod observability;
pub mod security;
pub mod services;
pub mod sms;
pub mod store;
