//! What one million complete logins cost in AWS (issue 18): a login, its SMS verify, an
//! account read and 10 refreshes. Round trips and capacity units come from the ledger ([`crate::ledger`]),
//! handler CPU time is measured here (the bench process's own CPU, so the emulator's work is
//! not counted), and list prices come from `bench/prices-eu-north-1.toml`.
//!
//! Lambda bills wall time, not CPU: an invocation is billed its CPU time stretched by the
//! share of a vCPU its memory buys, plus the time it waits on DynamoDB and SNS (round trips
//! × the latency assumed in the prices file), rounded up to the millisecond.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context};
use portal_core::security::passwords::HashParams;
use portal_http::routes::Function;

use crate::ledger::{Metered, Totals};
use crate::report::table;

/// `section.key = value` of the prices file; numbers and strings.
#[derive(Debug, Default)]
pub struct Prices {
    numbers: BTreeMap<String, f64>,
    strings: BTreeMap<String, String>,
}

impl Prices {
    /// A small TOML subset: `[section]` headers and `key = number` or `key = "text"` lines.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut prices = Prices::default();
        let mut section = String::new();
        for (n, raw) in text.lines().enumerate() {
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().to_owned();
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| anyhow!("line {}: expected key = value", n + 1))?;
            let key = format!("{section}.{}", key.trim());
            let value = value.trim();
            if let Some(text) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                prices.strings.insert(key, text.to_owned());
            } else {
                let number = value
                    .replace('_', "")
                    .parse::<f64>()
                    .map_err(|e| anyhow!("line {}: {key}: {e}", n + 1))?;
                prices.numbers.insert(key, number);
            }
        }
        Ok(prices)
    }

    pub fn load() -> anyhow::Result<Self> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("prices-eu-north-1.toml");
        let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
        Self::parse(&text)
    }

    pub fn get(&self, key: &str) -> anyhow::Result<f64> {
        self.numbers
            .get(key)
            .copied()
            .ok_or_else(|| anyhow!("prices file: no number {key}"))
    }

    pub fn text(&self, key: &str) -> &str {
        self.strings.get(key).map(String::as_str).unwrap_or("?")
    }
}

fn strip_comment(line: &str) -> &str {
    let mut in_string = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '#' if !in_string => return &line[..i],
            _ => {}
        }
    }
    line
}

/// CPU time of every thread of this process (the runtime's and the blocking pool's, where
/// argon2 runs), from the scheduler's nanosecond counters.
fn process_cpu() -> Duration {
    let mut total = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) {
                total += text
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    Duration::from_nanos(total)
}

/// One step of a complete login: the function that serves it, how often it happens.
struct Step {
    name: &'static str,
    function: Function,
    per_login: f64,
}

const STEPS: [Step; 4] = [
    Step {
        name: "login",
        function: Function::Login,
        per_login: 1.0,
    },
    Step {
        name: "sms/verify",
        function: Function::SmsCode,
        per_login: 1.0,
    },
    Step {
        name: "account read",
        function: Function::Account,
        per_login: 1.0,
    },
    Step {
        name: "refresh",
        function: Function::SmsCode,
        per_login: 10.0,
    },
];

/// Memory each function is deployed with (`infra/functions.tf`, `memory_mb`).
fn memory_mb(function: Function) -> f64 {
    match function {
        Function::Login | Function::Account => 1024.0,
        Function::SmsCode | Function::Buypass => 512.0,
        Function::SerialActivation => 256.0,
    }
}

