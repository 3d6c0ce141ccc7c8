//! Password login: the first factor. Reveals nothing about which usernames exist.

use serde_json::json;

use super::challenges::IssuedChallenge;
use super::limits::Limit;
use crate::app::App;
use crate::audit::AuditKind;
use crate::domain::{Password, Username};
use crate::error::ApiError;
use crate::security::passwords::Verdict;
use crate::store::records::{account_pk, Account, ChallengePurpose, Change, PhcHash, PROFILE_SK};

/// A login past the password step: the challenge to answer and the second factors it takes.
#[derive(Debug, Clone)]
pub struct LoginStarted {
    pub challenge: IssuedChallenge,
    /// `["sms"]`, or `["totp", "sms"]` for users with an authenticator app (no SMS sent yet).
    pub methods: &'static [&'static str],
}

impl App {
    fn ip_failures(&self) -> Limit {
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

    /// Throttles that apply before any password is checked: per source IP and per username.
    pub(crate) async fn login_throttle(&self, backoff_key: &str, source_ip: Option<&str>) -> Result<(), ApiError> {
        let now = self.now();
        if let Some(ip) = source_ip {
            if let Err(wait) = self.repo.limit_check(&self.ip_failures(), ip, now).await? {
                return Err(ApiError::TooManyAttempts { retry_after: wait });
            }
        }
        let streak = self.repo.failure_streak(backoff_key, now).await?;
        let wait = self.policy.password_backoff(streak.count);
        let until = streak.last_at + wait;
        if wait > 0 && now < until {
            return Err(ApiError::TooManyAttempts {
                retry_after: (until - now) as u64,
            });
        }
        Ok(())
    }

    /// Counts a wrong password against the source address and the username. `during` says
    /// which step asked for it (`login`, or a re-authentication such as `password_change`).
    pub(crate) async fn login_failed(
        &self,
        backoff_key: &str,
        account: Option<&Account>,
        source_ip: Option<&str>,
        during: &'static str,
    ) -> Result<(), ApiError> {
        let now = self.now();
        if let Some(ip) = source_ip {
            self.repo.limit_record(&self.ip_failures(), ip, now).await?;
        }
        let streak = self.repo.failure_streak_add(backoff_key, now).await?;
        if let Some(account) = account {
            self.repo
                .audit(
                    &account.username,
                    AuditKind::LoginFailed,
                    source_ip,
                    json!({ "consecutive_failures": streak.count, "during": during }),
                    now,
                )
                .await;
            // The failure that starts the backoff is the lockout operators look for.
            if streak.count == self.policy.password_failures_before_backoff {
                self.repo
                    .audit(
                        &account.username,
                        AuditKind::LoginThrottled,
                        source_ip,
                        json!({
                            "consecutive_failures": streak.count,
                            "retry_after": self.policy.password_backoff(streak.count),
                        }),
                        now,
                    )
                    .await;
            }
        }
        Ok(())
    }

    /// Checks a password for `raw_username`. Unknown user, wrong password and disabled account
    /// all end in the same [`ApiError::InvalidCredentials`] after the same hashing work.
    pub async fn check_password(
        &self,
        raw_username: &str,
        password: &Password,
        source_ip: Option<&str>,
    ) -> Result<Account, ApiError> {
        let backoff_key = Self::backoff_key(raw_username);
        self.login_throttle(&backoff_key, source_ip).await?;
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
            (Some(a), Verdict::Match | Verdict::MatchNeedsRehash) if !a.disabled => (a, verdict),
            (account, _) => {
                self.login_failed(&backoff_key, account.as_ref(), source_ip, "login")
                    .await?;
                return Err(ApiError::InvalidCredentials);
            }
        };
        let (account, verdict) = account;
        self.repo.failure_streak_clear(&backoff_key, now).await?;
        if verdict == Verdict::MatchNeedsRehash {
            self.rehash(&account.username, password).await;
        }
        Ok(account)
    }

    /// Stores a hash at the current parameters; best effort (the login goes on regardless).
    async fn rehash(&self, username: &Username, password: &Password) {
        let Ok(hash) = self.passwords.hash(password).await else {
            return;
        };
        let now = self.now();
        let result = self
            .repo
            .modify::<Account, (), ApiError, _>(&account_pk(username), PROFILE_SK, now, |current| match current {
                Some(a) => {
                    let mut a = a.clone();
                    a.password_hash = PhcHash(hash.clone());
                    Ok((Change::Write(a, ()), None))
                }
                None => Ok((Change::Keep(()), None)),
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
    ) -> Result<IssuedChallenge, ApiError> {
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
    ) -> Result<LoginStarted, ApiError> {
        let account = self.check_password(raw_username, password, source_ip).await?;
        let now = self.now();
        self.repo
            .audit(&account.username, AuditKind::LoginPasswordOk, source_ip, json!({}), now)
            .await;
        if let Some(wait) = self.code_entry_locked(&account.username).await? {
            return Err(ApiError::CodeEntryLocked { retry_after: wait });
        }
        if self.totp_active(&account.username).await? {
            let challenge = self.start_totp_login(&account, remember_me).await?;
            return Ok(LoginStarted {
                challenge,
                methods: &["totp", "sms"],
            });
        }
        let challenge = self
            .start_challenge(
                &account.username,
                &account.mobile,
                ChallengePurpose::Login { remember_me },
                source_ip,
            )
            .await?;
        Ok(LoginStarted {
            challenge,
            methods: &["sms"],
        })
    }
}
