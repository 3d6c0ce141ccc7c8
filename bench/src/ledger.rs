//! The round-trip and capacity ledger (issue 18): every API operation once through the real
//! router, on DynamoDB and SNS in the AWS emulator, with every SDK call metered
//! ([`crate::meter`]). Requests go through `tower::ServiceExt::oneshot` exactly as a client's
//! would; the Buypass provider is the stand-in, served on loopback.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{anyhow, ensure, Context};
use aws_emulator_tests::emulator::{unique_mobile, unique_name, Emulator};
use axum::body::Body;
use axum::http::{Request, Response};
use axum::Router;
use portal_core::activation::gateway::SnsGatewayEvents;
use portal_core::activation::{ActivationPolicy, Activator, Trigger};
use portal_core::app::{App, AppParts, SharedApp};
use portal_core::buypass::config::BuypassConfig;
use portal_core::buypass::flow::CALLBACK_PATH;
use portal_core::buypass::keys::Es256Key;
use portal_core::buypass::registry::CardKey;
use portal_core::clock::ManualClock;
use portal_core::config::{Policy, Settings};
use portal_core::domain::{MobileNumber, Password, Username};
use portal_core::security::key_parts::KeyParts;
use portal_core::security::passwords::HashParams;
use portal_core::services::admin::{InitialPassword, NewAccount};
use portal_core::sms::sns::SnsSms;
use portal_core::store::dynamodb::{create_table, DynamoStore};
use portal_dev::provider::{dev_provider_router, DevProvider, DEV_PROVIDER_PATH};
use portal_http::handlers::homeoffice::GatewayAuth;
use portal_http::routes::ApiState;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::meter::{Call, Meter};
use crate::report::table;

pub const PASSWORD: &str = "korrekt hest batteri stift";
const NEW_PASSWORD: &str = "ny og lang passordfrase 42";
const GATEWAY_KEY: &str = "bench-gateway-key-0123456789";

/// The emulator `scripts/bench.sh` (or `scripts/test.sh`) started.
pub fn emulator() -> anyhow::Result<Emulator> {
    Emulator::from_env()
        .ok_or_else(|| anyhow!("the ledger needs the AWS emulator: run it through scripts/bench.sh, which starts it"))
}

