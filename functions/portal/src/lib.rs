//! The Hjemmekontor portal: everything the Lambda functions and `portal-local` share.
//!
//! Entrypoints stay thin: they build an [`app::App`] once (config, store, SMS sender, clock,
//! keys) and hand it to a router from [`routes`]. Handlers take those dependencies as state, so
//! tests run the same code against local backends and a controllable clock.

pub mod activation;
pub mod app;
pub mod audit;
pub mod aws;
pub mod buypass;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod handlers;
pub mod http;
pub mod i18n;
pub mod lambda;
pub mod local;
pub mod local_homeoffice;
pub mod local_server;
pub mod observability;
pub mod routes;
pub mod security;
pub mod services;
pub mod sms;
pub mod store;
pub mod testing;