/// Median CPU per step over `logins` complete logins at production hash parameters.
async fn measure_cpu(logins: usize, hash: HashParams) -> anyhow::Result<BTreeMap<&'static str, Duration>> {
    let m = Metered::start(hash).await?;
    let mut samples: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
    let mut timed = |name: &'static str, before: Duration| {
        samples
            .entry(name)
            .or_default()
            .push(process_cpu().saturating_sub(before));
    };
    for i in 0..logins.max(1) {
        let username = format!("kost{i}");
        let mobile = m.account(&username).await?;
        let before = process_cpu();
        let started = m.login(&username).await?;
        timed("login", before);
        let challenge = started.str("challenge_id")?;
        // The code comes from the emulator's SMS log (not timed); verify times itself.
        let code = m.emulator.latest_code(&mobile).await;
        let before = process_cpu();
        let answer = m
            .send(crate::ledger::post(
                "/v1/auth/sms/verify",
                serde_json::json!({ "challenge_id": challenge, "code": code }),
                None,
                None,
            )?)
            .await?
            .success("verify")?;
        timed("sms/verify", before);
        let mut session = crate::ledger::Session {
            access_token: answer.str("access_token")?,
            cookie: answer.set_cookie.clone().context("verify set no cookie")?,
        };
        let before = process_cpu();
        m.account_read(&session).await?;
        timed("account read", before);
        for _ in 0..10 {
            let before = process_cpu();
            m.refresh(&mut session).await?;
            timed("refresh", before);
        }
        m.meter.take();
    }
    Ok(samples
        .into_iter()
        .map(|(name, mut v)| {
            v.sort();
            (name, v[v.len() / 2])
        })
        .collect())
}

fn dollars(x: f64) -> String {
    if x >= 0.01 {
        format!("${x:.3}")
    } else {
        format!("${x:.5}")
    }
}

