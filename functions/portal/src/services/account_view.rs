//! `GET /v1/account`: what the account page shows.

use serde::Serialize;

use crate::app::App;
use crate::domain::Username;
use crate::error::ApiError;
use crate::store::records::{account_pk, Account, PROFILE_SK};

#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub username: String,
    pub name: String,
    /// `null` is shown as "Ingen e-post registrert".
    pub email: Option<String>,
    pub mobile: String,
    pub password_change_required: bool,
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
    pub async fn account(&self, username: &Username) -> Result<Account, ApiError> {
        self.repo
            .load::<Account>(&account_pk(username), PROFILE_SK, self.now())
            .await?
            .map(|s| s.value)
            .ok_or(ApiError::SessionExpired)
    }

    pub async fn account_view(&self, username: &Username) -> Result<AccountView, ApiError> {
        let account = self.account(username).await?;
        let card = self.card_status(&account).await?;
        Ok(AccountView {
            username: account.username.as_str().to_owned(),
            name: account.name,
            email: account.email,
            mobile: account.mobile.as_e164().to_owned(),
            password_change_required: account.password_change_required,
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
