//! What every Lambda `main` calls: typed configuration from the environment, clients and keys
//! built once per cold start, then the function's router on the Lambda runtime.
//!
//! Environment (`infra/` sets exactly these):
//! - `PORTAL_STORE`: `dynamodb` (default) with `PORTAL_TABLE`, or `sqlite` with `PORTAL_SQLITE_PATH`
//! - `PORTAL_SMS`: `sns` (default; optional `PORTAL_SMS_SENDER_ID`, 1–11 letters/digits) or `outbox`
//! - keys: `PORTAL_KEYS_SECRET_ID` (Secrets Manager secret id or ARN) or `PORTAL_KEYS_FILE`
//! - required, with no default: `PORTAL_TOKEN_ISSUER` (`iss` of access tokens),
//!   `PORTAL_TOKEN_AUDIENCE` (`aud`), `PORTAL_URL` (the portal front end's origin: CORS and
//!   the Buypass callback's redirects). A function without one of them does not start.
//! - optional: `PORTAL_RESET_SMS_PER_HOUR`, forgot-password SMS of all accounts together per
//!   hour (default [`Policy::default`]'s `reset_sms_global_per_hour`)
//! - the standard AWS variables (`AWS_REGION`, credentials; `AWS_ENDPOINT_URL` for LocalStack
//!   or moto) and the Lambda runtime's own (`AWS_LAMBDA_RUNTIME_API`, …)
//!
//! A configuration or start-up failure is reported to the Runtime API's `/runtime/init/error`
//! (so it shows as `Runtime.InitError` with its reason) before the process exits.
//!
//! Function-specific variables:
//! - `buypass`: `BUYPASS_ISSUER_URL`, `BUYPASS_CLIENT_ID`, `BUYPASS_REDIRECT_URI`,
//!   `BUYPASS_CA_BUNDLE_FILE` or `BUYPASS_CA_BUNDLE` (see `crate::buypass::config`); the client
//!   key is `buypass_client_key` in the key material.
//! - `serial-activation`: `PORTAL_GATEWAY_EVENTS` (`sns`/`local`), `PORTAL_GATEWAY_TOPIC_ARN`,
//!   `PORTAL_GATEWAY_AUTH` (`iam`/`key`), `PORTAL_GATEWAY_KEY` (see `crate::activation::config`).

use std::path::PathBuf;
use std::sync::Arc;

