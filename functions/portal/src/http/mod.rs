//! HTTP edge: problem responses, extractors that parse untrusted input, cookies.

pub mod auth;
pub mod cookies;
pub mod extract;
pub mod origin;
pub mod problem;
