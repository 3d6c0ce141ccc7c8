//! The second factor of a password reset (issue 17: recovery is never SMS-only). An account
//! with a passkey or an authenticator app needs that factor, or one of its recovery codes,
//! besides the SMS code; an account with SMS only resets as before.
//!
//! The first submission without a factor is answered, once the SMS code checks out (it stays
//! unused), with `second_factor_required`: the methods the account has and, for passkeys, a
//! WebAuthn challenge of its own (`CHALLENGE#<passkey_challenge_id>`/`PASSKEY_RESET`, bound
//! to the account and the reset challenge, single use, for the code's lifetime). Before the
//! code is right nothing differs from an account without a factor (or without an account:
//! decoys), so the requirement reveals nothing a stranger could not already see.
//!
//! A factor is checked before the SMS code is spent. A wrong one counts like a wrong reset
//! code: against the challenge's attempts and the account's reset code-entry budget and lock.
//! A right one is used up by its own conditional write (the app's time step, the recovery
//! code's hash, the passkey's counter and its challenge), so it cannot be replayed.

use serde_json::json;
use webauthn_rs::prelude::{PublicKeyCredential, WebauthnError};

use super::code_budgets::CodeScope;
use super::passkey_login::{counter_regressed, refusal};
use super::recovery_codes::RecoveryCodesRecord;
use super::totp_codes::{match_code, CodeMatch, TotpRecord};
use crate::app::{App, TotpKeying};
use crate::audit::AuditKind;
use crate::clock::secs;
use crate::domain::{ChallengeId, OneTimeCode, PasskeyId, RecoveryCode, Username};
use crate::error::{SecondFactorRequest, ServiceError};
use crate::store::keys::{
    account_pk, challenge_pk, CHALLENGE_SK, PASSKEYS_MARK_SK, PASSKEY_RESET_SK, PASSKEY_SK_PREFIX, RECOVERY_CODES_SK,
    TOTP_SK,
};
use crate::store::passkey_records::{PasskeyRecord, PasskeyResetState};
use crate::store::records::{decode, to_item, Challenge, Change, Stored};
use crate::store::{Condition, Key, StoreError, WriteOp};

/// Retries of the read-modify-write over a passkey and its reset challenge.
const MAX_RETRIES: usize = 16;

/// The factor a reset's second submission brings.
pub enum ResetFactor {
    Totp(OneTimeCode),
    RecoveryCode(RecoveryCode),
    Passkey {
        challenge_id: ChallengeId,
        credential: Box<PublicKeyCredential>,
    },
}

impl ResetFactor {
    fn method(&self) -> &'static str {
        match self {
            Self::Totp(_) => "totp",
            Self::RecoveryCode(_) => "recovery_code",
            Self::Passkey { .. } => "passkey",
        }
    }
}

/// The strong factors of an account, as a reset sees them.
pub(crate) struct ResetFactors {
    /// Empty until [`App::load_reset_passkeys`] (after the SMS code checked out).
    passkeys: Vec<PasskeyRecord>,
    /// The account has had a passkey (its mark), so it may have one.
    passkeys_marked: bool,
    totp: bool,
    recovery_codes: usize,
}

impl ResetFactors {
    /// Whether the reset may need more than the SMS code: decided by the batch read alone.
    pub(crate) fn may_be_required(&self) -> bool {
        self.totp || self.passkeys_marked
    }

    /// Whether the reset needs more than the SMS code (once the passkeys are loaded).
    pub(crate) fn required(&self) -> bool {
        self.totp || !self.passkeys.is_empty()
    }
}

/// A factor that checked out.
pub(crate) struct UsedFactor {
    pub method: &'static str,
    /// Codes left after a recovery code was used.
    pub recovery_codes_left: Option<usize>,
    /// The passkey that answered.
    pub passkey: Option<PasskeyId>,
}

/// How one factor answer ended: used, or why it was refused (for the audit trail).
enum Verdict {
    Right(UsedFactor),
    Wrong(&'static str),
}

impl App {
    /// Whether the account has an active authenticator app, has had a passkey, and how many
    /// recovery codes are left: one batch read of the app record, the codes and the "has had
    /// a passkey" mark. Read for every reset challenge, decoys too (whose names have none).
    /// The passkeys themselves are queried only after the SMS code checked out
    /// ([`App::load_reset_passkeys`]): a query before it would make a wrong code slower for
    /// an account with a passkey, telling anyone who asks for a reset that it has one.
    pub(crate) async fn reset_factors(&self, username: &Username) -> Result<ResetFactors, ServiceError> {
        let pk = account_pk(username);
        let keys = [
            Key::new(pk.clone(), TOTP_SK),
            Key::new(pk.clone(), RECOVERY_CODES_SK),
            Key::new(pk, PASSKEYS_MARK_SK),
        ];
        let mut found = self.repo.load_many(&keys, self.now()).await?.into_iter();
        let totp = Stored::<TotpRecord>::decode(found.next().flatten())?;
        let codes = Stored::<RecoveryCodesRecord>::decode(found.next().flatten())?;
        let passkeys_marked = found.next().flatten().is_some();
        Ok(ResetFactors {
            passkeys: Vec::new(),
            passkeys_marked,
            totp: !matches!(self.totp, TotpKeying::Absent) && totp.is_some_and(|t| t.value.active.is_some()),
            recovery_codes: codes.map_or(0, |c| c.value.hashes.len()),
        })
    }

