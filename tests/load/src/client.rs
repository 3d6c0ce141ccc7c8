//! A user's side of the API under load: an HTTP client bound to one source address that
//! records every latency and every 5xx, the phone that reads SMS codes, and a legitimate
//! user's sign-in round.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use e2e::backend::AwsData;
use e2e::{Portal, PASSWORD};
use serde_json::{json, Value};

/// Latencies of API requests (not of reading SMS), and everything that went wrong.
#[derive(Default)]
pub(crate) struct Record {
    pub(crate) latencies: Mutex<Vec<Duration>>,
    pub(crate) failures: Mutex<Vec<String>>,
    pub(crate) sms_reads: AtomicUsize,
}

impl Record {
    pub(crate) fn fail(&self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("FAIL: {what}");
        if let Ok(mut f) = self.failures.lock() {
            f.push(what);
        }
    }

    pub(crate) fn check(&self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.fail(what());
        }
    }
}

/// One answer: status, headers we look at, body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<u64>,
    pub(crate) set_cookie: Option<String>,
    pub(crate) body: Value,
}

pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) record: Arc<Record>,
}

impl Client {
    pub(crate) fn new(base: &str, from: Ipv4Addr, record: &Arc<Record>) -> Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .local_address(IpAddr::V4(from))
                // The AWS emulator serves one call at a time and copies its table on every
                // transaction, so a request queued behind ten sign-ins can wait tens of
                // seconds there; latency is reported, not asserted, and a hang still ends.
                .timeout(Duration::from_secs(120))
                .pool_max_idle_per_host(64)
                .build()?,
            base: base.to_owned(),
            record: record.clone(),
        })
    }

    /// Sends one API request; a 5xx is a failure wherever it happens.
    pub(crate) async fn send(&self, what: &str, request: reqwest::RequestBuilder) -> Result<Answer> {
        let started = Instant::now();
        let response = request.send().await.with_context(|| what.to_owned())?;
        let elapsed = started.elapsed();
        if let Ok(mut l) = self.record.latencies.lock() {
            l.push(elapsed);
        }
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header("retry-after").and_then(|v| v.parse().ok());
        let set_cookie = header("set-cookie");
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status >= 500 {
            self.record.fail(format!("{what}: {status} {text}"));
        }
        if status == 429 && retry_after.is_none_or(|r| r < 1) {
            self.record.fail(format!("{what}: 429 without Retry-After"));
        }
        Ok(Answer {
            status,
            retry_after,
            set_cookie,
            body,
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn login(&self, username: &str, password: &str) -> Result<Answer> {
        self.send(
            "login",
            self.http
                .post(self.url("/v1/auth/login"))
                .json(&json!({ "username": username, "password": password })),
        )
        .await
    }

    pub(crate) async fn verify(&self, challenge_id: &str, code: &str) -> Result<Answer> {
        self.send(
            "verify",
            self.http
                .post(self.url("/v1/auth/sms/verify"))
                .json(&json!({ "challenge_id": challenge_id, "code": code })),
        )
        .await
    }

    pub(crate) async fn account(&self, token: &str) -> Result<Answer> {
        self.send("account", self.http.get(self.url("/v1/account")).bearer_auth(token))
            .await
    }

    pub(crate) async fn refresh(&self, cookie: &str) -> Result<Answer> {
        self.send(
            "refresh",
            self.http.post(self.url("/v1/auth/refresh")).header("cookie", cookie),
        )
        .await
    }
}

/// Where users read their SMS: the portal's outbox, or the emulator's SMS log. Holds no
/// handle on the process, so the process can be killed while users are mid-flight.
#[derive(Clone)]
pub(crate) struct Phone {
    pub(crate) base: String,
    pub(crate) aws: Option<AwsData>,
    pub(crate) record: Arc<Record>,
}

impl Phone {
    pub(crate) fn of(portal: &Portal, record: &Arc<Record>) -> Self {
        Self {
            base: portal.base.clone(),
            aws: portal.aws().filter(|_| !portal.sms_outbox()).cloned(),
            record: record.clone(),
        }
    }

    /// The code in the newest SMS to `mobile`.
    pub(crate) async fn code(&self, mobile: &str) -> Result<String> {
        self.record.sms_reads.fetch_add(1, Ordering::Relaxed);
        let messages = match &self.aws {
            Some(aws) => aws.sms().await?,
            None => {
                let outbox: Value = reqwest::get(format!("{}/dev/sms", self.base)).await?.json().await?;
                outbox.as_array().cloned().unwrap_or_default()
            }
        };
        let newest = messages
            .iter()
            .find(|m| m["to"] == mobile)
            .ok_or_else(|| anyhow!("no SMS to {mobile}"))?;
        let body = newest["body"].as_str().unwrap_or_default();
        e2e::extract_code(body).ok_or_else(|| anyhow!("no code in {body:?}"))
    }
}

/// A signed-in session as its client holds it.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) username: String,
    pub(crate) access_token: String,
    pub(crate) cookie: String,
}

pub(crate) fn session_from(username: &str, answer: &Answer) -> Result<Session> {
    let cookie = answer
        .set_cookie
        .as_deref()
        .and_then(|c| c.split(';').next())
        .ok_or_else(|| anyhow!("no refresh cookie"))?
        .to_owned();
    let access_token = answer.body["access_token"]
        .as_str()
        .ok_or_else(|| anyhow!("no access token"))?
        .to_owned();
    Ok(Session {
        username: username.to_owned(),
        access_token,
        cookie,
    })
}

/// One sign-in: login, code, verify. The session exists from the verify's 200 on.
pub(crate) async fn sign_in(client: &Client, phone: &Phone, username: &str, mobile: &str) -> Result<Session> {
    let login = client.login(username, PASSWORD).await?;
    if login.status != 200 {
        bail!("{username}: login answered {} {}", login.status, login.body);
    }
    let challenge = login.body["challenge_id"].as_str().unwrap_or_default().to_owned();
    let code = phone.code(mobile).await?;
    let verify = client.verify(&challenge, &code).await?;
    if verify.status != 200 {
        bail!("{username}: verify answered {} {}", verify.status, verify.body);
    }
    session_from(username, &verify)
}

/// A legitimate user's round: sign in, read the account, refresh, read it again.
pub(crate) async fn legit_round(client: &Client, phone: &Phone, username: &str, mobile: &str) -> Result<()> {
    let session = sign_in(client, phone, username, mobile).await?;
    let account = client.account(&session.access_token).await?;
    if account.status != 200 || account.body["username"] != username {
        bail!("{username}: account answered {} {}", account.status, account.body);
    }
    let refreshed = client.refresh(&session.cookie).await?;
    if refreshed.status != 200 {
        bail!("{username}: refresh answered {} {}", refreshed.status, refreshed.body);
    }
    let next = session_from(username, &refreshed)?;
    let account = client.account(&next.access_token).await?;
    if account.status != 200 {
        bail!("{username}: account after refresh answered {}", account.status);
    }
    Ok(())
}
