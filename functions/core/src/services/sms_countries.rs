//! Where the portal texts: Norwegian numbers (+47) always, a number in another country only
//! when an operator allowed that country for the account (`portal-admin allow-country`).
//! SMS pumping sends codes to expensive foreign ranges; the portal's users are in Norway, so
//! every other country is closed unless someone decided otherwise for one person.

use serde_json::json;

use super::admin::AdminError;
use crate::app::App;
use crate::audit::AuditKind;
use crate::domain::{CountryCode, MobileNumber, Username};
use crate::error::ServiceError;
use crate::store::keys::{account_pk, PROFILE_SK};
use crate::store::records::{Account, Change};

/// Whether `to` may receive `account`'s codes and notices.
pub fn sms_country_allowed(account: &Account, to: &MobileNumber) -> bool {
    let country = to.country_code();
    country == CountryCode::NORWAY || account.sms_countries.contains(&country)
}

impl App {
    /// Refuses an SMS for `username` to a number outside Norway unless the account allows its
    /// country. Costs nothing for Norwegian numbers; reads the account otherwise.
    pub(crate) async fn check_sms_country(&self, username: &Username, to: &MobileNumber) -> Result<(), ServiceError> {
        if to.country_code() == CountryCode::NORWAY {
            return Ok(());
        }
        let allowed = self
            .load_account(username)
            .await?
            .is_some_and(|account| sms_country_allowed(&account, to));
        if allowed {
            Ok(())
        } else {
            Err(ServiceError::SmsCountryNotAllowed {
                country: to.country_code(),
            })
        }
    }

    /// `portal-admin allow-country`: the account's codes and notices may go to numbers in
    /// `country`. Returns whether anything changed.
    pub async fn allow_sms_country(&self, username: &Username, country: CountryCode) -> Result<bool, AdminError> {
        self.change_sms_countries(username, country, true).await
    }

    /// `portal-admin disallow-country`: takes the allowance back. Returns whether it was there.
    pub async fn disallow_sms_country(&self, username: &Username, country: CountryCode) -> Result<bool, AdminError> {
        self.change_sms_countries(username, country, false).await
    }

    async fn change_sms_countries(
        &self,
        username: &Username,
        country: CountryCode,
        allow: bool,
    ) -> Result<bool, AdminError> {
        if country == CountryCode::NORWAY {
            return Err(AdminError::Invalid("Norwegian numbers (+47) are always allowed".into()));
        }
        let now = self.now();
        let changed = self
            .repo
            .modify::<Account, bool, AdminError, _>(&account_pk(username), PROFILE_SK, now, |current| {
                let Some(a) = current else {
                    return Err(AdminError::NoSuchAccount(username.to_string()));
                };
                if a.sms_countries.contains(&country) == allow {
                    return Ok((Change::Keep(false), None));
                }
                let mut next = a.clone();
                if allow {
                    next.sms_countries.push(country);
                    next.sms_countries.sort();
                } else {
                    next.sms_countries.retain(|c| *c != country);
                }
                Ok((Change::Write(next, true), None))
            })
            .await?;
        if changed {
            let kind = if allow {
                AuditKind::SmsCountryAllowed
            } else {
                AuditKind::SmsCountryDisallowed
            };
            self.repo
                .audit(
                    username,
                    kind,
                    None,
                    json!({ "country_code": country.to_string(), "by": "operator" }),
                    now,
                )
                .await;
        }
        Ok(changed)
    }
}
