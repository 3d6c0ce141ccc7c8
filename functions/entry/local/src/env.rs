//! The local environment: a data dir holding the SQLite store, the key file and the demo
//! account's credentials. Shared by `portal-local` and `portal-admin`, which can also run on
//! the AWS backends (a DynamoDB table and SNS, e.g. in LocalStack or moto) with the same data
//! dir for keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use portal_core::app::{App, AppParts, SharedApp};
use portal_core::clock::{Clock, SystemClock};
use portal_core::config::ConfigError;
use portal_core::deployment::{overlay, Deployment, KeysConfig, Role, SmsConfig, StoreConfig};
use portal_core::domain::{MobileNumber, Password, Username};
use portal_core::security::keys::KeyMaterial;
use portal_core::security::passwords::HashParams;
use portal_core::services::admin::{generate_initial_password, AdminError, InitialPassword, NewAccount};
use portal_core::sms::outbox::OutboxSms;
use portal_core::sms::SmsSender;
use portal_core::store::dynamodb::DynamoStore;
use portal_core::store::ItemStore;

pub struct LocalEnv {
    pub data_dir: PathBuf,
    /// The configuration tree this environment was opened on.
    pub deployment: Deployment,
    pub store: Arc<dyn ItemStore>,
    /// The local outbox (kept in the store); the sender only when [`SmsConfig::Outbox`].
    pub outbox: Arc<OutboxSms>,
    /// Where SMS go.
    pub sms: Arc<dyn SmsSender>,
    pub keys: KeyMaterial,
    pub keys_created: bool,
    /// Our Buypass client key (in the key file, generated on first start).
    pub buypass_client_key: portal_core::buypass::keys::Es256Key,
}

/// The backend flags `portal-local` and `portal-admin` share. Each stands for its `PORTAL_*`
/// variable and, when given, overrides it; the shared tree reads both ([`local_deployment`]).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct BackendFlags {
    /// Storage backend (PORTAL_STORE; default sqlite, in the data dir).
    #[arg(long, value_parser = ["sqlite", "dynamodb"], global = true)]
    pub store: Option<String>,
    /// DynamoDB table (PORTAL_TABLE; with --store dynamodb; default: infra/'s local table).
    #[arg(long, global = true)]
    pub table: Option<String>,
    /// Where SMS go (PORTAL_SMS): the local outbox (default) or SNS.
    #[arg(long, value_parser = ["outbox", "sns"], global = true)]
    pub sms: Option<String>,
    /// SNS sender ID (PORTAL_SMS_SENDER_ID; with --sms sns).
    #[arg(long, global = true)]
    pub sms_sender_id: Option<String>,
}

impl BackendFlags {
    /// The flags by the variable each stands for, for [`local_deployment`].
    pub fn overrides(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("PORTAL_STORE", self.store.clone()),
            ("PORTAL_TABLE", self.table.clone()),
            ("PORTAL_SMS", self.sms.clone()),
            ("PORTAL_SMS_SENDER_ID", self.sms_sender_id.clone()),
        ]
    }
}