/// Prices one million complete logins from the ledger's totals and measured CPU.
pub async fn run(ledger: &BTreeMap<&'static str, Totals>, quick: bool) -> anyhow::Result<()> {
    let prices = Prices::load()?;
    // The CPU figures need the release build and the production hash; quick mode only checks
    // the arithmetic runs (debug build, cheap hash, one login).
    let (logins, hash) = if quick {
        (1, portal_testkit::FAST_HASH)
    } else {
        (20, HashParams::PRODUCTION)
    };
    let cpu = measure_cpu(logins, hash).await?;
    let dynamo_ms = prices.get("assumptions.dynamodb_round_trip_ms")?;
    let sns_ms = prices.get("assumptions.sns_round_trip_ms")?;
    let mb_per_vcpu = prices.get("assumptions.lambda_mb_per_vcpu")?;
    let cold_share = prices.get("assumptions.cold_starts_per_invocation")?;

    let mut step_rows = Vec::new();
    let (mut invocations, mut gb_seconds, mut rru, mut wru, mut secret_calls) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut publishes = 0.0;
    for step in &STEPS {
        let t = ledger
            .get(step.name)
            .cloned()
            .ok_or_else(|| anyhow!("the ledger has no {}", step.name))?;
        let cpu_ms = cpu.get(step.name).copied().unwrap_or_default().as_secs_f64() * 1e3;
        let memory = memory_mb(step.function);
        let share = (memory / mb_per_vcpu).min(1.0);
        let billed_ms = (cpu_ms / share + t.dynamodb as f64 * dynamo_ms + t.sns_publishes as f64 * sns_ms).ceil();
        invocations += step.per_login;
        gb_seconds += step.per_login * billed_ms / 1e3 * memory / 1024.0;
        rru += step.per_login * t.rcu;
        wru += step.per_login * t.wcu;
        publishes += step.per_login * t.sns_publishes as f64;
        let secrets = portal_lambda::config::keys_of(step.function).len() as f64;
        secret_calls += step.per_login * cold_share * secrets;
        step_rows.push(vec![
            step.name.to_owned(),
            step.function.name().to_owned(),
            format!("{memory:.0} MB"),
            format!("{:.0}", step.per_login),
            format!("{cpu_ms:.2} ms"),
            t.dynamodb.to_string(),
            format!("{billed_ms:.0} ms"),
        ]);
    }
    table(
        &format!(
            "One complete login, step by step (CPU: median over {logins} logins in this process; billed = CPU ÷ vCPU share + round trips × {dynamo_ms} ms DynamoDB / {sns_ms} ms SNS)"
        ),
        &["step", "function", "memory", "per login", "handler CPU", "DynamoDB calls", "billed"],
        &step_rows,
    );

    let million = 1e6;
    let lines: Vec<(&str, f64, &str, f64)> = vec![
        (
            "Lambda requests",
            invocations * million,
            "lambda.requests_per_million",
            invocations * prices.get("lambda.requests_per_million")?,
        ),
        (
            "Lambda GB-s (arm64)",
            gb_seconds * million,
            "lambda.arm64_gb_second",
            gb_seconds * million * prices.get("lambda.arm64_gb_second")?,
        ),
        (
            "API Gateway HTTP API requests",
            invocations * million,
            "api_gateway.http_api_requests_per_million",
            invocations * prices.get("api_gateway.http_api_requests_per_million")?,
        ),
        (
            "CloudFront HTTPS requests",
            invocations * million,
            "cloudfront.https_requests_per_million",
            invocations * prices.get("cloudfront.https_requests_per_million")?,
        ),
        (
            "CloudFront Function (origin verify)",
            invocations * million,
            "cloudfront.function_invocations_per_million",
            invocations * prices.get("cloudfront.function_invocations_per_million")?,
        ),
        (
            "CloudFront KeyValueStore reads",
            invocations * million,
            "cloudfront.key_value_store_reads_per_million",
            invocations * prices.get("cloudfront.key_value_store_reads_per_million")?,
        ),
        (
            "WAF requests",
            invocations * million,
            "waf.requests_per_million",
            invocations * prices.get("waf.requests_per_million")?,
        ),
        (
            "DynamoDB read request units",
            rru * million,
            "dynamodb.read_request_units_per_million",
            rru * prices.get("dynamodb.read_request_units_per_million")?,
        ),
        (
            "DynamoDB write request units",
            wru * million,
            "dynamodb.write_request_units_per_million",
            wru * prices.get("dynamodb.write_request_units_per_million")?,
        ),
        (
            "Secrets Manager calls at cold starts",
            secret_calls * million,
            "secrets_manager.per_10k_api_calls",
            secret_calls * million / 1e4 * prices.get("secrets_manager.per_10k_api_calls")?,
        ),
    ];
    let total: f64 = lines.iter().map(|l| l.3).sum();
    let mut rows: Vec<Vec<String>> = lines
        .iter()
        .map(|(what, quantity, key, cost)| {
            vec![
                (*what).to_owned(),
                format!("{quantity:.0}"),
                format!("{} ({})", prices.get(key).unwrap_or_default(), key),
                dollars(*cost),
            ]
        })
        .collect();
    rows.push(vec![
        "**total without SMS**".into(),
        String::new(),
        String::new(),
        format!(
            "**{}** ({} the ≤ $2 target)",
            dollars(total),
            if total <= 2.0 { "meets" } else { "over" }
        ),
    ]);
    let sms_price = prices.get("sns.sms_norway_per_message")?;
    let floors = floors(&prices, invocations, &lines)?;
    rows.push(vec![
        "SMS to Norway (separately)".into(),
        format!("{:.0}", publishes * million),
        format!("{sms_price} (sns.sms_norway_per_message)"),
        dollars(publishes * million * sms_price),
    ]);
    table(
        &format!(
            "Cost of one million complete logins, eu-north-1 list prices of {} ({})",
            prices.text("meta.date"),
            prices.text("meta.status")
        ),
        &["component", "quantity", "unit price (key)", "per million logins"],
        &rows,
    );
    table(
        "Floor per component: what no code change can lower, and what would (per million complete logins)",
        &[
            "component",
            "now",
            "floor with this architecture",
            "what lowers it, and at what price",
        ],
        &floors,
    );
    Ok(())
}

/// The price every request pays before any handler runs: the edge (CloudFront, its
/// origin-verify function and key-value read, WAF), API Gateway and the Lambda request.
pub const PER_REQUEST_KEYS: [&str; 6] = [
    "cloudfront.https_requests_per_million",
    "cloudfront.function_invocations_per_million",
    "cloudfront.key_value_store_reads_per_million",
    "waf.requests_per_million",
    "api_gateway.http_api_requests_per_million",
    "lambda.requests_per_million",
];

