//! Sessions: opened after the second factor, refreshed with rotating opaque tokens, checked on
//! every authenticated request, revoked at once.

use serde_json::json;

use super::devices::SessionOrigin;
pub use super::refresh_tokens::RefreshToken;
use crate::app::App;
use crate::audit::{audit_op, AuditKind};
use crate::clock::UnixTime;
use crate::domain::{SessionId, Username};
use crate::error::ServiceError;
use crate::security::tokens::TokenError;

use crate::store::keys::{account_pk, session_index_sk, session_pk, PROFILE_SK, SESSION_INDEX_PREFIX, SESSION_SK};
use crate::store::records::{check_op, Account, Challenge, ChallengePurpose, Change, Session, Stored};
use crate::store::{Condition, Item, Key, StoreError, WriteOp};

/// How often opening a session decides again when the account changed under it.
const OPEN_RETRIES: usize = 8;

/// The second factor that opened a session. A factor that proves possession of something
/// phishing- or SIM-swap-resistant (an authenticator app, a passkey) stamps the session's
/// `second_factor_at`, so the sensitive changes right after such a login need no step-up
/// ([`App::require_fresh_second_factor`]); an SMS code does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFactor {
    Sms,
    Totp,
    Passkey,
    /// One of the account's single-use recovery codes: it stands in for the passkey or app
    /// the account has, so it counts as strong too.
    RecoveryCode,
}

impl LoginFactor {
    /// Whether a session opened with this factor starts with a fresh second factor.
    pub fn is_strong(self) -> bool {
        match self {
            LoginFactor::Sms => false,
            LoginFactor::Totp | LoginFactor::Passkey | LoginFactor::RecoveryCode => true,
        }
    }

    /// The stable name (audit details, `methods` lists).
    pub fn as_str(self) -> &'static str {
        match self {
            LoginFactor::Sms => "sms",
            LoginFactor::Totp => "totp",
            LoginFactor::Passkey => "passkey",
            LoginFactor::RecoveryCode => "recovery_code",
        }
    }
}

/// A session about to be stored, and its first refresh token.
pub(crate) struct SessionOpening {
    session: Session,
    refresh: RefreshToken,
}

/// The account a new session is for, if it may have one: a missing or disabled account gets
/// none (401, as an expired session), nor does a login challenge opened with a password that
/// has changed since (410, as a used-up challenge).
pub(crate) fn live_for_session(
    account: Option<&Stored<Account>>,
    password_version: Option<u64>,
) -> Result<&Stored<Account>, ServiceError> {
    let account = account
        .filter(|a| !a.value.disabled)
        .ok_or(ServiceError::SessionExpired)?;
    if password_version.is_some_and(|v| v != account.value.password_version) {
        return Err(ServiceError::ChallengeGone);
    }
    Ok(account)
}

/// How a session is being opened.
struct Opened {
    remember_me: bool,
    factor: LoginFactor,
    /// The password version the login challenge was opened with, if any.
    password_version: Option<u64>,
}

/// What a client gets when a session opens or refreshes.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh: RefreshToken,
    /// Seconds the refresh cookie should persist; `None` for a browser-session cookie.
    pub cookie_max_age: Option<i64>,
    pub session: Session,
}

/// A request whose bearer token and session both check out.
#[derive(Debug, Clone)]
pub struct Caller {
    pub username: Username,
    pub session: SessionId,
    /// The account must change its password before it may do anything else; enforced by
    /// [`portal_http::auth::Authenticated`].
    pub password_change_required: bool,
    /// The account as read together with the session (one batch read), for the handlers
    /// that show it ([`App::account_view_of`]); `None` if it was gone.
    pub account: Option<Box<Account>>,
    /// When the session last proved a strong second factor (its `second_factor_at`), for
    /// [`App::require_fresh_second_factor`].
    pub second_factor_at: Option<UnixTime>,
}

impl App {
    fn cookie_max_age(&self, session: &Session, now: UnixTime) -> Option<i64> {
        session.remember_me.then(|| (session.absolute_expires_at - now).max(0))
    }

