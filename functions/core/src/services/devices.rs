//! The browsers an account has logged in from (issue 16): a long-lived random device id in an
//! HttpOnly cookie, stored only as a keyed hash under the account, and an SMS when a login
//! comes from a browser the account has not used before.
//!
//! The first browser an account is seen with (its very first login, or its first login since
//! browsers were recorded) is recorded without a notice: it is the baseline the later logins
//! are compared with, and a notice then would only tell the owner what they are doing. Every
//! later unknown browser gets one. "This wasn't me" forgets every browser but the reporting
//! one, so the intruder's browser counts as unknown again (and is never the baseline).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::App;
use crate::audit::AuditKind;
use crate::clock::UnixTime;
use crate::domain::{MaskedNetwork, Username};
use crate::error::ServiceError;
use crate::sms::messages;
use crate::store::keys::{account_pk, device_sk, DEVICE_PREFIX};
use crate::store::records::{to_item, Session};
use crate::store::{Condition, Key, StoreError, WriteOp};

/// How long a browser stays known without a new login from it (browsers cap cookies there).
pub const DEVICE_LIFETIME: i64 = 400 * 24 * 3600;

/// The known-browser stand-in "this wasn't me" leaves: never a keyed hash (those are hex).
const REPORTED_MARKER: &str = "reported";

/// Longest User-Agent that is parsed; a longer header is labelled from its start only.
const MAX_USER_AGENT: usize = 512;

/// The device cookie's value: 256 random bits, base64url. Debug output hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceId(String);

impl std::fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceId(***)")
    }
}

impl DeviceId {
    pub fn generate() -> Self {
        Self(crate::security::random_token(32))
    }

