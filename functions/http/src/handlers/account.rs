//! `/v1/account`: the account page, and the account's language.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::auth::no_store;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::extract::JsonBody;
use portal_core::app::SharedApp;
use portal_core::domain::InvalidInput;
use portal_core::i18n::Lang;

pub async fn get_account(
    State(app): State<SharedApp>,
    Authenticated(caller): Authenticated,
) -> Result<Response, ApiError> {
    let view = app.account_view_of(&caller).await?;
    Ok(no_store(Json(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageRequest {
    /// Checked by the handler, so an unknown tag is a 400 naming the field.
    pub language: String,
}

/// `PUT /v1/account/language`: `{"language":"nn"}`; the page sends it when a signed-in user
/// switches language.
pub async fn set_language(
    State(app): State<SharedApp>,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<LanguageRequest>,
) -> Result<Response, ApiError> {
    let language = Lang::parse(&req.language).ok_or_else(|| InvalidInput::new("language", "must be nb, nn or en"))?;
    app.set_language(&caller.username, language).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
