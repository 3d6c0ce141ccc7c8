//! `POST /v1/auth/login` in three sequential DynamoDB round trips (issue 18), with every rule
//! of the stepwise login ([`App::start_login_stepwise`]) kept:
//!
//! 1. one batch read of everything the typed name leads to: the password backoff streak, the
//!    source address's failure log, the profile, the code-entry lock, the authenticator
//!    record and the passkeys mark;
//! 2. one transaction reserving the attempt on the streak and the address's log (each on the
//!    version read, so parallel attempts cannot pass on one count: the losers decide again
//!    stepwise), and beside it one batch read of the SMS budgets of the number the profile
//!    names (a decoy number for a name without an account, so both cost the same I/O);
//! 3. after the hash, one transaction with the outcome: the streak and the address settled,
//!    the audit event, and for a right password the SMS budgets' hits, the challenge and its
//!    `CodeSent` event.
//!
//! The SMS budget of the number cannot join the first read (the number is on the profile) nor
//! the reservation (a transaction cannot read), so a login with an SMS makes four calls, of
//! which two run at once. Whenever a record moved between a read and the write that depends on
//! it, nothing of that write happened and the step is redone one record at a time by the
//! stepwise code, which re-reads.

use serde::Serialize;
use serde_json::json;

use super::challenge_rules::{Answer, Opening};
use super::code_budgets::{sms_refused, CODE_LOCK_SCOPE};
use super::limit_windows::{HitLog, Pending, Room};
use super::limits::{FailureStreak, ReservationId};
use super::login::{LoginStarted, PasswordAttempt};
use super::sms_spend::spend_key;
use super::totp_codes::TotpRecord;
use crate::app::{App, TotpKeying};
use crate::audit::{audit_op, audit_stand_in_op, AuditKind};
use crate::clock::{after, UnixTime};
use crate::domain::{ChallengeId, OneTimeCode, Password, Username};
use crate::error::ServiceError;
use crate::security::passwords::Verdict;
use crate::store::keys::{
    account_pk, challenge_pk, decoy_destination_key, limit_pk, lock_pk, password_streak_pk, CHALLENGE_SK, LIMIT_LOG_SK,
    LOCK_SK, PASSKEYS_MARK_SK, PROFILE_SK, STREAK_SK, TOTP_SK,
};
use crate::store::passkey_records::PasskeysMark;
use crate::store::records::{to_item, write_op, Account, Challenge, ChallengePurpose, Stored};
use crate::store::{Condition, Item, Key, StoreError, WriteOp};

/// How long the backoff streak of a typed name is kept after its last attempt.
const STREAK_LIFETIME: i64 = 24 * 3600;

/// A record this login wrote: its key, what it holds and the version it holds it at, so the
/// outcome can be written on exactly that version.
struct Written<T> {
    pk: String,
    sk: &'static str,
    value: T,
    version: u64,
}

impl<T: Serialize> Written<T> {
    fn of(pk: String, sk: &'static str, value: T, read: Option<&Stored<impl Sized>>) -> Self {
        Self {
            pk,
            sk,
            value,
            version: read.map_or(1, |s| s.version() + 1),
        }
    }

    /// Replaces it with `value`, if it is still at the version this login wrote.
    fn replace(&self, value: &T, expires_at: Option<UnixTime>) -> Result<WriteOp, StoreError> {
        let mut item = to_item(&self.pk, self.sk, value, expires_at)?;
        item.version = self.version + 1;
        Ok(WriteOp::Put {
            item,
            condition: Condition::VersionIs(self.version),
        })
    }

    fn delete(&self) -> WriteOp {
        WriteOp::Delete {
            pk: self.pk.clone(),
            sk: self.sk.to_owned(),
            condition: Condition::VersionIs(self.version),
        }
    }
}

/// The attempt's reservation on the source address's log.
struct AddressReservation {
    ip: String,
    id: u64,
    log: Written<HitLog>,
}