/// The metered AWS clients and an app on them.
pub struct Metered {
    pub meter: Meter,
    pub app: SharedApp,
    pub clock: ManualClock,
    pub router: Router,
    pub sns: aws_sdk_sns::Client,
    pub emulator: Emulator,
    _provider_dir: tempfile::TempDir,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

impl Metered {
    /// A fresh table, the app on metered clients, and the Buypass stand-in on loopback.
    pub async fn start(hash_params: HashParams) -> anyhow::Result<Self> {
        let emulator = emulator()?;
        let sdk = emulator.sdk_config().await;
        let meter = Meter::default();
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .interceptor(meter.clone())
                .build(),
        );
        let sns = aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(&sdk)
                .interceptor(meter.clone())
                .build(),
        );
        let table = unique_name("portal-bench");
        create_table(&dynamodb, &table).await?;
        // A clock the ledger moves past the resend wait and into the next TOTP step; it starts
        // at the real time so the stand-in provider's tokens are current.
        let clock = ManualClock::new(unix_now());
        // Accounts are per run; the per-account SMS caps would stop the cost loop's many logins.
        let policy = Policy {
            sms_per_account_hour: usize::MAX / 2,
            sms_per_destination_day: usize::MAX / 2,
            ..Default::default()
        };
        let app = App::build(AppParts {
            store: Arc::new(DynamoStore::new(dynamodb, table)),
            sms: Arc::new(SnsSms::new(sns.clone(), None)),
            clock: Arc::new(clock.clone()),
            keys: KeyParts::generate()?,
            settings: Settings::default(),
            policy,
            hash_params,
        })?;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let issuer = format!("{base}{DEV_PROVIDER_PATH}");
        let redirect_uri = format!("https://api.example.test{CALLBACK_PATH}");
        let client_key = Es256Key::generate()?;
        let provider_dir = tempfile::tempdir()?;
        let provider = Arc::new(DevProvider::open(
            provider_dir.path(),
            &issuer,
            "bench",
            &redirect_uri,
            client_key.public_jwk(),
            Arc::new(portal_core::clock::SystemClock),
        )?);
        let ca_bundle_pem = provider.ca_pem();
        tokio::spawn(async move { axum::serve(listener, dev_provider_router(provider)).await });
        let buypass = BuypassConfig {
            issuer,
            client_id: "bench".into(),
            redirect_uri,
            ca_bundle_pem,
        }
        .build(client_key)?;
        // As in Lambda: no in-process trigger; the activation function runs on the stream.
        let state = ApiState::new(
            app.clone(),
            Arc::new(buypass),
            GatewayAuth::key(GATEWAY_KEY).map_err(anyhow::Error::msg)?,
        );
        let router = portal_http::routes::with_common_layers(portal_http::routes::api_router(state));
        meter.take();
        Ok(Self {
            meter,
            app,
            clock,
            router,
            sns,
            emulator,
            _provider_dir: provider_dir,
        })
    }

    /// An enabled account with a fresh number (not metered: an operator's step).
    pub async fn account(&self, username: &str) -> anyhow::Result<String> {
        let mobile = unique_mobile();
        self.app
            .create_account(NewAccount {
                username: Username::parse(username)?,
                name: "Kari Nordmann".into(),
                email: None,
                mobile: MobileNumber::parse(&mobile)?,
                home_office: true,
                password: InitialPassword::Permanent(Password::new(PASSWORD.into())),
            })
            .await?;
        self.meter.take();
        Ok(mobile)
    }

    pub async fn send(&self, request: Request<Body>) -> anyhow::Result<Answer> {
        let response = self.router.clone().oneshot(request).await?;
        Answer::read(response).await
    }
}

/// A response, read.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub set_cookie: Option<String>,
    pub location: Option<String>,
}

impl Answer {
    async fn read(response: Response<Body>) -> anyhow::Result<Self> {
        let status = response.status().as_u16();
        let set_cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
        Ok(Self {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            set_cookie,
            location,
        })
    }

    /// The answer if it is a 2xx; `what` failed otherwise.
    pub fn success(self, what: &str) -> anyhow::Result<Self> {
        ensure!(
            (200..300).contains(&self.status),
            "{what} answered {}: {}",
            self.status,
            self.body
        );
        Ok(self)
    }

    pub fn str(&self, field: &str) -> anyhow::Result<String> {
        self.body[field]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no {field} in {}", self.body))
    }
}

pub fn post(path: &str, body: Value, bearer: Option<&str>, cookie: Option<&str>) -> anyhow::Result<Request<Body>> {
    let mut request = Request::post(path).header("content-type", "application/json");
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    Ok(request.body(Body::from(body.to_string()))?)
}

pub fn get(path: &str, headers: &[(&str, &str)]) -> anyhow::Result<Request<Body>> {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Ok(request.body(Body::empty())?)
}

