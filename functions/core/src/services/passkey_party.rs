//! The WebAuthn relying party, built once at cold start from `PORTAL_URL`, and the options it
//! hands to browsers.
//!
//! Passkeys here are a *second* factor after the password, which is what `webauthn-rs` calls a
//! security key ("a cryptographic authenticator acting as a single factor of authentication to
//! supplement a password"): its ceremonies verify user verification as *preferred* (a key
//! without a PIN still works), while its `Passkey` ceremonies require it. The options are
//! then widened for platform passkeys: no "security-key" hint (which steers browsers to USB
//! keys) and a resident key preferred, not discouraged. Attestation is `none`.

use std::time::Duration;

use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url, Webauthn, WebauthnBuilder};
use webauthn_rs_proto::{CredentialProtectionPolicy, ResidentKeyRequirement};

/// What browsers show as the site's name while creating a passkey.
pub const RP_NAME: &str = "Norsk Helsenett kundeportal";
/// How long the browser may take; the server side's state lives as long (see
/// `Policy::code_lifetime`).
pub const CEREMONY_TIMEOUT: Duration = Duration::from_secs(300);

/// Why `PORTAL_URL` cannot name a relying party.
#[derive(Debug, thiserror::Error)]
pub enum PartyError {
    #[error("PORTAL_URL is not a URL: {0}")]
    NotAUrl(String),
    #[error("PORTAL_URL must be an http or https URL")]
    Scheme,
    #[error("PORTAL_URL cannot be a WebAuthn origin")]
    Rejected,
}

/// The relying party of `portal_url` (its host is the RP id, its origin the only allowed
/// one); `Ok(None)` when the host is an IP address, which WebAuthn does not allow as an RP id
/// (portal-local's default `http://127.0.0.1:8080`: passkeys are then simply not offered).
pub fn relying_party(portal_url: &str) -> Result<Option<Webauthn>, PartyError> {
    let url = Url::parse(portal_url).map_err(|e| PartyError::NotAUrl(e.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(PartyError::Scheme);
    }
    let Some(rp_id) = url.domain() else {
        return Ok(None);
    };
    let origin = Url::parse(&url.origin().ascii_serialization()).map_err(|e| PartyError::NotAUrl(e.to_string()))?;
    let webauthn = WebauthnBuilder::new(rp_id, &origin)
        .and_then(|b| b.rp_name(RP_NAME).timeout(CEREMONY_TIMEOUT).build())
        .map_err(|_| PartyError::Rejected)?;
    Ok(Some(webauthn))
}

/// The creation options as sent to the browser: no hint towards USB keys, a discoverable
/// credential preferred (a passkey on the phone or laptop), user verification left as the
/// ceremony asked (preferred).
///
/// The security-key ceremony also asks for credProtect `userVerificationRequired` (without
/// enforcing it). Chromium refuses that beside user verification *preferred* as inconsistent
/// (`NotSupportedError`) and creates no passkey at all, so the next policy down is asked for:
/// the credential can still be used only when the portal names it, as the login does.
pub fn for_passkeys(mut options: CreationChallengeResponse) -> CreationChallengeResponse {
    options.public_key.hints = None;
    if let Some(protect) = options
        .public_key
        .extensions
        .as_mut()
        .and_then(|e| e.cred_protect.as_mut())
    {
        protect.credential_protection_policy = CredentialProtectionPolicy::UserVerificationOptionalWithCredentialIDList;
        protect.enforce_credential_protection_policy = Some(false);
    }
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Preferred);
        selection.require_resident_key = false;
    }
    options
}

/// The request options as sent to the browser: no hint towards USB keys.
pub fn request_for_passkeys(mut options: RequestChallengeResponse) -> RequestChallengeResponse {
    options.public_key.hints = None;
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use webauthn_rs::prelude::Uuid;
    use webauthn_rs_proto::{AttestationConveyancePreference, UserVerificationPolicy};

    #[test]
    fn the_party_is_the_portal_urls_host_and_origin() {
        let party = relying_party("https://portal.example.test").unwrap().unwrap();
        let origins: Vec<String> = party.get_allowed_origins().iter().map(Url::to_string).collect();
        assert_eq!(origins, ["https://portal.example.test/"]);
        let (options, _) = party
            .start_securitykey_registration(Uuid::nil(), "kari", "Kari", None, None, None)
            .unwrap();
        let options = for_passkeys(options).public_key;
        assert_eq!(options.rp.id, "portal.example.test");
        assert!(matches!(
            options.attestation,
            Some(AttestationConveyancePreference::None)
        ));
        let selection = options.authenticator_selection.unwrap();
        assert_eq!(selection.user_verification, UserVerificationPolicy::Preferred);
        assert_eq!(selection.resident_key, Some(ResidentKeyRequirement::Preferred));
        assert!(options.hints.is_none());
        // What Chromium accepts beside user verification "preferred".
        let protect = options.extensions.and_then(|e| e.cred_protect).unwrap();
        assert_eq!(
            protect.credential_protection_policy,
            CredentialProtectionPolicy::UserVerificationOptionalWithCredentialIDList
        );
        assert_eq!(protect.enforce_credential_protection_policy, Some(false));
    }

    #[test]
    fn an_ip_address_offers_no_passkeys_and_a_bad_url_is_an_error() {
        assert!(relying_party("http://127.0.0.1:8080").unwrap().is_none());
        assert!(relying_party("http://localhost:8080").unwrap().is_some());
        for bad in ["", "portal.example.test", "ftp://portal.example.test", "https://"] {
            assert!(relying_party(bad).is_err(), "{bad:?}");
        }
    }
}
