//! Key material from AWS Secrets Manager: one secret holding the same JSON document as the
//! local key file, read once at cold start.

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::Client;

use super::keys::{KeyError, KeyMaterial};

pub async fn load_key_material(client: &Client, secret_id: &str) -> Result<KeyMaterial, KeyError> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            // Only the code: messages are not needed to act and this ends up in logs.
            let reason = match &e {
                SdkError::ServiceError(s) => s.err().code().unwrap_or("unknown").to_owned(),
                SdkError::TimeoutError(_) => "timed out".into(),
                SdkError::DispatchFailure(_) => "could not reach Secrets Manager".into(),
                _ => "unreadable response".into(),
            };
            KeyError::Unreadable(format!("secret {secret_id}: {reason}"))
        })?;
    let raw = output
        .secret_string()
        .ok_or_else(|| KeyError::Invalid(format!("secret {secret_id} has no string value")))?;
    KeyMaterial::from_json(raw)
}
