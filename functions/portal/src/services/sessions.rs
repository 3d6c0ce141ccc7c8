//! Sessions: opened after the second factor, refreshed with rotating opaque tokens, checked on
//! every authenticated request, revoked at once.

use serde_json::json;

use crate::app::App;
use crate::audit::AuditKind;
use crate::clock::UnixTime;
use crate::domain::{SessionId, Username};
use crate::error::ApiError;
use crate::security::tokens::TokenError;
use crate::security::{ct_eq, random_token, sha256_hex};
use crate::store::records::{
    account_pk, session_index_sk, session_pk, Account, Change, Session, PROFILE_SK, SESSION_SK,
};
use crate::store::{Condition, WriteOp};

/// The refresh cookie's value: `<session id>.<256-bit secret>`.
#[derive(Clone)]
pub struct RefreshToken {
    pub session: SessionId,
    secret: String,
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RefreshToken({}, ***)", self.session)
    }
}

impl RefreshToken {
    fn generate(session: SessionId) -> Self {
        Self {
            session,
            secret: random_token(32),
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let (sid, secret) = raw.split_once('.')?;
        let session = SessionId::parse(sid).ok()?;
        let well_formed = secret.len() == 43
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self {
            session,
            secret: secret.to_owned(),
        })
    }

    pub fn encode(&self) -> String {
        format!("{}.{}", self.session, self.secret)
    }

    fn hash(&self) -> String {
        sha256_hex(&self.secret)
    }
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
    /// [`crate::http::auth::Authenticated`].
    pub password_change_required: bool,
}

impl App {
    fn cookie_max_age(&self, session: &Session, now: UnixTime) -> Option<i64> {
        session.remember_me.then(|| (session.absolute_expires_at - now).max(0))
    }