/// One row per component of the cost table: its figure now, its floor with the current
/// architecture (per-request charges scale with the 13 requests of a complete login and
/// nothing the handlers do), and the change that would lower it with what it costs.
fn floors(prices: &Prices, invocations: f64, lines: &[(&str, f64, &str, f64)]) -> anyhow::Result<Vec<Vec<String>>> {
    let per_request: f64 = PER_REQUEST_KEYS
        .iter()
        .map(|k| prices.get(k))
        .collect::<anyhow::Result<Vec<f64>>>()?
        .iter()
        .sum();
    let remedy = |what: &str| -> &'static str {
        match what {
            "Lambda requests" | "API Gateway HTTP API requests" => {
                "fewer requests per login: access tokens of 60 instead of 15 minutes take 10 refreshes to about 2 (a stolen access token lives 4× longer; revocation still ends the session at the next refresh); or Lambda function URLs behind CloudFront instead of API Gateway (saves $1.00 per million requests; loses API Gateway's route table, throttling and access log, which the functions and CloudFront would have to take over)"
            }
            "CloudFront HTTPS requests" | "CloudFront Function (origin verify)" | "CloudFront KeyValueStore reads" | "WAF requests" => {
                "only fewer requests; removing the edge would remove the WAF rate rules and the origin secret that keep direct calls off the API (not proposed)"
            }
            "Lambda GB-s (arm64)" => "mostly argon2 at login (fixed by the password policy); the rest is round trips × wait: fewer calls (this change) and smaller memory for the light functions",
            "DynamoDB read request units" | "DynamoDB write request units" => "fewer items per operation (this change); what remains is the records each rule must read and change",
            _ => "cold starts only",
        }
    };
    let mut rows: Vec<Vec<String>> = lines
        .iter()
        .map(|(what, _, key, cost)| {
            let per_request_component = PER_REQUEST_KEYS.contains(key);
            let floor = if per_request_component {
                format!("{} ({invocations:.0} requests per login)", dollars(*cost))
            } else {
                "lowered by the code".to_owned()
            };
            vec![(*what).to_owned(), dollars(*cost), floor, remedy(what).to_owned()]
        })
        .collect();
    let requests_for_target = (2.0 / per_request).floor();
    rows.push(vec![
        "**every request, before any handler runs**".into(),
        dollars(invocations * per_request),
        format!(
            "{} per request: the ≤ $2 target leaves room for {requests_for_target:.0} requests per login",
            dollars(per_request)
        ),
        format!(
            "a complete login needs at least 3 requests (login, verify, account read): {} with this edge even without refreshes, so ≤ $2 per million logins is out of reach while every request passes CloudFront, WAF and API Gateway",
            dollars(3.0 * per_request)
        ),
    ]);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prices_file_parses_and_has_every_price_the_model_reads() {
        let prices = Prices::load().unwrap();
        for key in [
            "lambda.requests_per_million",
            "lambda.arm64_gb_second",
            "api_gateway.http_api_requests_per_million",
            "dynamodb.read_request_units_per_million",
            "dynamodb.write_request_units_per_million",
            "secrets_manager.per_10k_api_calls",
            "sns.sms_norway_per_message",
            "cloudfront.https_requests_per_million",
            "cloudfront.function_invocations_per_million",
            "cloudfront.key_value_store_reads_per_million",
            "waf.requests_per_million",
            "assumptions.dynamodb_round_trip_ms",
            "assumptions.sns_round_trip_ms",
            "assumptions.lambda_mb_per_vcpu",
            "assumptions.cold_starts_per_invocation",
        ] {
            assert!(prices.get(key).unwrap() > 0.0, "{key}");
        }
        assert_ne!(prices.text("meta.date"), "?");
    }

    #[test]
    fn comments_and_strings_are_read_as_toml_does() {
        let p = Prices::parse("[a]\nx = 1_000.5 # note\ny = \"has # inside\"\n").unwrap();
        assert_eq!(p.get("a.x").unwrap(), 1000.5);
        assert_eq!(p.text("a.y"), "has # inside");
        assert!(Prices::parse("[a]\nz = cheap\n").is_err());
    }
}
