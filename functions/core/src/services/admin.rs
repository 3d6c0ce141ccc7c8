//! Operators' actions (portal-admin): provisioning accounts as NHN does.

use serde_json::json;

use crate::app::App;
use crate::audit::AuditKind;
use crate::buypass::registry::RegisterError;
use crate::domain::{MobileNumber, NewPassword, Password, Username};
use crate::error::ServiceError;
use crate::sms::messages;
use crate::store::keys::{account_pk, PROFILE_SK};
use crate::store::records::{Account, PhcHash};
use crate::store::StoreError;

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: Username,
    pub name: String,
    pub email: Option<String>,
    pub mobile: MobileNumber,
    pub home_office: bool,
    pub password: InitialPassword,
}

/// Where a new account's password comes from, which decides whether it must be changed.
#[derive(Debug, Clone)]
pub enum InitialPassword {
    /// Generated here and sent by SMS, as NHN sends initial passwords; must be changed at
    /// first login.
    Generated,
    /// Typed by an operator (`portal-admin`): someone other than the user knows it, so it
    /// must be changed at first login too.
    ChosenByOperator(Password),
    /// Already the user's own: the local demo account, and test fixtures.
    Permanent(Password),
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("an account named {0} already exists")]
    Duplicate(String),
    #[error("no account named {0}")]
    NoSuchAccount(String),
    #[error("invalid value: {0}")]
    Invalid(String),
    #[error("{0}")]
    Api(#[from] ServiceError),
}

/// What an operator's change of an account did.
#[derive(Debug, Clone)]
pub struct AccountUpdated {
    /// The account as the change left it (before any card revocation).
    pub account: Account,
    /// The card the change revoked. The gateway hears about it from the activation worker
    /// (in AWS the table's stream triggers it; locally `portal-admin` runs it).
    pub revoked_serial: Option<crate::buypass::registry::CardKey>,
}

impl From<RegisterError> for AdminError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::Storage(m) => Self::Api(ServiceError::StorageUnavailable(m)),
            other => Self::Invalid(other.to_string()),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        Self::Api(e.into())
    }
}

/// A generated initial password: 4 groups of 4 from an unambiguous alphabet (~82 bits).
pub fn generate_initial_password() -> Password {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    let groups: Vec<String> = (0..4)
        .map(|_| {
            (0..4)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect()
        })
        .collect();
    Password::new(groups.join("-"))
}

