//! `portal-local`'s wiring: the whole API in one process on SQLite (or the AWS backends),
//! SMS in a local outbox, the stand-in Buypass provider and the reference UI. The binary's
//! `main` parses arguments and calls these.

pub mod dev_sms;
pub mod env;
pub mod homeoffice;
pub mod server;
