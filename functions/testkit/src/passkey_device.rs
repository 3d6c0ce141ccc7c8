//! The user's passkey, as the tests use it: a software authenticator (`webauthn-authenticator-rs`'s
//! `SoftPasskey`) behind the same client steps a browser takes (the origin must be the relying
//! party's id or a subdomain of it; the client data names the origin). It works on the JSON the
//! portal sends and returns the JSON a browser's `PublicKeyCredential` serialises to, so tests
//! drive the real HTTP routes with it. Built from a crate independent of the portal's verifier
//! (`webauthn-rs`), so the portal is not checked against itself alone.

use serde_json::Value;
use webauthn_authenticator_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;

pub struct PasskeyDevice {
    client: WebauthnAuthenticator<SoftPasskey>,
}

impl Default for PasskeyDevice {
    fn default() -> Self {
        Self::new()
    }
}

impl PasskeyDevice {
    /// A new authenticator with no credentials. Its signature counter starts at 0 and grows by
    /// one with every assertion.
    pub fn new() -> Self {
        // `true`: it claims user verification when asked (a PIN or fingerprint on a real one).
        Self {
            client: WebauthnAuthenticator::new(SoftPasskey::new(true)),
        }
    }

    /// `navigator.credentials.create(options)` on a page at `origin`: the attestation as JSON.
    pub fn register(&mut self, origin: &str, options: &Value) -> Result<Value, String> {
        let origin = Url::parse(origin).map_err(|e| format!("origin: {e}"))?;
        let options: CreationChallengeResponse =
            serde_json::from_value(options.clone()).map_err(|e| format!("creation options: {e}"))?;
        let credential = self
            .client
            .do_registration(origin, options)
            .map_err(|e| format!("registration: {e:?}"))?;
        serde_json::to_value(credential).map_err(|e| e.to_string())
    }

    /// `navigator.credentials.get(options)` on a page at `origin`: the assertion as JSON.
    pub fn sign(&mut self, origin: &str, options: &Value) -> Result<Value, String> {
        let origin = Url::parse(origin).map_err(|e| format!("origin: {e}"))?;
        let options: RequestChallengeResponse =
            serde_json::from_value(options.clone()).map_err(|e| format!("request options: {e}"))?;
        let credential = self
            .client
            .do_authentication(origin, options)
            .map_err(|e| format!("authentication: {e:?}"))?;
        serde_json::to_value(credential).map_err(|e| e.to_string())
    }
}
