//! Local stand-ins for what production gets from outside: Buypass's OpenID provider
//! ([`provider`]) and its issuing CA ([`ca`]). Linked by `portal-local` and the tests only;
//! no Lambda function depends on this crate.

pub mod ca;
pub mod provider;
