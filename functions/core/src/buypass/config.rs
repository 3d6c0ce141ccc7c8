//! The Buypass relying party's configuration (the `buypass` Lambda function and
//! `portal-local`).
//!
//! Environment (besides the common `PORTAL_*` variables documented in `portal_lambda::config`):
//! - `BUYPASS_ISSUER_URL`: the Buypass security domain's issuer,
//!   e.g. `https://auth.buypass.no/auth/realms/<domain>`; endpoints come from its discovery
//!   document, fetched once per cold start.
//! - `BUYPASS_CLIENT_ID`: our client id at Buypass.
//! - `BUYPASS_REDIRECT_URI`: the registered redirect URI, i.e.
//!   `https://<api host>/v1/homeoffice/buypass/callback`.
//! - `BUYPASS_CA_BUNDLE_FILE` (path to a PEM file shipped with the function) or
//!   `BUYPASS_CA_BUNDLE` (the PEM text): the Buypass issuing CA certificates we accept.
//! - The client signing key (ES256, PKCS#8 base64url) is the `buypass_client_key` of the
//!   `PORTAL_BUYPASS_CLIENT_KEY_SECRET_ID` secret (or of `PORTAL_KEYS_FILE`), never an
//!   environment variable; only this function reads that secret.
//!   `portal-admin buypass-client-jwks` prints its public JWKS for the client registration.

use super::certificate::TrustedIssuers;
use super::flow::Buypass;
use super::keys::Es256Key;
use super::oidc::{OidcClient, OidcSettings};
use crate::config::ConfigError;

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    var(name).ok_or(ConfigError::Missing(name))
}

/// The Buypass settings read from the environment.
#[derive(Debug, Clone)]
pub struct BuypassConfig {
    pub issuer: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub ca_bundle_pem: String,
}

impl BuypassConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let ca_bundle_pem = match (var("BUYPASS_CA_BUNDLE_FILE"), var("BUYPASS_CA_BUNDLE")) {
            (Some(path), _) => std::fs::read_to_string(&path)
                .map_err(|e| ConfigError::Invalid("BUYPASS_CA_BUNDLE_FILE", format!("{path}: {e}")))?,
            (None, Some(pem)) => pem,
            (None, None) => return Err(ConfigError::Missing("BUYPASS_CA_BUNDLE_FILE")),
        };
        Ok(Self {
            issuer: required("BUYPASS_ISSUER_URL")?.trim_end_matches('/').to_owned(),
            client_id: required("BUYPASS_CLIENT_ID")?,
            redirect_uri: required("BUYPASS_REDIRECT_URI")?,
            ca_bundle_pem,
        })
    }

    /// Parses the CA bundle and builds the relying party (no network yet).
    pub fn build(&self, client_key: Es256Key) -> Result<Buypass, ConfigError> {
        let trusted = TrustedIssuers::from_pem_bundle(&self.ca_bundle_pem)
            .map_err(|e| ConfigError::Invalid("BUYPASS_CA_BUNDLE", e.to_string()))?;
        let oidc = OidcClient::new(OidcSettings {
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            redirect_uri: self.redirect_uri.clone(),
            client_key,
        })
        .map_err(|e| ConfigError::Invalid("BUYPASS_ISSUER_URL", e))?;
        Ok(Buypass { oidc, trusted })
    }
}
