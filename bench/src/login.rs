//! Login throughput: the full `POST /v1/auth/login` handler (routing, JSON, throttle reads,
//! argon2id verify, SQLite writes, challenge, SMS outbox, audit) on one core, against the bare
//! argon2id verification rate at the same parameters, measured back to back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use portal_core::app::{App, AppParts};
use portal_core::clock::SystemClock;
use portal_core::config::{Policy, Settings};
use portal_core::domain::{MobileNumber, Password, Username};
use portal_core::security::key_parts::KeyParts;
use portal_core::security::passwords::{hash_sync, verify_sync_in, HashParams};
use portal_core::services::admin::NewAccount;
use portal_core::sms::outbox::OutboxSms;
use portal_core::store::sqlite::SqliteStore;
use portal_core::store::ItemStore;
use tower::ServiceExt;

use crate::report::table;

const PASSWORD: &str = "korrekt hest batteri stift";
const ACCOUNTS: usize = 50;

/// Verifications per second of the bare hash, single thread, at its fastest: one thread,
/// working memory allocated once and reused (as the login path does too).
fn bare_rate(params: HashParams, seconds: f64) -> anyhow::Result<(f64, Duration)> {
    let password = Password::new(PASSWORD.into());
    let hash = hash_sync(params, &password).map_err(anyhow::Error::msg)?;
    let mut memory = Vec::new();
    let started = Instant::now();
    let mut n = 0u32;
    while started.elapsed().as_secs_f64() < seconds || n < 3 {
        std::hint::black_box(verify_sync_in(params, &password, &hash, &mut memory));
        n += 1;
    }
    let elapsed = started.elapsed();
    Ok((f64::from(n) / elapsed.as_secs_f64(), elapsed / n))
}

/// Successful logins per second through the router, one at a time.
async fn login_rate(params: HashParams, seconds: f64) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::open(&dir.path().join("bench.db"))?);
    let clock = Arc::new(SystemClock);
    let sms = Arc::new(OutboxSms::new(store.clone(), clock.clone(), false));
    // The per-account SMS caps would stop a benchmark that logs in thousands of times.
    let policy = Policy {
        sms_per_account_hour: usize::MAX / 2,
        sms_per_destination_day: usize::MAX / 2,
        ..Default::default()
    };
    let app = App::build(AppParts {
        store,
        sms,
        clock,
        keys: KeyParts::generate()?,
        settings: Settings::default(),
        policy,
        hash_params: params,
    })?;
    for i in 0..ACCOUNTS {
        app.create_account(NewAccount {
            username: Username::parse(&format!("bruker{i}"))?,
            name: "Bench".into(),
            email: None,
            mobile: MobileNumber::parse(&format!("+479{i:07}"))?,
            home_office: true,
            password: portal_core::services::admin::InitialPassword::Permanent(Password::new(PASSWORD.into())),
        })
        .await?;
    }
    let router = portal_http::routes::with_common_layers(portal_http::routes::app_router(app));
    let started = Instant::now();
    let mut n = 0usize;
    while started.elapsed().as_secs_f64() < seconds || n < 3 {
        let body = serde_json::json!({ "username": format!("bruker{}", n % ACCOUNTS), "password": PASSWORD });
        let request = Request::post("/v1/auth/login")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))?;
        let response = router.clone().oneshot(request).await?;
        anyhow::ensure!(response.status() == 200, "login answered {}", response.status());
        n += 1;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

pub async fn run(seconds: f64) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for (label, params) in [
        ("ours: argon2id m=19 MiB t=2 p=1", HashParams::PRODUCTION),
        ("Keycloak default: m=7 MiB t=5 p=1", HashParams::KEYCLOAK_DEFAULT),
    ] {
        let (bare, per_hash) = bare_rate(params, seconds)?;
        let logins = login_rate(params, seconds).await?;
        rows.push(vec![
            label.to_owned(),
            format!("{:.1} ms", per_hash.as_secs_f64() * 1e3),
            format!("{bare:.1}/s"),
            format!("{logins:.1}/s"),
            format!("{:.1} %", 100.0 * logins / bare),
        ]);
    }
    table(
        "Login throughput, one core (target: login ≥ 90 % of the bare hash rate)",
        &["parameters", "one hash", "bare hash", "full login", "login / hash"],
        &rows,
    );
    Ok(())
}