/// What the first two round trips read and reserved.
struct Reserved {
    attempt: PasswordAttempt,
    streak: Written<FailureStreak>,
    address: Option<AddressReservation>,
    account: Option<Stored<Account>>,
    lock: Option<Stored<UnixTime>>,
    totp: Option<Stored<TotpRecord>>,
    passkeys: Option<Stored<PasskeysMark>>,
    /// The SMS budgets of the account's number, in the order of `App::sms_limits`, then the
    /// portal-wide SMS log; `None` when they could not be read (the challenge is then opened
    /// stepwise).
    sms_logs: Option<Vec<Option<Item>>>,
}

fn next<T: serde::de::DeserializeOwned>(
    found: &mut impl Iterator<Item = Option<Item>>,
) -> Result<Option<Stored<T>>, StoreError> {
    Stored::decode(found.next().flatten())
}

impl App {
    pub(crate) async fn start_login_batched(
        &self,
        raw_username: &str,
        password: &Password,
        remember_me: bool,
        source_ip: Option<&str>,
    ) -> Result<LoginStarted, ServiceError> {
        let backoff_key = Self::backoff_key(raw_username);
        let username = Username::parse(raw_username).ok();
        let Some(reserved) = self
            .reserve_batched(&backoff_key, username.as_ref(), remember_me, source_ip)
            .await?
        else {
            return self
                .start_login_stepwise(raw_username, password, remember_me, source_ip)
                .await;
        };
        let account = reserved.account.as_ref().map(|a| &a.value);
        let verdict = if password.is_overlong() {
            // Never hash unbounded input; an overlong password can't be right anyway.
            self.passwords.verify(&Password::new(String::new()), None).await
        } else {
            self.passwords
                .verify(password, account.map(|a| a.password_hash.0.as_str()))
                .await
        };
        let right = matches!(verdict, Verdict::Match | Verdict::MatchNeedsRehash);
        let Some(account) = account.filter(|a| right && !a.disabled).cloned() else {
            self.failed_batched(&backoff_key, &reserved, source_ip).await;
            return Err(ServiceError::InvalidCredentials);
        };
        let started = self
            .succeeded_batched(&backoff_key, &reserved, &account, remember_me, source_ip)
            .await;
        if verdict == Verdict::MatchNeedsRehash {
            self.rehash(&account, password).await;
        }
        started
    }

