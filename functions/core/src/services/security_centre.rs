//! The user's security centre (issue 16): their live sessions, their own security history, and
//! "this wasn't me". Every read is keyed by the caller's username from the bearer token; no
//! input names whose data is read.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::devices::{DeviceId, SessionOrigin};
use super::sessions::Caller;
use crate::app::App;
use crate::audit::{AuditEvent, AuditKind, RETENTION};
use crate::buypass::registry::RegisterError;
use crate::clock::{rfc3339, UnixTime};
use crate::domain::{InvalidInput, MaskedNetwork, Password, SessionId, Username};
use crate::error::ServiceError;
use crate::sms::messages;
use crate::store::keys::{
    account_pk, audit_pk, incident_sk, session_pk, INCIDENT_PK, PROFILE_SK, SESSION_INDEX_PREFIX, SESSION_SK,
};
use crate::store::records::{Account, Change, Session, Stored};
use crate::store::{Key, PageRequest, MAX_BATCH_KEYS};

/// Events per page of the history unless the client asks for another size (1 to [`MAX_EVENTS`]).
pub const DEFAULT_EVENTS: usize = 20;
pub const MAX_EVENTS: usize = 50;
/// Stored events read per page, so kinds the history leaves out (token refreshes) do not
/// leave pages nearly empty. Still one Query.
const READ_AHEAD: usize = 4;
/// A cursor is far shorter; anything longer is refused before it is decoded.
const MAX_CURSOR: usize = 128;

/// One live session as the list shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionView {
    pub id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub remember_me: bool,
    /// Browser and OS ("Firefox, Linux"), never the raw User-Agent.
    pub device: Option<String>,
    /// The network it was opened from, masked to /24 or /48.
    pub network: Option<String>,
    pub current: bool,
}

/// One entry of the security history.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SecurityEvent {
    pub at: String,
    pub event: AuditKind,
    /// Masked to /24 or /48, like the sessions.
    pub network: Option<String>,
    /// Only the fields of [`SHOWN_DETAIL`]; numbers are masked as in the audit log.
    pub detail: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SecurityEventsPage {
    pub events: Vec<SecurityEvent>,
    /// Pass back as `cursor` for the next (older) page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// What "this wasn't me" did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NotMeOutcome {
    pub sessions_ended: usize,
    /// The serial number of the card that was revoked, if the account had one.
    pub card_revoked: Option<String>,
}

/// An account on the operators' incident list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Incident {
    pub username: Username,
    pub opened_at: UnixTime,
    pub last_reported_at: UnixTime,
    pub reports: u32,
    #[serde(default)]
    pub network: Option<String>,
    #[serde(default)]
    pub card_revoked: Option<String>,
}

/// The history's events: what a person can recognise as theirs or not. Token refreshes, codes
/// sent and the operator's bookkeeping stay in the operators' audit trail only.
pub fn shown_in_history(kind: AuditKind) -> bool {
    use AuditKind::*;
    matches!(
        kind,
        LoginCompleted
            | LoginFailed
            | LoginThrottled
            | CodeFailed
            | CodeLocked
            | SessionRevoked
            | RefreshReuseDetected
            | PasswordChanged
            | PasswordReset
            | PasswordResetRequested
            | PhoneChangeRequested
            | PhoneChanged
            | AccountDisabled
            | AccountEnabled
            | BuypassCardRegistered
            | BuypassCardReplacedNotified
            | SerialActivated
            | SerialRevoked
            | TotpEnabled
            | TotpRemoved
            | PasskeyAdded
            | PasskeyRemoved
            | PasskeyCounterRegression
            | NotMeReported
            | NewDeviceNotified
            | StepUp
            | RecoveryCodesGenerated
            | RecoveryCodeUsed
    )
}

/// Detail fields the history passes on (all non-secret; `from`/`to` are masked numbers).
const SHOWN_DETAIL: &[&str] = &[
    "reason",
    "count",
    "from",
    "to",
    "serial_number",
    "remember_me",
    "during",
    "consecutive_failures",
    "device",
    "sessions_ended",
    "method",
    "remaining",
];

fn history_entry(event: AuditEvent) -> SecurityEvent {
    let mut detail = Map::new();
    if let Value::Object(fields) = event.detail {
        for (key, value) in fields {
            let scalar = matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_));
            if scalar && SHOWN_DETAIL.contains(&key.as_str()) {
                detail.insert(key, value);
            }
        }
    }
    SecurityEvent {
        at: event.at,
        event: event.event,
        network: event
            .source_ip
            .as_deref()
            .and_then(MaskedNetwork::of)
            .map(|n| n.as_str().to_owned()),
        detail,
    }
}

/// The time an audit sort key (`<12 digits>#<nonce>`) starts with.
fn audit_sk_time(sk: &str) -> Option<UnixTime> {
    sk.get(..12)?.parse().ok()
}

