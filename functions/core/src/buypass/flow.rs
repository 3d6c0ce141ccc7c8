//! Registration of a Buypass card: `/start` (authenticated) opens an authorization request
//! bound to the account and to the browser, the callback consumes it exactly once, verifies
//! the provider's answer and records the certificate serial as `pending`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::certificate::{CertificateRejection, TrustedIssuers};
use super::oidc::{OidcClient, ProviderFailure, SMARTCARD_AMR};
use super::registry::{CardKey, RegisterError, Registered};
use crate::app::App;
use crate::audit::AuditKind;
use crate::clock::UnixTime;
use crate::domain::{Password, SessionId, Username};
use crate::error::ServiceError;
use crate::security::{ct_eq, random_token, sha256_hex};
use crate::sms::messages;
use crate::store::keys::{self, account_pk, PROFILE_SK};
use crate::store::records::{Account, Session};
use crate::store::{Condition, StoreError};

/// DESIGN §3: state, nonce and verifier live 10 minutes.
pub const STATE_LIFETIME: i64 = 10 * 60;
/// The browser-binding cookie. `__Secure-` (not `__Host-`) because its Path is the callback.
pub const BROWSER_COOKIE: &str = "__Secure-hk_buypass";
pub const CALLBACK_PATH: &str = "/v1/homeoffice/buypass/callback";
pub const START_PATH: &str = "/v1/homeoffice/buypass/start";

/// One authorization request in flight.
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginState {
    pub username: Username,
    pub nonce: String,
    pub pkce_verifier: String,
    /// SHA-256 of the browser-binding cookie's value.
    pub browser_hash: String,
    pub created_at: UnixTime,
    /// The session that started it: the card is only registered while that session lives, so
    /// a registration a thief started cannot finish after logout, "end other sessions" or
    /// "this wasn't me". `None` only for states stored before this field existed.
    #[serde(default)]
    pub session: Option<SessionId>,
}

impl std::fmt::Debug for LoginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LoginState({}, ***)", self.username)
    }
}

/// The Buypass relying party: the OIDC client and the CAs we accept.
pub struct Buypass {
    pub oidc: OidcClient,
    pub trusted: TrustedIssuers,
}

/// What `/start` hands back: the URL for the browser and the cookie value that binds the
/// request to that browser.
pub struct Started {
    pub authorization_url: String,
    pub browser_secret: String,
}

/// Every way a callback can fail, each with the stable `reason` the portal shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackFailure {
    /// Unknown, replayed, expired or malformed `state`.
    StateInvalid,
    /// The state is real but this browser did not start it (cookie missing or different).
    BrowserMismatch,
    /// The user pressed cancel at Buypass (`error=access_denied`).
    LoginCancelled,
    /// Buypass redirected with another error, or refused the code exchange.
    ProviderError,
    /// Buypass could not be reached; the user can simply try again.
    ProviderUnavailable,
    /// The ID token failed verification.
    TokenInvalid,
    /// Logged in with something other than the smartcard.
    NotSmartcard,
    /// The certificate is missing, unparseable, from a foreign CA, or not valid now.
    CertificateInvalid,
    /// The card is registered to another account.
    SerialInUse,
    HomeOfficeNotEnabled,
    AccountUnavailable,
    /// Our storage failed; try again.
    TemporaryFailure,
}

impl CallbackFailure {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::StateInvalid => "state_invalid",
            Self::BrowserMismatch => "browser_mismatch",
            Self::LoginCancelled => "login_cancelled",
            Self::ProviderError => "provider_error",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::TokenInvalid => "token_invalid",
            Self::NotSmartcard => "not_smartcard",
            Self::CertificateInvalid => "certificate_invalid",
            Self::SerialInUse => "serial_in_use",
            Self::HomeOfficeNotEnabled => "home_office_not_enabled",
            Self::AccountUnavailable => "account_unavailable",
            Self::TemporaryFailure => "temporary_failure",
        }
    }
}

impl From<ProviderFailure> for CallbackFailure {
    fn from(e: ProviderFailure) -> Self {
        match e {
            ProviderFailure::Unavailable(_) => Self::ProviderUnavailable,
            ProviderFailure::Refused(_) => Self::ProviderError,
            ProviderFailure::TokenInvalid(_) => Self::TokenInvalid,
        }
    }
}