impl App {
    /// Creates an account; the username must be free (a conditional write, not a check).
    /// Returns the generated password when one was generated (it has also been sent by SMS).
    pub async fn create_account(&self, new: NewAccount) -> Result<Option<Password>, AdminError> {
        if matches!(new.password, InitialPassword::Generated) && !new.mobile.is_norwegian() {
            // The generated password goes by SMS, and a new account allows no country but
            // Norway: create it with a chosen password, then allow-country.
            return Err(AdminError::Invalid(format!(
                "a generated password is texted, and numbers in {} get no SMS until allow-country: give a password instead",
                new.mobile.country_code()
            )));
        }
        let (password, generated, change_required) = match new.password {
            InitialPassword::Generated => (generate_initial_password(), true, true),
            InitialPassword::ChosenByOperator(p) => (p, false, true),
            InitialPassword::Permanent(p) => (p, false, false),
        };
        if let Some(email) = &new.email {
            let valid = email.len() <= 254
                && email
                    .split_once('@')
                    .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
            if !valid {
                return Err(AdminError::Invalid("email is not a valid address".into()));
            }
        }
        if new.name.trim().is_empty() || new.name.chars().count() > 200 {
            return Err(AdminError::Invalid("name must be 1 to 200 characters".into()));
        }
        let password = NewPassword::parse(password, &new.username).map_err(|reasons| {
            AdminError::Invalid(
                reasons
                    .iter()
                    .map(|r| crate::i18n::text(crate::i18n::Lang::En, r.catalogue_key()))
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        })?;
        let hash = self
            .passwords
            .hash(password.password())
            .await
            .map_err(ServiceError::Internal)?;
        let now = self.now();
        let account = Account {
            username: new.username.clone(),
            name: new.name.trim().to_owned(),
            email: new.email,
            mobile: new.mobile.clone(),
            password_hash: PhcHash(hash),
            disabled: false,
            home_office: new.home_office,
            password_change_required: change_required,
            created_at: now,
            password_changed_at: None,
            password_version: 0,
            buypass_serial: None,
            buypass_issuer: None,
            language: crate::i18n::Lang::default(),
            sms_countries: Vec::new(),
            browsers_known: false,
        };
        match self
            .repo
            .insert(&account_pk(&new.username), PROFILE_SK, &account, None, now)
            .await
        {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => return Err(AdminError::Duplicate(new.username.to_string())),
            Err(e) => return Err(e.into()),
        }
        self.repo
            .audit(
                &new.username,
                AuditKind::AccountCreated,
                None,
                json!({ "mobile": new.mobile.masked(), "home_office": new.home_office }),
                now,
            )
            .await;
        if generated {
            let text =
                messages::initial_password(account.language, new.username.as_str(), password.password().expose());
            self.sms.send(&new.mobile, &text).await.map_err(ServiceError::from)?;
            self.record_sms_spend().await;
            self.repo
                .audit(
                    &new.username,
                    AuditKind::InitialPasswordIssued,
                    None,
                    json!({ "to": new.mobile.masked() }),
                    now,
                )
                .await;
            return Ok(Some(password.password().clone()));
        }
        Ok(None)
    }

    /// Applies `change` to an existing account. A change after which the account may no
    /// longer use its card (disabled, off home office, or pointed at another card) revokes the
    /// card in the same transaction ([`App::update_account_revoking_card`]).
    pub async fn update_account(
        &self,
        username: &Username,
        change: impl Fn(&mut Account),
    ) -> Result<Account, AdminError> {
        let (account, _) = self
            .update_account_revoking_card(username, change, "account_changed")
            .await?
            .ok_or_else(|| AdminError::NoSuchAccount(username.to_string()))?;
        Ok(account)
    }

    /// Disables or enables login. Disabling also ends every session at once and revokes the
    /// account's card for the gateway (reason `account_disabled`); enabling gives no card back
    /// (the user registers it again).
    pub async fn set_disabled(&self, username: &Username, disabled: bool) -> Result<AccountUpdated, AdminError> {
        let (account, revoked_serial) = self
            .update_account_revoking_card(username, |a| a.disabled = disabled, "account_disabled")
            .await?
            .ok_or_else(|| AdminError::NoSuchAccount(username.to_string()))?;
        let kind = if disabled {
            AuditKind::AccountDisabled
        } else {
            AuditKind::AccountEnabled
        };
        self.repo.audit(username, kind, None, json!({}), self.now()).await;
        if disabled {
            self.revoke_all_sessions(username, None, "account_disabled").await?;
        }
        Ok(AccountUpdated {
            account,
            revoked_serial,
        })
    }

    /// Turns home office on or off. Off also revokes the account's card for the gateway
    /// (reason `home_office_disabled`); on gives no card back (the user registers it again).
    pub async fn set_home_office(&self, username: &Username, enabled: bool) -> Result<AccountUpdated, AdminError> {
        let (account, revoked_serial) = self
            .update_account_revoking_card(username, |a| a.home_office = enabled, "home_office_disabled")
            .await?
            .ok_or_else(|| AdminError::NoSuchAccount(username.to_string()))?;
        self.repo
            .audit(
                username,
                AuditKind::HomeOfficeChanged,
                None,
                json!({ "enabled": enabled }),
                self.now(),
            )
            .await;
        Ok(AccountUpdated {
            account,
            revoked_serial,
        })
    }
}
