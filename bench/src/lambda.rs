//! Cold start and footprint of the Lambda functions, through a Lambda Runtime API emulator on
//! loopback, side by side with a minimal `lambda_runtime` function (the floor).
//!
//! Init = process start → first `GET /invocation/next` (config read, clients and keys built).
//! First response = process start → the first invocation answered. The functions run with
//! their production configuration shape (DynamoDB store, SNS SMS) pointed at an unused
//! loopback port, and keys from a file: init must need no network, and these requests never
//! reach the store.
//!
//! A second variant reads the keys as in AWS: one Secrets Manager secret per key purpose the
//! function holds (`PORTAL_*_SECRET_ID`, as `infra/` sets them), served by the AWS emulator on
//! loopback. It runs when the emulator is there (`scripts/bench.sh` starts it).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use aws_emulator_tests::emulator::{unique_name, Emulator};
use aws_emulator_tests::http_event::event;
use aws_emulator_tests::runtime_api::RuntimeApi;
use portal_core::security::key_parts::{KeyParts, KeyPurpose};
use portal_http::routes::Function;
use serde_json::{json, Value};
use tokio::process::Command;

use crate::report::table;

struct Subject {
    name: &'static str,
    /// `None` for the floor.
    function: Option<Function>,
    /// A cheap request that exercises routing and the error path without the store.
    event: fn() -> Value,
}

fn subjects() -> Vec<Subject> {
    vec![
        Subject {
            name: "lambda-hello",
            function: None,
            event: || json!({ "ping": true }),
        },
        Subject {
            name: "login",
            function: Some(Function::Login),
            event: || event("POST", "/v1/auth/login", Some(&json!({ "username": 1 })), &[], &[]),
        },
        Subject {
            name: "sms-code",
            function: Some(Function::SmsCode),
            event: || event("POST", "/v1/auth/refresh", None, &[], &[]),
        },
        Subject {
            name: "account",
            function: Some(Function::Account),
            event: || event("GET", "/v1/account", None, &[], &[]),
        },
        Subject {
            name: "buypass",
            function: Some(Function::Buypass),
            event: || event("POST", "/v1/homeoffice/buypass/start", None, &[], &[]),
        },
        Subject {
            name: "serial-activation",
            function: Some(Function::SerialActivation),
            event: || event("GET", "/v1/gateway/certificates/01AB", None, &[], &[]),
        },
    ]
}

/// Where a function's keys come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeySource {
    File,
    SecretsManager,
}

fn environment(
    runtime_api: &str,
    subject: &Subject,
    fixture: &Fixture,
    source: KeySource,
) -> Vec<(&'static str, String)> {
    let ca_pem = &fixture.ca_pem;
    let mut env = vec![
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", "bench".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench".into()),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".into()),
        ("PORTAL_URL", "https://portal.example.test".into()),
        ("PORTAL_TOKEN_ISSUER", "https://api.example.test".into()),
        ("PORTAL_TOKEN_AUDIENCE", "hjemmekontor-portal".into()),
        ("AWS_REGION", "eu-north-1".into()),
        ("AWS_ACCESS_KEY_ID", "bench".into()),
        ("AWS_SECRET_ACCESS_KEY", "bench".into()),
        ("PORTAL_STORE", "dynamodb".into()),
        ("PORTAL_TABLE", "bench".into()),
        ("PORTAL_SMS", "sns".into()),
        ("BUYPASS_ISSUER_URL", "http://127.0.0.1:9/auth/realms/bench".into()),
        ("BUYPASS_CLIENT_ID", "bench".into()),
        (
            "BUYPASS_REDIRECT_URI",
            "https://api.example.test/v1/homeoffice/buypass/callback".into(),
        ),
        ("BUYPASS_CA_BUNDLE", ca_pem.to_owned()),
        ("PORTAL_GATEWAY_EVENTS", "sns".into()),
        (
            "PORTAL_GATEWAY_TOPIC_ARN",
            "arn:aws:sns:eu-north-1:123456789012:bench".into(),
        ),
        ("PORTAL_GATEWAY_AUTH", "iam".into()),
        (
            "PORTAL_GATEWAY_ROLE_ARN",
            "arn:aws:iam::123456789012:role/bench-gateway".into(),
        ),
        ("RUST_LOG", "warn".into()),
    ];
    match (source, &fixture.secrets) {
        (KeySource::SecretsManager, Some((endpoint, secrets))) => {
            env.push(("AWS_ENDPOINT_URL", endpoint.clone()));
            let purposes = subject.function.map(portal_lambda::config::keys_of).unwrap_or_default();
            for purpose in purposes {
                if let Some(id) = secrets.get(purpose) {
                    env.push((purpose.env_var(), id.clone()));
                }
            }
        }
        _ => {
            env.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:9".into()));
            env.push(("PORTAL_KEYS_FILE", fixture.keys_file.display().to_string()));
        }
    }
    env
}

