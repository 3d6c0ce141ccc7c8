//! Recovery codes (issue 17): ten single-use codes, the last resort when the passkey or the
//! authenticator app is lost, as Keycloak and Kratos offer them.
//!
//! - `POST /v1/account/recovery-codes` (password again) generates ten from the OS RNG and
//!   shows them this once; every earlier code dies with the same write.
//! - Stored only as keyed hashes (HMAC under the code pepper, bound to the account), all of
//!   an account's in one record beside its profile (`ACCOUNT#<user>`/`RECOVERY_CODES`).
//! - A code is used by a write conditional on the record's version that removes its hash, so
//!   of any number of concurrent uses of one code exactly one succeeds. Presented codes are
//!   compared with every stored hash in constant time.
//! - They answer a login challenge of an account with a passkey or an app
//!   (`POST /v1/auth/recovery-code/verify`, with the shared code-attempt limits) and stand in
//!   for that factor in a password reset (`services::recovery`). Each use is audited and texted
//!   to the account's phone.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::code_budgets::CodeScope;
use super::step_up::second_factor_fresh;
use super::totp_login::versioned_put;
use crate::app::App;
use crate::audit::AuditKind;
use crate::clock::UnixTime;
use crate::domain::{ChallengeId, MobileNumber, Password, RecoveryCode, Username};
use crate::error::ServiceError;
use crate::i18n::Lang;
use crate::sms::messages;
use crate::store::keys::{account_pk, challenge_pk, CHALLENGE_SK, RECOVERY_CODES_SK};
use crate::store::records::{Challenge, ChallengePurpose, Change};
use crate::store::{StoreError, WriteOp};

/// Codes per generation.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// Retries of the read-modify-write over the challenge and the codes.
const MAX_RETRIES: usize = 16;

/// The stored record: the keyed hashes of the codes not used yet.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RecoveryCodesRecord {
    pub created_at: UnixTime,
    pub hashes: Vec<String>,
}

impl RecoveryCodesRecord {
    /// The record after the code whose keyed hash is `presented` is spent, or `None` when it
    /// is not (or no longer) one of its codes.
    fn without(&self, presented: &str) -> Option<Self> {
        let i = position(&self.hashes, presented)?;
        let mut next = self.clone();
        next.hashes.remove(i);
        Some(next)
    }
}

/// Fresh codes, as shown this once (`xxxxx-xxxxx`). `Debug` never prints them.
pub struct GeneratedRecoveryCodes {
    pub codes: Vec<String>,
    pub created_at: UnixTime,
}

impl std::fmt::Debug for GeneratedRecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GeneratedRecoveryCodes({} codes, ***)", self.codes.len())
    }
}

/// `GET /v1/account/recovery-codes`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct RecoveryCodesStatus {
    pub remaining: usize,
    pub created_at: Option<UnixTime>,
}

/// Where a recovery code was used, for the audit trail and the notice.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RecoveryUse {
    Login,
    PasswordReset,
    StepUp,
}

impl RecoveryUse {
    fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::PasswordReset => "password_reset",
            Self::StepUp => "step_up",
        }
    }
}

/// The index of the stored hash equal to `presented`, comparing with every one of them in
/// constant time (no early exit, so the time says nothing about where or whether it matched).
fn position(hashes: &[String], presented: &str) -> Option<usize> {
    let mut found = None;
    for (i, stored) in hashes.iter().enumerate() {
        let equal = crate::security::ct_eq(stored, presented);
        if equal && found.is_none() {
            found = Some(i);
        }
    }
    found
}

impl App {
    /// The keyed hash of `code` for `username`: the pepper keys it, the account binds it, so a
    /// stored hash is worthless without the server's key and for any other account.
    pub(crate) fn recovery_code_hash(&self, username: &Username, code: &RecoveryCode) -> Result<String, ServiceError> {
        Ok(self
            .code_hasher()?
            .tag("recovery-code", &format!("{username}\0{}", code.expose())))
    }

