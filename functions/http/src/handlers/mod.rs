//! Thin HTTP handlers: parse, call a service on [`portal_core::app::App`], render.

pub mod account;
pub mod auth;
pub mod homeoffice;
pub mod passkeys;
pub mod recovery_codes;
pub mod security;
pub mod self_service;
pub mod step_up;
pub mod totp;
