//! Local-only routes (mounted by `portal-local`, never by a Lambda).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::Json;

use super::auth::no_store;
use crate::error::ApiError;
use crate::sms::outbox::OutboxSms;

/// `GET /dev/sms`: the local outbox, newest first.
pub async fn sms_outbox(State(outbox): State<Arc<OutboxSms>>) -> Result<Response, ApiError> {
    let messages = outbox.list().await?;
    Ok(no_store(Json(messages)))
}
