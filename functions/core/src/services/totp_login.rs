//! Login with an authenticator app: a challenge that sends no SMS until asked, and a code
//! checked against the app's time steps with the replay guard (the matching itself is
//! [`super::totp_codes`]). The challenge and the used step are written in one conditional
//! transaction, so one code opens at most one session.

use serde::Serialize;
use serde_json::json;

use super::challenge_rules::{Answer, Opening};
use super::challenges::IssuedChallenge;
use super::code_budgets::CodeScope;
use super::totp_codes::{match_code, CodeMatch, TotpRecord};
use crate::app::App;
use crate::audit::AuditKind;
use crate::clock::UnixTime;
use crate::domain::{ChallengeId, OneTimeCode, Username};
use crate::error::ServiceError;
use crate::store::keys::{account_pk, challenge_pk, CHALLENGE_SK, TOTP_SK};
use crate::store::records::{to_item, Account, Challenge, ChallengePurpose};
use crate::store::{Condition, StoreError, WriteOp};

/// Retries of a read-modify-write over two records when another writer got there first.
const MAX_RETRIES: usize = 16;

impl App {
    /// Opens a login challenge for a user with an authenticator app. No SMS is sent; the user
    /// may ask for one (`/v1/auth/sms/resend`), which then goes out at once.
    pub(crate) async fn start_totp_login(
        &self,
        account: &Account,
        remember_me: bool,
    ) -> Result<IssuedChallenge, ServiceError> {
        let now = self.now();
        // Sends no SMS, so the SMS limits do not bound these; each counts here instead.
        self.count_stored_challenge("totp-challenges", account.username.as_str(), now)
            .await?;
        let opening = Opening {
            purpose: ChallengePurpose::Login { remember_me },
            username: account.username.clone(),
            destination: account.mobile.clone(),
            answer: Answer::App,
            password_version: Some(account.password_version),
            language: account.language,
        };
        let challenge = self.insert_challenge(ChallengeId::generate(), opening).await?;
        Ok(IssuedChallenge {
            challenge_id: challenge.id,
            phone_hint: account.mobile.masked(),
            expires_in: crate::clock::secs(self.policy.code_lifetime),
            resend_after: 0,
        })
    }

    /// `POST /v1/auth/totp/verify`: checks an authenticator code against a login challenge
    /// and, if right and not used before, consumes the challenge and the code's time step
    /// together: exactly one caller ever gets `Ok` for a challenge, and a code opens at most
    /// one session, however many verify it at once. Like an SMS code, the attempt is reserved
    /// against the account's hourly code-failure limit before the code is compared.
    pub async fn verify_totp(
        &self,
        id: &ChallengeId,
        code: &OneTimeCode,
        source_ip: Option<&str>,
    ) -> Result<Challenge, ServiceError> {
        let challenge = self.live_challenge(id).await?;
        if !challenge.totp || !matches!(challenge.purpose, ChallengePurpose::Login { .. }) {
            return Err(ServiceError::ChallengeGone);
        }
        let username = challenge.username;
        let slot = self.reserve_code_attempt(CodeScope::Login, &username).await?;
        match self.compare_totp(id, &username, code).await {
            Ok(TotpAttempt::Right(consumed)) => {
                self.release_code_attempt(CodeScope::Login, &username).await;
                self.repo
                    .audit(&username, AuditKind::TotpVerified, source_ip, json!({}), self.now())
                    .await;
                Ok(consumed)
            }
            Ok(TotpAttempt::Wrong { attempts_left, reused }) => {
                let detail = json!({
                    "method": "totp",
                    "attempts_left": attempts_left,
                    "reused": reused,
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

    /// Compares `code` and records the outcome on the challenge (and, if right, the used time
    /// step) in one conditional transaction.
    async fn compare_totp(
        &self,
        id: &ChallengeId,
        username: &Username,
        code: &OneTimeCode,
    ) -> Result<TotpAttempt, ServiceError> {
        let now = self.now();
        let max = self.policy.code_attempts_per_challenge;
        let (challenge_key, record_key) = (challenge_pk(id), account_pk(username));
        for _ in 0..MAX_RETRIES {
            let Some(stored) = self.repo.load::<Challenge>(&challenge_key, CHALLENGE_SK, now).await? else {
                return Err(ServiceError::ChallengeGone);
            };
            let c = &stored.value;
            if c.consumed || c.failed_attempts >= max {
                return Err(ServiceError::ChallengeGone);
            }
            let record = self.repo.load::<TotpRecord>(&record_key, TOTP_SK, now).await?;
            let active = record.as_ref().and_then(|r| r.value.active.as_ref());
            let verdict = match active {
                Some(a) => match_code(
                    &self.totp_generator(username, &a.secret)?,
                    code,
                    now,
                    Some(a.last_used_step),
                ),
                // Removed since the login began: no code can be right.
                None => CodeMatch::Wrong,
            };
            let mut next = c.clone();
            let ops = match (verdict, &record) {
                (CodeMatch::Fresh(step), Some(record)) => {
                    next.consumed = true;
                    let mut used = record.value.clone();
                    if let Some(a) = used.active.as_mut() {
                        a.last_used_step = step;
                    }
                    vec![
                        versioned_put(
                            &challenge_key,
                            CHALLENGE_SK,
                            &next,
                            stored.version(),
                            Some(c.code_expires_at),
                        )?,
                        versioned_put(&record_key, TOTP_SK, &used, record.version(), None)?,
                    ]
                }
                _ => {
                    next.failed_attempts += 1;
                    vec![versioned_put(
                        &challenge_key,
                        CHALLENGE_SK,
                        &next,
                        stored.version(),
                        Some(c.code_expires_at),
                    )?]
                }
            };
            match self.repo.items().transact(ops, now).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
            if next.consumed {
                return Ok(TotpAttempt::Right(next));
            }
            return Ok(TotpAttempt::Wrong {
                attempts_left: max - next.failed_attempts,
                reused: verdict == CodeMatch::Reused,
            });
        }
        Err(StoreError::ConditionFailed.into())
    }
}

/// How one authenticator-code attempt on a login challenge ended.
enum TotpAttempt {
    /// Right: the challenge is consumed.
    Right(Challenge),
    Wrong {
        attempts_left: u32,
        reused: bool,
    },
}

/// A write of `value` conditional on the record still being at `read_version`.
pub(crate) fn versioned_put<T: Serialize>(
    pk: &str,
    sk: &str,
    value: &T,
    read_version: u64,
    expires_at: Option<UnixTime>,
) -> Result<WriteOp, StoreError> {
    let mut item = to_item(pk, sk, value, expires_at)?;
    item.version = read_version + 1;
    Ok(WriteOp::Put {
        item,
        condition: Condition::VersionIs(read_version),
    })
}