/// The local tools' configuration: the shared tree read in the local role over `data_dir`,
/// with `flags` (command-line values by the variable each stands for) over the environment.
pub fn local_deployment(
    data_dir: &Path,
    portal_url: Option<&str>,
    flags: &[(&'static str, Option<String>)],
) -> Result<Deployment, ConfigError> {
    Deployment::from_lookup(
        Role::Local { data_dir, portal_url },
        overlay(flags, portal_core::deployment::env_lookup),
    )
}

impl LocalEnv {
    /// Opens (creating if needed) the data dir and the backends `deployment` names. Fails
    /// early, with the fix in the message, when a DynamoDB table does not exist.
    /// `echo_sms` prints outbox messages to stdout.
    pub async fn open(deployment: Deployment, echo_sms: bool) -> anyhow::Result<Self> {
        let KeysConfig::DataDir { dir } = &deployment.keys else {
            anyhow::bail!("the local tools keep their keys in the data dir");
        };
        let data_dir = dir.clone();
        prepare_data_dir(&data_dir)?;
        let sdk = deployment.sdk_config().await;
        let store: Arc<dyn ItemStore> = match (&deployment.store, &sdk) {
            // Long-running and interactive: worth a round trip to say "no such table" up front.
            (StoreConfig::DynamoDb { table }, Some(sdk)) => {
                let dynamo = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table.clone());
                dynamo.check_table().await?;
                Arc::new(dynamo)
            }
            _ => deployment.open_store(sdk.as_ref())?,
        };
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let outbox = Arc::new(OutboxSms::new(store.clone(), clock.clone(), echo_sms));
        let sms: Arc<dyn SmsSender> = match deployment.sms {
            SmsConfig::Outbox => outbox.clone(),
            SmsConfig::Sns { .. } => deployment.open_sms(store.clone(), clock, sdk.as_ref(), false)?,
        };
        let (mut keys, keys_created) = KeyMaterial::load_or_create(&data_dir)?;
        let buypass_client_key = portal_core::buypass::keys::ensure_local_client_key(&data_dir, &mut keys)?;
        Ok(Self {
            data_dir,
            deployment,
            store,
            sms,
            outbox,
            keys,
            keys_created,
            buypass_client_key,
        })
    }

    /// The app on this environment's store, keys, settings and policy; `sms` overrides the
    /// configured sender.
    pub fn app(&self, sms: Option<Arc<dyn SmsSender>>) -> anyhow::Result<SharedApp> {
        Ok(App::build(AppParts {
            store: self.store.clone(),
            sms: sms.unwrap_or_else(|| self.sms.clone()),
            clock: Arc::new(SystemClock),
            // The same per-purpose parts the functions load; portal-local serves every
            // route, so it holds them all.
            keys: portal_core::security::key_parts::KeyParts::from_material(&self.keys)?,
            settings: self.deployment.settings.clone(),
            policy: self.deployment.policy.clone(),
            hash_params: HashParams::PRODUCTION,
        })?)
    }
}

fn prepare_data_dir(data_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The demo account every fresh local portal has.
pub struct DemoAccount {
    pub username: Username,
    pub password: Password,
    pub mobile: MobileNumber,
}

pub const DEMO_USERNAME: &str = "demo";
pub const DEMO_MOBILE: &str = "+4799999999";

/// Creates the demo account on first start and remembers its password in
/// `demo-account.json` (owner-only) so it can be printed again on later starts.
pub async fn ensure_demo_account(app: &App, data_dir: &Path) -> anyhow::Result<DemoAccount> {
    let path = data_dir.join("demo-account.json");
    let username = Username::parse(DEMO_USERNAME)?;
    let mobile = MobileNumber::parse(DEMO_MOBILE)?;
    if let Ok(raw) = std::fs::read_to_string(&path) {
        let saved: serde_json::Value = serde_json::from_str(&raw)?;
        let password = Password::new(saved["password"].as_str().unwrap_or_default().to_owned());
        // The data dir outlives a store that was reset (a fresh DynamoDB table, a deleted
        // portal.db): put the demo account back with the password already shown.
        if app
            .repo
            .load::<portal_core::store::records::Account>(
                &portal_core::store::keys::account_pk(&username),
                portal_core::store::keys::PROFILE_SK,
                app.now(),
            )
            .await?
            .is_none()
        {
            create_demo(app, &username, &mobile, password.clone()).await?;
        }
        return Ok(DemoAccount {
            username,
            password,
            mobile,
        });
    }
    let password = generate_initial_password();
    match create_demo(app, &username, &mobile, password.clone()).await {
        Ok(()) => {}
        Err(AdminError::Duplicate(_)) => {
            anyhow::bail!(
                "a demo account exists but {} is missing; reset it with portal-admin",
                path.display()
            )
        }
        Err(e) => return Err(e.into()),
    }
    let saved = serde_json::json!({ "username": DEMO_USERNAME, "password": password.expose(), "mobile": DEMO_MOBILE });
    portal_core::security::keys::write_private(&path, saved.to_string().as_bytes())?;
    Ok(DemoAccount {
        username,
        password,
        mobile,
    })
}

async fn create_demo(
    app: &App,
    username: &Username,
    mobile: &MobileNumber,
    password: Password,
) -> Result<(), AdminError> {
    app.create_account(NewAccount {
        username: username.clone(),
        name: "Demo Bruker".into(),
        email: None,
        mobile: mobile.clone(),
        home_office: true,
        password: InitialPassword::Permanent(password),
    })
    .await
    .map(|_| ())
}
