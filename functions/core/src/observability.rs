//! Structured logs: JSON lines, one request id per line, no personal data beyond a username hash.

use sha2::{Digest, Sha256};

use crate::domain::Username;

/// A stable, non-reversible tag for a username in logs (first 12 hex chars of SHA-256).
pub fn user_tag(username: &Username) -> String {
    let digest = Sha256::digest(username.as_str().as_bytes());
    crate::security::hex_encode(&digest[..6])
}

/// JSON logs to stdout, filtered by `RUST_LOG` (default `info`). Call once at start.
pub fn init_json_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Human-readable logs for the local portal.
pub fn init_console_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