    /// Loads the passkeys of an account that has had one (where this deployment has a
    /// relying party) into `factors`: call it once the reset's SMS code checked out.
    pub(crate) async fn load_reset_passkeys(
        &self,
        factors: &mut ResetFactors,
        username: &Username,
    ) -> Result<(), ServiceError> {
        if factors.passkeys_marked {
            factors.passkeys = self.passkeys_for_login(username).await?;
        }
        Ok(())
    }

    /// The answer to a reset without a factor whose SMS code was right: which factors the
    /// account has, and for passkeys a fresh WebAuthn challenge beside it.
    pub(crate) async fn second_factor_required(
        &self,
        reset: &Challenge,
        factors: &ResetFactors,
    ) -> Result<ServiceError, ServiceError> {
        let mut methods = Vec::with_capacity(3);
        let passkey = if factors.passkeys.is_empty() {
            None
        } else {
            methods.push("passkey");
            let now = self.now();
            // The SMS code stays unspent until the factor comes, so each submission without one
            // could open another stored challenge: bounded per reset (whose number is bounded
            // by the forgot limits), not per account, so nobody can use up the owner's.
            self.count_stored_challenge("reset-passkey-challenges", reset.id.as_str(), now)
                .await?;
            let (options, state) = self.passkey_request(&factors.passkeys)?;
            let id = ChallengeId::generate();
            let record = PasskeyResetState {
                username: reset.username.clone(),
                reset_challenge: reset.id.clone(),
                state,
            };
            self.repo
                .insert(
                    &challenge_pk(&id),
                    PASSKEY_RESET_SK,
                    &record,
                    Some(now + secs(self.policy.code_lifetime)),
                    now,
                )
                .await?;
            Some((id, options))
        };
        if factors.totp {
            methods.push("totp");
        }
        if factors.recovery_codes > 0 {
            methods.push("recovery_code");
        }
        Ok(ServiceError::SecondFactorRequired(Box::new(SecondFactorRequest {
            methods,
            passkey,
        })))
    }

    /// Checks and uses `factor` for reset challenge `reset` (whose SMS code was right). The
    /// attempt is reserved against the account's reset code-entry budget first; a wrong factor
    /// keeps it as a failure and costs the challenge an attempt, as a wrong code does.
    pub(crate) async fn verify_reset_factor(
        &self,
        reset: &Challenge,
        factors: &ResetFactors,
        factor: &ResetFactor,
        source_ip: Option<&str>,
    ) -> Result<UsedFactor, ServiceError> {
        let username = &reset.username;
        let slot = self.reserve_code_attempt(CodeScope::Reset, username).await?;
        let verdict = match factor {
            ResetFactor::Totp(code) if factors.totp => self.use_totp_code(username, code).await,
            ResetFactor::Totp(_) => Ok(Verdict::Wrong("no_totp")),
            ResetFactor::RecoveryCode(code) => self.use_recovery_code(username, code).await.map(|left| match left {
                Some(left) => Verdict::Right(UsedFactor {
                    method: "recovery_code",
                    recovery_codes_left: Some(left),
                    passkey: None,
                }),
                None => Verdict::Wrong("unknown_recovery_code"),
            }),
            ResetFactor::Passkey {
                challenge_id,
                credential,
            } => {
                self.use_reset_passkey(username, &reset.id, challenge_id, credential, source_ip)
                    .await
            }
        };
        match verdict {
            Ok(Verdict::Right(used)) => {
                self.release_code_attempt(CodeScope::Reset, username).await;
                Ok(used)
            }
            Ok(Verdict::Wrong(reason)) => {
                let counted = self.count_wrong_answer(&reset.id).await;
                let attempts_left = match &counted {
                    Ok(left) => *left,
                    Err(_) => 0,
                };
                let detail = json!({
                    "method": factor.method(),
                    "reason": reason,
                    "attempts_left": attempts_left,
                });
                let failed = self
                    .code_failed(CodeScope::Reset, username, slot, attempts_left, source_ip, detail)
                    .await;
                match counted {
                    Ok(_) => Err(failed),
                    Err(gone) => Err(gone),
                }
            }
            Err(e) => {
                self.release_code_attempt(CodeScope::Reset, username).await;
                Err(e)
            }
        }
    }

