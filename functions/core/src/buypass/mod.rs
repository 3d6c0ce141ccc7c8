//! Buypass smartcard registration (DESIGN §4): OpenID Connect against Buypass, verification of
//! the login certificate, and the certificate registry the gateway reads.

pub mod certificate;
pub mod config;
pub mod flow;
pub mod keys;
pub mod oidc;
pub mod registry;
pub mod repair;
