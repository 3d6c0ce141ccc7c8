//! What every Lambda `main` calls: typed configuration from the environment, clients and keys
//! built once per cold start, then the function's router on the Lambda runtime.
//!
//! Environment:
//! - `PORTAL_STORE`: `dynamodb` (default) with `PORTAL_TABLE`, or `sqlite` with `PORTAL_SQLITE_PATH`
//! - `PORTAL_SMS`: `sns` (default, `PORTAL_SMS_SENDER_ID`) or `outbox`
//! - `PORTAL_KEYS_SECRET_ID` (Secrets Manager) or `PORTAL_KEYS_FILE`
//! - `PORTAL_TOKEN_ISSUER`, `PORTAL_TOKEN_AUDIENCE`, `PORTAL_URL`

use std::path::PathBuf;
use std::sync::Arc;

use crate::app::{App, AppParts, SharedApp};
use crate::clock::{Clock, SystemClock};
use crate::config::{Policy, Settings};
use crate::routes::{function_router, Function};
use crate::security::keys::KeyMaterial;
use crate::security::passwords::HashParams;
use crate::sms::outbox::OutboxSms;
use crate::sms::SmsSender;
use crate::store::sqlite::SqliteStore;
use crate::store::ItemStore;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    DynamoDb { table: String },
    Sqlite { path: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsConfig {
    Sns { sender_id: Option<String> },
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

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    var(name).ok_or(ConfigError::Missing(name))
}

impl LambdaConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
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
                sender_id: var("PORTAL_SMS_SENDER_ID"),
            },
            "outbox" => SmsConfig::Outbox,
            other => return Err(ConfigError::Invalid("PORTAL_SMS", other.into())),
        };
        let keys = match (var("PORTAL_KEYS_SECRET_ID"), var("PORTAL_KEYS_FILE")) {
            (Some(secret_id), _) => KeysConfig::SecretsManager { secret_id },
            (None, Some(path)) => KeysConfig::File { path: path.into() },
            (None, None) => return Err(ConfigError::Missing("PORTAL_KEYS_SECRET_ID")),
        };
        Ok(Self {
            store,
            sms,
            keys,
            settings: Settings::from_env(),
        })
    }

    /// Builds the app: every client and key, once.
    pub async fn build(&self) -> Result<SharedApp, ConfigError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store: Arc<dyn ItemStore> = match &self.store {
            StoreConfig::Sqlite { path } => {
                Arc::new(SqliteStore::open(path).map_err(|e| ConfigError::Init(e.to_string()))?)
            }
            StoreConfig::DynamoDb { .. } => {
                return Err(ConfigError::Init(
                    "the DynamoDB backend is not built into this binary yet".into(),
                ))
            }
        };
        let sms: Arc<dyn SmsSender> = match &self.sms {
            SmsConfig::Outbox => Arc::new(OutboxSms::new(store.clone(), clock.clone(), false)),
            SmsConfig::Sns { .. } => {
                return Err(ConfigError::Init(
                    "the SNS sender is not built into this binary yet".into(),
                ))
            }
        };
        let keys = match &self.keys {
            KeysConfig::File { path } => {
                let raw =
                    std::fs::read_to_string(path).map_err(|e| ConfigError::Init(format!("{}: {e}", path.display())))?;
                KeyMaterial::from_json(&raw).map_err(|e| ConfigError::Init(e.to_string()))?
            }
            KeysConfig::SecretsManager { .. } => {
                return Err(ConfigError::Init(
                    "Secrets Manager keys are not built into this binary yet".into(),
                ))
            }
        };
        App::build(AppParts {
            store,
            sms,
            clock,
            keys,
            settings: self.settings.clone(),
            policy: Policy::default(),
            hash_params: HashParams::PRODUCTION,
        })
        .map_err(|e| ConfigError::Init(e.to_string()))
    }
}

/// The whole `main` of an HTTP function.
pub async fn run_http_function(function: Function) -> Result<(), lambda_http::Error> {
    crate::observability::init_json_logs();
    let config = LambdaConfig::from_env()?;
    let app = config.build().await?;
    tracing::info!(function = function.name(), "initialised");
    lambda_http::run(function_router(function, app)).await
}