    /// One more failed attempt on the challenge; the attempts left.
    async fn count_wrong_answer(&self, id: &ChallengeId) -> Result<u32, ServiceError> {
        let max = self.policy.code_attempts_per_challenge;
        self.repo
            .modify::<Challenge, u32, ServiceError, _>(&challenge_pk(id), CHALLENGE_SK, self.now(), |current| {
                let Some(c) = current.filter(|c| c.is_live(max)) else {
                    return Err(ServiceError::ChallengeGone);
                };
                let (next, outcome) = c.answered(false, max);
                Ok((Change::Write(next, outcome.err().unwrap_or(0)), Some(c.code_expires_at)))
            })
            .await
    }

    /// An app code, with the replay guard: the step it matched is recorded in the same
    /// conditional write, so it opens no login afterwards (nor another reset).
    async fn use_totp_code(&self, username: &Username, code: &OneTimeCode) -> Result<Verdict, ServiceError> {
        let now = self.now();
        self.repo
            .modify::<TotpRecord, Verdict, ServiceError, _>(&account_pk(username), TOTP_SK, now, |current| {
                let Some(record) = current else {
                    return Ok((Change::Keep(Verdict::Wrong("no_totp")), None));
                };
                let Some(active) = record.active.as_ref() else {
                    return Ok((Change::Keep(Verdict::Wrong("no_totp")), None));
                };
                let generator = self.totp_generator(username, &active.secret)?;
                match match_code(&generator, code, now, Some(active.last_used_step)) {
                    CodeMatch::Fresh(step) => {
                        let mut next = record.clone();
                        if let Some(a) = next.active.as_mut() {
                            a.last_used_step = step;
                        }
                        let used = UsedFactor {
                            method: "totp",
                            recovery_codes_left: None,
                            passkey: None,
                        };
                        Ok((Change::Write(next, Verdict::Right(used)), None))
                    }
                    CodeMatch::Reused => Ok((Change::Keep(Verdict::Wrong("reused")), None)),
                    CodeMatch::Wrong => Ok((Change::Keep(Verdict::Wrong("wrong_code")), None)),
                }
            })
            .await
    }

    /// A passkey's assertion against the reset's own WebAuthn challenge: checked by
    /// `webauthn-rs` with the counter rule of the login; if right, the challenge is deleted and
    /// the passkey updated in one conditional transaction.
    async fn use_reset_passkey(
        &self,
        username: &Username,
        reset: &ChallengeId,
        id: &ChallengeId,
        credential: &PublicKeyCredential,
        source_ip: Option<&str>,
    ) -> Result<Verdict, ServiceError> {
        let webauthn = self.relying_party()?;
        let now = self.now();
        let key = challenge_pk(id);
        for _ in 0..MAX_RETRIES {
            let Some(state) = self
                .repo
                .load::<PasskeyResetState>(&key, PASSKEY_RESET_SK, now)
                .await?
                .filter(|s| s.value.username == *username && s.value.reset_challenge == *reset)
            else {
                return Ok(Verdict::Wrong("passkey_challenge_gone"));
            };
            let items = self
                .repo
                .items()
                .query(&account_pk(username), PASSKEY_SK_PREFIX, now)
                .await?;
            let mut current = None;
            for item in items {
                let record: PasskeyRecord = decode(&item).map_err(ServiceError::from)?;
                if record.credential.cred_id().as_ref() == credential.raw_id.as_ref() {
                    current = Some((record, item));
                    break;
                }
            }
            let verdict = match &current {
                None => Err("unknown_credential"),
                Some((record, _)) => match webauthn.finish_securitykey_authentication(credential, &state.value.state) {
                    Ok(result) if counter_regressed(result.counter(), record.counter) => Err("counter_regression"),
                    Ok(result) => Ok(result),
                    Err(WebauthnError::CredentialPossibleCompromise) => Err("counter_regression"),
                    Err(e) => Err(refusal(&e)),
                },
            };
            let (result, (mut record, item)) = match (verdict, current) {
                (Ok(result), Some(current)) => (result, current),
                (verdict, _) => {
                    let reason = verdict.err().unwrap_or("unknown_credential");
                    if reason == "counter_regression" {
                        self.repo
                            .audit(
                                username,
                                AuditKind::PasskeyCounterRegression,
                                source_ip,
                                json!({ "credential": credential.id, "during": "password_reset" }),
                                now,
                            )
                            .await;
                    }
                    return Ok(Verdict::Wrong(reason));
                }
            };
            record.credential.update_credential(&result);
            record.counter = record.counter.max(result.counter());
            record.last_used_at = Some(now);
            let mut updated = to_item(&item.pk, &item.sk, &record, item.expires_at)?;
            updated.version = item.version + 1;
            let ops = vec![
                WriteOp::Delete {
                    pk: key.clone(),
                    sk: PASSKEY_RESET_SK.to_owned(),
                    condition: Condition::VersionIs(state.version()),
                },
                WriteOp::Put {
                    item: updated,
                    condition: Condition::VersionIs(item.version),
                },
            ];
            match self.repo.items().transact(ops, now).await {
                Ok(()) => {
                    return Ok(Verdict::Right(UsedFactor {
                        method: "passkey",
                        recovery_codes_left: None,
                        passkey: Some(record.id),
                    }));
                }
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::ConditionFailed.into())
    }
}
