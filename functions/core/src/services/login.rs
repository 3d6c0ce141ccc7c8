//! Password login: the first factor. Reveals nothing about which usernames exist.

use serde_json::json;

use super::challenges::IssuedChallenge;
use super::limits::{FailureStreak, Limit, ReservationId};
use crate::app::App;
use crate::audit::AuditKind;
use crate::domain::{Password, Username};
use crate::error::ServiceError;
use crate::security::passwords::Verdict;
use crate::store::keys::{account_pk, PROFILE_SK};
use crate::store::records::{Account, ChallengePurpose, Change, PhcHash};

/// How long a password attempt waits for a slot while only attempts under way (not failures)
/// fill its address's limit. Short: a request waiting here holds a function instance, so a
/// long wait would make it cheap to tie up the login function's concurrency.
const ATTEMPT_PATIENCE: std::time::Duration = std::time::Duration::from_millis(300);

/// A password attempt counted by [`App::reserve_password_attempt`], to be settled as a
/// success or a failure.
#[derive(Debug, Clone)]
pub(crate) struct PasswordAttempt {
    /// The typed username's failures so far, this attempt included.
    pub streak: FailureStreak,
    /// The source address's reservation, when the address is known.
    pub(crate) address: Option<ReservationId>,
}

/// A login past the password step: the challenge to answer and the second factors it takes.
#[derive(Debug, Clone)]
pub struct LoginStarted {
    pub challenge: IssuedChallenge,
    /// `["sms"]`, or `["totp", "sms", "recovery_code"]` for users with an authenticator app,
    /// `["passkey", …, "recovery_code"]` for users with passkeys (no SMS sent yet in either
    /// case). A recovery code is offered whenever there is a strong factor, without reading
    /// whether any are left (no extra read on the login path): with none left, one simply
    /// does not match.
    pub methods: &'static [&'static str],
    /// The WebAuthn request options, for an account with passkeys.
    pub passkey: Option<webauthn_rs::prelude::RequestChallengeResponse>,
}

impl App {
    pub(crate) fn ip_failures(&self) -> Limit {
        Limit {
            scope: "ip-failures",
            max: self.policy.ip_failures_per_window,
            window: self.policy.ip_failure_window,
        }
    }

    /// The key the per-account backoff is kept under. Built from the typed name whether or not
    /// the account exists, so unknown names are throttled exactly like real ones.
    pub(crate) fn backoff_key(raw_username: &str) -> String {
        let lower = raw_username.trim().to_lowercase();
        crate::security::sha256_hex(&lower)
    }

    /// Counts one password attempt before any password is checked, against the source address
    /// (≤ 30 failures per 10 minutes) and the typed username's backoff. Each is one atomic
    /// reservation, so a burst of parallel attempts cannot all pass on the same count: once
    /// the limits are used up the rest are refused (429 with `Retry-After`) without hashing.
    /// A right password gives both back ([`Self::password_attempt_succeeded`]); a wrong one
    /// leaves them as its failure. Unknown usernames are reserved exactly like known ones.
    pub(crate) async fn reserve_password_attempt(
        &self,
        backoff_key: &str,
        source_ip: Option<&str>,
    ) -> Result<PasswordAttempt, ServiceError> {
        let now = self.now();
        let policy = &self.policy;
        // Inside a backoff already: refuse on a read, touching nothing. (Only a shortcut; the
        // reservation below decides, atomically.)
        let streak = self.repo.failure_streak(backoff_key, now).await?;
        let wait = crate::clock::secs(policy.password_backoff(streak.count));
        if wait > 0 && now < streak.last_at + wait {
            return Err(ServiceError::TooManyAttempts {
                retry_after: (streak.last_at + wait - now) as u64,
            });
        }
        let mut address = None;
        if let Some(ip) = source_ip {
            // Reserved, not yet a failure: right passwords under way never fill the address's
            // limit; more of them at once than it holds wait a moment for each other.
            let reserved = self
                .repo
                .limit_reserve_waiting(&self.ip_failures(), ip, now, ATTEMPT_PATIENCE)
                .await?;
            match reserved {
                Ok(id) => address = Some(id),
                Err(wait) => return Err(ServiceError::TooManyAttempts { retry_after: wait }),
            }
        }
        let reserved = self
            .repo
            .failure_streak_reserve(backoff_key, now, |n| policy.password_backoff(n))
            .await;
        let refused = match reserved {
            Ok(Ok(streak)) => return Ok(PasswordAttempt { streak, address }),
            Ok(Err(wait)) => ServiceError::TooManyAttempts { retry_after: wait },
            Err(e) => e.into(),
        };
        // Not an attempt after all: the address's reservation is dropped.
        if let (Some(ip), Some(id)) = (source_ip, address) {
            self.repo.limit_settle(&self.ip_failures(), ip, id, false, now).await?;
        }
        Err(refused)
    }

