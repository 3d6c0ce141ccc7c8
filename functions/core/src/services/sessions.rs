//! Sessions: opened after the second factor, refreshed with rotating opaque tokens, checked on
//! every authenticated request, revoked at once.

use serde_json::json;

use super::devices::SessionOrigin;
pub use super::refresh_tokens::RefreshToken;
use crate::app::App;
use crate::audit::AuditKind;
use crate::clock::UnixTime;
use crate::domain::{SessionId, Username};
use crate::error::ServiceError;
use crate::security::tokens::TokenError;

use crate::store::keys::{account_pk, session_index_sk, session_pk, PROFILE_SK, SESSION_INDEX_PREFIX, SESSION_SK};
use crate::store::records::{Account, Challenge, ChallengePurpose, Change, Session};
use crate::store::{Condition, WriteOp};

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
        source_ip: Option<&str>,
    ) -> Result<Tokens, ServiceError> {
        self.open_login_session_from(challenge, source_ip, &SessionOrigin::default())
            .await
    }

    /// [`Self::open_login_session`], recording where the session was opened from (the
    /// security centre's list shows it).
    pub async fn open_login_session_from(
        &self,
        challenge: &Challenge,
        source_ip: Option<&str>,
        origin: &SessionOrigin,
    ) -> Result<Tokens, ServiceError> {
        let ChallengePurpose::Login { remember_me } = challenge.purpose else {
            return Err(ServiceError::ChallengeGone);
        };
        let Some(version) = challenge.password_version else {
            return Err(ServiceError::ChallengeGone);
        };
        self.open_session_at(&challenge.username, remember_me, Some(version), source_ip, origin)
            .await
    }

    /// Opens a session for `username` without a login challenge: for tests and tools that
    /// have established the second factor themselves. Request paths use
    /// [`Self::open_login_session`].
    pub async fn open_session(
        &self,
        username: &Username,
        remember_me: bool,
        source_ip: Option<&str>,
    ) -> Result<Tokens, ServiceError> {
        self.open_session_at(
            username,
            remember_me,
            None,
            source_ip,
            &SessionOrigin::new(None, source_ip),
        )
        .await
    }

    async fn open_session_at(
        &self,
        username: &Username,
        remember_me: bool,
        password_version: Option<u64>,
        source_ip: Option<&str>,
        origin: &SessionOrigin,
    ) -> Result<Tokens, ServiceError> {
        let now = self.now();
        let account = self.live_account(username).await?;
        if password_version.is_some_and(|v| v != account.password_version) {
            return Err(ServiceError::ChallengeGone);
        }
        let id = SessionId::generate();
        let (refresh, family) = RefreshToken::first(id.clone());
        let mut session = Session {
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
            password_change_required: Some(account.password_change_required),
        };
        let expires = Some(session.absolute_expires_at);
        let record = crate::store::records::to_item(&session_pk(&id), SESSION_SK, &session, expires)?;
        let index = crate::store::records::to_item(&account_pk(username), &session_index_sk(&id), origin, expires)?;
        self.repo
            .items()
            .transact(
                vec![
                    WriteOp::Put {
                        item: record,
                        condition: Condition::Absent,
                    },
                    WriteOp::Put {
                        item: index,
                        condition: Condition::Absent,
                    },
                ],
                now,
            )
            .await?;
        self.recheck_new_session(&mut session, &account, password_version)
            .await?;
        self.repo
            .audit(
                username,
                AuditKind::LoginCompleted,
                source_ip,
                json!({ "remember_me": remember_me }),
                now,
            )
            .await;
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
                let (session, next) = *rotated;
                self.repo
                    .audit(
                        &session.username,
                        AuditKind::SessionRefreshed,
                        source_ip,
                        json!({}),
                        now,
                    )
                    .await;
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
        let session = self.repo.load::<Session>(&session_pk(&sid), SESSION_SK, now).await?;
        match session {
            Some(s) if s.value.username == username && s.value.is_live(now, self.policy.session_idle_timeout) => {
                let password_change_required = match s.value.password_change_required {
                    Some(required) => required,
                    None => self.account(&username).await?.password_change_required,
                };
                Ok(Caller {
                    username,
                    session: sid,
                    password_change_required,
                })
            }
            _ => Err(ServiceError::SessionExpired),
        }
    }

    /// The account a new session is for; a missing or disabled one cannot get a session.
    async fn live_account(&self, username: &Username) -> Result<Account, ServiceError> {
        let account = self
            .repo
            .load::<Account>(&account_pk(username), PROFILE_SK, self.now())
            .await?
            .map(|s| s.value);
        match account {
            Some(a) if !a.disabled => Ok(a),
            _ => Err(ServiceError::SessionExpired),
        }
    }

    /// Closes the race between opening a session and an operator or a password reset changing
    /// the account.
    ///
    /// They first write the account (disable it, require a password change, set a new
    /// password) and then revoke the sessions they find. Reading the account again *after* the
    /// session is stored means: either this read sees their write and the session is corrected
    /// or ended here, or their write came later and their revocation will find this session.
    async fn recheck_new_session(
        &self,
        session: &mut Session,
        read_before: &Account,
        password_version: Option<u64>,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        let current = self
            .repo
            .load::<Account>(&account_pk(&session.username), PROFILE_SK, now)
            .await?
            .map(|s| s.value);
        let still_allowed = current.as_ref().is_some_and(|a| !a.disabled);
        if !still_allowed {
            self.revoke_all_sessions(&session.username, None, "account_disabled")
                .await?;
            return Err(ServiceError::SessionExpired);
        }
        let password_changed =
            password_version.is_some_and(|v| current.as_ref().is_some_and(|a| a.password_version != v));
        if password_changed {
            self.revoke_session_because(&session.id, None, "password_changed_during_login")
                .await?;
            return Err(ServiceError::ChallengeGone);
        }
        let required = current.is_some_and(|a| a.password_change_required);
        if required != read_before.password_change_required {
            self.set_session_password_change_required(&session.id, required).await?;
            session.password_change_required = Some(required);
        }
        Ok(())
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
