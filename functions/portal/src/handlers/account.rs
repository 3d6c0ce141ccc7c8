//! `/v1/account`: the account page.

use axum::extract::State;
use axum::response::Response;
use axum::Json;

use super::auth::no_store;
use crate::app::SharedApp;
use crate::error::ApiError;
use crate::http::auth::Authenticated;

pub async fn get_account(
    State(app): State<SharedApp>,
    Authenticated(caller): Authenticated,
) -> Result<Response, ApiError> {
    let view = app.account_view(&caller.username).await?;
    Ok(no_store(Json(view)))
}
