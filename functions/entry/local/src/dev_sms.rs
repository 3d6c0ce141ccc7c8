//! Local-only routes (mounted by `portal-local`, never by a Lambda).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::Json;

use portal_core::sms::outbox::OutboxSms;
use portal_http::error::ApiError;
use portal_http::handlers::auth::no_store;

/// `GET /dev/sms`: the local outbox, newest first.
pub async fn sms_outbox(State(outbox): State<Arc<OutboxSms>>) -> Result<Response, ApiError> {
    let messages = outbox.list().await?;
    Ok(no_store(Json(messages)))
}