    /// Round trips 1 and 2. `None`: nothing was written and the login must go stepwise.
    async fn reserve_batched(
        &self,
        backoff_key: &str,
        username: Option<&Username>,
        remember_me: bool,
        source_ip: Option<&str>,
    ) -> Result<Option<Reserved>, ServiceError> {
        let now = self.now();
        let ip_limit = self.ip_failures();
        let streak_pk = password_streak_pk(backoff_key);
        let mut keys = vec![Key::new(&streak_pk, STREAK_SK)];
        if let Some(ip) = source_ip {
            keys.push(Key::new(limit_pk(ip_limit.scope, ip), LIMIT_LOG_SK));
        }
        if let Some(name) = username {
            keys.push(Key::new(account_pk(name), PROFILE_SK));
            keys.push(Key::new(lock_pk(CODE_LOCK_SCOPE, name.as_str()), LOCK_SK));
            keys.push(Key::new(account_pk(name), TOTP_SK));
            keys.push(Key::new(account_pk(name), PASSKEYS_MARK_SK));
        }
        let mut found = self.repo.load_many(&keys, now).await?.into_iter();
        let streak = next::<FailureStreak>(&mut found)?;
        let ip_log = match source_ip {
            Some(_) => next::<HitLog>(&mut found)?,
            None => None,
        };
        let (account, lock, totp, passkeys) = match username {
            Some(_) => (
                next::<Account>(&mut found)?,
                next::<UnixTime>(&mut found)?,
                next::<TotpRecord>(&mut found)?,
                next::<PasskeysMark>(&mut found)?,
            ),
            None => (None, None, None, None),
        };

        // Inside the backoff the streak has earned: refused, touching nothing.
        let current = streak.as_ref().map(|s| s.value.clone()).unwrap_or_default();
        let until = after(current.last_at, self.policy.password_backoff(current.count));
        if current.count > 0 && now < until {
            return Err(ServiceError::TooManyAttempts {
                retry_after: (until - now) as u64,
            });
        }
        let counted = FailureStreak {
            count: current.count.saturating_add(1),
            last_at: now,
        };
        let mut ops = vec![write_op(
            &streak_pk,
            STREAK_SK,
            streak.as_ref(),
            &counted,
            Some(now + STREAK_LIFETIME),
        )?];
        let streak = Written::of(streak_pk, STREAK_SK, counted.clone(), streak.as_ref());

        let mut address = None;
        if let Some(ip) = source_ip {
            let mut log = HitLog::current(ip_log.as_ref().map(|l| &l.value), &ip_limit, now);
            match log.room(&ip_limit, now) {
                Room::Full(wait) => return Err(ServiceError::TooManyAttempts { retry_after: wait }),
                // Right passwords under way fill the address's limit: the stepwise login waits
                // a moment for a slot.
                Room::Busy => return Ok(None),
                Room::Free => {}
            }
            let id = rand::random::<u64>();
            log.pending.push(Pending { id, at: now });
            let pk = limit_pk(ip_limit.scope, ip);
            ops.push(write_op(
                &pk,
                LIMIT_LOG_SK,
                ip_log.as_ref(),
                &log,
                Some(log.expires(&ip_limit, now)),
            )?);
            address = Some(AddressReservation {
                ip: ip.to_owned(),
                id,
                log: Written::of(pk, LIMIT_LOG_SK, log, ip_log.as_ref()),
            });
        }

        // The SMS budgets of the number the code would go to, read while the reservation is
        // written. A name without an account reads a decoy number's, so the I/O of a wrong
        // password is the same for names with and without an account.
        let sms_keys: Vec<Key> = match username {
            Some(name) => {
                let destination = match &account {
                    Some(a) => a.value.mobile.as_e164().to_owned(),
                    None => decoy_destination_key(name),
                };
                self.sms_limits(&ChallengePurpose::Login { remember_me }, name.as_str(), &destination)
                    .iter()
                    .map(|(limit, key)| Key::new(limit_pk(limit.scope, key), LIMIT_LOG_SK))
                    .chain([spend_key()])
                    .collect()
            }
            None => Vec::new(),
        };
        let read_budgets = async {
            if sms_keys.is_empty() {
                return Ok(Vec::new());
            }
            self.repo.load_many(&sms_keys, now).await
        };
        let (reserved, sms_logs) = tokio::join!(self.repo.items().transact(ops, now), read_budgets);
        match reserved {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        Ok(Some(Reserved {
            attempt: PasswordAttempt {
                streak: counted,
                address: address.as_ref().map(|a| ReservationId(a.id)),
            },
            streak,
            address,
            account,
            lock,
            totp,
            passkeys,
            sms_logs: sms_logs.ok(),
        }))
    }

    /// The address's reservation settled at `now`: dropped, and a hit if `counts`.
    fn settle_address(&self, address: &AddressReservation, counts: bool, now: UnixTime) -> Result<WriteOp, StoreError> {
        let limit = self.ip_failures();
        let mut log = HitLog::current(Some(&address.log.value), &limit, now);
        log.pending.retain(|p| p.id != address.id);
        if counts {
            log.hits.push(now);
        }
        address.log.replace(&log, Some(log.expires(&limit, now)))
    }

    /// Round trip 3 of a wrong password (or unknown name, or disabled account): the failure
    /// on the streak and the address, and its audit events (stand-ins without an account).
    async fn failed_batched(&self, backoff_key: &str, reserved: &Reserved, source_ip: Option<&str>) {
        let now = self.now();
        let streak = &reserved.attempt.streak;
        let throttled = streak.count == self.policy.password_failures_before_backoff;
        let ops = (|| -> Result<Vec<WriteOp>, StoreError> {
            let mut ops = Vec::new();
            // The backoff runs from when the failure was known, not from before the hash.
            if reserved.streak.value.last_at < now {
                let moved = FailureStreak {
                    count: streak.count,
                    last_at: now,
                };
                ops.push(reserved.streak.replace(&moved, Some(now + STREAK_LIFETIME))?);
            }
            if let Some(address) = &reserved.address {
                ops.push(self.settle_address(address, true, now)?);
            }
            match &reserved.account {
                Some(account) => {
                    let username = &account.value.username;
                    ops.push(audit_op(
                        username,
                        AuditKind::LoginFailed,
                        source_ip,
                        json!({ "consecutive_failures": streak.count, "during": "login" }),
                        now,
                    )?);
                    if throttled {
                        ops.push(audit_op(
                            username,
                            AuditKind::LoginThrottled,
                            source_ip,
                            json!({
                                "consecutive_failures": streak.count,
                                "retry_after": self.policy.password_backoff(streak.count).as_secs(),
                            }),
                            now,
                        )?);
                    }
                }
                None => {
                    ops.push(audit_stand_in_op(backoff_key, AuditKind::LoginFailed, now)?);
                    if throttled {
                        ops.push(audit_stand_in_op(backoff_key, AuditKind::LoginThrottled, now)?);
                    }
                }
            }
            Ok(ops)
        })();
        let committed = match ops {
            Ok(ops) => self.repo.items().transact(ops, now).await,
            Err(e) => Err(e),
        };
        match committed {
            Ok(()) => {
                if let Some(account) = &reserved.account {
                    crate::audit::logged(&account.value.username, AuditKind::LoginFailed);
                }
            }
            // The streak or the address moved meanwhile: settle them one by one, re-reading.
            Err(_) => {
                let account = reserved.account.as_ref().map(|a| &a.value);
                self.login_failed(backoff_key, &reserved.attempt, account, source_ip, "login")
                    .await;
            }
        }
    }

    /// Commits the right password's settlement together with `more` (the challenge and what
    /// it costs). `false`: a record moved and nothing was written; the password's settlement
    /// has then been done stepwise and `more` must be redone stepwise too.
    async fn commit_success(
        &self,
        backoff_key: &str,
        reserved: &Reserved,
        account: &Account,
        source_ip: Option<&str>,
        more: Vec<WriteOp>,
        now: UnixTime,
    ) -> Result<bool, ServiceError> {
        let mut ops = vec![reserved.streak.delete()];
        if let Some(address) = &reserved.address {
            ops.push(self.settle_address(address, false, now)?);
        }
        ops.push(audit_op(
            &account.username,
            AuditKind::LoginPasswordOk,
            source_ip,
            json!({}),
            now,
        )?);
        ops.extend(more);
        match self.repo.items().transact(ops, now).await {
            Ok(()) => {
                crate::audit::logged(&account.username, AuditKind::LoginPasswordOk);
                Ok(true)
            }
            Err(StoreError::ConditionFailed) => {
                let ip = reserved.address.as_ref().map(|a| a.ip.as_str());
                self.password_attempt_succeeded(backoff_key, &reserved.attempt, ip)
                    .await?;
                self.repo
                    .audit(&account.username, AuditKind::LoginPasswordOk, source_ip, json!({}), now)
                    .await;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Round trip 3 of a right password: settled, and the second factor started.
    async fn succeeded_batched(
        &self,
        backoff_key: &str,
        reserved: &Reserved,
        account: &Account,
        remember_me: bool,
        source_ip: Option<&str>,
    ) -> Result<LoginStarted, ServiceError> {
        let now = self.now();
        let username = &account.username;
        if let Some(lock) = reserved.lock.as_ref().filter(|l| l.value > now) {
            self.commit_success(backoff_key, reserved, account, source_ip, Vec::new(), now)
                .await?;
            return Err(ServiceError::CodeEntryLocked {
                retry_after: (lock.value - now).max(1) as u64,
            });
        }
        let app_offered = !matches!(self.totp, TotpKeying::Absent)
            && reserved.totp.as_ref().is_some_and(|t| t.value.active.is_some());
        // An account that has had a passkey: its passkeys are not under a fixed key, so the
        // challenge and its request options are opened stepwise, as for the app.
        let passkey_offered = self.webauthn.is_some() && reserved.passkeys.is_some();
        let budgets = reserved.sms_logs.as_ref().filter(|_| !app_offered && !passkey_offered);
        let Some(budgets) = budgets else {
            self.commit_success(backoff_key, reserved, account, source_ip, Vec::new(), now)
                .await?;
            return self.second_factor_stepwise(account, remember_me, source_ip).await;
        };
        let purpose = ChallengePurpose::Login { remember_me };
        let limits = self.sms_limits(&purpose, username.as_str(), account.mobile.as_e164());
        let mut more = Vec::with_capacity(limits.len() + 3);
        let Some((spend, budgets)) = budgets.split_last() else {
            return Err(ServiceError::Internal(
                "the SMS budgets were read without the portal's".into(),
            ));
        };
        for ((limit, key), log) in limits.iter().zip(budgets.iter().cloned()) {
            let stored = Stored::<HitLog>::decode(log)?;
            let current = HitLog::current(stored.as_ref().map(|s| &s.value), limit, now);
            match current.with_hit(limit, now) {
                Ok((hit, _)) => more.push(write_op(
                    &limit_pk(limit.scope, key),
                    LIMIT_LOG_SK,
                    stored.as_ref(),
                    &hit,
                    Some(hit.expires(limit, now)),
                )?),
                Err(wait) => {
                    self.commit_success(backoff_key, reserved, account, source_ip, Vec::new(), now)
                        .await?;
                    return Err(sms_refused(limit, key, wait, now));
                }
            }
        }
        // Last, the portal-wide ceilings (decoys read theirs too, so a full ceiling looks the
        // same for every name).
        match self.sms_spend_op(Stored::decode(spend.clone())?.as_ref(), now) {
            Ok(op) => more.push(op),
            Err(refused) => {
                self.commit_success(backoff_key, reserved, account, source_ip, Vec::new(), now)
                    .await?;
                return Err(refused);
            }
        }
        let id = ChallengeId::generate();
        let code = OneTimeCode::generate();
        let code_hash = self.code_hasher()?.hash(&id, &code);
        let opening = Opening {
            purpose: purpose.clone(),
            username: username.clone(),
            destination: account.mobile.clone(),
            answer: Answer::Sms { code_hash },
            password_version: Some(account.password_version),
            language: account.language,
        };
        let challenge = Challenge::new(id, opening, now, self.policy.code_lifetime);
        let challenge_key = challenge_pk(&challenge.id);
        more.push(write_op(
            &challenge_key,
            CHALLENGE_SK,
            None::<&Stored<Challenge>>,
            &challenge,
            Some(challenge.code_expires_at),
        )?);
        let code_sent = audit_op(
            username,
            AuditKind::CodeSent,
            source_ip,
            json!({ "to": challenge.destination.masked(), "purpose": "login" }),
            now,
        )?;
        let code_sent_key = code_sent.key();
        let code_sent_key = (code_sent_key.0.to_owned(), code_sent_key.1.to_owned());
        more.push(code_sent);
        more.push(self.remember_code_by_number(&challenge, now)?);
        if !self
            .commit_success(backoff_key, reserved, account, source_ip, more, now)
            .await?
        {
            return self.second_factor_stepwise(account, remember_me, source_ip).await;
        }
        if let Err(e) = self.send_code_remembered(&challenge, &code).await {
            // Nothing is left behind (as in the stepwise login): no challenge, no "code sent"
            // event, and the SMS budgets get their hits back, so the user can simply try again.
            let ops = vec![
                WriteOp::Delete {
                    pk: challenge_key,
                    sk: CHALLENGE_SK.to_owned(),
                    condition: Condition::Always,
                },
                WriteOp::Delete {
                    pk: code_sent_key.0,
                    sk: code_sent_key.1,
                    condition: Condition::Always,
                },
            ];
            let _ = self.repo.items().transact(ops, now).await;
            self.unreserve_sms(&purpose, username, &account.mobile).await;
            return Err(e);
        }
        crate::audit::logged(username, AuditKind::CodeSent);
        Ok(LoginStarted {
            challenge: self.issued(&challenge),
            methods: &["sms"],
            passkey: None,
        })
    }
}
