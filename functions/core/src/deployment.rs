//! The one configuration tree: where records are kept, where SMS go, where keys come from, the
//! deployment settings and the policy, read once from `PORTAL_*` variables by every entrypoint
//! (the Lambda functions, `portal-local`, `portal-admin`, the test fixture). Command-line flags
//! of the local tools are layered over the environment ([`overlay`]) and read by the same
//! parser, so each variable has one meaning and one error message.
//!
//! Variables (empty values count as unset):
//! - `PORTAL_STORE`: `dynamodb` with `PORTAL_TABLE`, or `sqlite` with `PORTAL_SQLITE_PATH`
//! - `PORTAL_SMS`: `sns` (optional `PORTAL_SMS_SENDER_ID`, 1–11 letters/digits) or `outbox`
//! - keys: a function reads one Secrets Manager secret per key purpose it needs
//!   (`PORTAL_*_SECRET_ID`) or `PORTAL_KEYS_FILE`; the local tools use the data dir's key file
//! - `PORTAL_TOKEN_ISSUER`, `PORTAL_TOKEN_AUDIENCE`, `PORTAL_URL`
//! - `PORTAL_RESET_SMS_PER_HOUR`, `PORTAL_SMS_PER_HOUR`, `PORTAL_SMS_PER_DAY` (defaults
//!   [`Policy::default`]; whole numbers above 0)
//!
//! The [`Role`] decides the defaults. A Lambda function has none for the deployment settings:
//! it defaults to DynamoDB and SNS, requires `PORTAL_TABLE`, issuer, audience and URL, and
//! each one it lacks is a start-up error naming the variable. The local tools default to
//! SQLite in the data dir and the outbox; with `dynamodb` the table defaults to
//! [`DEFAULT_TABLE`], the table infra/ creates for the LocalStack stack.

use std::path::PathBuf;
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{ConfigError, Policy, Settings};
use crate::security::key_parts::KeyPurpose;
use crate::sms::outbox::OutboxSms;
use crate::sms::sns::{SenderId, SnsSms};
use crate::sms::SmsSender;
use crate::store::dynamodb::DynamoStore;
use crate::store::sqlite::SqliteStore;
use crate::store::ItemStore;

/// The table of infra/ (`${local.name}-portal`, `local.name = "hjemmekontor-${var.environment}"`)
/// for `environment = "local"` (infra/localstack.tfvars): what `portal-admin init-table` creates
/// and `portal-local --store dynamodb` uses when no table is named. Lambdas are always given
/// theirs by Terraform.
pub const DEFAULT_TABLE: &str = "hjemmekontor-local-portal";

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
    /// One secret per purpose the function needs (none for a function that needs no key).
    SecretsManager { secrets: Vec<(KeyPurpose, String)> },
    /// A `keys.json` of which a function keeps only its own parts.
    File { path: PathBuf },
    /// The local tools' data dir: `keys.json`, created on first start.
    DataDir { dir: PathBuf },
}

/// Who reads the configuration, which decides the defaults.
#[derive(Debug, Clone, Copy)]
pub enum Role<'a> {
    /// A Lambda function (its name for messages) that holds exactly the `keys` purposes.
    Function { name: &'static str, keys: &'a [KeyPurpose] },
    /// `portal-local`, `portal-admin` and the test fixture, on a data dir. `portal_url` is the
    /// default for `PORTAL_URL` (portal-local: its own address).
    Local {
        data_dir: &'a std::path::Path,
        portal_url: Option<&'a str>,
    },
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub store: StoreConfig,
    pub sms: SmsConfig,
    pub keys: KeysConfig,
    pub settings: Settings,
    pub policy: Policy,
}

/// `overrides` (a local tool's command-line flags, by the variable each stands for) over
/// `lookup` (the environment).
pub fn overlay<'a>(
    overrides: &'a [(&'static str, Option<String>)],
    lookup: impl Fn(&str) -> Option<String> + 'a,
) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        overrides
            .iter()
            // An empty flag (`--table ""`) counts as not given, like an empty variable: it
            // must not hide the environment's value behind a default.
            .find(|(n, v)| *n == name && v.as_deref().is_some_and(|v| !v.trim().is_empty()))
            .and_then(|(_, v)| v.clone())
            .or_else(|| lookup(name))
    }
}

