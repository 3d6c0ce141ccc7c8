//! The portal's API as the tests call it: one method per operation, so a test says what the
//! user does (`portal.login(..)`, `portal.change_phone(..)`) and asserts on what comes back,
//! without building URLs and JSON inline.
//!
//! `*_response` methods and the operations an attacker can get wrong return the raw
//! `reqwest::Response`, so tests keep asserting status, headers and body as a client sees
//! them; the typed ones ([`Portal::login`], [`Portal::verify_sms`], [`Portal::sign_in`]) fail
//! unless the portal said yes.

use std::ops::Index;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::{Portal, PASSWORD};

/// An open challenge (login, phone change or password reset): its id and the whole body the
/// portal answered with. `challenge["phone_hint"]` reads the body.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub id: String,
    pub body: Value,
}

impl Challenge {
    /// A challenge the portal never issued (or someone else's), for probing.
    pub fn with_id(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            body: json!({ "challenge_id": id }),
        }
    }

    /// The challenge in a successful answer; an error (with the problem) for any other.
    pub async fn from_response(response: Response) -> Result<Self> {
        let status = response.status();
        if !status.is_success() {
            bail!("answered {status}: {}", response.text().await?);
        }
        let body: Value = response.json().await?;
        let id = body["challenge_id"]
            .as_str()
            .ok_or_else(|| anyhow!("no challenge_id in {body}"))?
            .to_owned();
        Ok(Self { id, body })
    }
}

impl Index<&str> for Challenge {
    type Output = Value;

    fn index(&self, key: &str) -> &Value {
        &self.body[key]
    }
}

/// A signed-in client: its access token and refresh cookie.
#[derive(Debug, Clone)]
pub struct Session {
    pub access_token: String,
    pub refresh_cookie: String,
    pub set_cookie: String,
    /// The token response said nothing but a password change is allowed yet.
    pub password_change_required: bool,
}

impl Session {
    pub async fn from_token_response(response: Response) -> Result<Self> {
        let set_cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow!("no Set-Cookie"))?
            .to_owned();
        let refresh_cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();
        let body: Value = response.json().await?;
        let access_token = body["access_token"]
            .as_str()
            .ok_or_else(|| anyhow!("no access_token"))?
            .to_owned();
        Ok(Self {
            access_token,
            refresh_cookie,
            set_cookie,
            password_change_required: body["password_change_required"] == true,
        })
    }
}

/// Status, content type and JSON body (`Null` when there is none) of an answer.
pub async fn parts(response: Response) -> Result<(u16, String, Value)> {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await?;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)?
    };
    Ok((status, content_type, body))
}

/// A problem answer (RFC 9457) as the client sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub status: u16,
    pub body: Value,
}

impl Problem {
    /// Asserts that `response` is a problem (`application/problem+json`).
    pub async fn read(response: Response) -> Result<Self> {
        let (status, content_type, body) = parts(response).await?;
        assert_eq!(content_type, "application/problem+json", "{status}: {body}");
        assert!(body.is_object(), "a problem has a JSON object body: {status} {body}");
        Ok(Self { status, body })
    }

    /// Asserts a problem with this status and `code`; returns its body.
    pub async fn expect(response: Response, status: u16, code: &str) -> Result<Value> {
        let problem = Self::read(response).await?;
        assert_eq!(
            (problem.status, problem.body["code"].as_str()),
            (status, Some(code)),
            "{}",
            problem.body
        );
        Ok(problem.body)
    }
}

