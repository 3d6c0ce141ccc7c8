//! The dependencies every handler gets, built once per process.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{Policy, Settings};
use crate::security::codes::CodeHasher;
use crate::security::keys::{KeyError, KeyMaterial};
use crate::security::passwords::{HashParams, PasswordHasher};
use crate::security::secretbox::SecretBox;
use crate::security::tokens::TokenKeys;
use crate::sms::SmsSender;
use crate::store::records::Repo;
use crate::store::ItemStore;

pub struct App {
    pub repo: Repo,
    pub sms: Arc<dyn SmsSender>,
    pub clock: Arc<dyn Clock>,
    pub tokens: TokenKeys,
    pub codes: CodeHasher,
    pub passwords: PasswordHasher,
    /// Encrypts authenticator-app secrets; `None` when the key material has no TOTP key.
    pub totp_box: Option<SecretBox>,
    pub settings: Settings,
    pub policy: Policy,
}

pub type SharedApp = Arc<App>;

pub struct AppParts {
    pub store: Arc<dyn ItemStore>,
    pub sms: Arc<dyn SmsSender>,
    pub clock: Arc<dyn Clock>,
    pub keys: KeyMaterial,
    pub settings: Settings,
    pub policy: Policy,
    pub hash_params: HashParams,
}

impl App {
    /// Does all the one-time work (key parsing, dummy hash) so requests do none of it.
    pub fn build(parts: AppParts) -> Result<SharedApp, KeyError> {
        let tokens = TokenKeys::new(
            &parts.keys,
            &parts.settings.token_issuer,
            &parts.settings.token_audience,
            parts.policy.access_token_lifetime,
        )?;
        let codes = CodeHasher::new(parts.keys.pepper()?);
        let totp_box = match parts.keys.totp_key()? {
            Some(key) => Some(SecretBox::new(&key).map_err(|e| KeyError::Invalid(e.to_string()))?),
            None => {
                tracing::warn!("the key material has no totp_key: authenticator apps cannot be enrolled");
                None
            }
        };
        Ok(Arc::new(Self {
            repo: Repo::new(parts.store),
            sms: parts.sms,
            clock: parts.clock,
            tokens,
            codes,
            passwords: PasswordHasher::new(parts.hash_params),
            totp_box,
            settings: parts.settings,
            policy: parts.policy,
        }))
    }

    pub fn now(&self) -> crate::clock::UnixTime {
        self.clock.now()
    }
}