    /// `POST /v1/account/recovery-codes`: after the password (the login throttles apply), only
    /// for an account with a passkey or an app (else [`ServiceError::NoSecondFactor`]), and
    /// with a fresh second factor (codes stand in for
    /// those factors, so whoever holds only the password and the SIM must not make a set),
    /// ten new codes replace every earlier one.
    pub async fn generate_recovery_codes(
        &self,
        username: &Username,
        second_factor_at: Option<UnixTime>,
        password: &Password,
        source_ip: Option<&str>,
    ) -> Result<GeneratedRecoveryCodes, ServiceError> {
        let account = self.account(username).await?;
        self.reauthenticate(&account, password, source_ip, "recovery_codes")
            .await?;
        let now = self.now();
        // Codes only stand in for an app or passkey, so an account without one gets none: a
        // set made by whoever holds the password and the SIM before the owner's first factor
        // (or racing its enrolment) would otherwise outlive it.
        let methods = self.step_up_methods(username).await?;
        if methods.is_empty() {
            return Err(ServiceError::NoSecondFactor);
        }
        if !second_factor_fresh(second_factor_at, now) {
            return Err(ServiceError::StepUpRequired { methods });
        }
        let codes: Vec<RecoveryCode> = (0..RECOVERY_CODE_COUNT).map(|_| RecoveryCode::generate()).collect();
        let hashes = codes
            .iter()
            .map(|c| self.recovery_code_hash(username, c))
            .collect::<Result<Vec<_>, _>>()?;
        let record = RecoveryCodesRecord {
            created_at: now,
            hashes,
        };
        // Through `modify`, so the version always grows: a use that read the old record can
        // never write it back over the new one.
        self.repo
            .modify::<RecoveryCodesRecord, (), ServiceError, _>(&account_pk(username), RECOVERY_CODES_SK, now, |_| {
                Ok((Change::Write(record.clone(), ()), None))
            })
            .await?;
        self.repo
            .audit(
                username,
                AuditKind::RecoveryCodesGenerated,
                source_ip,
                json!({ "count": RECOVERY_CODE_COUNT }),
                now,
            )
            .await;
        Ok(GeneratedRecoveryCodes {
            codes: codes.iter().map(RecoveryCode::formatted).collect(),
            created_at: now,
        })
    }

    /// `GET /v1/account/recovery-codes`: how many are left, and when they were generated.
    pub async fn recovery_codes_status(&self, username: &Username) -> Result<RecoveryCodesStatus, ServiceError> {
        let record = self.recovery_codes(username).await?;
        Ok(RecoveryCodesStatus {
            remaining: record.as_ref().map_or(0, |r| r.hashes.len()),
            created_at: record.map(|r| r.created_at),
        })
    }

    pub(crate) async fn recovery_codes(
        &self,
        username: &Username,
    ) -> Result<Option<RecoveryCodesRecord>, ServiceError> {
        Ok(self
            .repo
            .load::<RecoveryCodesRecord>(&account_pk(username), RECOVERY_CODES_SK, self.now())
            .await?
            .map(|s| s.value))
    }

    /// Removes every recovery code of the account ("this wasn't me"); whether there were any.
    pub(crate) async fn delete_recovery_codes(&self, username: &Username) -> Result<bool, ServiceError> {
        self.repo
            .modify::<RecoveryCodesRecord, bool, ServiceError, _>(
                &account_pk(username),
                RECOVERY_CODES_SK,
                self.now(),
                |current| {
                    Ok(match current {
                        None => (Change::Keep(false), None),
                        Some(_) => (Change::Delete(true), None),
                    })
                },
            )
            .await
    }

    /// Uses `code` if it is one of the account's: removes its hash in one write conditional on
    /// the record's version. `Some(codes left)` when it was, `None` when it is not (or no
    /// longer) one of them.
    pub(crate) async fn use_recovery_code(
        &self,
        username: &Username,
        code: &RecoveryCode,
    ) -> Result<Option<usize>, ServiceError> {
        let presented = self.recovery_code_hash(username, code)?;
        self.repo
            .modify::<RecoveryCodesRecord, Option<usize>, ServiceError, _>(
                &account_pk(username),
                RECOVERY_CODES_SK,
                self.now(),
                |current| {
                    Ok(match current.and_then(|record| record.without(&presented)) {
                        None => (Change::Keep(None), None),
                        Some(next) => {
                            let left = next.hashes.len();
                            (Change::Write(next, Some(left)), None)
                        }
                    })
                },
            )
            .await
    }

    /// The write that spends the code whose keyed hash is `presented` (conditional on the
    /// version read, to go into a caller's transaction) and how many codes are left after it;
    /// `None` when it is not one of the account's codes.
    pub(crate) async fn recovery_code_spend(
        &self,
        username: &Username,
        presented: &str,
        now: UnixTime,
    ) -> Result<Option<(WriteOp, usize)>, ServiceError> {
        let Some(record) = self
            .repo
            .load::<RecoveryCodesRecord>(&account_pk(username), RECOVERY_CODES_SK, now)
            .await?
        else {
            return Ok(None);
        };
        let Some(next) = record.value.without(presented) else {
            return Ok(None);
        };
        let left = next.hashes.len();
        let op = versioned_put(&account_pk(username), RECOVERY_CODES_SK, &next, record.version(), None)?;
        Ok(Some((op, left)))
    }

    /// The owner hears of every use at once (best effort), and the history shows it.
    pub(crate) async fn recovery_code_used(
        &self,
        username: &Username,
        to: &MobileNumber,
        language: Lang,
        during: RecoveryUse,
        remaining: usize,
        source_ip: Option<&str>,
    ) {
        let notified = self
            .send_notice(username, to, messages::recovery_code_used(language))
            .await;
        self.repo
            .audit(
                username,
                AuditKind::RecoveryCodeUsed,
                source_ip,
                json!({
                    "during": during.name(),
                    "remaining": remaining,
                    "notice_to": to.masked(),
                    "notice_sent": notified,
                }),
                self.now(),
            )
            .await;
    }

