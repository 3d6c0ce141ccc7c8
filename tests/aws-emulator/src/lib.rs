//! Helpers for the tests that speak the real AWS wire protocol to an emulator (moto), run the
//! Lambda binaries under a Lambda Runtime API emulator, and cut the network to provoke outages.
//!
//! `scripts/test.sh` starts moto and sets `PORTAL_TEST_AWS_ENDPOINT`; it also sets
//! `PORTAL_REQUIRE_AWS_EMULATOR=1`, which turns a missing emulator into a failure instead of a
//! skip, so the test command can never pass without having run these tests.

pub mod emulator;
pub mod http_event;
pub mod process;
pub mod proxy;
pub mod runtime_api;

pub use emulator::Emulator;