    fn access_token(&self, session: &Session, now: UnixTime) -> Result<String, ApiError> {
        self.tokens
            .issuer()
            .ok_or_else(|| ApiError::Internal("this function holds no token signing key".into()))?
            .issue(&session.username, &session.id, now)
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    pub async fn open_session(
        &self,
        username: &Username,
        remember_me: bool,
        source_ip: Option<&str>,
    ) -> Result<Tokens, ApiError> {
        let now = self.now();
        let account = self.live_account(username).await?;
        let id = SessionId::generate();
        let refresh = RefreshToken::generate(id.clone());
        let mut session = Session {
            id: id.clone(),
            username: username.clone(),
            refresh_hash: refresh.hash(),
            previous_refresh_hash: None,
            created_at: now,
            last_used_at: now,
            absolute_expires_at: now + self.policy.session_absolute_lifetime,
            remember_me,
            revoked_at: None,
            password_change_required: Some(account.password_change_required),
        };
        let expires = Some(session.absolute_expires_at);
        let record = crate::store::records::to_item(&session_pk(&id), SESSION_SK, &session, expires)?;
        let index = crate::store::records::to_item(&account_pk(username), &session_index_sk(&id), &json!({}), expires)?;
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
        self.recheck_new_session(&mut session, &account).await?;
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
            expires_in: self.policy.access_token_lifetime,
            cookie_max_age: self.cookie_max_age(&session, now),
            refresh,
            session,
        })
    }

    /// Rotates the refresh token. Presenting a token that was already rotated away means it
    /// was copied: the whole session is revoked.
    pub async fn refresh_session(&self, presented: &RefreshToken, source_ip: Option<&str>) -> Result<Tokens, ApiError> {
        let now = self.now();
        let idle = self.policy.session_idle_timeout;
        let presented_hash = presented.hash();
        let next = RefreshToken::generate(presented.session.clone());
        let next_hash = next.hash();
        enum Outcome {
            Rotated(Session),
            Reused(Username),
        }
        let outcome = self
            .repo
            .modify::<Session, Outcome, ApiError, _>(&session_pk(&presented.session), SESSION_SK, now, |current| {
                let Some(s) = current else {
                    return Err(ApiError::SessionExpired);
                };
                if s.revoked_at.is_some() {
                    return Err(ApiError::SessionExpired);
                }
                if ct_eq(&s.refresh_hash, &presented_hash) {
                    if !s.is_live(now, idle) {
                        return Err(ApiError::SessionExpired);
                    }
                    let mut rotated = s.clone();
                    rotated.previous_refresh_hash = Some(s.refresh_hash.clone());
                    rotated.refresh_hash = next_hash.clone();
                    rotated.last_used_at = now;
                    return Ok((
                        Change::Write(rotated.clone(), Outcome::Rotated(rotated)),
                        Some(s.absolute_expires_at),
                    ));
                }
                if s.previous_refresh_hash
                    .as_deref()
                    .is_some_and(|p| ct_eq(p, &presented_hash))
                {
                    let mut revoked = s.clone();
                    revoked.revoked_at = Some(now);
                    return Ok((
                        Change::Write(revoked, Outcome::Reused(s.username.clone())),
                        Some(s.absolute_expires_at),
                    ));
                }
                Err(ApiError::SessionExpired)
            })
            .await?;
        match outcome {
            Outcome::Rotated(session) => {
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
                    expires_in: self.policy.access_token_lifetime,
                    cookie_max_age: self.cookie_max_age(&session, now),
                    refresh: next,
                    session,
                })
            }
            Outcome::Reused(username) => {
                self.repo
                    .audit(&username, AuditKind::RefreshReuseDetected, source_ip, json!({}), now)
                    .await;
                Err(ApiError::RefreshReused)
            }
        }
    }

    /// Checks a bearer token and that its session is still live (ASVS 3.3.1).
    pub async fn authenticate(&self, bearer: &str) -> Result<Caller, ApiError> {
        let now = self.now();
        let verifier = self
            .tokens
            .verifier()
            .ok_or_else(|| ApiError::Internal("this function holds no token verification key".into()))?;
        let claims = verifier.verify(bearer, now).map_err(|e| match e {
            TokenError::Expired => ApiError::SessionExpired,
            TokenError::Invalid => ApiError::Unauthenticated,
        })?;
        let sid = SessionId::parse(&claims.sid).map_err(|_| ApiError::Unauthenticated)?;
        let username = Username::parse(&claims.sub).map_err(|_| ApiError::Unauthenticated)?;
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
            _ => Err(ApiError::SessionExpired),
        }
    }

    /// The account a new session is for; a missing or disabled one cannot get a session.
    async fn live_account(&self, username: &Username) -> Result<Account, ApiError> {
        let account = self
            .repo
            .load::<Account>(&account_pk(username), PROFILE_SK, self.now())
            .await?
            .map(|s| s.value);
        match account {
            Some(a) if !a.disabled => Ok(a),
            _ => Err(ApiError::SessionExpired),
        }
    }

    /// Closes the race between opening a session and an operator changing the account.
    ///
    /// Operators first write the account (disable it, or require a password change) and then
    /// revoke the sessions they find. Reading the account again *after* the session is stored
    /// means: either this read sees the operator's write and the session is corrected here, or
    /// the operator's write came later and their revocation will find this session.
    async fn recheck_new_session(&self, session: &mut Session, read_before: &Account) -> Result<(), ApiError> {
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
            return Err(ApiError::SessionExpired);
        }
        let required = current.is_some_and(|a| a.password_change_required);
        if required != read_before.password_change_required {
            self.set_session_password_change_required(&session.id, required).await?;
            session.password_change_required = Some(required);
        }
        Ok(())
    }

    /// Updates the copy of the account's password-change flag a session carries.
    pub async fn set_session_password_change_required(&self, id: &SessionId, required: bool) -> Result<(), ApiError> {
        let now = self.now();
        self.repo
            .modify::<Session, (), ApiError, _>(&session_pk(id), SESSION_SK, now, |current| match current {
                Some(s) if s.password_change_required != Some(required) => {
                    let mut next = s.clone();
                    next.password_change_required = Some(required);
                    Ok((Change::Write(next, ()), Some(s.absolute_expires_at)))
                }
                _ => Ok((Change::Keep(()), None)),
            })
            .await
    }

    pub async fn revoke_session(&self, id: &SessionId, source_ip: Option<&str>) -> Result<(), ApiError> {
        let now = self.now();
        let revoked = self
            .repo
            .modify::<Session, Option<Username>, ApiError, _>(&session_pk(id), SESSION_SK, now, |current| match current
            {
                Some(s) if s.revoked_at.is_none() => {
                    let mut r = s.clone();
                    r.revoked_at = Some(now);
                    Ok((Change::Write(r, Some(s.username.clone())), Some(s.absolute_expires_at)))
                }
                _ => Ok((Change::Keep(None), None)),
            })
            .await?;
        if let Some(username) = revoked {
            self.repo
                .audit(
                    &username,
                    AuditKind::SessionRevoked,
                    source_ip,
                    json!({ "reason": "logout" }),
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
    ) -> Result<usize, ApiError> {
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
    ) -> Result<usize, ApiError> {
        let now = self.now();
        let index = self.repo.items().query(&account_pk(username), "SESSION#", now).await?;
        let mut revoked = 0;
        for entry in index {
            let Some(raw) = entry.sk.strip_prefix("SESSION#") else {
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
                .modify::<Session, bool, ApiError, _>(&session_pk(&id), SESSION_SK, now, |current| match current {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_token_parse_rejects_malformed_values() {
        let t = RefreshToken::generate(SessionId::generate());
        assert!(RefreshToken::parse(&t.encode()).is_some());
        for bad in [
            "",
            "abc",
            "a.b",
            &format!("{}.short", t.session),
            &format!("{}x", t.encode()),
        ] {
            assert!(RefreshToken::parse(bad).is_none(), "{bad:?}");
        }
        assert!(!format!("{t:?}").contains(&t.secret));
    }
}