/// The environment as a lookup.
pub fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Deployment {
    pub fn from_env(role: Role<'_>) -> Result<Self, ConfigError> {
        Self::from_lookup(role, env_lookup)
    }

    /// Reads the tree through `lookup` (the environment, [`overlay`]s of it, or a map in tests).
    pub fn from_lookup(role: Role<'_>, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| var(name).ok_or(ConfigError::Missing(name));
        let local = match role {
            Role::Local { data_dir, .. } => Some(data_dir),
            Role::Function { .. } => None,
        };
        let store = match var("PORTAL_STORE")
            .as_deref()
            .unwrap_or(if local.is_some() { "sqlite" } else { "dynamodb" })
        {
            "dynamodb" => StoreConfig::DynamoDb {
                table: match local {
                    Some(_) => var("PORTAL_TABLE").unwrap_or_else(|| DEFAULT_TABLE.to_owned()),
                    None => required("PORTAL_TABLE")?,
                },
            },
            "sqlite" => StoreConfig::Sqlite {
                path: match local {
                    Some(dir) => var("PORTAL_SQLITE_PATH").map_or_else(|| dir.join("portal.db"), PathBuf::from),
                    None => required("PORTAL_SQLITE_PATH")?.into(),
                },
            },
            other => return Err(ConfigError::Invalid("PORTAL_STORE", other.into())),
        };
        let sms = match var("PORTAL_SMS")
            .as_deref()
            .unwrap_or(if local.is_some() { "outbox" } else { "sns" })
        {
            "sns" => SmsConfig::Sns {
                sender_id: var("PORTAL_SMS_SENDER_ID")
                    .map(|raw| SenderId::parse(&raw).map_err(|e| ConfigError::Invalid("PORTAL_SMS_SENDER_ID", e)))
                    .transpose()?,
            },
            "outbox" => SmsConfig::Outbox,
            other => return Err(ConfigError::Invalid("PORTAL_SMS", other.into())),
        };
        let (keys, settings) = match role {
            Role::Function { name, keys: needs } => {
                if var("PORTAL_KEYS_SECRET_ID").is_some() {
                    return Err(ConfigError::Invalid(
                        "PORTAL_KEYS_SECRET_ID",
                        "no longer read: the keys are one secret per purpose (PORTAL_*_SECRET_ID, see infra/README.md)"
                            .into(),
                    ));
                }
                for purpose in KeyPurpose::ALL {
                    if !needs.contains(&purpose) && var(purpose.env_var()).is_some() {
                        return Err(ConfigError::Invalid(
                            purpose.env_var(),
                            format!("the {name} function must not hold this key; remove it"),
                        ));
                    }
                }
                let keys = match var("PORTAL_KEYS_FILE") {
                    Some(path) => KeysConfig::File { path: path.into() },
                    None => KeysConfig::SecretsManager {
                        secrets: needs
                            .iter()
                            .map(|purpose| Ok((*purpose, required(purpose.env_var())?)))
                            .collect::<Result<_, ConfigError>>()?,
                    },
                };
                let settings = Settings {
                    token_issuer: required("PORTAL_TOKEN_ISSUER")?,
                    token_audience: required("PORTAL_TOKEN_AUDIENCE")?,
                    portal_url: required("PORTAL_URL")?.trim_end_matches('/').to_owned(),
                    ..Settings::default()
                };
                (keys, settings)
            }
            Role::Local { data_dir, portal_url } => {
                let defaults = Settings::default();
                let settings = Settings {
                    token_issuer: var("PORTAL_TOKEN_ISSUER").unwrap_or(defaults.token_issuer),
                    token_audience: var("PORTAL_TOKEN_AUDIENCE").unwrap_or(defaults.token_audience),
                    portal_url: var("PORTAL_URL")
                        .or_else(|| portal_url.map(str::to_owned))
                        .unwrap_or(defaults.portal_url)
                        .trim_end_matches('/')
                        .to_owned(),
                    refresh_cookie: defaults.refresh_cookie,
                };
                (
                    KeysConfig::DataDir {
                        dir: data_dir.to_owned(),
                    },
                    settings,
                )
            }
        };
        // Code SMS name the portal's host (WebOTP): a URL without a usable one stops start-up.
        crate::sms::webotp::WebOtpHost::from_portal_url(&settings.portal_url)
            .map_err(|why| ConfigError::Invalid("PORTAL_URL", why))?;
        let mut policy = Policy::default();
        for (name, field) in [
            ("PORTAL_RESET_SMS_PER_HOUR", &mut policy.reset_sms_global_per_hour),
            ("PORTAL_SMS_PER_HOUR", &mut policy.sms_global_per_hour),
            ("PORTAL_SMS_PER_DAY", &mut policy.sms_global_per_day),
        ] {
            if let Some(raw) = var(name) {
                *field = raw
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(ConfigError::Invalid(name, raw))?;
            }
        }
        Ok(Self {
            store,
            sms,
            keys,
            settings,
            policy,
        })
    }

    /// Whether any backend is an AWS service (and the SDK configuration must be loaded).
    pub fn needs_aws(&self) -> bool {
        matches!(self.store, StoreConfig::DynamoDb { .. })
            || matches!(self.sms, SmsConfig::Sns { .. })
            || matches!(&self.keys, KeysConfig::SecretsManager { secrets } if !secrets.is_empty())
    }

    /// The SDK configuration (with the portal's timeouts) when [`Self::needs_aws`].
    pub async fn sdk_config(&self) -> Option<aws_config::SdkConfig> {
        if self.needs_aws() {
            Some(crate::aws::load_sdk_config().await)
        } else {
            None
        }
    }

    /// Opens the store. No round trip: a DynamoDB table is not checked here (a Lambda's cold
    /// start skips it; long-running tools call `DynamoStore::check_table` themselves).
    pub fn open_store(&self, sdk: Option<&aws_config::SdkConfig>) -> Result<Arc<dyn ItemStore>, ConfigError> {
        Ok(match &self.store {
            StoreConfig::Sqlite { path } => {
                Arc::new(SqliteStore::open(path).map_err(|e| ConfigError::Init(e.to_string()))?)
            }
            StoreConfig::DynamoDb { table } => Arc::new(DynamoStore::new(
                aws_sdk_dynamodb::Client::new(need_sdk(sdk)?),
                table.clone(),
            )),
        })
    }

    /// The SMS sender: SNS, or the outbox in `store` (`echo` prints each message).
    pub fn open_sms(
        &self,
        store: Arc<dyn ItemStore>,
        clock: Arc<dyn Clock>,
        sdk: Option<&aws_config::SdkConfig>,
        echo: bool,
    ) -> Result<Arc<dyn SmsSender>, ConfigError> {
        Ok(match &self.sms {
            SmsConfig::Outbox => Arc::new(OutboxSms::new(store, clock, echo)),
            SmsConfig::Sns { sender_id } => {
                Arc::new(SnsSms::new(aws_sdk_sns::Client::new(need_sdk(sdk)?), sender_id.clone()))
            }
        })
    }
}

