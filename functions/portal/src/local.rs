//! The local environment: a data dir holding the SQLite store, the key file and the demo
//! account's credentials. Shared by `portal-local` and `portal-admin`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::app::{App, AppParts, SharedApp};
use crate::clock::{Clock, SystemClock};
use crate::config::{Policy, Settings};
use crate::domain::{MobileNumber, Password, Username};
use crate::security::keys::KeyMaterial;
use crate::security::passwords::HashParams;
use crate::services::admin::{generate_initial_password, AdminError, NewAccount};
use crate::sms::outbox::OutboxSms;
use crate::sms::SmsSender;
use crate::store::sqlite::SqliteStore;
use crate::store::ItemStore;

pub struct LocalEnv {
    pub data_dir: PathBuf,
    pub store: Arc<dyn ItemStore>,
    pub outbox: Arc<OutboxSms>,
    pub keys: KeyMaterial,
    pub keys_created: bool,
}

impl LocalEnv {
    /// Opens (creating if needed) the data dir. `echo_sms` prints sent SMS to stdout.
    pub fn open(data_dir: &Path, echo_sms: bool) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::open(&data_dir.join("portal.db"))?);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let outbox = Arc::new(OutboxSms::new(store.clone(), clock, echo_sms));
        let (keys, keys_created) = KeyMaterial::load_or_create(data_dir)?;
        Ok(Self {
            data_dir: data_dir.to_owned(),
            store,
            outbox,
            keys,
            keys_created,
        })
    }

    pub fn app(&self, settings: Settings, sms: Option<Arc<dyn SmsSender>>) -> anyhow::Result<SharedApp> {
        Ok(App::build(AppParts {
            store: self.store.clone(),
            sms: sms.unwrap_or_else(|| self.outbox.clone()),
            clock: Arc::new(SystemClock),
            keys: self.keys.clone(),
            settings,
            policy: Policy::default(),
            hash_params: HashParams::PRODUCTION,
        })?)
    }
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
        let password = saved["password"].as_str().unwrap_or_default().to_owned();
        return Ok(DemoAccount {
            username,
            password: Password::new(password),
            mobile,
        });
    }
    let password = generate_initial_password();
    let created = app
        .create_account(NewAccount {
            username: username.clone(),
            name: "Demo Bruker".into(),
            email: None,
            mobile: mobile.clone(),
            home_office: true,
            password: Some(password.clone()),
        })
        .await;
    match created {
        Ok(_) => {}
        Err(AdminError::Duplicate(_)) => {
            anyhow::bail!(
                "a demo account exists but {} is missing; reset it with portal-admin",
                path.display()
            )
        }
        Err(e) => return Err(e.into()),
    }
    let saved = serde_json::json!({ "username": DEMO_USERNAME, "password": password.expose(), "mobile": DEMO_MOBILE });
    crate::security::keys::write_private(&path, saved.to_string().as_bytes())?;
    Ok(DemoAccount {
        username,
        password,
        mobile,
    })
}
