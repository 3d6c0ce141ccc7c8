//! Login with a passkey: after the password, an account with passkeys gets a challenge that
//! sends no SMS until asked (as for an authenticator app, and the same challenge also takes a
//! TOTP code when the account has one), with WebAuthn request options beside it. The answer
//! is checked by `webauthn-rs`; the challenge, its WebAuthn state and the passkey's counter are
//! written in one conditional transaction, so one assertion opens at most one session.
//!
//! The signature counter, as `webauthn-rs` advises: a counter that is not above the highest
//! accepted one (when either is non-zero) may mean a cloned authenticator; the assertion is
//! refused, counted as a failed attempt and audited (`passkey_counter_regression`), and the
//! stored counter is left as it was. A right assertion updates the stored credential with
//! `update_credential` (counter and backup state) and the last use.

use serde_json::json;
use webauthn_rs::prelude::{
    AuthenticationResult, PublicKeyCredential, RequestChallengeResponse, SecurityKeyAuthentication, Webauthn,
    WebauthnError,
};

use super::code_budgets::CodeScope;
use super::limits::{Allowance, Limit};
use super::login_verify::Judged;
use super::passkey_party::request_for_passkeys;
use crate::app::App;
use crate::audit::audit_op;
use crate::audit::AuditKind;
use crate::clock::{secs, UnixTime};
use crate::domain::{ChallengeId, PasskeyId, Username};
use crate::error::ServiceError;
use crate::store::keys::{account_pk, challenge_pk, passkey_sk, CHALLENGE_SK, PASSKEY_LOGIN_SK, PASSKEY_SK_PREFIX};
use crate::store::passkey_records::{OfferedPasskey, PasskeyLoginState, PasskeyRecord};
use crate::store::records::{decode, delete_op, to_item, write_op, Challenge, ChallengePurpose, Stored};
use crate::store::{Condition, Item, StoreError, WriteOp};

/// Retries of the read-modify-write over the challenge, its state and the passkey.
const MAX_RETRIES: usize = 16;

/// How one passkey answer to a login challenge ended.
enum PasskeyAttempt {
    /// Right: the challenge is consumed.
    Right {
        consumed: Challenge,
        passkey: PasskeyId,
    },
    Wrong {
        attempts_left: u32,
        reason: &'static str,
    },
}

impl App {
    /// The account's passkeys if login should offer them (none where this deployment has no
    /// relying party).
    pub(crate) async fn passkeys_for_login(&self, username: &Username) -> Result<Vec<PasskeyRecord>, ServiceError> {
        if self.webauthn.is_none() {
            return Ok(Vec::new());
        }
        self.passkeys(username).await
    }

    /// Stores the WebAuthn state of login challenge `challenge` beside it and returns the
    /// request options for the browser.
    pub(crate) async fn attach_passkey_login(
        &self,
        challenge: &ChallengeId,
        username: &Username,
        passkeys: &[PasskeyRecord],
    ) -> Result<RequestChallengeResponse, ServiceError> {
        let (options, state) = self.passkey_request(passkeys)?;
        let now = self.now();
        let record = PasskeyLoginState {
            username: username.clone(),
            state,
            offered: passkeys
                .iter()
                .map(|p| OfferedPasskey {
                    credential: p.credential.cred_id().clone(),
                    passkey: p.id.clone(),
                })
                .collect(),
        };
        self.repo
            .insert(
                &challenge_pk(challenge),
                PASSKEY_LOGIN_SK,
                &record,
                Some(now + secs(self.policy.code_lifetime)),
                now,
            )
            .await?;
        Ok(options)
    }

    /// A WebAuthn request for `passkeys` (login, step-up, reset): the browser's options, as
    /// [`request_for_passkeys`] shapes them, and the state to store beside the challenge.
    pub(crate) fn passkey_request(
        &self,
        passkeys: &[PasskeyRecord],
    ) -> Result<(RequestChallengeResponse, SecurityKeyAuthentication), ServiceError> {
        let keys: Vec<_> = passkeys.iter().map(|p| p.credential.clone()).collect();
        let (options, state) = self
            .relying_party()?
            .start_securitykey_authentication(&keys)
            .map_err(|e| ServiceError::Internal(format!("passkey request options: {e}")))?;
        Ok((request_for_passkeys(options), state))
    }

