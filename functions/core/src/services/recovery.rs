//! Forgot password: a code by SMS to the account's number, then a new password.
//!
//! `POST /v1/auth/password/forgot` must not tell anyone which usernames exist. Every answer is
//! the same 202 `{challenge_id}` after at least the same time, and a username without an
//! (enabled) account gets a *decoy* challenge: stored like a real one and counted against the
//! same SMS limits, but with no code, so it sends nothing and no code ever answers it. Resend
//! and verify treat decoys exactly like real challenges from outside.

use std::time::Instant;

use serde_json::json;

use super::challenge_rules::{Answer, Opening};
use super::code_budgets::CodeScope;
use super::limits::{Allowance, Limit};
use super::recovery_codes::RecoveryUse;
use super::reset_factor::ResetFactor;
use crate::app::App;
use crate::audit::AuditKind;
use crate::domain::{ChallengeId, MobileNumber, NewPassword, OneTimeCode, Password, Username};
use crate::error::ServiceError;
use crate::i18n::Lang;
use crate::sms::messages;
use crate::store::keys::decoy_destination_key;
use crate::store::keys::{account_pk, PROFILE_SK};
use crate::store::records::{Account, Challenge, ChallengePurpose, Change, PhcHash};

/// Stored as the destination of decoy challenges, which never send anything. +999 is a
/// country code the ITU has not assigned, so this can never be someone's number.
const DECOY_DESTINATION: &str = "+99900000000";

impl App {
    fn forgot_requests_per_ip(&self) -> Limit {
        // Enough for a shared office address; far below the global budget
        // ([`crate::config::Policy::reset_sms_global_per_hour`]), so one address cannot use it up.
        Limit {
            scope: "ip-forgot",
            max: self.policy.forgot_requests_per_ip_hour,
            window: std::time::Duration::from_secs(3600),
        }
    }

    /// `POST /v1/auth/password/forgot`. The throttles of login codes apply to known and unknown
    /// usernames alike (429 with `Retry-After`), so they reveal nothing either.
    pub async fn forgot_password(
        &self,
        raw_username: &str,
        source_ip: Option<&str>,
    ) -> Result<ChallengeId, ServiceError> {
        let started = Instant::now();
        let result = self.start_password_reset(raw_username, source_ip).await;
        self.pad_to_forgot_floor(started).await;
        result
    }

    async fn start_password_reset(
        &self,
        raw_username: &str,
        source_ip: Option<&str>,
    ) -> Result<ChallengeId, ServiceError> {
        let now = self.now();
        if let Some(ip) = source_ip {
            if let Allowance::Wait(wait) = self.repo.limit_acquire(&self.forgot_requests_per_ip(), ip, now).await? {
                return Err(ServiceError::TooManyAttempts { retry_after: wait });
            }
        }
        // A malformed name cannot have an account; it gets a decoy under a random name that no
        // account can have, so its failures lock nobody out.
        let (username, well_formed) = match Username::parse(raw_username) {
            Ok(u) => (u, true),
            Err(_) => (unclaimable_username()?, false),
        };
        // Only reset-code entry: wrong reset codes never lock login, and a login lock does not
        // keep a user from resetting the password.
        if let Some(wait) = self.code_entry_locked_in(CodeScope::Reset, &username).await? {
            return Err(ServiceError::CodeEntryLocked { retry_after: wait });
        }
        let account = if well_formed {
            self.repo
                .load::<Account>(&account_pk(&username), PROFILE_SK, now)
                .await?
                .map(|s| s.value)
                .filter(|a| !a.disabled)
        } else {
            None
        };
        match account {
            Some(account) => self.send_reset_code(&account, source_ip).await,
            None => self.open_decoy_challenge(&username).await,
        }
    }