use crate::app::{App, AppParts, SharedApp};
use crate::clock::{Clock, SystemClock};
use crate::config::{Policy, Settings};
use crate::routes::{with_common_layers, Function};
use crate::security::keys::KeyMaterial;
use crate::security::passwords::HashParams;
use crate::security::secrets_manager::load_key_material;
use crate::sms::outbox::OutboxSms;
use crate::sms::sns::{SenderId, SnsSms};
use crate::sms::SmsSender;
use crate::store::dynamodb::DynamoStore;
use crate::store::sqlite::SqliteStore;
use crate::store::ItemStore;
use axum::Router;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    DynamoDb { table: String },
    Sqlite { path: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsConfig {
    Sns { sender_id: Option<SenderId> },
    Outbox,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeysConfig {
    SecretsManager { secret_id: String },
    File { path: PathBuf },
}

#[derive(Debug, Clone)]
pub struct LambdaConfig {
    pub store: StoreConfig,
    pub sms: SmsConfig,
    pub keys: KeysConfig,
    pub settings: Settings,
    pub policy: Policy,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {0} has an invalid value: {1}")]
    Invalid(&'static str, String),
    #[error("could not initialise: {0}")]
    Init(String),
}

impl LambdaConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests). Empty
    /// values count as unset. Unlike `portal-local`, a function has no local defaults for the
    /// deployment settings: each one it lacks is a start-up error naming the variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| var(name).ok_or(ConfigError::Missing(name));
        let store = match var("PORTAL_STORE").as_deref().unwrap_or("dynamodb") {
            "dynamodb" => StoreConfig::DynamoDb {
                table: required("PORTAL_TABLE")?,
            },
            "sqlite" => StoreConfig::Sqlite {
                path: required("PORTAL_SQLITE_PATH")?.into(),
            },
            other => return Err(ConfigError::Invalid("PORTAL_STORE", other.into())),
        };
        let sms = match var("PORTAL_SMS").as_deref().unwrap_or("sns") {
            "sns" => SmsConfig::Sns {
                sender_id: var("PORTAL_SMS_SENDER_ID")
                    .map(|raw| SenderId::parse(&raw).map_err(|e| ConfigError::Invalid("PORTAL_SMS_SENDER_ID", e)))
                    .transpose()?,
            },
            "outbox" => SmsConfig::Outbox,
            other => return Err(ConfigError::Invalid("PORTAL_SMS", other.into())),
        };
        let keys = match (var("PORTAL_KEYS_SECRET_ID"), var("PORTAL_KEYS_FILE")) {
            (Some(secret_id), _) => KeysConfig::SecretsManager { secret_id },
            (None, Some(path)) => KeysConfig::File { path: path.into() },
            (None, None) => return Err(ConfigError::Missing("PORTAL_KEYS_SECRET_ID")),
        };
        let settings = Settings {
            token_issuer: required("PORTAL_TOKEN_ISSUER")?,
            token_audience: required("PORTAL_TOKEN_AUDIENCE")?,
            portal_url: required("PORTAL_URL")?.trim_end_matches('/').to_owned(),
            ..Settings::default()
        };
        let mut policy = Policy::default();
        if let Some(raw) = var("PORTAL_RESET_SMS_PER_HOUR") {
            policy.reset_sms_global_per_hour = raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ConfigError::Invalid("PORTAL_RESET_SMS_PER_HOUR", raw))?;
        }
        Ok(Self {
            store,
            sms,
            keys,
            settings,
            policy,
        })
    }

    fn needs_aws(&self) -> bool {
        matches!(self.store, StoreConfig::DynamoDb { .. })
            || matches!(self.sms, SmsConfig::Sns { .. })
            || matches!(self.keys, KeysConfig::SecretsManager { .. })
    }

    /// Builds the app: the SDK configuration, every client and the keys, once.
    pub async fn build(&self) -> Result<SharedApp, ConfigError> {
        Ok(self.build_parts().await?.app)
    }

    /// Like [`Self::build`], also handing back the key material and the SDK configuration
    /// for functions that build further clients (Buypass client key, gateway topic), so
    /// nothing is loaded twice.
    pub async fn build_parts(&self) -> Result<BuiltFunction, ConfigError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let sdk = if self.needs_aws() {
            Some(crate::aws::load_sdk_config().await)
        } else {
            None
        };
        let sdk_for = || {
            sdk.as_ref()
                .ok_or_else(|| ConfigError::Init("no AWS configuration".into()))
        };
        let store: Arc<dyn ItemStore> = match &self.store {
            StoreConfig::Sqlite { path } => {
                Arc::new(SqliteStore::open(path).map_err(|e| ConfigError::Init(e.to_string()))?)
            }
            StoreConfig::DynamoDb { table } => Arc::new(DynamoStore::new(
                aws_sdk_dynamodb::Client::new(sdk_for()?),
                table.clone(),
            )),
        };
        let sms: Arc<dyn SmsSender> = match &self.sms {
            SmsConfig::Outbox => Arc::new(OutboxSms::new(store.clone(), clock.clone(), false)),
            SmsConfig::Sns { sender_id } => {
                Arc::new(SnsSms::new(aws_sdk_sns::Client::new(sdk_for()?), sender_id.clone()))
            }
        };
        let keys = match &self.keys {
            KeysConfig::File { path } => {
                let raw =
                    std::fs::read_to_string(path).map_err(|e| ConfigError::Init(format!("{}: {e}", path.display())))?;
                KeyMaterial::from_json(&raw).map_err(|e| ConfigError::Init(e.to_string()))?
            }
            KeysConfig::SecretsManager { secret_id } => {
                let client = aws_sdk_secretsmanager::Client::new(sdk_for()?);
                load_key_material(&client, secret_id)
                    .await
                    .map_err(|e| ConfigError::Init(e.to_string()))?
            }
        };
        let app = App::build(AppParts {
            store,
            sms,
            clock,
            keys: keys.clone(),
            settings: self.settings.clone(),
            policy: self.policy.clone(),
            hash_params: HashParams::PRODUCTION,
        })
        .map_err(|e| ConfigError::Init(e.to_string()))?;
        Ok(BuiltFunction { app, keys, sdk })
    }
}

/// Everything a function's cold start built.
pub struct BuiltFunction {
    pub app: SharedApp,
    pub keys: KeyMaterial,
    /// Present when any backend is an AWS service.
    pub sdk: Option<aws_config::SdkConfig>,
}