fn is_audit_sk(sk: &str) -> bool {
    let Some((time, nonce)) = sk.split_once('#') else {
        return false;
    };
    time.len() == 12
        && time.bytes().all(|b| b.is_ascii_digit())
        && (1..=24).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn bad_cursor() -> ServiceError {
    InvalidInput::new("cursor", "is not a cursor of this list").into()
}

impl App {
    /// `GET /v1/account/sessions`: one Query of the account's session index (which holds the
    /// device label and masked network), then the few session records read concurrently for
    /// liveness and last use.
    pub async fn list_sessions(&self, caller: &Caller) -> Result<Vec<SessionView>, ServiceError> {
        let now = self.now();
        let index = self
            .repo
            .items()
            .query(&account_pk(&caller.username), SESSION_INDEX_PREFIX, now)
            .await?;
        let entries: Vec<(SessionId, SessionOrigin)> = index
            .into_iter()
            .filter_map(|item| {
                let id = SessionId::parse(item.sk.strip_prefix(SESSION_INDEX_PREFIX)?).ok()?;
                Some((id, serde_json::from_value(item.data).unwrap_or_default()))
            })
            .collect();
        // The sessions themselves in batch reads (one for up to MAX_BATCH_KEYS sessions),
        // run together.
        let keys: Vec<Key> = entries
            .iter()
            .map(|(id, _)| Key::new(session_pk(id), SESSION_SK))
            .collect();
        let batches = futures_util::future::try_join_all(
            keys.chunks(MAX_BATCH_KEYS).map(|batch| self.repo.load_many(batch, now)),
        )
        .await?;
        let idle = self.policy.session_idle_timeout;
        let mut views = Vec::new();
        for ((id, origin), record) in entries.into_iter().zip(batches.into_iter().flatten()) {
            let Some(session) = Stored::<Session>::decode(record)?.map(|s| s.value) else {
                continue;
            };
            if session.username != caller.username || !session.is_live(now, idle) {
                continue;
            }
            views.push((
                session.last_used_at,
                SessionView {
                    current: id == caller.session,
                    id: id.to_string(),
                    created_at: rfc3339(session.created_at),
                    last_used_at: rfc3339(session.last_used_at),
                    remember_me: session.remember_me,
                    device: origin.device,
                    network: origin.network,
                },
            ));
        }
        // The current session first, then the most recently used.
        views.sort_by(|(a_used, a), (b_used, b)| b.current.cmp(&a.current).then(b_used.cmp(a_used)));
        Ok(views.into_iter().map(|(_, v)| v).collect())
    }

    /// `DELETE /v1/account/sessions/{id}`: ends one of the caller's own live sessions. Any
    /// other id (unknown, ended, someone else's) is 404, so ids of other users cannot be
    /// told from ones that never existed.
    pub async fn end_own_session(
        &self,
        caller: &Caller,
        id: &SessionId,
        source_ip: Option<&str>,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        let session = self
            .repo
            .load::<Session>(&session_pk(id), SESSION_SK, now)
            .await?
            .map(|s| s.value);
        match session {
            Some(s) if s.username == caller.username && s.is_live(now, self.policy.session_idle_timeout) => {
                self.revoke_session_because(id, source_ip, "ended_by_user").await
            }
            _ => Err(ServiceError::NotFound),
        }
    }

    /// `POST /v1/account/sessions/revoke-others`: every session but the caller's.
    pub async fn end_other_sessions(&self, caller: &Caller, source_ip: Option<&str>) -> Result<usize, ServiceError> {
        self.revoke_sessions_from(&caller.username, Some(&caller.session), "ended_by_user", source_ip)
            .await
    }

    fn cursor_tag(&self, username: &Username, sk: &str) -> Result<String, ServiceError> {
        let tag = self
            .code_hasher()?
            .tag("security-events-cursor", &format!("{username}\u{0}{sk}"));
        Ok(tag[..32].to_owned())
    }

    /// The opaque cursor after `sk`: the position and a keyed tag binding it to `username`, so
    /// an edited cursor, or another user's, is refused rather than read.
    fn encode_cursor(&self, username: &Username, sk: &str) -> Result<String, ServiceError> {
        Ok(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(sk.as_bytes()),
            self.cursor_tag(username, sk)?
        ))
    }

    fn decode_cursor(&self, username: &Username, cursor: &str) -> Result<String, ServiceError> {
        if cursor.len() > MAX_CURSOR {
            return Err(bad_cursor());
        }
        let (position, tag) = cursor.split_once('.').ok_or_else(bad_cursor)?;
        let sk = URL_SAFE_NO_PAD
            .decode(position)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|sk| is_audit_sk(sk))
            .ok_or_else(bad_cursor)?;
        if !crate::security::ct_eq(tag, &self.cursor_tag(username, &sk)?) {
            return Err(bad_cursor());
        }
        Ok(sk)
    }

    /// `GET /v1/account/security-events`: the caller's own events of the last 90 days, newest
    /// first, one descending Query per page.
    pub async fn security_events(
        &self,
        caller: &Caller,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<SecurityEventsPage, ServiceError> {
        let limit = match limit {
            None => DEFAULT_EVENTS,
            Some(n) if (1..=MAX_EVENTS).contains(&n) => n,
            Some(_) => return Err(InvalidInput::new("limit", "must be between 1 and 50").into()),
        };
        let after = cursor.map(|c| self.decode_cursor(&caller.username, c)).transpose()?;
        let now = self.now();
        let page = self
            .repo
            .items()
            .query_page(
                &audit_pk(&caller.username),
                PageRequest {
                    sk_prefix: "",
                    descending: true,
                    limit: limit * READ_AHEAD,
                    after: after.as_deref(),
                },
                now,
            )
            .await?;
        let oldest = now - RETENTION;
        let mut events = Vec::new();
        let mut resume_after = None;
        let mut reached_the_end = !page.more;
        let examined = page.items.len();
        for (i, item) in page.items.into_iter().enumerate() {
            // Events written before the retention was 90 days may still be stored.
            if audit_sk_time(&item.sk).is_none_or(|t| t < oldest) {
                reached_the_end = true;
                break;
            }
            let sk = item.sk.clone();
            if let Ok(event) = serde_json::from_value::<AuditEvent>(item.data) {
                if shown_in_history(event.event) {
                    events.push(history_entry(event));
                }
            }
            resume_after = Some(sk);
            if events.len() == limit {
                reached_the_end = i + 1 == examined && !page.more;
                break;
            }
        }
        let next_cursor = match resume_after {
            Some(sk) if !reached_the_end => Some(self.encode_cursor(&caller.username, &sk)?),
            _ => None,
        };
        Ok(SecurityEventsPage { events, next_cursor })
    }

    /// `POST /v1/account/not-me`: the password again, then every session ends (this one too),
    /// the card is revoked for the gateway, the password must be changed at the next login,
    /// the account goes on the operators' incident list and its phone gets a confirmation.
    /// Apps and passkeys that have not settled are removed, settled ones kept (see the body);
    /// recovery codes are removed. Browsers other than `device` (the one reporting) are
    /// forgotten, so the intruder's next login is a new device again.
    pub async fn not_me(
        &self,
        caller: &Caller,
        password: &Password,
        device: Option<&DeviceId>,
        source_ip: Option<&str>,
    ) -> Result<NotMeOutcome, ServiceError> {
        let username = &caller.username;
        let account = self.account(username).await?;
        self.reauthenticate(&account, password, source_ip, "not_me").await?;
        let now = self.now();
        // A fresh second factor only if the account has one older than `NOT_ME_GRACE`: the
        // intruder's new app or passkey must not keep the owner from reporting them.
        self.require_fresh_settled_second_factor(caller.second_factor_at, username, now)
            .await?;
        // The account first, then its sessions: a login racing this one either sees the flag
        // or is found by the revocation (see `App::session_opening`).
        let account = self
            .repo
            .modify::<Account, Account, ServiceError, _>(&account_pk(username), PROFILE_SK, now, |current| {
                let Some(a) = current else {
                    return Err(ServiceError::SessionExpired);
                };
                let mut next = a.clone();
                next.password_change_required = true;
                Ok((Change::Write(next.clone(), next), None))
            })
            .await?;
        let sessions_ended = self.revoke_sessions_from(username, None, "not_me", source_ip).await?;
        // An app or passkey enrolled in the last `NOT_ME_GRACE` may be the intruder's: left in
        // place it would let them log in again without the owner's phone, so it goes (logins
        // go back to SMS if nothing else is left). One that has settled stays: the report
        // needed a step-up from the account's factors (the guard above), so the reporter holds
        // one, and removing it would leave the account SMS-only to whoever holds the password
        // and the SIM, free to enrol a factor of their own without any step-up.
        if self.remove_unsettled_totp(username, now).await? {
            self.repo
                .audit(
                    username,
                    AuditKind::TotpRemoved,
                    source_ip,
                    json!({ "by": "not_me" }),
                    now,
                )
                .await;
        }
        self.remove_unsettled_passkeys(username, source_ip, "not_me", now)
            .await?;
        // And the recovery codes: the intruder may have generated (and kept) a set, which
        // would stand in for a factor the owner enrols later.
        let recovery_codes_removed = self.delete_recovery_codes(username).await?;
        let card = self
            .revoke_account_serial(username, "not_me")
            .await
            .map_err(|e| match e {
                RegisterError::Storage(m) => ServiceError::StorageUnavailable(m),
                other => ServiceError::Internal(other.to_string()),
            })?;
        let card_revoked = card.map(|c| c.serial.to_string());
        let network = source_ip.and_then(MaskedNetwork::of).map(|n| n.as_str().to_owned());
        self.open_incident(username, network, card_revoked.clone(), now).await?;
        self.forget_devices(username, device).await?;
        let text = messages::not_me_confirmed(account.language, &messages::not_me_link(&self.settings.portal_url));
        let sent = self.send_notice(username, &account.mobile, &text).await;
        self.repo
            .audit(
                username,
                AuditKind::NotMeReported,
                source_ip,
                json!({
                    "sessions_ended": sessions_ended,
                    "recovery_codes_removed": recovery_codes_removed,
                    "serial_number": card_revoked,
                    "to": account.mobile.masked(),
                    "notice_sent": sent,
                }),
                now,
            )
            .await;
        Ok(NotMeOutcome {
            sessions_ended,
            card_revoked,
        })
    }

    async fn open_incident(
        &self,
        username: &Username,
        network: Option<String>,
        card_revoked: Option<String>,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        self.repo
            .modify::<Incident, (), ServiceError, _>(INCIDENT_PK, &incident_sk(username), now, |current| {
                let next = match current {
                    Some(open) => Incident {
                        last_reported_at: now,
                        reports: open.reports.saturating_add(1),
                        network: network.clone().or_else(|| open.network.clone()),
                        card_revoked: card_revoked.clone().or_else(|| open.card_revoked.clone()),
                        ..open.clone()
                    },
                    None => Incident {
                        username: username.clone(),
                        opened_at: now,
                        last_reported_at: now,
                        reports: 1,
                        network: network.clone(),
                        card_revoked: card_revoked.clone(),
                    },
                };
                Ok((Change::Write(next, ()), None))
            })
            .await
    }

    /// The operators' list (`portal-admin incidents`): one Query, oldest account name first.
    pub async fn open_incidents(&self) -> Result<Vec<Incident>, ServiceError> {
        let items = self.repo.items().query(INCIDENT_PK, "OPEN#", self.now()).await?;
        items
            .into_iter()
            .map(|i| serde_json::from_value(i.data).map_err(|e| ServiceError::Internal(e.to_string())))
            .collect()
    }

    /// `portal-admin incident-close <user>`: false when the account had no open incident.
    pub async fn close_incident(&self, username: &Username) -> Result<bool, ServiceError> {
        let now = self.now();
        let closed = self
            .repo
            .modify::<Incident, bool, ServiceError, _>(INCIDENT_PK, &incident_sk(username), now, |current| {
                Ok(match current {
                    Some(_) => (Change::Delete(true), None),
                    None => (Change::Keep(false), None),
                })
            })
            .await?;
        if closed {
            self.repo
                .audit(username, AuditKind::IncidentClosed, None, json!({}), now)
                .await;
        }
        Ok(closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_new_audit_event_key_is_a_position_a_cursor_accepts() {
        let kari = crate::domain::Username::parse("kari").unwrap();
        for _ in 0..100 {
            let op = crate::audit::audit_op(
                &kari,
                crate::audit::AuditKind::LoginFailed,
                None,
                serde_json::Value::Null,
                1_767_225_600,
            )
            .unwrap();
            let crate::store::WriteOp::Put { item, .. } = op else {
                panic!("an audit event is a put");
            };
            assert!(is_audit_sk(&item.sk), "{}", item.sk);
        }
    }

    #[test]
    fn only_audit_sort_keys_are_positions() {
        assert!(is_audit_sk("001767225600#AbCd-_12"));
        for bad in [
            "",
            "001767225600",
            "1767225600#abc",
            "001767225600#",
            "00176722560x#abc",
            "001767225600#a/b",
            "SESSION#abc",
            "001767225600#abcdefghijklmnopqrstuvwxy",
        ] {
            assert!(!is_audit_sk(bad), "{bad}");
        }
        assert_eq!(audit_sk_time("001767225600#x"), Some(1_767_225_600));
    }

    #[test]
    fn history_entries_pass_on_only_shown_scalar_detail_and_a_masked_network() {
        let entry = history_entry(AuditEvent {
            at: "2026-01-01T00:00:00Z".into(),
            event: AuditKind::PhoneChanged,
            username: "kari".into(),
            source_ip: Some("2001:db8:1:2::3".into()),
            detail: json!({
                "from": "+47 ••••••67",
                "to": "+47 ••••••89",
                "subject": "CN=Kari",
                "id_token_sub": "secret-ish",
                "reason": { "nested": true },
            }),
        });
        assert_eq!(entry.network.as_deref(), Some("2001:db8:1::/48"));
        assert_eq!(
            Value::Object(entry.detail),
            json!({ "from": "+47 ••••••67", "to": "+47 ••••••89" })
        );
    }
}
