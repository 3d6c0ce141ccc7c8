//! Passwords inside a session: re-authentication before sensitive changes, the user's own
//! password change, and operators' resets (`portal-admin reset-password`).

use serde_json::json;

use super::admin::{generate_initial_password, AdminError};
use super::sessions::Caller;
use crate::app::App;
use crate::audit::AuditKind;
use crate::domain::{MobileNumber, NewPassword, Password, Username};
use crate::error::ServiceError;
use crate::security::passwords::Verdict;
use crate::sms::messages;
use crate::store::keys::{account_pk, PROFILE_SK};
use crate::store::records::{Account, Change, PhcHash};

/// What an operator is told after a reset (never the password itself).
#[derive(Debug, Clone)]
pub struct OperatorReset {
    pub sent_to: String,
    pub sessions_revoked: usize,
}

impl App {
    /// Checks the signed-in user's current password before a sensitive change (ASVS 3.7.1).
    /// The same throttles as login apply, and a wrong password counts as a failed login
    /// attempt (per-username backoff and per-address counter), so a stolen session cannot be
    /// used to guess the password faster than the login form allows.
    pub async fn reauthenticate(
        &self,
        account: &Account,
        password: &Password,
        source_ip: Option<&str>,
        during: &'static str,
    ) -> Result<(), ServiceError> {
        let backoff_key = Self::backoff_key(account.username.as_str());
        // Counted before the hash is checked, so parallel guesses cannot share one streak.
        let attempt = self.reserve_password_attempt(&backoff_key, source_ip).await?;
        let verdict = if password.is_overlong() {
            // Never hash unbounded input; do the same work as for a wrong password.
            self.passwords.verify(&Password::new(String::new()), None).await
        } else {
            self.passwords.verify(password, Some(&account.password_hash.0)).await
        };
        if verdict == Verdict::Mismatch {
            self.login_failed(&backoff_key, &attempt, Some(account), source_ip, during)
                .await;
            return Err(ServiceError::WrongPassword);
        }
        self.password_attempt_succeeded(&backoff_key, &attempt, source_ip).await
    }

    /// `PUT /v1/account/password`: old password, new password, and for an account with an app
    /// or passkey a fresh second factor ([`App::require_fresh_second_factor`]). The current
    /// session stays; every other session of the account ends; the account's phone gets a
    /// notice.
    pub async fn change_password(
        &self,
        caller: &Caller,
        old_password: &Password,
        new_password: Password,
        source_ip: Option<&str>,
    ) -> Result<(), ServiceError> {
        let account = self.account(&caller.username).await?;
        // The policy check is free and reveals nothing, so it comes before the password check
        // and a weak choice costs the user no attempt.
        let new_password = NewPassword::parse(new_password, &account.username).map_err(ServiceError::WeakPassword)?;
        self.reauthenticate(&account, old_password, source_ip, "password_change")
            .await?;
        // With the password alone (and an SMS code for the session) nobody may take an account
        // protected by an app or passkey away from its owner: a new password would end the
        // owner's sessions and keep their passkey from logging in.
        self.require_fresh_second_factor(caller.second_factor_at, &account.username, self.now())
            .await?;
        let hash = self
            .passwords
            .hash(new_password.password())
            .await
            .map_err(ServiceError::Internal)?;
        self.store_password(&account.username, Some(&account.password_hash), hash, false)
            .await?;
        self.set_session_password_change_required(&caller.session, false)
            .await?;
        let revoked = self
            .revoke_sessions_from(&account.username, Some(&caller.session), "password_changed", source_ip)
            .await?;
        let notified = self
            .send_notice(
                &account.username,
                &account.mobile,
                messages::password_changed(account.language),
            )
            .await;
        self.repo
            .audit(
                &account.username,
                AuditKind::PasswordChanged,
                source_ip,
                json!({
                    "other_sessions_revoked": revoked,
                    "notice_to": account.mobile.masked(),
                    "notice_sent": notified,
                }),
                self.now(),
            )
            .await;
        Ok(())
    }

