//! Key material from AWS Secrets Manager: one secret per purpose
//! ([`crate::security::key_parts`]), read once at cold start, all at the same time.

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::Client;

use super::key_parts::{KeyParts, KeyPurpose};
use super::keys::KeyError;

/// The value of one secret.
pub async fn secret_string(client: &Client, secret_id: &str) -> Result<String, KeyError> {
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
    output
        .secret_string()
        .map(str::to_owned)
        .ok_or_else(|| KeyError::Invalid(format!("secret {secret_id} has no string value")))
}

/// Reads the secrets of `secrets` concurrently (a cold start waits for the slowest one, not
/// for their sum) and builds the key parts from them.
pub async fn load_key_parts(client: &Client, secrets: &[(KeyPurpose, String)]) -> Result<KeyParts, KeyError> {
    let mut tasks = tokio::task::JoinSet::new();
    for (purpose, secret_id) in secrets {
        let (client, purpose, secret_id) = (client.clone(), *purpose, secret_id.clone());
        tasks.spawn(async move {
            let value = secret_string(&client, &secret_id).await;
            (purpose, secret_id, value)
        });
    }
    let mut parts = KeyParts::default();
    while let Some(joined) = tasks.join_next().await {
        let (purpose, secret_id, value) =
            joined.map_err(|e| KeyError::Unreadable(format!("secret loading stopped: {e}")))?;
        parts
            .add_document(purpose, &value?)
            .map_err(|e| KeyError::Invalid(format!("secret {secret_id} ({}): {e}", purpose.env_var())))?;
    }
    Ok(parts)
}
