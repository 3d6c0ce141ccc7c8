//! `GET /v1/account`: what the account page shows.

use serde::Serialize;

use crate::app::App;
use crate::domain::Username;
use crate::error::ServiceError;
use crate::i18n::Lang;
use crate::services::sessions::Caller;
use crate::store::keys::{account_pk, PROFILE_SK};
use crate::store::records::{Account, Change};

#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub username: String,
    pub name: String,
    /// `null` is shown as "Ingen e-post registrert".
    pub email: Option<String>,
    pub mobile: String,
    pub password_change_required: bool,
    /// `nb`, `nn` or `en`: the language of the account's SMS.
    pub language: Lang,
    pub home_office: HomeOfficeView,
}

#[derive(Debug, Clone, Serialize)]
pub struct HomeOfficeView {
    pub enabled: bool,
    pub buypass: BuypassView,
}

#[derive(Debug, Clone, Serialize)]
pub struct BuypassView {
    /// `not_registered`, `pending`, `active` or `failed`.
    pub status: &'static str,
    pub serial_number: Option<String>,
    pub registered_at: Option<String>,
    pub activated_at: Option<String>,
}

impl App {
    pub async fn account(&self, username: &Username) -> Result<Account, ServiceError> {
        self.repo
            .load::<Account>(&account_pk(username), PROFILE_SK, self.now())
            .await?
            .map(|s| s.value)
            .ok_or(ServiceError::SessionExpired)
    }

    /// `PUT /v1/account/language` (and `portal-admin set-language`): the account's language
    /// for its SMS. Written only when it changes.
    pub async fn set_language(&self, username: &Username, language: Lang) -> Result<(), ServiceError> {
        self.repo
            .modify::<Account, (), ServiceError, _>(&account_pk(username), PROFILE_SK, self.now(), |current| {
                let Some(a) = current else {
                    return Err(ServiceError::SessionExpired);
                };
                if a.language == language {
                    return Ok((Change::Keep(()), None));
                }
                let mut next = a.clone();
                next.language = language;
                Ok((Change::Write(next, ()), None))
            })
            .await
    }

    pub async fn account_view(&self, username: &Username) -> Result<AccountView, ServiceError> {
        let account = self.account(username).await?;
        self.view_of(account).await
    }

    /// [`Self::account_view`] of an authenticated caller, from the account read together with
    /// the session: no further read unless the account has a card (its record is keyed by the
    /// serial the account names).
    pub async fn account_view_of(&self, caller: &Caller) -> Result<AccountView, ServiceError> {
        match &caller.account {
            Some(account) if account.username == caller.username => self.view_of((**account).clone()).await,
            _ => self.account_view(&caller.username).await,
        }
    }

    async fn view_of(&self, account: Account) -> Result<AccountView, ServiceError> {
        let card = self.card_status(&account).await?;
        Ok(AccountView {
            username: account.username.as_str().to_owned(),
            name: account.name,
            email: account.email,
            mobile: account.mobile.as_e164().to_owned(),
            password_change_required: account.password_change_required,
            language: account.language,
            home_office: HomeOfficeView {
                enabled: account.home_office,
                buypass: BuypassView {
                    status: card.status,
                    serial_number: card.serial_number,
                    registered_at: card.registered_at.map(crate::clock::rfc3339),
                    activated_at: card.activated_at.map(crate::clock::rfc3339),
                },
            },
        })
    }
}