fn need_sdk(sdk: Option<&aws_config::SdkConfig>) -> Result<&aws_config::SdkConfig, ConfigError> {
    sdk.ok_or_else(|| ConfigError::Init("no AWS configuration".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::Path;

    const FUNCTION: Role<'static> = Role::Function {
        name: "login",
        keys: &[KeyPurpose::CodePepper],
    };

    fn local(dir: &Path) -> Role<'_> {
        Role::Local {
            data_dir: dir,
            portal_url: None,
        }
    }

    fn read(role: Role<'_>, env: &[(&str, &str)]) -> Result<Deployment, ConfigError> {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Deployment::from_lookup(role, |name| env.get(name).cloned())
    }

    const COMMON: [(&str, &str); 5] = [
        ("PORTAL_CODE_PEPPER_SECRET_ID", "portal/code-pepper"),
        ("PORTAL_TOKEN_ISSUER", "https://api.example.test"),
        ("PORTAL_TOKEN_AUDIENCE", "hjemmekontor-portal"),
        ("PORTAL_URL", "https://portal.example.test/"),
        ("PORTAL_SMS_SENDER_ID", "Hjemmekontr"),
    ];

    #[test]
    fn the_same_backend_variables_give_the_same_store_and_sms_for_every_role() {
        let dir = Path::new("data");
        for backends in [
            vec![
                ("PORTAL_STORE", "dynamodb"),
                ("PORTAL_TABLE", "t1"),
                ("PORTAL_SMS", "sns"),
            ],
            vec![
                ("PORTAL_STORE", "sqlite"),
                ("PORTAL_SQLITE_PATH", "/x/p.db"),
                ("PORTAL_SMS", "outbox"),
            ],
        ] {
            let env: Vec<(&str, &str)> = COMMON.iter().copied().chain(backends.iter().copied()).collect();
            let function = read(FUNCTION, &env).unwrap();
            let local = read(local(dir), &env).unwrap();
            assert_eq!(function.store, local.store, "{backends:?}");
            assert_eq!(function.sms, local.sms, "{backends:?}");
            assert_eq!(function.settings.portal_url, local.settings.portal_url);
            assert_eq!(function.settings.token_issuer, local.settings.token_issuer);
            assert_eq!(
                function.policy.reset_sms_global_per_hour,
                local.policy.reset_sms_global_per_hour
            );
            assert_eq!(function.policy.sms_global_per_day, local.policy.sms_global_per_day);
        }
    }

    #[test]
    fn local_tools_default_to_the_data_dir_and_the_infra_table_functions_have_no_defaults() {
        let dir = Path::new("data");
        let d = read(local(dir), &[]).unwrap();
        assert_eq!(
            d.store,
            StoreConfig::Sqlite {
                path: dir.join("portal.db")
            }
        );
        assert_eq!(d.sms, SmsConfig::Outbox);
        assert_eq!(d.keys, KeysConfig::DataDir { dir: dir.into() });
        assert_eq!(d.settings.portal_url, Settings::default().portal_url);
        let d = read(local(dir), &[("PORTAL_STORE", "dynamodb")]).unwrap();
        assert_eq!(
            d.store,
            StoreConfig::DynamoDb {
                table: DEFAULT_TABLE.into()
            }
        );
        // A function names its table, always.
        let env: Vec<(&str, &str)> = COMMON.to_vec();
        assert!(matches!(
            read(FUNCTION, &env),
            Err(ConfigError::Missing("PORTAL_TABLE"))
        ));
        let mut env = COMMON.to_vec();
        env.push(("PORTAL_STORE", "sqlite"));
        assert!(matches!(
            read(FUNCTION, &env),
            Err(ConfigError::Missing("PORTAL_SQLITE_PATH"))
        ));
        // portal-local's own address stands in for an unset PORTAL_URL.
        let d = read(
            Role::Local {
                data_dir: dir,
                portal_url: Some("http://127.0.0.1:4321/"),
            },
            &[],
        )
        .unwrap();
        assert_eq!(d.settings.portal_url, "http://127.0.0.1:4321");
    }

    /// A function given an empty or blank variable never falls back to a
    /// local default (SQLite, outbox, data-dir keys, default table/issuer/audience/URL).
    #[test]
    fn a_function_with_empty_variables_gets_no_local_default() {
        let full: Vec<(&str, &str)> = COMMON.iter().copied().chain([("PORTAL_TABLE", "t1")]).collect();
        let d = read(FUNCTION, &full).unwrap();
        assert_eq!(d.store, StoreConfig::DynamoDb { table: "t1".into() });
        assert!(matches!(d.sms, SmsConfig::Sns { .. }));
        for blank in ["", "  ", "\t"] {
            for name in ["PORTAL_STORE", "PORTAL_SMS", "PORTAL_KEYS_FILE", "PORTAL_SMS_SENDER_ID"] {
                let env: Vec<(&str, &str)> = full.iter().copied().chain([(name, blank)]).collect();
                let d = read(FUNCTION, &env).unwrap();
                assert_eq!(
                    d.store,
                    StoreConfig::DynamoDb { table: "t1".into() },
                    "{name}={blank:?}"
                );
                assert!(matches!(d.sms, SmsConfig::Sns { .. }), "{name}={blank:?}");
                assert!(matches!(d.keys, KeysConfig::SecretsManager { .. }), "{name}={blank:?}");
            }
            for name in [
                "PORTAL_TABLE",
                "PORTAL_TOKEN_ISSUER",
                "PORTAL_TOKEN_AUDIENCE",
                "PORTAL_URL",
                "PORTAL_CODE_PEPPER_SECRET_ID",
            ] {
                let env: Vec<(&str, &str)> = full
                    .iter()
                    .copied()
                    .filter(|(n, _)| *n != name)
                    .chain([(name, blank)])
                    .collect();
                match read(FUNCTION, &env) {
                    Err(ConfigError::Missing(missing)) => assert_eq!(missing, name),
                    other => panic!("{name}={blank:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn bad_values_are_errors_naming_the_variable_for_every_role() {
        let dir = Path::new("data");
        for (name, value) in [
            ("PORTAL_STORE", "postgres"),
            ("PORTAL_SMS", "pigeon"),
            ("PORTAL_SMS_SENDER_ID", "far-too-long-sender"),
            ("PORTAL_RESET_SMS_PER_HOUR", "0"),
            ("PORTAL_RESET_SMS_PER_HOUR", "many"),
            ("PORTAL_SMS_PER_HOUR", "0"),
            ("PORTAL_SMS_PER_DAY", "-3"),
        ] {
            let mut env = COMMON.to_vec();
            env.extend([("PORTAL_TABLE", "t1"), ("PORTAL_SMS", "sns"), (name, value)]);
            for role in [FUNCTION, local(dir)] {
                match read(role, &env) {
                    Err(ConfigError::Invalid(var, _)) => assert_eq!(var, name, "{role:?}"),
                    other => panic!("{role:?} {name}={value}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn command_line_flags_override_the_environment_and_unset_flags_do_not() {
        let env = HashMap::from([("PORTAL_STORE", "dynamodb"), ("PORTAL_TABLE", "from-env")]);
        let flags = [
            ("PORTAL_TABLE", Some("from-flag".to_owned())),
            ("PORTAL_SMS", None),
            ("PORTAL_STORE", Some(" ".to_owned())),
        ];
        let lookup = overlay(&flags, |name| env.get(name).map(|v| v.to_string()));
        let d = Deployment::from_lookup(local(Path::new("data")), lookup).unwrap();
        assert_eq!(
            d.store,
            StoreConfig::DynamoDb {
                table: "from-flag".into()
            }
        );
        assert_eq!(d.sms, SmsConfig::Outbox);
    }

    /// [`DEFAULT_TABLE`] is the name infra/ gives the table of its local (LocalStack) stack.
    #[test]
    fn the_default_table_is_the_one_infra_creates_for_the_local_stack() {
        let infra = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra");
        let read = |file: &str| std::fs::read_to_string(infra.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let value = |text: &str, key: &str| -> String {
            text.lines()
                .map(str::trim)
                .find_map(|line| {
                    let (k, v) = line.split_once('=')?;
                    (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
                })
                .unwrap_or_else(|| panic!("{key} not found"))
        };
        let environment = value(&read("localstack.tfvars"), "environment");
        let name = value(&read("main.tf"), "name").replace("${var.environment}", &environment);
        let table = value(&read("dynamodb.tf"), "name").replace("${local.name}", &name);
        assert_eq!(table, DEFAULT_TABLE);
    }
}
