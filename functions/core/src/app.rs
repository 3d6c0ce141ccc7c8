//! The dependencies every handler gets, built once per process.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{Policy, Settings};
use crate::security::codes::CodeHasher;
use crate::security::key_parts::{KeyParts, TotpPart};
use crate::security::keys::KeyError;
use crate::security::passwords::{HashParams, PasswordHasher};
use crate::security::secretbox::SecretBox;
use crate::security::tokens::{AccessTokenKeys, TokenIssuer, TokenVerifier};
use crate::sms::SmsSender;
use crate::store::records::Repo;
use crate::store::ItemStore;

pub struct App {
    pub repo: Repo,
    pub sms: Arc<dyn SmsSender>,
    pub clock: Arc<dyn Clock>,
    /// What this process may do with access tokens: mint and verify, only verify, or neither
    /// (the key parts it was given decide, see `crate::security::key_parts`).
    pub tokens: AccessTokenKeys,
    /// `None` in a function that handles no one-time codes.
    pub codes: Option<CodeHasher>,
    pub passwords: PasswordHasher,
    /// Encrypts authenticator-app secrets.
    pub totp: TotpKeying,
    /// The WebAuthn relying party of `PORTAL_URL` (built once here); `None` where that URL's
    /// host is an IP address, which cannot be one: then no passkeys are offered.
    pub webauthn: Option<webauthn_rs::Webauthn>,
    /// The header values that prove a request came through CloudFront
    /// (`portal_http::origin`); `None`: not checked (portal-local, tests).
    pub origin_secrets: Option<Vec<String>>,
    pub settings: Settings,
    pub policy: Policy,
    /// The portal's host for the WebOTP line of code SMS, from `settings.portal_url` once at
    /// start-up; `None` only for a URL the deployment check would refuse (tests' own settings).
    pub webotp_host: Option<crate::sms::webotp::WebOtpHost>,
}

pub type SharedApp = Arc<App>;

pub struct AppParts {
    pub store: Arc<dyn ItemStore>,
    pub sms: Arc<dyn SmsSender>,
    pub clock: Arc<dyn Clock>,
    /// Only the parts this process needs (`KeyParts::from_material(..)` for all of them).
    pub keys: KeyParts,
    pub settings: Settings,
    pub policy: Policy,
    pub hash_params: HashParams,
}

impl App {
    /// Does all the one-time work (key parsing, dummy hash) so requests do none of it.
    pub fn build(parts: AppParts) -> Result<SharedApp, KeyError> {
        let settings = &parts.settings;
        let tokens = match (&parts.keys.signing, &parts.keys.verifying) {
            (Some(signing), _) => AccessTokenKeys::Issuer(TokenIssuer::new(
                signing,
                &settings.token_issuer,
                &settings.token_audience,
                parts.policy.access_token_lifetime,
            )?),
            (None, Some(public)) => AccessTokenKeys::VerifyOnly(TokenVerifier::new(
                public,
                &settings.token_issuer,
                &settings.token_audience,
            )?),
            (None, None) => AccessTokenKeys::Absent,
        };
        let codes = parts.keys.code_pepper.clone().map(CodeHasher::new);
        let totp = match &parts.keys.totp {
            TotpPart::Key(key) => TotpKeying::Key(Box::new(
                SecretBox::new(key).map_err(|e| KeyError::Invalid(e.to_string()))?,
            )),
            TotpPart::HeldByOtherFunctions => TotpKeying::HeldByOtherFunctions,
            TotpPart::Absent => {
                tracing::warn!("no totp_key: authenticator apps cannot be enrolled");
                TotpKeying::Absent
            }
        };
        let webauthn = crate::services::passkey_party::relying_party(&settings.portal_url)
            .map_err(|e| KeyError::Setting(e.to_string()))?;
        if webauthn.is_none() {
            tracing::warn!("PORTAL_URL's host is an IP address: passkeys cannot be offered");
        }
        Ok(Arc::new(Self {
            repo: Repo::new(parts.store),
            sms: parts.sms,
            clock: parts.clock,
            tokens,
            codes,
            passwords: PasswordHasher::new(parts.hash_params),
            totp,
            webauthn,
            origin_secrets: parts.keys.origin_verify.clone(),
            webotp_host: crate::sms::webotp::WebOtpHost::from_portal_url(&parts.settings.portal_url).ok(),
            settings: parts.settings,
            policy: parts.policy,
        }))
    }

    pub fn now(&self) -> crate::clock::UnixTime {
        self.clock.now()
    }

    /// The code hasher; a 500 in a function that was not given the pepper (its routes never
    /// handle codes, so this is a deployment error, not a client's).
    pub fn code_hasher(&self) -> Result<&CodeHasher, crate::error::ServiceError> {
        self.codes
            .as_ref()
            .ok_or_else(|| crate::error::ServiceError::Internal("this function holds no code pepper".into()))
    }
}

/// Whether this process can open authenticator-app secrets.
pub enum TotpKeying {
    /// Boxed: the cipher state is large, the other variants carry nothing.
    Key(Box<SecretBox>),
    /// Not here, but in the functions that verify and enrol (login only offers the method).
    HeldByOtherFunctions,
    Absent,
}