    /// A right password: the streak is over and the address gets its reserved slot back (the
    /// per-address limit counts failures only).
    pub(crate) async fn password_attempt_succeeded(
        &self,
        backoff_key: &str,
        attempt: &PasswordAttempt,
        source_ip: Option<&str>,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        self.repo.failure_streak_clear(backoff_key, now).await?;
        if let (Some(ip), Some(id)) = (source_ip, attempt.address) {
            self.repo.limit_settle(&self.ip_failures(), ip, id, false, now).await?;
        }
        Ok(())
    }

    /// Records a wrong password whose attempt [`Self::reserve_password_attempt`] already
    /// counted, and starts its backoff now (after the hashing). `during` says which step asked
    /// for it (`login`, or a re-authentication such as `password_change`). A name without an
    /// account gets a stand-in write of the same size for every audit event a real account
    /// would get, so both cost the same I/O.
    pub(crate) async fn login_failed(
        &self,
        backoff_key: &str,
        attempt: &PasswordAttempt,
        account: Option<&Account>,
        source_ip: Option<&str>,
        during: &'static str,
    ) {
        let now = self.now();
        if let Err(e) = self.repo.failure_streak_touch(backoff_key, now).await {
            tracing::warn!(error = %e, "password backoff not moved to the failure");
        }
        if let (Some(ip), Some(id)) = (source_ip, attempt.address) {
            // Fails closed: a reservation left unsettled becomes a failure when it lapses.
            if let Err(e) = self.repo.limit_settle(&self.ip_failures(), ip, id, true, now).await {
                tracing::warn!(error = %e, "password failure not settled for its address");
            }
        }
        let streak = &attempt.streak;
        // The failure that starts the backoff is the lockout operators look for.
        let throttled = streak.count == self.policy.password_failures_before_backoff;
        let Some(account) = account else {
            self.repo.audit_stand_in(backoff_key, AuditKind::LoginFailed, now).await;
            if throttled {
                self.repo
                    .audit_stand_in(backoff_key, AuditKind::LoginThrottled, now)
                    .await;
            }
            return;
        };
        self.repo
            .audit(
                &account.username,
                AuditKind::LoginFailed,
                source_ip,
                json!({ "consecutive_failures": streak.count, "during": during }),
                now,
            )
            .await;
        if throttled {
            self.repo
                .audit(
                    &account.username,
                    AuditKind::LoginThrottled,
                    source_ip,
                    json!({
                        "consecutive_failures": streak.count,
                        "retry_after": self.policy.password_backoff(streak.count).as_secs(),
                    }),
                    now,
                )
                .await;
        }
    }

    /// Checks a password for `raw_username`. Unknown user, wrong password and disabled account
    /// all end in the same [`ServiceError::InvalidCredentials`] after the same hashing work and
    /// the same storage writes.
    pub async fn check_password(
        &self,
        raw_username: &str,
        password: &Password,
        source_ip: Option<&str>,
    ) -> Result<Account, ServiceError> {
        let backoff_key = Self::backoff_key(raw_username);
        let attempt = self.reserve_password_attempt(&backoff_key, source_ip).await?;
        let now = self.now();
        let account = match Username::parse(raw_username) {
            Ok(username) => self
                .repo
                .load::<Account>(&account_pk(&username), PROFILE_SK, now)
                .await?
                .map(|s| s.value),
            Err(_) => None,
        };
        let verdict = if password.is_overlong() {
            // Never hash unbounded input; an overlong password can't be right anyway.
            self.passwords.verify(&Password::new(String::new()), None).await
        } else {
            self.passwords
                .verify(password, account.as_ref().map(|a| a.password_hash.0.as_str()))
                .await
        };
        let account = match (account, verdict) {
            (Some(a), Verdict::Match | Verdict::MatchNeedsRehash) if !a.disabled => a,
            (account, _) => {
                self.login_failed(&backoff_key, &attempt, account.as_ref(), source_ip, "login")
                    .await;
                return Err(ServiceError::InvalidCredentials);
            }
        };
        self.password_attempt_succeeded(&backoff_key, &attempt, source_ip)
            .await?;
        if verdict == Verdict::MatchNeedsRehash {
            self.rehash(&account, password).await;
        }
        Ok(account)
    }