    async fn send_reset_code(&self, account: &Account, source_ip: Option<&str>) -> Result<ChallengeId, ServiceError> {
        let (challenge, code) = self
            .open_challenge(
                &account.username,
                &account.mobile,
                ChallengePurpose::PasswordReset,
                None,
                account.language,
            )
            .await?;
        // A 503 here would reveal that the account exists, so a failed send is only logged; the
        // challenge stays, and the user's "send again" retries it.
        let sent = match self.send_code(&challenge, &code).await {
            Ok(()) => {
                self.audit_code_sent(&challenge, source_ip).await;
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "reset code not sent");
                false
            }
        };
        self.repo
            .audit(
                &account.username,
                AuditKind::PasswordResetRequested,
                source_ip,
                json!({ "to": account.mobile.masked(), "code_sent": sent }),
                self.now(),
            )
            .await;
        Ok(challenge.id)
    }

    async fn open_decoy_challenge(&self, username: &Username) -> Result<ChallengeId, ServiceError> {
        let now = self.now();
        self.reserve_sms_under(
            &ChallengePurpose::PasswordReset,
            username.as_str(),
            &decoy_destination_key(username),
        )
        .await?;
        let opening = Opening {
            purpose: ChallengePurpose::PasswordReset,
            username: username.clone(),
            destination: MobileNumber::parse(DECOY_DESTINATION)?,
            answer: Answer::Decoy,
            password_version: None,
            language: Lang::default(),
        };
        let id = self.insert_challenge(ChallengeId::generate(), opening).await?.id;
        self.sent_sms_stand_in().await;
        // Stand-ins for the two audit events a real request writes, so both cost the same I/O.
        let key = Self::backoff_key(username.as_str());
        self.repo.audit_stand_in(&key, AuditKind::CodeSent, now).await;
        self.repo
            .audit_stand_in(&key, AuditKind::PasswordResetRequested, now)
            .await;
        Ok(id)
    }

    /// `POST /v1/auth/password/reset`: the code from the SMS and a new password, and for an
    /// account with a passkey or an authenticator app one of its factors too
    /// ([`super::reset_factor`]). Every session of the account ends, the login backoff is
    /// forgiven, and the phone gets a notice.
    pub async fn reset_password(
        &self,
        id: &ChallengeId,
        code: &OneTimeCode,
        new_password: Password,
        factor: Option<&ResetFactor>,
        source_ip: Option<&str>,
    ) -> Result<(), ServiceError> {
        let is_reset = |c: &Challenge| matches!(c.purpose, ChallengePurpose::PasswordReset);
        // A new password of the wrong length is a malformed field (the contract's schema says
        // 12–128): refused as such even when the challenge is gone. With a live challenge every
        // reason is reported below, the username ones too.
        let length = NewPassword::length_reasons(&new_password);
        let challenge = match self.live_challenge(id).await {
            Ok(c) if is_reset(&c) => c,
            Ok(_) | Err(ServiceError::ChallengeGone) if !length.is_empty() => {
                return Err(ServiceError::WeakPassword(length));
            }
            Ok(_) => return Err(ServiceError::ChallengeGone),
            Err(e) => return Err(e),
        };
        // Checked before the code is: a weak choice must not use up the code or an attempt.
        let new_password = NewPassword::parse(new_password, &challenge.username).map_err(ServiceError::WeakPassword)?;
        // Read for every challenge, decoys too, so the work does not tell them apart.
        let mut factors = self.reset_factors(&challenge.username).await?;
        let mut used = None;
        if factors.may_be_required() {
            // The SMS code first, left unused: it must still work with the factor.
            let checked = self.check_code_unspent(id, code, source_ip, is_reset).await?;
            self.load_reset_passkeys(&mut factors, &checked.username).await?;
            if factors.required() {
                let Some(factor) = factor else {
                    return Err(self.second_factor_required(&checked, &factors).await?);
                };
                used = Some(self.verify_reset_factor(&checked, &factors, factor, source_ip).await?);
            }
        }
        let challenge = self.verify_code(id, code, source_ip, is_reset).await?;
        let username = challenge.username;
        if let Some(left) = used.as_ref().and_then(|u| u.recovery_codes_left) {
            self.recovery_code_used(
                &username,
                &challenge.destination,
                challenge.language,
                RecoveryUse::PasswordReset,
                left,
                source_ip,
            )
            .await;
        }
        let hash = self
            .passwords
            .hash(new_password.password())
            .await
            .map_err(ServiceError::Internal)?;
        let now = self.now();
        let account = self
            .repo
            .modify::<Account, Account, ServiceError, _>(&account_pk(&username), PROFILE_SK, now, |current| {
                // Disabled since the code was sent: the code is spent, the account unchanged.
                let Some(a) = current.filter(|a| !a.disabled) else {
                    return Err(ServiceError::ChallengeGone);
                };
                let mut next = a.clone();
                next.password_hash = PhcHash(hash.clone());
                next.password_change_required = false;
                next.password_changed_at = Some(now);
                next.password_version += 1;
                Ok((Change::Write(next, a.clone()), None))
            })
            .await?;
        let revoked = self
            .revoke_sessions_from(&username, None, "password_reset", source_ip)
            .await?;
        self.repo
            .failure_streak_clear(&Self::backoff_key(username.as_str()), now)
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
                &username,
                AuditKind::PasswordReset,
                source_ip,
                json!({
                    "by": "user",
                    "second_factor": used.as_ref().map(|u| u.method),
                    "passkey": used.as_ref().and_then(|u| u.passkey.clone()),
                    "sessions_revoked": revoked,
                    "notice_to": account.mobile.masked(),
                    "notice_sent": notified,
                }),
                now,
            )
            .await;
        Ok(())
    }
}

/// A well-formed name for the decoy of a malformed one: 128 random bits, so no account will
/// ever have it and the decoy's wrong codes lock out no one.
fn unclaimable_username() -> Result<Username, ServiceError> {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    Ok(Username::parse(&format!(
        "decoy-{}",
        crate::security::hex_encode(&bytes)
    ))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoy_destination_is_a_valid_number_no_one_has() {
        let number = MobileNumber::parse(DECOY_DESTINATION).unwrap();
        assert!(number.as_e164().starts_with("+999"));
    }

    #[test]
    fn unclaimable_usernames_are_valid_and_random() {
        let a = unclaimable_username().unwrap();
        let b = unclaimable_username().unwrap();
        assert_ne!(a, b);
    }
}