    /// `POST /v1/auth/recovery-code/verify`: answers a login challenge of an account with a
    /// passkey or an authenticator app with a recovery code. Like an app code: the attempt is
    /// reserved against the account's hourly code-failure limit first, a wrong code counts on
    /// the challenge and the account, and the challenge and the code are used in one
    /// conditional transaction, so one code opens at most one session.
    pub async fn verify_recovery_code(
        &self,
        id: &ChallengeId,
        code: &RecoveryCode,
        source_ip: Option<&str>,
    ) -> Result<Challenge, ServiceError> {
        let challenge = self.live_challenge(id).await?;
        if !challenge.totp || !matches!(challenge.purpose, ChallengePurpose::Login { .. }) {
            return Err(ServiceError::ChallengeGone);
        }
        let username = challenge.username.clone();
        let slot = self.reserve_code_attempt(CodeScope::Login, &username).await?;
        match self.compare_recovery_code(id, &username, code).await {
            Ok(RecoveryAttempt::Right { consumed, remaining }) => {
                self.release_code_attempt(CodeScope::Login, &username).await;
                self.recovery_code_used(
                    &username,
                    &challenge.destination,
                    challenge.language,
                    RecoveryUse::Login,
                    remaining,
                    source_ip,
                )
                .await;
                Ok(consumed)
            }
            Ok(RecoveryAttempt::Wrong { attempts_left }) => {
                let detail = json!({ "method": "recovery_code", "attempts_left": attempts_left });
                Err(self
                    .code_failed(CodeScope::Login, &username, slot, attempts_left, source_ip, detail)
                    .await)
            }
            Err(e) => {
                self.release_code_attempt(CodeScope::Login, &username).await;
                Err(e)
            }
        }
    }

    async fn compare_recovery_code(
        &self,
        id: &ChallengeId,
        username: &Username,
        code: &RecoveryCode,
    ) -> Result<RecoveryAttempt, ServiceError> {
        let now = self.now();
        let max = self.policy.code_attempts_per_challenge;
        let presented = self.recovery_code_hash(username, code)?;
        let challenge_key = challenge_pk(id);
        for _ in 0..MAX_RETRIES {
            let Some(stored) = self.repo.load::<Challenge>(&challenge_key, CHALLENGE_SK, now).await? else {
                return Err(ServiceError::ChallengeGone);
            };
            let c = &stored.value;
            if c.consumed || c.failed_attempts >= max {
                return Err(ServiceError::ChallengeGone);
            }
            let spend = self.recovery_code_spend(username, &presented, now).await?;
            let mut next = c.clone();
            let (ops, outcome) = match spend {
                Some((spend, remaining)) => {
                    next.consumed = true;
                    let ops = vec![
                        versioned_put(
                            &challenge_key,
                            CHALLENGE_SK,
                            &next,
                            stored.version(),
                            Some(c.code_expires_at),
                        )?,
                        spend,
                    ];
                    (
                        ops,
                        RecoveryAttempt::Right {
                            consumed: next,
                            remaining,
                        },
                    )
                }
                // Not one of the account's (or none left): a wrong code like any other.
                None => {
                    next.failed_attempts += 1;
                    let ops = vec![versioned_put(
                        &challenge_key,
                        CHALLENGE_SK,
                        &next,
                        stored.version(),
                        Some(c.code_expires_at),
                    )?];
                    let attempts_left = max.saturating_sub(next.failed_attempts);
                    (ops, RecoveryAttempt::Wrong { attempts_left })
                }
            };
            match self.repo.items().transact(ops, now).await {
                Ok(()) => return Ok(outcome),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::ConditionFailed.into())
    }
}

/// How one recovery-code answer to a login challenge ended.
enum RecoveryAttempt {
    Right { consumed: Challenge, remaining: usize },
    Wrong { attempts_left: u32 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_is_found_among_all_and_only_for_an_equal_hash() {
        let hashes: Vec<String> = ["aa", "bb", "cc"].iter().map(|s| s.to_string()).collect();
        assert_eq!(position(&hashes, "bb"), Some(1));
        assert_eq!(position(&hashes, "cc"), Some(2));
        assert_eq!(position(&hashes, "b"), None);
        assert_eq!(position(&hashes, "dd"), None);
        assert_eq!(position(&[], "aa"), None);
    }

    #[test]
    fn generated_codes_never_show_in_debug() {
        let generated = GeneratedRecoveryCodes {
            codes: vec!["ab2cd-3ef4g".into()],
            created_at: 1,
        };
        assert!(!format!("{generated:?}").contains("ab2cd"));
    }
}
