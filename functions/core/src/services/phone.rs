//! Changing the account's mobile number (DESIGN §3 "Phone change"): the current password as
//! re-authentication, a code to the NEW number, the switch only when that code comes back, and
//! a notice to the OLD number. Until then the old number stays in force.

use serde_json::json;

use super::challenges::IssuedChallenge;
use super::sessions::Caller;
use super::sms_countries::sms_country_allowed;
use crate::app::App;
use crate::audit::AuditKind;
use crate::domain::{ChallengeId, InvalidInput, MobileNumber, OneTimeCode, Password};
use crate::error::ServiceError;
use crate::sms::messages;
use crate::store::keys::{account_pk, PROFILE_SK};
use crate::store::records::{Account, ChallengePurpose, Change};

impl App {
    /// `POST /v1/account/phone`: checks the number, the password and (for an account with an
    /// app or passkey) a fresh second factor, then texts a code to the new number.
    pub async fn start_phone_change(
        &self,
        caller: &Caller,
        raw_new_mobile: &str,
        password: &Password,
        source_ip: Option<&str>,
    ) -> Result<IssuedChallenge, ServiceError> {
        let new_mobile = MobileNumber::parse(raw_new_mobile).map_err(|e| InvalidInput::new("new_mobile", e.reason))?;
        let account = self.account(&caller.username).await?;
        // Codes go only where the service has users (no SMS pumping to premium ranges abroad):
        // Norway, or a country an operator allowed for this account. Refused before the
        // password is checked or anything is counted.
        if !sms_country_allowed(&account, &new_mobile) {
            return Err(ServiceError::SmsCountryNotAllowed {
                country: new_mobile.country_code(),
            });
        }
        if new_mobile == account.mobile {
            return Err(InvalidInput::new("new_mobile", "is already the mobile number on the account").into());
        }
        self.reauthenticate(&account, password, source_ip, "phone_change")
            .await?;
        // The number receives the reset codes and every notice: moving it is as sensitive as
        // the password. Guarded here only: the confirmation needs the code this start texted
        // to the number it chose, and the challenge answers only this account.
        self.require_fresh_second_factor(caller.second_factor_at, &account.username, self.now())
            .await?;
        if let Some(wait) = self.code_entry_locked(&account.username).await? {
            return Err(ServiceError::CodeEntryLocked { retry_after: wait });
        }
        let issued = self
            .start_challenge(
                &account.username,
                &new_mobile,
                ChallengePurpose::PhoneChange {
                    new_mobile: new_mobile.clone(),
                },
                None,
                account.language,
                source_ip,
            )
            .await?;
        self.repo
            .audit(
                &account.username,
                AuditKind::PhoneChangeRequested,
                source_ip,
                json!({ "from": account.mobile.masked(), "to": new_mobile.masked() }),
                self.now(),
            )
            .await;
        Ok(issued)
    }

    /// `POST /v1/account/phone/confirm`: the code sent to the new number switches it. A
    /// challenge of another user, or of another purpose, is answered exactly like an unknown
    /// one (410) and costs its owner no attempt.
    pub async fn confirm_phone_change(
        &self,
        caller: &Caller,
        id: &ChallengeId,
        code: &OneTimeCode,
        source_ip: Option<&str>,
    ) -> Result<(), ServiceError> {
        let challenge = self
            .verify_code(id, code, source_ip, |c| {
                matches!(c.purpose, ChallengePurpose::PhoneChange { .. }) && c.username == caller.username
            })
            .await?;
        let ChallengePurpose::PhoneChange { new_mobile } = challenge.purpose else {
            return Err(ServiceError::ChallengeGone);
        };
        let now = self.now();
        // Conditional on the version read: a concurrent change of the account re-reads it.
        let old_mobile = self
            .repo
            .modify::<Account, Option<(MobileNumber, crate::i18n::Lang)>, ServiceError, _>(
                &account_pk(&caller.username),
                PROFILE_SK,
                now,
                |current| {
                    let Some(a) = current else {
                        return Err(ServiceError::SessionExpired);
                    };
                    if a.mobile == new_mobile {
                        return Ok((Change::Keep(None), None));
                    }
                    let mut next = a.clone();
                    next.mobile = new_mobile.clone();
                    Ok((Change::Write(next, Some((a.mobile.clone(), a.language))), None))
                },
            )
            .await?;
        let Some((old_mobile, language)) = old_mobile else {
            // Already the account's number (confirmed in parallel): nothing changed, no notice.
            return Ok(());
        };
        let notified = self
            .send_notice(&caller.username, &old_mobile, messages::phone_changed(language))
            .await;
        self.repo
            .audit(
                &caller.username,
                AuditKind::PhoneChanged,
                source_ip,
                json!({
                    "from": old_mobile.masked(),
                    "to": new_mobile.masked(),
                    "notice_sent": notified,
                }),
                now,
            )
            .await;
        Ok(())
    }
}
