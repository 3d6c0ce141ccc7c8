//! The portal's HTTP layer: extractors, handlers, the route table and routers, and the one
//! place where rule outcomes become RFC 9457 problems ([`error`]). Handlers parse input into
//! domain types, call `portal_core::services`, and render the result.

pub mod auth;
pub mod cookies;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod origin;
pub mod problem;
pub mod routes;
