//! Test helpers for every crate of the portal: an app on an in-memory (or any) store with a
//! movable clock and capturing SMS ([`app`]), the storage conformance suite run against every
//! backend ([`store_conformance`]), the race suite of the rules ([`races`]) and the
//! issuer-keyed registry checks ([`registry_conformance`]). Never linked by a Lambda.

pub mod app;
pub mod authenticator;
pub mod passkey_device;
pub mod races;
pub mod registry_conformance;
pub mod store_conformance;

pub use app::*;
pub use authenticator::authenticator_app;
pub use passkey_device::PasskeyDevice;
