//! Core behaviour that needs the test kit or the stand-in CA (which depend on this crate, so
//! these cannot be unit tests inside it): one test binary, one module per subject.

mod certificate;
mod sqlite_store;
