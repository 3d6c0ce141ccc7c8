//! What every Lambda `main` calls: typed configuration from the environment, clients and keys
//! built once per cold start, then the function's router on the Lambda runtime.
//!
//! Environment (`infra/` sets exactly these):
//! - `PORTAL_STORE`: `dynamodb` (default) with `PORTAL_TABLE`, or `sqlite` with `PORTAL_SQLITE_PATH`
//! - `PORTAL_SMS`: `sns` (default; optional `PORTAL_SMS_SENDER_ID`, 1–11 letters/digits) or `outbox`
//! - keys: one Secrets Manager secret (id or ARN) per purpose the function needs, and no
//!   other ([`FUNCTION_KEYS`], `portal_core::security::key_parts`): `PORTAL_TOKEN_SIGNING_SECRET_ID`,
//!   `PORTAL_TOKEN_VERIFYING_SECRET_ID`, `PORTAL_CODE_PEPPER_SECRET_ID`,
//!   `PORTAL_TOTP_KEY_SECRET_ID`, `PORTAL_BUYPASS_CLIENT_KEY_SECRET_ID`,
//!   `PORTAL_ORIGIN_VERIFY_SECRET_ID` (the CloudFront origin header, `portal_http::origin`;
//!   not required with a key file, which is local only). A function given the
//!   secret of a purpose it does not need refuses to start (it must not hold that key), as
//!   does one missing a secret it needs. Alternatively (tests, a local run) `PORTAL_KEYS_FILE`,
//!   a local `keys.json` from which the function keeps only its own parts.
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
//!   `BUYPASS_CA_BUNDLE_FILE` or `BUYPASS_CA_BUNDLE` (see `crate::buypass`); the client
//!   key is the `PORTAL_BUYPASS_CLIENT_KEY_SECRET_ID` secret.
//! - `serial-activation`: `PORTAL_GATEWAY_EVENTS` (`sns`/`local`), `PORTAL_GATEWAY_TOPIC_ARN`,
//!   `PORTAL_GATEWAY_AUTH` (`iam`/`key`), `PORTAL_GATEWAY_KEY` (see `crate::serial_activation`).

use std::sync::Arc;

use portal_core::app::{App, AppParts, SharedApp};
use portal_core::clock::{Clock, SystemClock};
pub use portal_core::config::ConfigError;
pub use portal_core::deployment::{Deployment, KeysConfig, Role, SmsConfig, StoreConfig};
use portal_core::security::key_parts::{KeyParts, KeyPurpose, TotpPart};
use portal_core::security::keys::KeyMaterial;
use portal_core::security::passwords::HashParams;
use portal_core::security::secrets_manager::load_key_parts;
use portal_http::routes::Function;

/// The key purposes each function loads at cold start, derived from its routes: sms-code
/// opens and refreshes sessions (mints access tokens) and checks codes and authenticator
/// apps; account checks bearer tokens (public keys only), sends phone-change codes and enrols
/// authenticator apps; login sends login and reset codes (no bearer routes, mints nothing);
/// buypass checks bearer tokens and signs Buypass client assertions; serial-activation has
/// no bearer route and no codes. infra/checks/check_contract.py reads this table: each
/// function's Terraform environment and role may name exactly these secrets.
///
/// Every function behind CloudFront also loads the origin secret (`portal_http::origin`);
/// serial-activation's only route is IAM-authorised and called at the API directly.
pub const FUNCTION_KEYS: &[(Function, &[KeyPurpose])] = &[
    // The TOTP key: a password reset of an account with an authenticator app checks its code.
    (
        Function::Login,
        &[KeyPurpose::CodePepper, KeyPurpose::TotpKey, KeyPurpose::OriginVerify],
    ),
    (
        Function::SmsCode,
        &[
            KeyPurpose::TokenSigning,
            KeyPurpose::CodePepper,
            KeyPurpose::TotpKey,
            KeyPurpose::OriginVerify,
        ],
    ),
    (
        Function::Account,
        &[
            KeyPurpose::TokenVerifying,
            KeyPurpose::CodePepper,
            KeyPurpose::TotpKey,
            KeyPurpose::OriginVerify,
        ],
    ),
    (
        Function::Buypass,
        &[
            KeyPurpose::TokenVerifying,
            KeyPurpose::BuypassClientKey,
            KeyPurpose::OriginVerify,
        ],
    ),
    (Function::SerialActivation, &[]),
];

/// The key purposes `function` loads.
pub fn keys_of(function: Function) -> &'static [KeyPurpose] {
    FUNCTION_KEYS
        .iter()
        .find(|(f, _)| *f == function)
        .map(|(_, purposes)| *purposes)
        .unwrap_or(&[])
}