#[derive(Default)]
struct Samples {
    init: Vec<Duration>,
    first: Vec<Duration>,
    rss_init_kib: Vec<u64>,
    rss_after_kib: Vec<u64>,
    peak_kib: Vec<u64>,
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

struct Fixture {
    keys_file: PathBuf,
    ca_pem: String,
    /// The emulator's endpoint and one secret per key purpose in it, when it runs.
    secrets: Option<(String, BTreeMap<KeyPurpose, String>)>,
    _dir: tempfile::TempDir,
}

async fn one_run(
    binary: &Path,
    subject: &Subject,
    fixture: &Fixture,
    invocations: usize,
    source: KeySource,
    s: &mut Samples,
) -> anyhow::Result<()> {
    let api = RuntimeApi::start().await;
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(environment(&api.host_port(), subject, fixture, source))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or_default();
    let deadline = started + Duration::from_secs(20);
    let init_at = loop {
        if let Some(at) = api.first_next_at() {
            break at;
        }
        anyhow::ensure!(Instant::now() < deadline, "{} did not start", subject.name);
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("{} exited during init: {status}", subject.name);
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    };
    s.init.push(init_at - started);
    s.rss_init_kib.push(status_kib(pid, "VmRSS:").unwrap_or_default());
    api.invoke((subject.event)()).await;
    s.first.push(started.elapsed());
    for _ in 1..invocations {
        api.invoke((subject.event)()).await;
    }
    s.rss_after_kib.push(status_kib(pid, "VmRSS:").unwrap_or_default());
    s.peak_kib.push(status_kib(pid, "VmHWM:").unwrap_or_default());
    child.kill().await?;
    Ok(())
}

fn percentile(values: &[Duration], p: f64) -> Duration {
    let mut v = values.to_vec();
    v.sort();
    let index = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(index).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 / 1024.0)
}