    fn access_token(&self, session: &Session, now: UnixTime) -> Result<String, ServiceError> {
        self.tokens
            .issuer()
            .ok_or_else(|| ServiceError::Internal("this function holds no token signing key".into()))?
            .issue(&session.username, &session.id, now)
            .map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// Opens the session a verified login challenge earned. Refused (410, as a used-up
    /// challenge) when the password has changed since the challenge was opened: a code sent
    /// for the old password must not outlive a change or reset made to lock someone out.
    pub async fn open_login_session(
        &self,
        challenge: &Challenge,
        factor: LoginFactor,
        source_ip: Option<&str>,
    ) -> Result<Tokens, ServiceError> {
        self.open_login_session_from(challenge, factor, source_ip, &SessionOrigin::default())
            .await
    }

    /// [`Self::open_login_session`], recording where the session was opened from (the
    /// security centre's list shows it). `factor` is what answered the challenge.
    pub async fn open_login_session_from(
        &self,
        challenge: &Challenge,
        factor: LoginFactor,
        source_ip: Option<&str>,
        origin: &SessionOrigin,
    ) -> Result<Tokens, ServiceError> {
        let ChallengePurpose::Login { remember_me } = challenge.purpose else {
            return Err(ServiceError::ChallengeGone);
        };
        let Some(version) = challenge.password_version else {
            return Err(ServiceError::ChallengeGone);
        };
        let opened = Opened {
            remember_me,
            factor,
            password_version: Some(version),
        };
        self.open_session_at(&challenge.username, opened, source_ip, origin)
            .await
    }

    /// Opens a session for `username` without a login challenge: for tests and tools that
    /// have established the second factor themselves. Request paths use
    /// [`Self::open_login_session`].
    /// The session is as one opened with an SMS code: no fresh second factor
    /// ([`Self::open_session_with`] names another).
    pub async fn open_session(
        &self,
        username: &Username,
        remember_me: bool,
        source_ip: Option<&str>,
    ) -> Result<Tokens, ServiceError> {
        self.open_session_with(username, remember_me, LoginFactor::Sms, source_ip)
            .await
    }

    /// [`Self::open_session`] for a caller that has checked `factor` itself.
    pub async fn open_session_with(
        &self,
        username: &Username,
        remember_me: bool,
        factor: LoginFactor,
        source_ip: Option<&str>,
    ) -> Result<Tokens, ServiceError> {
        let opened = Opened {
            remember_me,
            factor,
            password_version: None,
        };
        self.open_session_at(username, opened, source_ip, &SessionOrigin::new(None, source_ip))
            .await
    }

    async fn open_session_at(
        &self,
        username: &Username,
        opened: Opened,
        source_ip: Option<&str>,
        origin: &SessionOrigin,
    ) -> Result<Tokens, ServiceError> {
        for _ in 0..OPEN_RETRIES {
            let now = self.now();
            let account = self
                .repo
                .load::<Account>(&account_pk(username), PROFILE_SK, now)
                .await?;
            let account = live_for_session(account.as_ref(), opened.password_version)?;
            let (opening, mut ops) =
                self.session_opening(account, opened.remember_me, opened.factor, source_ip, origin, now)?;
            ops.push(check_op(&account_pk(username), PROFILE_SK, Some(account)));
            match self.repo.items().transact(ops, now).await {
                Ok(()) => return self.opened(opening, now),
                // The account changed since it was read: decide again on what it is now.
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::ConditionFailed.into())
    }

    /// A new session of `account` at `now`: the session, its first refresh token, and the
    /// writes that store it (session, index entry, `LoginCompleted` event) for the caller's
    /// transaction. That transaction must also check the account is still as read
    /// ([`check_op`]): operators and password resets write the account first and then revoke
    /// the sessions its index lists, so a session stored while the account is unchanged is
    /// either found by their revocation or, if they wrote first, never stored.
    pub(crate) fn session_opening(
        &self,
        account: &Stored<Account>,
        remember_me: bool,
        factor: LoginFactor,
        source_ip: Option<&str>,
        origin: &SessionOrigin,
        now: UnixTime,
    ) -> Result<(SessionOpening, Vec<WriteOp>), ServiceError> {
        let username = &account.value.username;
        let id = SessionId::generate();
        let (refresh, family) = RefreshToken::first(id.clone());
        let session = Session {
            id: id.clone(),
            username: username.clone(),
            refresh_family_hash: Some(family.family_hash),
            refresh_salt: family.salt,
            refresh_generation: refresh.generation,
            created_at: now,
            last_used_at: now,
            absolute_expires_at: crate::clock::after(now, self.policy.session_absolute_lifetime),
            remember_me,
            revoked_at: None,
            password_change_required: Some(account.value.password_change_required),
            second_factor_at: factor.is_strong().then_some(now),
        };
        let expires = Some(session.absolute_expires_at);
        let record = crate::store::records::to_item(&session_pk(&id), SESSION_SK, &session, expires)?;
        let index = crate::store::records::to_item(&account_pk(username), &session_index_sk(&id), origin, expires)?;
        let ops = vec![
            WriteOp::Put {
                item: record,
                condition: Condition::Absent,
            },
            WriteOp::Put {
                item: index,
                condition: Condition::Absent,
            },
            audit_op(
                username,
                AuditKind::LoginCompleted,
                source_ip,
                json!({ "remember_me": remember_me }),
                now,
            )?,
        ];
        Ok((SessionOpening { session, refresh }, ops))
    }

    /// The tokens of a session whose writes ([`Self::session_opening`]) have committed.
    pub(crate) fn opened(&self, opening: SessionOpening, now: UnixTime) -> Result<Tokens, ServiceError> {
        let SessionOpening { session, refresh } = opening;
        crate::audit::logged(&session.username, AuditKind::LoginCompleted);
        Ok(Tokens {
            access_token: self.access_token(&session, now)?,
            expires_in: crate::clock::secs(self.policy.access_token_lifetime),
            cookie_max_age: self.cookie_max_age(&session, now),
            refresh,
            session,
        })
    }

    /// Rotates the refresh token. Presenting a genuine token of any earlier generation means
    /// it was copied: the whole session is revoked. A token that is not genuine changes nothing.
    pub async fn refresh_session(
        &self,
        presented: &RefreshToken,
        source_ip: Option<&str>,
    ) -> Result<Tokens, ServiceError> {
        let now = self.now();
        let idle = self.policy.session_idle_timeout;
        enum Outcome {
            Rotated(Box<(Session, RefreshToken)>),
            Reused(Username),
        }
        let outcome = self
            .repo
            .modify::<Session, Outcome, ServiceError, _>(&session_pk(&presented.session), SESSION_SK, now, |current| {
                let Some(s) = current else {
                    return Err(ServiceError::SessionExpired);
                };
                if s.revoked_at.is_some() || !presented.is_genuine_for(s) {
                    return Err(ServiceError::SessionExpired);
                }
                if presented.generation == s.refresh_generation {
                    if !s.is_live(now, idle) {
                        return Err(ServiceError::SessionExpired);
                    }
                    let next = presented.next(&s.refresh_salt);
                    let mut rotated = s.clone();
                    rotated.refresh_generation = next.generation;
                    rotated.last_used_at = now;
                    return Ok((
                        Change::Write(rotated.clone(), Outcome::Rotated(Box::new((rotated, next)))),
                        Some(s.absolute_expires_at),
                    ));
                }
                if presented.generation < s.refresh_generation {
                    let mut revoked = s.clone();
                    revoked.revoked_at = Some(now);
                    return Ok((
                        Change::Write(revoked, Outcome::Reused(s.username.clone())),
                        Some(s.absolute_expires_at),
                    ));
                }
                // Genuine but ahead of the session: cannot happen unless the record was
                // rolled back (a restore). Refuse without revoking.
                Err(ServiceError::SessionExpired)
            })
            .await?;
        match outcome {
            Outcome::Rotated(rotated) => {
                // No audit event: a rotation is routine (every 15 minutes of use) and changes
                // nothing a user or operator must review. The security history keeps what
                // does: logins, failures, changes, sessions ended and refresh-token reuse. At
                // ten refreshes per login it was a quarter of the write units of a login.
                let (session, next) = *rotated;
                Ok(Tokens {
                    access_token: self.access_token(&session, now)?,
                    expires_in: crate::clock::secs(self.policy.access_token_lifetime),
                    cookie_max_age: self.cookie_max_age(&session, now),
                    refresh: next,
                    session,
                })
            }
            Outcome::Reused(username) => {
                self.repo
                    .audit(&username, AuditKind::RefreshReuseDetected, source_ip, json!({}), now)
                    .await;
                Err(ServiceError::RefreshReused)
            }
        }
    }

    /// Checks a bearer token and that its session is still live (ASVS 3.3.1).
    pub async fn authenticate(&self, bearer: &str) -> Result<Caller, ServiceError> {
        let now = self.now();
        let verifier = self
            .tokens
            .verifier()
            .ok_or_else(|| ServiceError::Internal("this function holds no token verification key".into()))?;
        let claims = verifier.verify(bearer, now).map_err(|e| match e {
            TokenError::Expired => ServiceError::SessionExpired,
            TokenError::Invalid => ServiceError::Unauthenticated,
        })?;
        let sid = SessionId::parse(&claims.sid).map_err(|_| ServiceError::Unauthenticated)?;
        let username = Username::parse(&claims.sub).map_err(|_| ServiceError::Unauthenticated)?;
        // The session and the account in one round trip: the account page (the most frequent
        // authenticated request) then needs no second read, and any other request pays one
        // read unit more in the same request (issue 18).
        let keys = [
            Key::new(session_pk(&sid), SESSION_SK),
            Key::new(account_pk(&username), PROFILE_SK),
        ];
        let [session, account]: [Option<Item>; 2] = self
            .repo
            .load_many(&keys, now)
            .await?
            .try_into()
            .map_err(|_| ServiceError::Internal("batch read answered the wrong number of keys".into()))?;
        let session = Stored::<Session>::decode(session)?;
        let account = Stored::<Account>::decode(account)?.map(|a| Box::new(a.value));
        match session {
            Some(s) if s.value.username == username && s.value.is_live(now, self.policy.session_idle_timeout) => {
                let password_change_required = match s.value.password_change_required {
                    Some(required) => required,
                    None => {
                        account
                            .as_ref()
                            .ok_or(ServiceError::SessionExpired)?
                            .password_change_required
                    }
                };
                Ok(Caller {
                    username,
                    session: sid,
                    password_change_required,
                    account,
                    second_factor_at: s.value.second_factor_at,
                })
            }
            _ => Err(ServiceError::SessionExpired),
        }
    }

    /// Updates the copy of the account's password-change flag a session carries.
    pub async fn set_session_password_change_required(
        &self,
        id: &SessionId,
        required: bool,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        self.repo
            .modify::<Session, (), ServiceError, _>(&session_pk(id), SESSION_SK, now, |current| match current {
                Some(s) if s.password_change_required != Some(required) => {
                    let mut next = s.clone();
                    next.password_change_required = Some(required);
                    Ok((Change::Write(next, ()), Some(s.absolute_expires_at)))
                }
                _ => Ok((Change::Keep(()), None)),
            })
            .await
    }

    /// Logout.
    pub async fn revoke_session(&self, id: &SessionId, source_ip: Option<&str>) -> Result<(), ServiceError> {
        self.revoke_session_because(id, source_ip, "logout").await
    }

    /// Ends one session; the audit event names `reason`.
    pub(crate) async fn revoke_session_because(
        &self,
        id: &SessionId,
        source_ip: Option<&str>,
        reason: &str,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        let revoked = self
            .repo
            .modify::<Session, Option<Username>, ServiceError, _>(&session_pk(id), SESSION_SK, now, |current| {
                match current {
                    Some(s) if s.revoked_at.is_none() => {
                        let mut r = s.clone();
                        r.revoked_at = Some(now);
                        Ok((Change::Write(r, Some(s.username.clone())), Some(s.absolute_expires_at)))
                    }
                    _ => Ok((Change::Keep(None), None)),
                }
            })
            .await?;
        if let Some(username) = revoked {
            self.repo
                .audit(
                    &username,
                    AuditKind::SessionRevoked,
                    source_ip,
                    json!({ "reason": reason }),
                    now,
                )
                .await;
        }
        Ok(())
    }

    /// Revokes every session of `username` except `keep`; returns how many were revoked.
    pub async fn revoke_all_sessions(
        &self,
        username: &Username,
        keep: Option<&SessionId>,
        reason: &str,
    ) -> Result<usize, ServiceError> {
        self.revoke_sessions_from(username, keep, reason, None).await
    }

    /// [`Self::revoke_all_sessions`] on behalf of a request from `source_ip`, which the audit
    /// event records.
    pub async fn revoke_sessions_from(
        &self,
        username: &Username,
        keep: Option<&SessionId>,
        reason: &str,
        source_ip: Option<&str>,
    ) -> Result<usize, ServiceError> {
        let now = self.now();
        let index = self
            .repo
            .items()
            .query(&account_pk(username), SESSION_INDEX_PREFIX, now)
            .await?;
        let mut revoked = 0;
        for entry in index {
            let Some(raw) = entry.sk.strip_prefix(SESSION_INDEX_PREFIX) else {
                continue;
            };
            let Ok(id) = SessionId::parse(raw) else {
                continue;
            };
            if Some(&id) == keep {
                continue;
            }
            let changed = self
                .repo
                .modify::<Session, bool, ServiceError, _>(&session_pk(&id), SESSION_SK, now, |current| match current {
                    Some(s) if s.revoked_at.is_none() => {
                        let mut r = s.clone();
                        r.revoked_at = Some(now);
                        Ok((Change::Write(r, true), Some(s.absolute_expires_at)))
                    }
                    _ => Ok((Change::Keep(false), None)),
                })
                .await?;
            revoked += usize::from(changed);
        }
        if revoked > 0 {
            self.repo
                .audit(
                    username,
                    AuditKind::SessionRevoked,
                    source_ip,
                    json!({ "reason": reason, "count": revoked }),
                    now,
                )
                .await;
        }
        Ok(revoked)
    }
}