impl BuiltFunction {
    /// The SDK configuration (with the portal's timeouts), loading it if no backend needed it.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        match &self.sdk {
            Some(sdk) => sdk.clone(),
            None => crate::aws::load_sdk_config().await,
        }
    }
}

/// The whole `main` of an HTTP function. `routes` is the function's own route table (such as
/// [`crate::routes::login_routes`]), passed as a function item so only its handlers are linked.
pub async fn run_http_function<R>(function: Function, routes: R) -> Result<(), lambda_http::Error>
where
    R: FnOnce() -> Router<SharedApp>,
{
    crate::observability::init_json_logs();
    let app = match LambdaConfig::from_env() {
        Ok(config) => config.build().await,
        Err(e) => Err(e),
    };
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(function = function.name(), error = %e, "initialisation failed");
            report_init_error(&e).await;
            return Err(e.into());
        }
    };
    tracing::info!(function = function.name(), "initialised");
    lambda_http::run(with_common_layers(routes().with_state(app))).await
}

/// Tells the Lambda service why this instance cannot start, so the reason shows in the
/// invocation error rather than a bare "Runtime exited". Best effort: the process exits anyway.
async fn report_init_error(error: &ConfigError) {
    let body = serde_json::json!({
        "errorType": "ConfigError",
        "errorMessage": error.to_string(),
    });
    let request = lambda_runtime_api_client::build_request()
        .method(http::Method::POST)
        .uri("/2018-06-01/runtime/init/error")
        .header("lambda-runtime-function-error-type", "Runtime.InitError")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(lambda_runtime_api_client::body::Body::from(body.to_string()));
    let (Ok(client), Ok(request)) = (lambda_runtime_api_client::Client::builder().build(), request) else {
        return;
    };
    if let Err(e) = client.call(request).await {
        tracing::warn!(error = %e, "could not report the initialisation error to the runtime API");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn deployment() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("PORTAL_TABLE", "hjemmekontor-portal"),
            ("PORTAL_KEYS_SECRET_ID", "portal-keys"),
            ("PORTAL_TOKEN_ISSUER", "https://api.example.test"),
            ("PORTAL_TOKEN_AUDIENCE", "hjemmekontor-portal"),
            ("PORTAL_URL", "https://portal.example.test/"),
        ])
    }

    fn read(env: &HashMap<&'static str, &'static str>) -> Result<LambdaConfig, ConfigError> {
        LambdaConfig::from_lookup(|name| env.get(name).map(|v| (*v).to_owned()))
    }

    #[test]
    fn deployment_settings_come_from_the_environment() {
        let config = read(&deployment()).unwrap();
        assert_eq!(config.settings.token_issuer, "https://api.example.test");
        assert_eq!(config.settings.token_audience, "hjemmekontor-portal");
        assert_eq!(config.settings.portal_url, "https://portal.example.test");
    }

    #[test]
    fn a_function_without_issuer_audience_or_portal_url_does_not_start_on_local_defaults() {
        for name in ["PORTAL_TOKEN_ISSUER", "PORTAL_TOKEN_AUDIENCE", "PORTAL_URL"] {
            for value in [None, Some(" ")] {
                let mut env = deployment();
                match value {
                    None => env.remove(name),
                    Some(v) => env.insert(name, v),
                };
                match read(&env) {
                    Err(ConfigError::Missing(missing)) => assert_eq!(missing, name),
                    other => panic!("{name} = {value:?}: expected Missing, got {other:?}"),
                }
            }
        }
    }

    #[test]
    fn the_global_reset_sms_budget_is_configurable_and_must_be_a_positive_number() {
        assert_eq!(
            read(&deployment()).unwrap().policy.reset_sms_global_per_hour,
            Policy::default().reset_sms_global_per_hour
        );
        let mut env = deployment();
        env.insert("PORTAL_RESET_SMS_PER_HOUR", "120");
        assert_eq!(read(&env).unwrap().policy.reset_sms_global_per_hour, 120);
        for bad in ["0", "-3", "many"] {
            env.insert("PORTAL_RESET_SMS_PER_HOUR", bad);
            assert!(
                matches!(read(&env), Err(ConfigError::Invalid("PORTAL_RESET_SMS_PER_HOUR", _))),
                "{bad}"
            );
        }
    }
}