impl Portal {
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default()
    }

    /// An anonymous JSON `POST`.
    pub async fn post(&self, path: &str, body: Value) -> Result<Response> {
        Ok(self.client().post(self.url(path)).json(&body).send().await?)
    }

    /// A request as `session`, with a JSON body when there is one.
    pub async fn send_as(
        &self,
        session: &Session,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Response> {
        let mut request = self
            .client()
            .request(method, self.url(path))
            .bearer_auth(&session.access_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        Ok(request.send().await?)
    }

    // ---- login ------------------------------------------------------------------------------

    /// The password step, as sent; the raw answer.
    pub async fn login_response(&self, username: &str, password: &str, remember_me: bool) -> Result<Response> {
        self.post(
            "/v1/auth/login",
            json!({ "username": username, "password": password, "remember_me": remember_me }),
        )
        .await
    }

    /// The password step, which must succeed: the login challenge.
    pub async fn login(&self, username: &str, password: &str) -> Result<Challenge> {
        Challenge::from_response(self.login_response(username, password, false).await?).await
    }

    /// `POST /v1/auth/sms/verify`; the raw answer.
    pub async fn verify_sms_response(&self, challenge: &Challenge, code: &str) -> Result<Response> {
        self.login_step(
            "/v1/auth/sms/verify",
            json!({ "challenge_id": challenge.id, "code": code }),
        )
        .await
    }

    /// A second-factor request that may open a session: sends the device cookie this handle
    /// holds and keeps the one the answer sets.
    async fn login_step(&self, path: &str, body: Value) -> Result<Response> {
        let held = self.device_cookie.lock().ok().and_then(|c| c.clone());
        let mut request = self.client().post(self.url(path)).json(&body);
        if let Some(cookie) = held {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await?;
        for value in response.headers().get_all("set-cookie") {
            let pair = value.to_str().unwrap_or_default().split(';').next().unwrap_or_default();
            if pair.starts_with("hk_device=") || pair.starts_with("__Host-hk_device=") {
                if let Ok(mut held) = self.device_cookie.lock() {
                    *held = Some(pair.to_owned());
                }
            }
        }
        Ok(response)
    }

    /// The SMS code step, which must succeed: the new session.
    pub async fn verify_sms(&self, challenge: &Challenge, code: &str) -> Result<Session> {
        let verify = self.verify_sms_response(challenge, code).await?;
        if verify.status() != 200 {
            bail!("verify answered {}: {}", verify.status(), verify.text().await?);
        }
        Session::from_token_response(verify).await
    }

    /// `POST /v1/auth/totp/verify`; the raw answer.
    pub async fn totp_verify_response(&self, challenge: &Challenge, code: &str) -> Result<Response> {
        self.login_step(
            "/v1/auth/totp/verify",
            json!({ "challenge_id": challenge.id, "code": code }),
        )
        .await
    }

    /// `POST /v1/auth/sms/resend` (login, phone-change and reset challenges alike).
    pub async fn resend_sms(&self, challenge: &Challenge) -> Result<Response> {
        self.post("/v1/auth/sms/resend", json!({ "challenge_id": challenge.id }))
            .await
    }

    /// The whole login with [`PASSWORD`]: password, code from the SMS, verify.
    pub async fn sign_in(&self, username: &str, mobile: &str) -> Result<Session> {
        self.sign_in_with(username, PASSWORD, mobile).await
    }

    /// The whole login with `password`; the code is read from the newest SMS to `mobile`.
    pub async fn sign_in_with(&self, username: &str, password: &str, mobile: &str) -> Result<Session> {
        let challenge = self.login(username, password).await?;
        let code = self.latest_code(mobile).await?;
        self.verify_sms(&challenge, &code).await
    }

    /// `POST /v1/auth/refresh` with `session`'s refresh cookie.
    pub async fn refresh(&self, session: &Session) -> Result<Response> {
        Ok(self
            .client()
            .post(self.url("/v1/auth/refresh"))
            .header("cookie", &session.refresh_cookie)
            .send()
            .await?)
    }

    pub async fn logout(&self, session: &Session) -> Result<Response> {
        self.send_as(session, Method::POST, "/v1/auth/logout", None).await
    }

    // ---- account ----------------------------------------------------------------------------

    /// `GET /v1/account` as `session`; the raw answer.
    pub async fn account_response(&self, session: &Session) -> Result<Response> {
        self.send_as(session, Method::GET, "/v1/account", None).await
    }

    /// `GET /v1/account` as `session`: the body.
    pub async fn account(&self, session: &Session) -> Result<Value> {
        Ok(self.account_response(session).await?.json().await?)
    }

    /// `PUT /v1/account/password`.
    pub async fn change_password(&self, session: &Session, old: &str, new: &str) -> Result<Response> {
        let body = json!({ "old_password": old, "new_password": new });
        self.send_as(session, Method::PUT, "/v1/account/password", Some(body))
            .await
    }

    /// `POST /v1/account/phone`: starts a change to `new_mobile`.
    pub async fn change_phone(&self, session: &Session, new_mobile: &str, password: &str) -> Result<Response> {
        let body = json!({ "new_mobile": new_mobile, "password": password });
        self.send_as(session, Method::POST, "/v1/account/phone", Some(body))
            .await
    }

    /// `POST /v1/account/phone/confirm` with the code sent to the new number.
    pub async fn confirm_phone(&self, session: &Session, challenge: &Challenge, code: &str) -> Result<Response> {
        let body = json!({ "challenge_id": challenge.id, "code": code });
        self.send_as(session, Method::POST, "/v1/account/phone/confirm", Some(body))
            .await
    }

    /// `POST /v1/auth/password/forgot`.
    pub async fn forgot_password(&self, username: &str) -> Result<Response> {
        self.post("/v1/auth/password/forgot", json!({ "username": username }))
            .await
    }

    /// `POST /v1/auth/password/reset` with the code from the reset SMS.
    pub async fn reset_password(&self, challenge: &Challenge, code: &str, new_password: &str) -> Result<Response> {
        self.post(
            "/v1/auth/password/reset",
            json!({ "challenge_id": challenge.id, "code": code, "new_password": new_password }),
        )
        .await
    }

    // ---- authenticator app ------------------------------------------------------------------

    /// `GET /v1/account/totp`: the body.
    pub async fn totp_status(&self, session: &Session) -> Result<Value> {
        Ok(self
            .send_as(session, Method::GET, "/v1/account/totp", None)
            .await?
            .json()
            .await?)
    }

    /// `POST /v1/account/totp`: starts an enrolment.
    pub async fn totp_start(&self, session: &Session, password: &str) -> Result<Response> {
        let body = json!({ "password": password });
        self.send_as(session, Method::POST, "/v1/account/totp", Some(body))
            .await
    }

    /// `POST /v1/account/totp/confirm` with the app's code.
    pub async fn totp_confirm(&self, session: &Session, code: &str) -> Result<Response> {
        let body = json!({ "code": code });
        self.send_as(session, Method::POST, "/v1/account/totp/confirm", Some(body))
            .await
    }

    /// `DELETE /v1/account/totp`.
    pub async fn totp_remove(&self, session: &Session, password: &str) -> Result<Response> {
        let body = json!({ "password": password });
        self.send_as(session, Method::DELETE, "/v1/account/totp", Some(body))
            .await
    }

    // ---- SMS --------------------------------------------------------------------------------

    /// The bodies of the SMS to `mobile`, newest first.
    pub async fn texts_to(&self, mobile: &str) -> Result<Vec<String>> {
        Ok(self
            .sms()
            .await?
            .iter()
            .filter(|m| m["to"] == mobile)
            .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
            .collect())
    }

    /// The newest SMS to `mobile`.
    pub async fn newest_text_to(&self, mobile: &str) -> Result<String> {
        self.texts_to(mobile)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("no SMS to {mobile}"))
    }
}

/// A wrong six-digit code: `code` plus one.
pub fn wrong_code(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap_or(0) + 1) % 1_000_000)
}