/// The rows of the ledger: operation name → its calls.
type Ledger = Vec<(&'static str, Vec<Call>)>;

/// A signed-in session.
pub struct Session {
    pub access_token: String,
    pub cookie: String,
}

impl Metered {
    pub async fn login(&self, username: &str) -> anyhow::Result<Answer> {
        let body = json!({ "username": username, "password": PASSWORD });
        self.send(post("/v1/auth/login", body, None, None)?)
            .await?
            .success("login")
    }

    pub async fn verify(&self, challenge: &str, mobile: &str) -> anyhow::Result<Session> {
        let code = self.emulator.latest_code(mobile).await;
        self.meter.take();
        let answer = self
            .send(post(
                "/v1/auth/sms/verify",
                json!({ "challenge_id": challenge, "code": code }),
                None,
                None,
            )?)
            .await?
            .success("verify")?;
        Ok(Session {
            access_token: answer.str("access_token")?,
            cookie: answer.set_cookie.clone().context("verify set no cookie")?,
        })
    }

    pub async fn account_read(&self, session: &Session) -> anyhow::Result<Answer> {
        let bearer = format!("Bearer {}", session.access_token);
        self.send(get("/v1/account", &[("authorization", &bearer)])?)
            .await?
            .success("account read")
    }

    pub async fn refresh(&self, session: &mut Session) -> anyhow::Result<()> {
        let answer = self
            .send(post("/v1/auth/refresh", json!({}), None, Some(&session.cookie))?)
            .await?
            .success("refresh")?;
        session.access_token = answer.str("access_token")?;
        if let Some(cookie) = answer.set_cookie {
            session.cookie = cookie;
        }
        Ok(())
    }
}

/// Runs every operation once and returns each one's calls.
async fn collect(m: &Metered) -> anyhow::Result<Ledger> {
    let mut ledger: Ledger = Vec::new();
    let username = "kari";
    let mobile = m.account(username).await?;

    let started = m.login(username).await?;
    ledger.push(("login", m.meter.take()));
    let challenge = started.str("challenge_id")?;

    let mut session = m.verify(&challenge, &mobile).await?;
    ledger.push(("sms/verify", m.meter.take()));

    m.account_read(&session).await?;
    ledger.push(("account read", m.meter.take()));

    m.refresh(&mut session).await?;
    ledger.push(("refresh", m.meter.take()));

    // Buypass registration, the provider's login page in between (not metered: no AWS call).
    let bearer = session.access_token.clone();
    let started = m
        .send(post(
            "/v1/homeoffice/buypass/start",
            json!({ "password": PASSWORD }),
            Some(&bearer),
            None,
        )?)
        .await?
        .success("buypass start")?;
    ledger.push(("buypass start", m.meter.take()));
    let browser_cookie = started.set_cookie.clone().context("buypass start set no cookie")?;
    // The user on the stand-in provider's login page, choosing the smartcard.
    let callback = e2e::buypass::dev_provider_login(&started.str("authorization_url")?, "sc", "Kari Nordmann").await?;
    let query = callback
        .split_once('?')
        .map(|(_, q)| q.to_owned())
        .context("callback without query")?;
    let answer = m
        .send(get(
            &format!("{CALLBACK_PATH}?{query}"),
            &[("cookie", browser_cookie.as_str())],
        )?)
        .await?;
    ensure!(
        answer.status == 302 || answer.status == 303,
        "callback answered {}",
        answer.status
    );
    let callback_calls = m.meter.take();
    let card = registered_card(&callback_calls).with_context(|| {
        let ops: Vec<String> = callback_calls
            .iter()
            .map(|c| format!("{} {:?}", c.operation, c.keys))
            .collect();
        format!(
            "the callback registered no card (redirect {:?}; calls {ops:?})",
            answer.location
        )
    })?;
    ledger.push(("buypass callback", callback_calls));

    // What the activation function does with the stream record of the new pending serial.
    let topic = m.sns.create_topic().name(unique_name("gateway")).send().await?;
    let topic_arn = topic.topic_arn().context("no topic ARN")?.to_owned();
    m.meter.take();
    let activator = Activator::new(
        m.app.clone(),
        Arc::new(SnsGatewayEvents::new(m.sns.clone(), topic_arn)),
        ActivationPolicy::default(),
        false,
    );
    activator
        .process(&card, Trigger::Event)
        .await
        .map_err(|e| anyhow!("activation: {e:?}"))?;
    ledger.push(("activation (worker)", m.meter.take()));

    let serial = card.serial.to_string();
    m.send(get(
        &format!("/v1/gateway/certificates/{serial}"),
        &[("x-gateway-key", GATEWAY_KEY)],
    )?)
    .await?
    .success("gateway lookup")?;
    ledger.push(("gateway lookup", m.meter.take()));

    // The clock moves forward only from here: the stand-in provider above checks times
    // against the real clock.
    let started = m.login(username).await?;
    m.meter.take();
    let wait = started.body["resend_after"].as_i64().unwrap_or(60);
    m.clock.advance(wait);
    m.send(post(
        "/v1/auth/sms/resend",
        json!({ "challenge_id": started.str("challenge_id")? }),
        None,
        None,
    )?)
    .await?
    .success("resend")?;
    ledger.push(("sms/resend", m.meter.take()));

    // Phone change: start, then confirm with the code sent to the new number.
    let new_mobile = unique_mobile();
    let started = m
        .send(post(
            "/v1/account/phone",
            json!({ "new_mobile": new_mobile, "password": PASSWORD }),
            Some(&bearer),
            None,
        )?)
        .await?
        .success("phone change start")?;
    let mut phone_calls = m.meter.take();
    let code = m.emulator.latest_code(&new_mobile).await;
    let challenge = started.str("challenge_id")?;
    m.send(post(
        "/v1/account/phone/confirm",
        json!({ "challenge_id": challenge, "code": code }),
        Some(&bearer),
        None,
    )?)
    .await?
    .success("phone change confirm")?;
    phone_calls.extend(m.meter.take());
    ledger.push(("phone change (start+confirm)", phone_calls));

    // An authenticator app: enrolment is not metered; the login that uses it is.
    let enrolment = m
        .send(post(
            "/v1/account/totp",
            json!({ "password": PASSWORD }),
            Some(&bearer),
            None,
        )?)
        .await?
        .success("totp enrolment")?;
    let app = portal_testkit::authenticator_app(&enrolment.str("secret")?).map_err(anyhow::Error::msg)?;
    let code = app.generate(m.app.now() as u64).to_string();
    m.send(post(
        "/v1/account/totp/confirm",
        json!({ "code": code }),
        Some(&bearer),
        None,
    )?)
    .await?
    .success("totp confirm")?;
    m.clock.advance(30);
    let started = m.login(username).await?;
    m.meter.take();
    let code = app.generate(m.app.now() as u64).to_string();
    let totp_session = m
        .send(post(
            "/v1/auth/totp/verify",
            json!({ "challenge_id": started.str("challenge_id")?, "code": code }),
            None,
            None,
        )?)
        .await?
        .success("totp verify")?;
    ledger.push(("totp/verify", m.meter.take()));

    let bearer = totp_session.str("access_token")?;
    let cookie = totp_session.set_cookie.context("totp verify set no cookie")?;
    m.send(post("/v1/auth/logout", json!({}), Some(&bearer), Some(&cookie))?)
        .await?
        .success("logout")?;
    ledger.push(("logout", m.meter.take()));

    let forgot = m
        .send(post(
            "/v1/auth/password/forgot",
            json!({ "username": username }),
            None,
            None,
        )?)
        .await?
        .success("forgot")?;
    ledger.push(("forgot", m.meter.take()));
    let code = m.emulator.latest_code(&new_mobile).await;
    // The account has an app, so the reset needs its code too (issue 17): a fresh time step's.
    m.clock.advance(30);
    let totp_code = app.generate(m.app.now() as u64).to_string();
    m.send(post(
        "/v1/auth/password/reset",
        json!({
            "challenge_id": forgot.str("challenge_id")?,
            "code": code,
            "new_password": NEW_PASSWORD,
            "totp_code": totp_code,
        }),
        None,
        None,
    )?)
    .await?
    .success("reset")?;
    ledger.push(("reset", m.meter.take()));
    Ok(ledger)
}

/// The registry record the callback's transaction wrote: what the stream hands the
/// activation function.
fn registered_card(calls: &[Call]) -> Option<CardKey> {
    calls
        .iter()
        .filter(|c| c.operation == "TransactWriteItems" || c.operation == "PutItem")
        .flat_map(|c| {
            let mut items: Vec<Value> = c.request["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("Put").map(|p| p["Item"].clone()))
                .collect();
            items.extend(c.request.get("Item").cloned());
            items
        })
        .find_map(|item| {
            let pk = item["pk"]["S"].as_str()?;
            let sk = item["sk"]["S"].as_str()?;
            portal_core::activation::card_from_keys(pk, sk)
        })
}

/// The issue's round-trip targets.
fn target(operation: &str) -> Option<usize> {
    match operation {
        "login" | "sms/verify" | "refresh" => Some(3),
        "account read" | "gateway lookup" => Some(1),
        _ => None,
    }
}

/// What each operation may cost at most today, as (DynamoDB calls, sequential round trips):
/// the regression guard. The ledger fails (and with it `scripts/bench.sh --quick`, which the
/// test command runs) when an operation makes more, so a change that adds a read or a write
/// to a hot path has to come here and say so. Lower figures pass; lower the ceilings with them.
pub fn ceiling(operation: &str) -> Option<(usize, usize)> {
    match operation {
        // The number's SMS budget is read beside the reservation: 4 calls, 3 waits.
        "login" => Some((4, 3)),
        "sms/verify" => Some((3, 3)),
        "refresh" => Some((2, 2)),
        "account read" => Some((1, 1)),
        // The card's record alone: the account is never read (`App::may_enter`).
        "gateway lookup" => Some((1, 1)),
        _ => None,
    }
}

/// Round trips a caller waits for: calls whose spans overlap (sent together) count once.
pub fn sequential(calls: &[&Call]) -> usize {
    let mut spans: Vec<_> = calls.iter().filter_map(|c| c.span).collect();
    spans.sort_by_key(|(start, _)| *start);
    let mut waits = 0;
    let mut open_until: Option<std::time::Instant> = None;
    for (start, end) in spans {
        match open_until {
            Some(until) if start < until => open_until = Some(until.max(end)),
            _ => {
                waits += 1;
                open_until = Some(end);
            }
        }
    }
    waits
}

/// Totals of one operation.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    pub dynamodb: usize,
    pub rcu: f64,
    pub wcu: f64,
    pub sns_publishes: usize,
    pub secrets: usize,
}

pub fn totals(calls: &[Call]) -> Totals {
    let mut t = Totals::default();
    for c in calls {
        if c.is_dynamodb() {
            t.dynamodb += 1;
            t.rcu += c.rcu;
            t.wcu += c.wcu;
        } else if c.operation == "Publish" {
            t.sns_publishes += 1;
        } else if c.service.to_lowercase().contains("secrets") {
            t.secrets += 1;
        }
    }
    t
}

fn by_api(calls: &[Call]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in calls.iter().filter(|c| c.is_dynamodb()) {
        *counts.entry(c.operation.as_str()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(op, n)| format!("{op}×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn units(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// Runs the ledger, prints it, and returns the totals per operation (for the cost model).
pub async fn run() -> anyhow::Result<BTreeMap<&'static str, Totals>> {
    let m = Metered::start(portal_testkit::FAST_HASH).await?;
    let ledger = collect(&m).await?;
    // A meter that saw nothing would print a ledger of zeros that looks like good news.
    for (operation, calls) in &ledger {
        ensure!(
            calls.iter().any(Call::is_dynamodb),
            "the meter saw no DynamoDB call for {operation}"
        );
    }
    let login_sms = ledger
        .iter()
        .find(|(op, _)| *op == "login")
        .map(|(_, c)| totals(c).sns_publishes);
    ensure!(
        login_sms == Some(1),
        "the meter saw {login_sms:?} SMS for a login, not 1"
    );
    let mut rows = Vec::new();
    let mut over = Vec::new();
    let mut regressions = Vec::new();
    let mut result = BTreeMap::new();
    for (operation, calls) in &ledger {
        let t = totals(calls);
        let dynamo: Vec<&Call> = calls.iter().filter(|c| c.is_dynamodb()).collect();
        let waits = sequential(&dynamo);
        if let Some((calls_max, waits_max)) = ceiling(operation) {
            if t.dynamodb > calls_max || waits > waits_max {
                regressions.push(format!(
                    "{operation}: {} DynamoDB calls in {waits} round trips, allowed {calls_max} in {waits_max}",
                    t.dynamodb
                ));
            }
        }
        let status = match target(operation) {
            Some(limit) if waits > limit => {
                over.push((*operation, limit, dynamo.clone()));
                format!("over (≤ {limit})")
            }
            Some(limit) => format!("met (≤ {limit})"),
            None => String::new(),
        };
        let sum = |f: fn(&Call) -> usize| dynamo.iter().map(|c| f(c)).sum::<usize>();
        rows.push(vec![
            (*operation).to_owned(),
            t.dynamodb.to_string(),
            waits.to_string(),
            by_api(calls),
            format!("{} / {}", sum(|c| c.items_read), sum(|c| c.items_written)),
            format!("{} / {}", sum(|c| c.item_bytes_read), sum(|c| c.item_bytes_written)),
            units(t.rcu),
            units(t.wcu),
            format!("{} / {}", sum(|c| c.request_bytes), sum(|c| c.response_bytes)),
            t.sns_publishes.to_string(),
            t.secrets.to_string(),
            status,
        ]);
        result.insert(*operation, t);
    }
    table(
        "Round trips and capacity per API operation (DynamoDB + SNS in the AWS emulator)",
        &[
            "operation",
            "DynamoDB calls",
            "round trips (sequential)",
            "by API",
            "items read / written",
            "item bytes read / written",
            "RCU",
            "WCU",
            "DynamoDB wire bytes out / in",
            "SNS Publish",
            "Secrets Manager",
            "round-trip target",
        ],
        &rows,
    );
    if !over.is_empty() {
        println!("\nOver the round-trip target (each DynamoDB call in order; keys elided after `#`):");
        for (operation, limit, calls) in over {
            println!(
                "- {operation}: {} calls in {} round trips, target ≤ {limit}",
                calls.len(),
                sequential(&calls)
            );
            for (i, c) in calls.iter().enumerate() {
                let flags = [(c.failed(), " (condition failed)"), (c.filtered, " (filtered)")]
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, s)| *s)
                    .collect::<String>();
                println!("  {}. {} {}{flags}", i + 1, c.operation, c.keys.join("; "));
            }
        }
    }
    let failed: Vec<String> = ledger
        .iter()
        .flat_map(|(op, calls)| {
            calls
                .iter()
                .filter(|c| c.failed())
                .map(move |c| format!("{op}: {}", c.operation))
        })
        .collect();
    if !failed.is_empty() {
        println!(
            "\nCalls that failed (conditions; charged as writes): {}",
            failed.join(", ")
        );
    }
    ensure!(
        regressions.is_empty(),
        "more DynamoDB round trips than the ledger allows (bench/src/ledger.rs `ceiling`):\n{}",
        regressions.join("\n")
    );
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn at(base: Instant, from_ms: u64, to_ms: u64) -> Call {
        Call {
            service: "DynamoDB".into(),
            span: Some((
                base + Duration::from_millis(from_ms),
                base + Duration::from_millis(to_ms),
            )),
            ..Call::default()
        }
    }

    #[test]
    fn calls_sent_together_are_one_round_trip() {
        let t = Instant::now();
        let (read, reserve, budgets, outcome) = (at(t, 0, 5), at(t, 6, 12), at(t, 7, 10), at(t, 40, 45));
        assert_eq!(sequential(&[&read, &reserve, &budgets, &outcome]), 3);
        assert_eq!(sequential(&[&outcome, &read]), 2, "in any order");
        let (a, b, c) = (at(t, 0, 5), at(t, 5, 9), at(t, 9, 12));
        assert_eq!(sequential(&[&a, &b, &c]), 3, "one after the other is not at once");
        assert_eq!(sequential(&[]), 0);
    }

    #[test]
    fn the_guard_holds_the_issue_targets_where_they_are_met() {
        for operation in ["login", "sms/verify", "refresh", "account read"] {
            let (_, waits) = ceiling(operation).unwrap();
            assert!(waits <= target(operation).unwrap(), "{operation}");
        }
    }
}