/// The callback's query: `code` + `state`, or `error` + `state`.
#[derive(Debug, Default, Clone)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

impl CallbackQuery {
    /// Parses a raw query string; a repeated parameter makes the whole query invalid.
    pub fn parse(raw: Option<&str>) -> Option<Self> {
        let mut query = Self::default();
        for (key, value) in openidconnect::url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let slot = match key.as_ref() {
                "code" => &mut query.code,
                "state" => &mut query.state,
                "error" => &mut query.error,
                _ => continue,
            };
            if slot.is_some() || value.len() > 4096 {
                return None;
            }
            *slot = Some(value.into_owned());
        }
        Some(query)
    }
}

/// What a successful callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackSuccess {
    pub username: Username,
    pub card: CardKey,
    pub registered: Registered,
}

fn well_formed_state(state: &str) -> bool {
    (16..=128).contains(&state.len())
        && state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl App {
    /// `POST /v1/homeoffice/buypass/start` for `username`, re-authenticated with the current
    /// password: a new card revokes the old one, so a stolen session alone must not be enough
    /// to put the thief's card on the account. A wrong password counts as a failed login.
    pub async fn buypass_start(
        &self,
        buypass: &Buypass,
        username: &Username,
        session: &SessionId,
        second_factor_at: Option<UnixTime>,
        password: &Password,
        source_ip: Option<&str>,
    ) -> Result<Started, ServiceError> {
        let account = self.account(username).await?;
        if !account.home_office {
            return Err(ServiceError::HomeOfficeNotEnabled);
        }
        self.reauthenticate(&account, password, source_ip, "buypass_start")
            .await?;
        // Registering or replacing the card: a fresh second factor too, if the account has one.
        self.require_fresh_second_factor(second_factor_at, username, self.now())
            .await?;
        let request = buypass.oidc.start().await.map_err(|e| {
            tracing::warn!(error = %e, "Buypass start failed");
            ServiceError::BuypassUnavailable
        })?;
        let browser_secret = random_token(16);
        let now = self.now();
        let state = LoginState {
            username: username.clone(),
            nonce: request.nonce,
            pkce_verifier: request.pkce_verifier,
            browser_hash: sha256_hex(&browser_secret),
            created_at: now,
            session: Some(session.clone()),
        };
        self.repo
            .insert(
                &keys::oidc_state_pk(&request.state),
                keys::OIDC_STATE_SK,
                &state,
                Some(now + STATE_LIFETIME),
                now,
            )
            .await?;
        Ok(Started {
            authorization_url: request.url,
            browser_secret,
        })
    }

    /// `GET /v1/homeoffice/buypass/callback`: everything after the browser comes back.
    pub async fn buypass_callback(
        &self,
        buypass: &Buypass,
        query: Option<CallbackQuery>,
        browser_secret: Option<&str>,
        source_ip: Option<&str>,
    ) -> Result<CallbackSuccess, CallbackFailure> {
        let query = query.ok_or(CallbackFailure::StateInvalid)?;
        let state = query
            .state
            .as_deref()
            .filter(|s| well_formed_state(s))
            .ok_or(CallbackFailure::StateInvalid)?;
        let login = self.consume_state(state, browser_secret).await?;
        self.starting_session_lives(&login).await?;
        let result = self.finish_login(buypass, &query, &login, source_ip).await;
        if let Err(failure) = &result {
            self.repo
                .audit(
                    &login.username,
                    AuditKind::BuypassRegistrationRejected,
                    source_ip,
                    json!({ "reason": failure.reason() }),
                    self.now(),
                )
                .await;
        }
        result
    }

    /// The session that started the registration must not have ended since (logout, "end other
    /// sessions", "this wasn't me", a password change): otherwise a thief's registration begun
    /// before the owner's report would put the thief's card on the account after it. Only
    /// revocation counts, not the idle timeout, which may pass while the user is at Buypass.
    async fn starting_session_lives(&self, login: &LoginState) -> Result<(), CallbackFailure> {
        let Some(id) = &login.session else {
            return Ok(());
        };
        let session = self
            .repo
            .load::<Session>(&keys::session_pk(id), keys::SESSION_SK, self.now())
            .await
            .map_err(|_| CallbackFailure::TemporaryFailure)?;
        match session {
            Some(s) if s.value.revoked_at.is_none() && s.value.username == login.username => Ok(()),
            _ => Err(CallbackFailure::StateInvalid),
        }
    }

    /// Takes the state out of the store exactly once, and only for the browser that started it.
    async fn consume_state(&self, state: &str, browser_secret: Option<&str>) -> Result<LoginState, CallbackFailure> {
        let now = self.now();
        let pk = keys::oidc_state_pk(state);
        let stored = self
            .repo
            .load::<LoginState>(&pk, keys::OIDC_STATE_SK, now)
            .await
            .map_err(|_| CallbackFailure::TemporaryFailure)?
            .ok_or(CallbackFailure::StateInvalid)?;
        let presented = browser_secret.map(sha256_hex).unwrap_or_default();
        if !ct_eq(&presented, &stored.value.browser_hash) {
            // Left in place: the browser that did start it may still come back.
            return Err(CallbackFailure::BrowserMismatch);
        }
        match self
            .repo
            .items()
            .delete(&pk, keys::OIDC_STATE_SK, Condition::VersionIs(stored.version()), now)
            .await
        {
            Ok(()) => Ok(stored.value),
            Err(StoreError::ConditionFailed) => Err(CallbackFailure::StateInvalid),
            Err(_) => Err(CallbackFailure::TemporaryFailure),
        }
    }

    async fn finish_login(
        &self,
        buypass: &Buypass,
        query: &CallbackQuery,
        login: &LoginState,
        source_ip: Option<&str>,
    ) -> Result<CallbackSuccess, CallbackFailure> {
        if let Some(error) = &query.error {
            return Err(if error == "access_denied" {
                CallbackFailure::LoginCancelled
            } else {
                CallbackFailure::ProviderError
            });
        }
        let code = query.code.as_deref().ok_or(CallbackFailure::ProviderError)?;
        let now = self.now();
        let verified = buypass
            .oidc
            .finish(code, &login.pkce_verifier, &login.nonce, now)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "Buypass code exchange or ID token rejected");
                CallbackFailure::from(e)
            })?;
        if !verified.amr.iter().any(|m| m == SMARTCARD_AMR) {
            tracing::info!(amr = ?verified.amr, "Buypass login was not a smartcard login");
            return Err(CallbackFailure::NotSmartcard);
        }
        let claim = verified
            .certificate
            .as_deref()
            .ok_or(CallbackFailure::CertificateInvalid)?;
        let certificate = buypass.trusted.verify(claim, now).map_err(|e: CertificateRejection| {
            tracing::warn!(error = %e, "Buypass certificate rejected");
            CallbackFailure::CertificateInvalid
        })?;
        let registration = self
            .register_serial(&login.username, &certificate, Some(&verified.subject), source_ip)
            .await
            .map_err(|e| match e {
                RegisterError::SerialInUse => CallbackFailure::SerialInUse,
                RegisterError::HomeOfficeNotEnabled => CallbackFailure::HomeOfficeNotEnabled,
                RegisterError::AccountUnavailable => CallbackFailure::AccountUnavailable,
                RegisterError::Storage(m) => {
                    tracing::error!(error = %m, "storing the Buypass registration failed");
                    CallbackFailure::TemporaryFailure
                }
            })?;
        if let Some((to, language)) = &registration.replaced_notice_to {
            // The owner learns of a card swap even when it was not them (a stolen session and
            // password); best effort, the registration stands either way.
            let text = messages::buypass_card_replaced(*language, &messages::not_me_link(&self.settings.portal_url));
            let sent = self.send_notice(&login.username, to, &text).await;
            self.repo
                .audit(
                    &login.username,
                    AuditKind::BuypassCardReplacedNotified,
                    source_ip,
                    json!({ "to": to.masked(), "notice_sent": sent }),
                    now,
                )
                .await;
        }
        Ok(CallbackSuccess {
            username: login.username.clone(),
            card: CardKey::of(&certificate),
            registered: registration.registered,
        })
    }

    /// The account record, for callers that only have a username.
    pub async fn load_account(&self, username: &Username) -> Result<Option<Account>, StoreError> {
        Ok(self
            .repo
            .load::<Account>(&account_pk(username), PROFILE_SK, self.now())
            .await?
            .map(|s| s.value))
    }
}
