//! The bearer-token extractors: a handler that takes one only runs for a live session.
//!
//! [`Authenticated`] is what every account route takes. It also refuses sessions of accounts
//! that must change their password first (generated initial password, operator reset), so a
//! route added later is covered without doing anything. Only the password change itself and
//! logout take [`AuthenticatedEvenIfPasswordChangeRequired`].

use portal_core::error::ServiceError;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use crate::error::ApiError;
use portal_core::app::App;
use portal_core::services::sessions::Caller;

/// A live session whose account has no pending password change.
pub struct Authenticated(pub Caller);

/// A live session, whether or not its account must change its password.
pub struct AuthenticatedEvenIfPasswordChangeRequired(pub Caller);

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or(ApiError::from(ServiceError::Unauthenticated))
}

// Generic over the router state so routes whose state holds more than the app (the Buypass
// routes' `BuypassState`) authenticate the same way.
impl<S: Send + Sync> FromRequestParts<S> for AuthenticatedEvenIfPasswordChangeRequired
where
    Arc<App>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = Arc::<App>::from_ref(state);
        Ok(app.authenticate(bearer(parts)?).await.map(Self)?)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Authenticated
where
    Arc<App>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = Arc::<App>::from_ref(state);
        let caller = app.authenticate(bearer(parts)?).await?;
        if caller.password_change_required {
            return Err(ServiceError::PasswordChangeRequired.into());
        }
        Ok(Self(caller))
    }
}