/// A function's configuration: the shared tree ([`Deployment`]) read in the function's role,
/// which gives it no local defaults.
#[derive(Debug, Clone)]
pub struct LambdaConfig {
    pub function: Function,
    pub deployment: Deployment,
}

impl std::ops::Deref for LambdaConfig {
    type Target = Deployment;
    fn deref(&self) -> &Deployment {
        &self.deployment
    }
}

/// The functions that never open authenticator-app secrets but must know whether an account
/// has an app: the Buypass start asks such accounts for a step-up (issue 17). login (app codes
/// in a password reset), sms-code and account hold the key (and refuse to start without it).
fn knows_totp_without_its_key(function: Function) -> bool {
    matches!(function, Function::Buypass)
}

impl LambdaConfig {
    pub fn from_env(function: Function) -> Result<Self, ConfigError> {
        Self::from_lookup(function, portal_core::deployment::env_lookup)
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests): the
    /// shared tree in this function's role, holding exactly its own key purposes.
    pub fn from_lookup(function: Function, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let role = Role::Function {
            name: function.name(),
            keys: keys_of(function),
        };
        Ok(Self {
            function,
            deployment: Deployment::from_lookup(role, lookup)?,
        })
    }

    /// Loads exactly the key parts this function needs.
    async fn load_keys(&self, sdk: Option<&aws_config::SdkConfig>) -> Result<KeyParts, ConfigError> {
        let needs = keys_of(self.function);
        let mut parts = match &self.keys {
            KeysConfig::File { path } => {
                let raw =
                    std::fs::read_to_string(path).map_err(|e| ConfigError::Init(format!("{}: {e}", path.display())))?;
                let material = KeyMaterial::from_json(&raw).map_err(|e| ConfigError::Init(e.to_string()))?;
                KeyParts::from_material(&material)
                    .map_err(|e| ConfigError::Init(e.to_string()))?
                    .only(needs)
            }
            KeysConfig::DataDir { .. } => {
                return Err(ConfigError::Init("a function reads no data dir".into()));
            }
            KeysConfig::SecretsManager { secrets } if secrets.is_empty() => KeyParts::default(),
            KeysConfig::SecretsManager { secrets } => {
                let sdk = sdk.ok_or_else(|| ConfigError::Init("no AWS configuration".into()))?;
                let client = aws_sdk_secretsmanager::Client::new(sdk);
                load_key_parts(&client, secrets)
                    .await
                    .map_err(|e| ConfigError::Init(e.to_string()))?
            }
        };
        let held = parts.held();
        // A key file is the local alternative: no CloudFront in front, no origin secret.
        let local = matches!(self.keys, KeysConfig::File { .. });
        if let Some(missing) = needs
            .iter()
            .find(|p| !(held.contains(p) || local && **p == KeyPurpose::OriginVerify))
        {
            return Err(ConfigError::Init(format!(
                "the {} function needs the {} key ({}), which its key source lacks",
                self.function.name(),
                missing.name(),
                missing.env_var()
            )));
        }
        if knows_totp_without_its_key(self.function) {
            parts.totp = TotpPart::HeldByOtherFunctions;
        }
        Ok(parts)
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
        let sdk = self.deployment.sdk_config().await;
        let store = self.deployment.open_store(sdk.as_ref())?;
        let sms = self
            .deployment
            .open_sms(store.clone(), clock.clone(), sdk.as_ref(), false)?;
        let keys = self.load_keys(sdk.as_ref()).await?;
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
    /// The key parts this function loaded (only its own purposes).
    pub keys: KeyParts,
    /// Present when any backend is an AWS service.
    pub sdk: Option<aws_config::SdkConfig>,
}

impl BuiltFunction {
    /// The SDK configuration (with the portal's timeouts), loading it if no backend needed it.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        match &self.sdk {
            Some(sdk) => sdk.clone(),
            None => portal_core::aws::load_sdk_config().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portal_core::config::Policy;
    use std::collections::HashMap;