    /// Writes a new password hash. With `expected`, only if the stored hash is still the one
    /// the old password was checked against: of two concurrent changes, one loses with 409
    /// instead of silently overwriting the other.
    pub(crate) async fn store_password(
        &self,
        username: &Username,
        expected: Option<&PhcHash>,
        hash: String,
        change_required: bool,
    ) -> Result<Account, ServiceError> {
        let now = self.now();
        self.repo
            .modify::<Account, Account, ServiceError, _>(&account_pk(username), PROFILE_SK, now, |current| {
                let Some(a) = current else {
                    return Err(ServiceError::SessionExpired);
                };
                if expected.is_some_and(|e| *e != a.password_hash) {
                    return Err(ServiceError::Conflict("password_changed_concurrently"));
                }
                let mut next = a.clone();
                next.password_hash = PhcHash(hash.clone());
                next.password_change_required = change_required;
                next.password_changed_at = Some(now);
                next.password_version += 1;
                Ok((Change::Write(next, a.clone()), None))
            })
            .await
    }

    /// Sends a security notice. The change it reports has already happened, so a failure is
    /// logged and reported to the caller (for the audit trail), never turned into an error.
    /// Notices are not counted against the SMS limits: an attacker must not be able to use
    /// up the limits to silence them. A number outside Norway gets one only where the
    /// account allows its country ([`crate::services::sms_countries`]).
    pub(crate) async fn send_notice(&self, username: &Username, to: &MobileNumber, text: &str) -> bool {
        if let Err(e) = self.check_sms_country(username, to).await {
            tracing::warn!(error = %e, "security notice not sent");
            return false;
        }
        match self.publish_sms(username, to, text, "notice", None).await {
            Ok(()) => {
                self.record_sms_spend().await;
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "security notice not sent");
                false
            }
        }
    }

    /// `portal-admin reset-password`: a new generated password, sent by SMS as NHN sends
    /// initial passwords; the user must change it after logging in, and every session ends.
    pub async fn reset_password_by_operator(&self, username: &Username) -> Result<OperatorReset, AdminError> {
        let account = self
            .repo
            .load::<Account>(&account_pk(username), PROFILE_SK, self.now())
            .await?
            .map(|s| s.value)
            .ok_or_else(|| AdminError::NoSuchAccount(username.to_string()))?;
        if !super::sms_countries::sms_country_allowed(&account, &account.mobile) {
            return Err(AdminError::Invalid(format!(
                "the account's number is in {}, which is not allowed for SMS: run allow-country first",
                account.mobile.country_code()
            )));
        }
        let password = generated_password_for(username)?;
        let hash = self
            .passwords
            .hash(password.password())
            .await
            .map_err(ServiceError::Internal)?;
        // The flag is written before the sessions are revoked; see `Account::password_change_required`.
        self.store_password(username, None, hash, true).await?;
        let revoked = self
            .revoke_all_sessions(username, None, "password_reset_by_operator")
            .await?;
        self.repo
            .failure_streak_clear(&Self::backoff_key(username.as_str()), self.now())
            .await?;
        let text = messages::initial_password(account.language, username.as_str(), password.password().expose());
        let sent = self.sms.send(&account.mobile, &text).await;
        if sent.is_ok() {
            self.record_sms_spend().await;
        }
        self.repo
            .audit(
                username,
                AuditKind::PasswordReset,
                None,
                json!({
                    "by": "operator",
                    "sent_to": account.mobile.masked(),
                    "sent": sent.is_ok(),
                    "sessions_revoked": revoked,
                }),
                self.now(),
            )
            .await;
        if let Err(e) = sent {
            return Err(AdminError::Invalid(format!(
                "the password was reset but the SMS could not be sent ({e}); run reset-password again"
            )));
        }
        Ok(OperatorReset {
            sent_to: account.mobile.masked(),
            sessions_revoked: revoked,
        })
    }
}

/// A generated password that meets the policy for this user (a random one can, very rarely,
/// contain a short username).
fn generated_password_for(username: &Username) -> Result<NewPassword, AdminError> {
    for _ in 0..8 {
        if let Ok(p) = NewPassword::parse(generate_initial_password(), username) {
            return Ok(p);
        }
    }
    Err(AdminError::Invalid(
        "could not generate a password that meets the policy".into(),
    ))
}
