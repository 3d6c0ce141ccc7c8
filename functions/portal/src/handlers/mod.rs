//! Thin HTTP handlers: parse, call a service on [`crate::app::App`], render.

pub mod account;
pub mod auth;
pub mod dev;
pub mod homeoffice;
pub mod self_service;
pub mod totp;