    fn deployment() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("PORTAL_TABLE", "hjemmekontor-portal"),
            ("PORTAL_CODE_PEPPER_SECRET_ID", "portal/code-pepper"),
            ("PORTAL_TOTP_KEY_SECRET_ID", "portal/totp-key"),
            ("PORTAL_ORIGIN_VERIFY_SECRET_ID", "portal/origin-verify"),
            ("PORTAL_TOKEN_ISSUER", "https://api.example.test"),
            ("PORTAL_TOKEN_AUDIENCE", "hjemmekontor-portal"),
            ("PORTAL_URL", "https://portal.example.test/"),
        ])
    }

    fn read(env: &HashMap<&'static str, &'static str>) -> Result<LambdaConfig, ConfigError> {
        read_for(Function::Login, env)
    }

    fn read_for(function: Function, env: &HashMap<&'static str, &'static str>) -> Result<LambdaConfig, ConfigError> {
        LambdaConfig::from_lookup(function, |name| env.get(name).map(|v| (*v).to_owned()))
    }

    /// The deployment environment of `function` with exactly its own key secrets.
    fn deployment_of(function: Function) -> HashMap<&'static str, &'static str> {
        let mut env = deployment();
        for purpose in KeyPurpose::ALL {
            env.remove(purpose.env_var());
        }
        for purpose in keys_of(function) {
            env.insert(purpose.env_var(), purpose.name());
        }
        env
    }

    #[test]
    fn each_function_reads_exactly_its_own_secrets() {
        for function in Function::ALL {
            let config = read_for(function, &deployment_of(function)).unwrap();
            let KeysConfig::SecretsManager { secrets } = config.deployment.keys else {
                panic!("{function:?}: expected secrets");
            };
            let purposes: Vec<KeyPurpose> = secrets.iter().map(|(p, _)| *p).collect();
            assert_eq!(purposes, keys_of(function), "{function:?}");
        }
        assert_eq!(keys_of(Function::SerialActivation), &[] as &[KeyPurpose]);
    }

    /// A function serving signed-in users that did not know about authenticator apps would
    /// skip their step-up (the guard would see an SMS-only account).
    #[test]
    fn every_function_serving_users_knows_whether_an_account_has_an_app() {
        for function in Function::ALL {
            let holds_key = keys_of(function).contains(&KeyPurpose::TotpKey);
            let serves_users = function != Function::SerialActivation;
            assert_eq!(
                holds_key || knows_totp_without_its_key(function),
                serves_users,
                "{function:?}"
            );
        }
    }

    #[test]
    fn only_sms_code_may_be_given_the_token_signing_secret() {
        for function in Function::ALL {
            let mut env = deployment_of(function);
            env.insert("PORTAL_TOKEN_SIGNING_SECRET_ID", "portal/token-signing");
            let result = read_for(function, &env);
            if function == Function::SmsCode {
                assert!(result.is_ok(), "{result:?}");
                continue;
            }
            match result {
                Err(ConfigError::Invalid(name, why)) => {
                    assert_eq!(name, "PORTAL_TOKEN_SIGNING_SECRET_ID");
                    assert!(why.contains("must not hold this key"), "{why}");
                }
                other => panic!("{function:?} accepted the signing secret: {other:?}"),
            }
        }
    }

    #[test]
    fn the_buypass_function_refuses_the_signing_secret_and_needs_its_client_key() {
        let mut env = deployment_of(Function::Buypass);
        env.insert("PORTAL_TOKEN_SIGNING_SECRET_ID", "portal/token-signing");
        assert!(matches!(
            read_for(Function::Buypass, &env),
            Err(ConfigError::Invalid("PORTAL_TOKEN_SIGNING_SECRET_ID", _))
        ));
        let mut env = deployment_of(Function::Buypass);
        env.remove("PORTAL_BUYPASS_CLIENT_KEY_SECRET_ID");
        assert!(matches!(
            read_for(Function::Buypass, &env),
            Err(ConfigError::Missing("PORTAL_BUYPASS_CLIENT_KEY_SECRET_ID"))
        ));
    }

    #[test]
    fn the_old_single_key_secret_is_refused_with_a_pointer_to_the_split() {
        let mut env = deployment();
        env.insert("PORTAL_KEYS_SECRET_ID", "portal-keys");
        match read(&env) {
            Err(ConfigError::Invalid("PORTAL_KEYS_SECRET_ID", why)) => assert!(why.contains("per purpose"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn from_a_key_file_a_function_keeps_only_its_own_parts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let mut material = KeyMaterial::generate().unwrap();
        material.extra.insert(
            portal_core::buypass::keys::CLIENT_KEY_NAME.into(),
            portal_core::buypass::keys::Es256Key::generate().unwrap().encoded(),
        );
        std::fs::write(&path, material.to_json()).unwrap();
        let path_str: &'static str = Box::leak(path.display().to_string().into_boxed_str());
        for function in Function::ALL {
            let mut env = deployment();
            for purpose in KeyPurpose::ALL {
                env.remove(purpose.env_var());
            }
            env.insert("PORTAL_KEYS_FILE", path_str);
            env.insert("PORTAL_STORE", "sqlite");
            env.insert("PORTAL_SQLITE_PATH", ":memory:");
            env.insert("PORTAL_SMS", "outbox");
            let config = read_for(function, &env).unwrap();
            let parts = config.load_keys(None).await.unwrap();
            let expected: Vec<KeyPurpose> = keys_of(function)
                .iter()
                .copied()
                .filter(|p| *p != KeyPurpose::OriginVerify)
                .collect();
            assert_eq!(parts.held(), expected, "{function:?}");
        }
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