    /// A cookie value this server could have issued; anything else is treated as no cookie.
    pub fn parse(raw: &str) -> Option<Self> {
        let well_formed = raw.len() == 43 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A coarse label for a session's browser ("Firefox, Windows 10"): browser and OS only, never
/// the raw header (which fingerprints the user and could carry anything). `None` when neither
/// is recognised.
pub fn device_label(user_agent: &str) -> Option<String> {
    let mut end = user_agent.len().min(MAX_USER_AGENT);
    while !user_agent.is_char_boundary(end) {
        end -= 1;
    }
    let parsed = woothee::parser::Parser::new().parse(&user_agent[..end])?;
    let known = |v: &str| !v.is_empty() && v != woothee::woothee::VALUE_UNKNOWN;
    let os = parsed.os.to_owned();
    let label = match (known(parsed.name), known(&os)) {
        (true, true) => format!("{}, {os}", parsed.name),
        (true, false) => parsed.name.to_owned(),
        (false, true) => os,
        (false, false) => return None,
    };
    // The dataset's names are short ASCII; cut anyway so a stored label stays small.
    Some(label.chars().filter(|c| !c.is_control()).take(64).collect())
}

/// What the session index item (`ACCOUNT#<user>` / `SESSION#<id>`) keeps for the security
/// centre's list: only what it shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionOrigin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

impl SessionOrigin {
    pub fn new(device: Option<String>, source_ip: Option<&str>) -> Self {
        Self {
            device,
            network: source_ip.and_then(MaskedNetwork::of).map(|n| n.as_str().to_owned()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KnownDevice {
    first_seen_at: UnixTime,
    #[serde(default)]
    label: Option<String>,
}

impl App {
    fn device_hash(&self, id: &DeviceId) -> Result<String, ServiceError> {
        Ok(self.code_hasher()?.tag("device", id.expose()))
    }

    /// After a login opened `session`: records the browser (`presented`, or a new id when it
    /// sent none) and texts the account when the browser is new to it. Returns the id for the
    /// device cookie. Best effort past the login: a failure is logged, never shown.
    pub async fn note_login_device(
        &self,
        session: &Session,
        presented: Option<DeviceId>,
        label: Option<&str>,
        source_ip: Option<&str>,
    ) -> DeviceId {
        let id = presented.unwrap_or_else(DeviceId::generate);
        if let Err(e) = self.note_device(session, &id, label, source_ip).await {
            tracing::warn!(error = %e, "new-device check failed");
        }
        id
    }

    async fn note_device(
        &self,
        session: &Session,
        id: &DeviceId,
        label: Option<&str>,
        source_ip: Option<&str>,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        let username = &session.username;
        // Conditional: two logins from one new browser at once text the owner once.
        let WriteOp::Put { item, condition } = self.new_device_op(username, id, label, now)? else {
            return Err(ServiceError::Internal("a new browser is recorded by a put".into()));
        };
        match self.repo.items().put(item, condition, now).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        self.after_new_device(username, label, source_ip, now).await
    }

    /// The key of browser `id` among `username`'s known ones.
    pub(crate) fn device_key(&self, username: &Username, id: &DeviceId) -> Result<Key, ServiceError> {
        Ok(Key::new(account_pk(username), device_sk(&self.device_hash(id)?)))
    }

    /// The write that records browser `id` as known to `username`, only if it was not
    /// (a login's transaction carries it, so a known browser costs no extra round trip).
    pub(crate) fn new_device_op(
        &self,
        username: &Username,
        id: &DeviceId,
        label: Option<&str>,
        now: UnixTime,
    ) -> Result<WriteOp, ServiceError> {
        let key = self.device_key(username, id)?;
        let record = KnownDevice {
            first_seen_at: now,
            label: label.map(str::to_owned),
        };
        Ok(WriteOp::Put {
            item: to_item(&key.pk, &key.sk, &record, Some(now + DEVICE_LIFETIME))?,
            condition: Condition::Absent,
        })
    }

    /// After a login recorded a browser new to `username`: texts the owner unless it is the
    /// account's first (the baseline).
    pub(crate) async fn after_new_device(
        &self,
        username: &Username,
        label: Option<&str>,
        source_ip: Option<&str>,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        // Only on this rare path (a browser new to the account): is it the first one?
        let known = self
            .repo
            .items()
            .query(&account_pk(username), DEVICE_PREFIX, now)
            .await?;
        if known.len() <= 1 {
            return Ok(());
        }
        let account = self.account(username).await?;
        let text = messages::new_device_login(account.language, &messages::not_me_link(&self.settings.portal_url));
        let sent = self.send_notice(username, &account.mobile, &text).await;
        self.repo
            .audit(
                username,
                AuditKind::NewDeviceNotified,
                source_ip,
                json!({ "to": account.mobile.masked(), "device": label, "notice_sent": sent }),
                now,
            )
            .await;
        Ok(())
    }

    /// Forgets every browser of the account but `keep` (the one saying "this wasn't me"), so
    /// a login from any other, the intruder's too, counts as new again.
    pub async fn forget_devices(&self, username: &Username, keep: Option<&DeviceId>) -> Result<usize, ServiceError> {
        let now = self.now();
        let pk = account_pk(username);
        let keep_sk = keep.map(|id| self.device_hash(id).map(|h| device_sk(&h))).transpose()?;
        let doomed: Vec<WriteOp> = self
            .repo
            .items()
            .query(&pk, DEVICE_PREFIX, now)
            .await?
            .into_iter()
            .filter(|item| Some(&item.sk) != keep_sk.as_ref())
            .map(|item| WriteOp::Delete {
                pk: item.pk,
                sk: item.sk,
                condition: Condition::Always,
            })
            .collect();
        let count = doomed.len();
        let mut ops = doomed.into_iter().peekable();
        while ops.peek().is_some() {
            let batch: Vec<WriteOp> = ops.by_ref().take(25).collect();
            self.repo.items().transact(batch, now).await?;
        }
        // Without a kept browser (a report from a client without the cookie) the account would
        // have none left, and the next login, the intruder's too, would be the silent baseline.
        // This stand-in (not a hash, so no cookie matches it) keeps the baseline used up.
        let marker = to_item(
            &pk,
            &device_sk(REPORTED_MARKER),
            &KnownDevice {
                first_seen_at: now,
                label: None,
            },
            Some(now + DEVICE_LIFETIME),
        )?;
        self.repo.items().put(marker, Condition::Always, now).await?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_browser_and_os_only() {
        for (ua, label) in [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                Some("Chrome, Windows 10"),
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                Some("Firefox, Linux"),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                Some("Safari, iPhone"),
            ),
            ("", None),
            ("curl/8.5.0", Some("HTTP Library")),
            ("\u{0}\u{7}<script>alert(1)</script>", None),
        ] {
            assert_eq!(device_label(ua).as_deref(), label, "{ua:?}");
        }
        let long = format!("Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0 {}", "é".repeat(5000));
        assert!(device_label(&long).is_some_and(|l| l.len() <= 64));
    }

    #[test]
    fn device_ids_parse_only_in_the_issued_shape() {
        let id = DeviceId::generate();
        assert_eq!(DeviceId::parse(id.expose()), Some(id.clone()));
        for bad in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}=", &"a".repeat(42)),
            &"ø".repeat(21),
        ] {
            assert_eq!(DeviceId::parse(bad), None, "{bad}");
        }
        assert!(!format!("{id:?}").contains(id.expose()));
    }

    #[test]
    fn origins_keep_only_the_masked_network() {
        let origin = SessionOrigin::new(Some("Firefox, Linux".into()), Some("192.0.2.77"));
        assert_eq!(origin.network.as_deref(), Some("192.0.2.0/24"));
        let stored = serde_json::to_string(&origin).unwrap();
        assert!(!stored.contains("192.0.2.77"));
        assert_eq!(SessionOrigin::new(None, Some("not an ip")).network, None);
    }
}