    /// Stores a hash at the current parameters; best effort (the login goes on regardless).
    /// Only while the stored hash is still the one `checked` held: a password changed or
    /// reset meanwhile must never be overwritten by the old one.
    pub(crate) async fn rehash(&self, checked: &Account, password: &Password) {
        let Ok(hash) = self.passwords.hash(password).await else {
            return;
        };
        let now = self.now();
        let result = self
            .repo
            .modify::<Account, (), ServiceError, _>(&account_pk(&checked.username), PROFILE_SK, now, |current| {
                match current {
                    Some(a)
                        if a.password_hash == checked.password_hash
                            && a.password_version == checked.password_version =>
                    {
                        let mut a = a.clone();
                        a.password_hash = PhcHash(hash.clone());
                        Ok((Change::Write(a, ()), None))
                    }
                    _ => Ok((Change::Keep(()), None)),
                }
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "password rehash not stored");
        }
    }

    /// `POST /v1/auth/login`: password, then an SMS code to the account's number (or, for
    /// users with an authenticator app, a challenge answered with the app and no SMS).
    pub async fn login(
        &self,
        raw_username: &str,
        password: &Password,
        remember_me: bool,
        source_ip: Option<&str>,
    ) -> Result<IssuedChallenge, ServiceError> {
        Ok(self
            .start_login(raw_username, password, remember_me, source_ip)
            .await?
            .challenge)
    }

    /// [`Self::login`], also saying which second factors the challenge takes.
    pub async fn start_login(
        &self,
        raw_username: &str,
        password: &Password,
        remember_me: bool,
        source_ip: Option<&str>,
    ) -> Result<LoginStarted, ServiceError> {
        self.start_login_batched(raw_username, password, remember_me, source_ip)
            .await
    }

    /// The same login one record at a time: what the batched login
    /// ([`super::login_batched`]) falls back to when a record it read moved before it could
    /// write (another attempt from the same address), or when attempts under way fill the
    /// address's limit and this one must wait for a slot.
    pub(crate) async fn start_login_stepwise(
        &self,
        raw_username: &str,
        password: &Password,
        remember_me: bool,
        source_ip: Option<&str>,
    ) -> Result<LoginStarted, ServiceError> {
        let account = self.check_password(raw_username, password, source_ip).await?;
        let now = self.now();
        self.repo
            .audit(&account.username, AuditKind::LoginPasswordOk, source_ip, json!({}), now)
            .await;
        self.second_factor_stepwise(&account, remember_me, source_ip).await
    }

    /// After a right password: the authenticator app's challenge, or an SMS code, unless code
    /// entry is locked.
    pub(crate) async fn second_factor_stepwise(
        &self,
        account: &Account,
        remember_me: bool,
        source_ip: Option<&str>,
    ) -> Result<LoginStarted, ServiceError> {
        if let Some(wait) = self.code_entry_locked(&account.username).await? {
            return Err(ServiceError::CodeEntryLocked { retry_after: wait });
        }
        let passkeys = self.passkeys_for_login(&account.username).await?;
        let totp = self.totp_active(&account.username).await?;
        if totp || !passkeys.is_empty() {
            let challenge = self.start_totp_login(account, remember_me).await?;
            if passkeys.is_empty() {
                return Ok(LoginStarted {
                    challenge,
                    methods: &["totp", "sms", "recovery_code"],
                    passkey: None,
                });
            }
            let options = self
                .attach_passkey_login(&challenge.challenge_id, &account.username, &passkeys)
                .await?;
            return Ok(LoginStarted {
                challenge,
                methods: if totp {
                    &["passkey", "totp", "sms", "recovery_code"]
                } else {
                    &["passkey", "sms", "recovery_code"]
                },
                passkey: Some(options),
            });
        }
        let challenge = self
            .start_challenge(
                &account.username,
                &account.mobile,
                ChallengePurpose::Login { remember_me },
                Some(account.password_version),
                account.language,
                source_ip,
            )
            .await?;
        Ok(LoginStarted {
            challenge,
            methods: &["sms"],
            passkey: None,
        })
    }
}