    /// Counts one more stored challenge of `scope` for `key` (an account, a session, a reset)
    /// against [`crate::config::Policy::totp_challenges_per_account_hour`]: the challenges that
    /// send no SMS, which the SMS limits therefore do not bound.
    pub(crate) async fn count_stored_challenge(
        &self,
        scope: &'static str,
        key: &str,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        let opened = Limit {
            scope,
            max: self.policy.totp_challenges_per_account_hour,
            window: std::time::Duration::from_secs(3600),
        };
        match self.repo.limit_acquire(&opened, key, now).await? {
            Allowance::Wait(wait) => Err(ServiceError::TooManyAttempts { retry_after: wait }),
            _ => Ok(()),
        }
    }

    /// `POST /v1/auth/passkey/verify`: checks a passkey assertion against a login challenge
    /// and, if right, consumes the challenge: exactly one caller ever gets `Ok` for a
    /// challenge. Like a code, the attempt is reserved against the account's hourly
    /// code-failure limit first, and a refused assertion counts as a wrong code.
    pub async fn verify_passkey(
        &self,
        id: &ChallengeId,
        credential: &PublicKeyCredential,
        source_ip: Option<&str>,
    ) -> Result<Challenge, ServiceError> {
        self.relying_party()?;
        let challenge = self.live_challenge(id).await?;
        if !challenge.totp || !matches!(challenge.purpose, ChallengePurpose::Login { .. }) {
            return Err(ServiceError::ChallengeGone);
        }
        let username = challenge.username;
        let slot = self.reserve_code_attempt(CodeScope::Login, &username).await?;
        match self.check_passkey(id, &username, credential).await {
            Ok(PasskeyAttempt::Right { consumed, passkey }) => {
                self.release_code_attempt(CodeScope::Login, &username).await;
                self.repo
                    .audit(
                        &username,
                        AuditKind::PasskeyVerified,
                        source_ip,
                        json!({ "passkey": passkey }),
                        self.now(),
                    )
                    .await;
                Ok(consumed)
            }
            Ok(PasskeyAttempt::Wrong { attempts_left, reason }) => {
                if reason == "counter_regression" {
                    self.repo
                        .audit(
                            &username,
                            AuditKind::PasskeyCounterRegression,
                            source_ip,
                            json!({ "credential": credential.id }),
                            self.now(),
                        )
                        .await;
                }
                let detail = json!({
                    "method": "passkey",
                    "attempts_left": attempts_left,
                    "reason": reason,
                });
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

    async fn check_passkey(
        &self,
        id: &ChallengeId,
        username: &Username,
        credential: &PublicKeyCredential,
    ) -> Result<PasskeyAttempt, ServiceError> {
        let webauthn = self.relying_party()?;
        let now = self.now();
        let max = self.policy.code_attempts_per_challenge;
        let challenge_key = challenge_pk(id);
        for _ in 0..MAX_RETRIES {
            let Some(stored) = self.repo.load::<Challenge>(&challenge_key, CHALLENGE_SK, now).await? else {
                return Err(ServiceError::ChallengeGone);
            };
            let c = &stored.value;
            if c.consumed || c.failed_attempts >= max {
                return Err(ServiceError::ChallengeGone);
            }
            let Some(state) = self
                .repo
                .load::<PasskeyLoginState>(&challenge_key, PASSKEY_LOGIN_SK, now)
                .await?
                .filter(|s| s.value.username == *username)
            else {
                // Opened without passkeys (an app-only account), or its state has lapsed.
                return Err(ServiceError::ChallengeGone);
            };
            // The passkey as it is now: one removed since the login began is unknown.
            let current = self.current_passkey(username, credential, now).await?;
            let verdict = assess(
                webauthn,
                credential,
                &state.value.state,
                current.as_ref().map(|(r, _)| r),
            );
            let mut next = c.clone();
            let (ops, outcome) = match (verdict, current) {
                (Ok(result), Some((record, item))) => {
                    next.consumed = true;
                    let (passkey_write, passkey) = used_passkey_write(record, &item, &result, now)?;
                    let mut challenge_item = to_item(&challenge_key, CHALLENGE_SK, &next, Some(c.code_expires_at))?;
                    challenge_item.version = stored.version() + 1;
                    let ops = vec![
                        WriteOp::Put {
                            item: challenge_item,
                            condition: Condition::VersionIs(stored.version()),
                        },
                        WriteOp::Delete {
                            pk: challenge_key.clone(),
                            sk: PASSKEY_LOGIN_SK.to_owned(),
                            condition: Condition::VersionIs(state.version()),
                        },
                        passkey_write,
                    ];
                    (
                        ops,
                        PasskeyAttempt::Right {
                            consumed: next,
                            passkey,
                        },
                    )
                }
                (verdict, _) => {
                    let reason = verdict.err().unwrap_or("unknown_credential");
                    next.failed_attempts += 1;
                    let mut challenge_item = to_item(&challenge_key, CHALLENGE_SK, &next, Some(c.code_expires_at))?;
                    challenge_item.version = stored.version() + 1;
                    let ops = vec![WriteOp::Put {
                        item: challenge_item,
                        condition: Condition::VersionIs(stored.version()),
                    }];
                    let attempts_left = max.saturating_sub(next.failed_attempts);
                    (ops, PasskeyAttempt::Wrong { attempts_left, reason })
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

impl App {
    /// The account's passkey whose credential id `credential` names, as it is now (with its
    /// item, for a write conditional on it): one removed meanwhile is `None`.
    pub(crate) async fn current_passkey(
        &self,
        username: &Username,
        credential: &PublicKeyCredential,
        now: crate::clock::UnixTime,
    ) -> Result<Option<(PasskeyRecord, Item)>, ServiceError> {
        let items = self
            .repo
            .items()
            .query(&account_pk(username), PASSKEY_SK_PREFIX, now)
            .await?;
        for item in items {
            let record: PasskeyRecord = decode(&item).map_err(ServiceError::from)?;
            if record.credential.cred_id().as_ref() == credential.raw_id.as_ref() {
                return Ok(Some((record, item)));
            }
        }
        Ok(None)
    }
}

/// A passkey's answer to a login challenge, with what the batched verify read for it.
pub(crate) struct PasskeyVerdict<'a> {
    pub webauthn: &'a Webauthn,
    pub credential: &'a PublicKeyCredential,
    pub username: &'a Username,
    /// The login's WebAuthn state, stored under `state_key`.
    pub state: &'a Stored<PasskeyLoginState>,
    pub state_key: &'a str,
    pub source_ip: Option<&'a str>,
    pub now: UnixTime,
}

impl PasskeyVerdict<'_> {
    /// Judges the assertion against the passkey as read (`None`: not one the login offered,
    /// or removed since). Right: the WebAuthn state is spent and the passkey's counter,
    /// backup state and last use written, both on the versions read, with the event. Wrong:
    /// the reason for the failure's event, and a counter regression's own event.
    pub fn judge(self, passkey: Option<Stored<PasskeyRecord>>) -> Result<Judged, ServiceError> {
        // The record must hold the credential the assertion names (it does unless the store
        // was edited): the counter is the one of the passkey that signed.
        let passkey = passkey.filter(|p| p.value.credential.cred_id().as_ref() == self.credential.raw_id.as_ref());
        let verdict = assess(
            self.webauthn,
            self.credential,
            &self.state.value.state,
            passkey.as_ref().map(|p| &p.value),
        );
        match (verdict, passkey) {
            (Ok(result), Some(passkey)) => {
                let used = after_use(passkey.value.clone(), &result, self.now);
                let passkey_key = passkey_sk(&used.id);
                Ok(Judged {
                    right: true,
                    failure_detail: serde_json::Map::new(),
                    writes: vec![
                        delete_op(self.state_key, PASSKEY_LOGIN_SK, self.state),
                        write_op(
                            &account_pk(self.username),
                            &passkey_key,
                            Some(&passkey),
                            &used,
                            passkey.expires_at(),
                        )?,
                        audit_op(
                            self.username,
                            AuditKind::PasskeyVerified,
                            self.source_ip,
                            json!({ "passkey": used.id }),
                            self.now,
                        )?,
                    ],
                    events: vec![AuditKind::PasskeyVerified],
                })
            }
            (verdict, _) => {
                let reason = verdict.err().unwrap_or("unknown_credential");
                let mut failure_detail = serde_json::Map::new();
                failure_detail.insert("method".into(), json!("passkey"));
                failure_detail.insert("reason".into(), json!(reason));
                let (writes, events) = if reason == "counter_regression" {
                    let event = audit_op(
                        self.username,
                        AuditKind::PasskeyCounterRegression,
                        self.source_ip,
                        json!({ "credential": self.credential.id }),
                        self.now,
                    )?;
                    (vec![event], vec![AuditKind::PasskeyCounterRegression])
                } else {
                    (Vec::new(), Vec::new())
                };
                Ok(Judged {
                    right: false,
                    failure_detail,
                    writes,
                    events,
                })
            }
        }
    }
}

/// Checks an assertion against the ceremony's state and the passkey as stored now: the result
/// to store, or a short reason for refusing it.
pub(crate) fn assess(
    webauthn: &Webauthn,
    credential: &PublicKeyCredential,
    state: &SecurityKeyAuthentication,
    current: Option<&PasskeyRecord>,
) -> Result<AuthenticationResult, &'static str> {
    let Some(record) = current else {
        return Err("unknown_credential");
    };
    match webauthn.finish_securitykey_authentication(credential, state) {
        Ok(result) if counter_regressed(result.counter(), record.counter) => Err("counter_regression"),
        Ok(result) => Ok(result),
        Err(WebauthnError::CredentialPossibleCompromise) => Err("counter_regression"),
        Err(e) => Err(refusal(&e)),
    }
}

/// The write of a passkey after a right assertion (counter, backup state, last use),
/// conditional on the passkey being as read; and its id.
pub(crate) fn used_passkey_write(
    record: PasskeyRecord,
    item: &Item,
    result: &AuthenticationResult,
    now: crate::clock::UnixTime,
) -> Result<(WriteOp, PasskeyId), StoreError> {
    let record = after_use(record, result, now);
    let mut updated = to_item(&item.pk, &item.sk, &record, item.expires_at)?;
    updated.version = item.version + 1;
    Ok((
        WriteOp::Put {
            item: updated,
            condition: Condition::VersionIs(item.version),
        },
        record.id,
    ))
}

/// A passkey after a right assertion: its credential updated as `webauthn-rs` advises
/// (counter, backup state), the highest counter accepted, and the last use.
fn after_use(mut record: PasskeyRecord, result: &AuthenticationResult, now: UnixTime) -> PasskeyRecord {
    record.credential.update_credential(result);
    record.counter = record.counter.max(result.counter());
    record.last_used_at = Some(now);
    record
}

/// WebAuthn §7.2 step 22: a counter that did not grow, when either it or the stored one is
/// non-zero, may mean a cloned authenticator.
pub fn counter_regressed(presented: u32, highest_accepted: u32) -> bool {
    (presented > 0 || highest_accepted > 0) && presented <= highest_accepted
}

/// A short, stable reason for the audit trail (never the assertion itself).
pub(crate) fn refusal(e: &WebauthnError) -> &'static str {
    match e {
        WebauthnError::InvalidRPOrigin => "wrong_origin",
        WebauthnError::MismatchedChallenge => "wrong_challenge",
        WebauthnError::CredentialNotFound => "unknown_credential",
        WebauthnError::AuthenticationFailure => "bad_signature",
        _ => "invalid_assertion",
    }
}

#[cfg(test)]
mod tests {
    use super::counter_regressed;

    #[test]
    fn a_counter_must_grow_unless_the_authenticator_keeps_none() {
        // (presented, highest accepted, regressed)
        for (presented, stored, regressed) in [
            (0, 0, false),
            (1, 0, false),
            (5, 4, false),
            (4, 4, true),
            (3, 4, true),
            (0, 4, true),
        ] {
            assert_eq!(
                counter_regressed(presented, stored),
                regressed,
                "{presented} after {stored}"
            );
        }
    }
}
