//! Step-up (issue 17): `/v1/account/step-up/options` and `/v1/account/step-up`, a fresh second
//! factor for the session before the sensitive changes (`portal_core::services::step_up`).

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::PublicKeyCredential;

use super::auth::no_store;
use crate::auth::AuthenticatedEvenIfPasswordChangeRequired as MayStepUp;
use crate::error::ApiError;
use crate::extract::{ClientIp, JsonBody};
use portal_core::app::SharedApp;
use portal_core::clock::rfc3339;
use portal_core::domain::{ChallengeId, InvalidInput, OneTimeCode, RecoveryCode};
use portal_core::services::step_up::StepUpAnswer;

/// `{totp_code}`, `{recovery_code}` or `{challenge_id, credential}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepUpRequest {
    #[serde(default)]
    pub totp_code: Option<String>,
    #[serde(default)]
    pub recovery_code: Option<String>,
    #[serde(default)]
    pub challenge_id: Option<ChallengeId>,
    /// The browser's `PublicKeyCredential` from `navigator.credentials.get`, as JSON.
    #[serde(default)]
    pub credential: Option<PublicKeyCredential>,
}

// Both routes take a session that must change its password first: the change needs a fresh
// second factor on an account with an app or passkey, and proving one changes nothing else.

/// `POST /v1/account/step-up/options`
pub async fn options(State(app): State<SharedApp>, MayStepUp(caller): MayStepUp) -> Result<Response, ApiError> {
    let options = app.step_up_options(&caller).await?;
    Ok(no_store(Json(options)))
}

/// `POST /v1/account/step-up`
pub async fn step_up(
    State(app): State<SharedApp>,
    ip: ClientIp,
    MayStepUp(caller): MayStepUp,
    JsonBody(req): JsonBody<StepUpRequest>,
) -> Result<Response, ApiError> {
    let (app_code, recovery_code);
    let answer = match (req.totp_code, req.recovery_code, &req.challenge_id, &req.credential) {
        (Some(raw), None, None, None) => {
            app_code = OneTimeCode::parse(&raw)?;
            StepUpAnswer::Totp(&app_code)
        }
        (None, Some(raw), None, None) => {
            recovery_code = RecoveryCode::parse(&raw)?;
            StepUpAnswer::RecoveryCode(&recovery_code)
        }
        (None, None, Some(challenge_id), Some(credential)) => StepUpAnswer::Passkey {
            challenge_id,
            credential,
        },
        _ => {
            return Err(InvalidInput::new(
                "totp_code",
                "give one of totp_code, recovery_code, or challenge_id and credential",
            )
            .into())
        }
    };
    let valid_until = app.step_up(&caller, answer, ip.as_deref()).await?;
    Ok(no_store(Json(
        json!({ "second_factor_valid_until": rfc3339(valid_until) }),
    )))
}