pub async fn run(binaries: &Path, runs: usize, invocations: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let keys_file = dir.path().join("keys.json");
    let mut material = portal_core::security::keys::KeyMaterial::generate()?;
    let client_key = portal_core::buypass::keys::Es256Key::generate()?;
    material.extra.insert("buypass_client_key".into(), client_key.encoded());
    std::fs::write(&keys_file, material.to_json())?;
    let ca = portal_dev::ca::DevCa::generate("Bench CA").map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let secrets = match Emulator::from_env() {
        Some(emulator) => Some((emulator.endpoint.clone(), key_secrets(&emulator, &material).await?)),
        None => None,
    };
    let fixture = Fixture {
        keys_file,
        ca_pem: ca.certificate_pem(),
        secrets,
        _dir: dir,
    };

    let mut timing_rows = Vec::new();
    let mut memory_rows = Vec::new();
    let mut size_rows = Vec::new();
    let mut floor_init = None;
    let subjects = subjects();
    for subject in &subjects {
        let binary = binaries.join(subject.name);
        anyhow::ensure!(
            binary.exists(),
            "{} is missing: build the functions first",
            binary.display()
        );
    }
    // Round-robin: each round starts every binary once, so a machine that gets busier or
    // quieter during the run shifts the floor and the functions alike, not one of them.
    // The Secrets Manager variant runs in the same rounds, so it is compared with the same floor.
    let mut all_samples: Vec<Samples> = subjects.iter().map(|_| Samples::default()).collect();
    let mut secret_samples: Vec<Samples> = subjects.iter().map(|_| Samples::default()).collect();
    for _ in 0..runs {
        for (subject, samples) in subjects.iter().zip(all_samples.iter_mut()) {
            let binary = binaries.join(subject.name);
            one_run(&binary, subject, &fixture, invocations, KeySource::File, samples).await?;
        }
        if fixture.secrets.is_some() {
            for (subject, samples) in subjects.iter().zip(secret_samples.iter_mut()) {
                if subject.function.is_some() {
                    let binary = binaries.join(subject.name);
                    one_run(&binary, subject, &fixture, 1, KeySource::SecretsManager, samples).await?;
                }
            }
        }
    }
    let mut secret_rows = Vec::new();
    for ((subject, samples), with_secrets) in subjects.iter().zip(all_samples).zip(&secret_samples) {
        let binary = binaries.join(subject.name);
        let init_median = percentile(&samples.init, 0.5);
        let floor = *floor_init.get_or_insert(init_median);
        timing_rows.push(vec![
            subject.name.to_owned(),
            ms(init_median),
            ms(percentile(&samples.init, 0.95)),
            ms(percentile(&samples.first, 0.5)),
            ms(percentile(&samples.first, 0.95)),
            format!("{:.2}×", init_median.as_secs_f64() / floor.as_secs_f64().max(1e-9)),
        ]);
        if let Some(function) = subject.function.filter(|_| !with_secrets.init.is_empty()) {
            let secret_init = percentile(&with_secrets.init, 0.5);
            secret_rows.push(vec![
                subject.name.to_owned(),
                portal_lambda::config::keys_of(function).len().to_string(),
                ms(init_median),
                ms(secret_init),
                ms(percentile(&with_secrets.init, 0.95)),
                ms(secret_init.saturating_sub(init_median)),
                ms(percentile(&with_secrets.first, 0.5)),
                format!("{:.2}×", secret_init.as_secs_f64() / floor.as_secs_f64().max(1e-9)),
            ]);
        }
        let max = |v: &[u64]| v.iter().copied().max().unwrap_or_default();
        memory_rows.push(vec![
            subject.name.to_owned(),
            mb(max(&samples.rss_init_kib)),
            mb(max(&samples.rss_after_kib)),
            mb(max(&samples.peak_kib)),
        ]);
        size_rows.push(size_row(subject.name, &binary));
    }
    table(
        &format!("Cold start over {runs} runs (target: init ≤ 2× the floor)"),
        &[
            "function",
            "init median",
            "init p95",
            "first response median",
            "first response p95",
            "init / floor",
        ],
        &timing_rows,
    );
    if secret_rows.is_empty() {
        println!("\n(Cold start with Secrets Manager skipped: no AWS emulator; scripts/bench.sh starts one.)");
    } else {
        table(
            &format!(
                "Cold start with the key secrets from Secrets Manager (the AWS emulator on loopback), same {runs} rounds"
            ),
            &[
                "function",
                "secrets read",
                "init, key file",
                "init, Secrets Manager",
                "p95",
                "added",
                "first response median",
                "init / floor",
            ],
            &secret_rows,
        );
    }
    table(
        &format!("Memory (RSS after init, after {invocations} invocations, peak; target ≤ 30 MB, no growth)"),
        &["function", "after init", "after invocations", "peak"],
        &memory_rows,
    );
    table(
        "Sizes (target: zip ≤ 6 MB)",
        &["function", "binary", "zip (deflate)"],
        &size_rows,
    );
    Ok(())
}

fn size_row(name: &str, binary: &Path) -> Vec<String> {
    let binary_size = std::fs::metadata(binary).map(|m| m.len()).unwrap_or_default();
    let zip = lambda_zip(name)
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| format!("{:.2} MB", m.len() as f64 / 1e6))
        .unwrap_or_else(|| "(run scripts/build-lambdas.sh)".into());
    vec![name.to_owned(), format!("{:.2} MB", binary_size as f64 / 1e6), zip]
}

/// The arm64 zip cargo-lambda builds (`target/lambda/<name>/bootstrap.zip`), if present.
fn lambda_zip(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/lambda")
        .join(name)
        .join("bootstrap.zip");
    path.exists().then_some(path)
}

/// One secret per key purpose in the emulator, holding the document `infra/` and
/// `portal-admin keys` would store there.
async fn key_secrets(
    emulator: &Emulator,
    material: &portal_core::security::keys::KeyMaterial,
) -> anyhow::Result<BTreeMap<KeyPurpose, String>> {
    let client = aws_sdk_secretsmanager::Client::new(&emulator.sdk_config().await);
    let mut parts = KeyParts::from_material(material)?;
    parts.origin_verify = Some(vec![KeyParts::generate_origin_secret()]);
    let mut secrets = BTreeMap::new();
    for (purpose, document) in parts.documents() {
        let name = unique_name(&format!("bench-{}", purpose.name()));
        client
            .create_secret()
            .name(&name)
            .secret_string(document)
            .send()
            .await?;
        secrets.insert(purpose, name);
    }
    Ok(secrets)
}
