//! The browser's side of Buypass registration: what a user's browser does between the portal,
//! the provider's login page and the callback, with cookies and redirects handled by hand so
//! tests can see (and tamper with) each step.

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use crate::{Portal, Session};

/// A started registration: where the browser goes, and the browser-binding cookie it got.
#[derive(Debug, Clone)]
pub struct Started {
    pub authorization_url: String,
    /// `name=value` of the cookie `/start` set.
    pub cookie: String,
    pub set_cookie: String,
}

/// A client that shows redirects instead of following them.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

fn location(response: &reqwest::Response) -> Result<String> {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no Location (status {})", response.status()))
}

impl Portal {
    /// `POST /v1/homeoffice/buypass/start` `{password}` as `session`; the raw response.
    pub async fn buypass_start_response(&self, session: &Session, password: &str) -> Result<reqwest::Response> {
        Ok(browser()
            .post(self.url("/v1/homeoffice/buypass/start"))
            .bearer_auth(&session.access_token)
            .json(&serde_json::json!({ "password": password }))
            .send()
            .await?)
    }

    /// Starts a registration with the password every test account has ([`crate::PASSWORD`]).
    pub async fn buypass_start(&self, session: &Session) -> Result<Started> {
        let response = self.buypass_start_response(session, crate::PASSWORD).await?;
        if response.status() != 200 {
            bail!("start answered {}: {}", response.status(), response.text().await?);
        }
        let set_cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow!("start set no cookie"))?
            .to_owned();
        let body: Value = response.json().await?;
        Ok(Started {
            authorization_url: body["authorization_url"]
                .as_str()
                .ok_or_else(|| anyhow!("no authorization_url"))?
                .to_owned(),
            cookie: set_cookie.split(';').next().unwrap_or_default().to_owned(),
            set_cookie,
        })
    }

    /// The browser arrives at the callback URL with `cookie` (or none); returns where the
    /// portal sends it next.
    pub async fn buypass_callback(&self, callback_url: &str, cookie: Option<&str>) -> Result<String> {
        let mut request = browser().get(callback_url);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await?;
        if response.status() != 302 {
            bail!("callback answered {}: {}", response.status(), response.text().await?);
        }
        location(&response)
    }

    /// What the local gateway topic received, oldest first.
    pub async fn gateway_events(&self) -> Result<Vec<Value>> {
        let body: Value = reqwest::get(self.url("/dev/gateway/events")).await?.json().await?;
        body.as_array().cloned().ok_or_else(|| anyhow!("not a list"))
    }

    /// The gateway's serial-only lookup with `key`: (status, body).
    pub async fn gateway_lookup(&self, serial: &str, key: Option<&str>) -> Result<(u16, Value)> {
        self.gateway_get(&format!("/v1/gateway/certificates/{serial}"), key)
            .await
    }

    /// The gateway's lookup of a card by issuer id and serial with `key`: (status, body).
    pub async fn gateway_lookup_card(&self, issuer_id: &str, serial: &str, key: Option<&str>) -> Result<(u16, Value)> {
        self.gateway_get(&format!("/v1/gateway/certificates/{issuer_id}/{serial}"), key)
            .await
    }

    async fn gateway_get(&self, path: &str, key: Option<&str>) -> Result<(u16, Value)> {
        let mut request = self.client().get(self.url(path));
        if let Some(key) = key {
            request = request.header("x-gateway-key", key);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }
}

/// On the stand-in provider's login page, picks `method` (`sc`, `otp`, `app` or `cancel`) as
/// test user `holder`; returns the callback URL the provider redirects to.
pub async fn dev_provider_login(authorization_url: &str, method: &str, holder: &str) -> Result<String> {
    let client = browser();
    let page = client.get(authorization_url).send().await?;
    if page.status() != 200 {
        bail!("authorize page answered {}", page.status());
    }
    let html = page.text().await?;
    for text in [
        "Velg identifiseringsmetode",
        "Buypass ID på smartkort",
        "Buypass ID med passord/SMS",
        "Buypass ID med mobil app",
        "Avbryt",
    ] {
        if !html.contains(text) {
            bail!("login page lacks {text:?}");
        }
    }
    let marker = "name=\"request\" value=\"";
    let start = html.find(marker).ok_or_else(|| anyhow!("no request id on the page"))? + marker.len();
    let request = &html[start..start + html[start..].find('"').ok_or_else(|| anyhow!("bad page"))?];
    let action_marker = "action=\"";
    let a = html.find(action_marker).ok_or_else(|| anyhow!("no form action"))? + action_marker.len();
    let action = &html[a..a + html[a..].find('"').ok_or_else(|| anyhow!("bad page"))?];
    let response = client
        .post(action)
        .form(&[("request", request), ("method", method), ("holder", holder)])
        .send()
        .await?;
    if response.status() != 302 {
        bail!(
            "authorize choice answered {}: {}",
            response.status(),
            response.text().await?
        );
    }
    location(&response)
}

/// `reason` of an error redirect, `None` for success.
pub fn redirect_reason(location: &str) -> Option<String> {
    let url = reqwest::Url::parse(location).ok()?;
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    match get("buypass").as_deref() {
        Some("registered") => None,
        _ => Some(get("reason").unwrap_or_else(|| format!("unexpected redirect {location}"))),
    }
}
