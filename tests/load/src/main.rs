//! `portal-load`: a bounded load and fault test of the real `portal-local` binary, on SQLite and
//! on DynamoDB + SNS in the AWS emulator.
//!
//! Per backend:
//! 1. Load: `--users` distinct accounts each do `--rounds` of login → code from the SMS →
//!    verify → account → refresh → account, all at once, from 127.0.0.1. Meanwhile a
//!    brute-forcer works from other loopback addresses (the per-address limit is per source
//!    address, so it cannot lock the real users out): credential stuffing on unknown names,
//!    concurrent password guessing on one victim, then concurrent code guessing on every
//!    challenge it can open for that victim.
//!    Asserted: every legitimate step succeeds; no 5xx anywhere; the victim gets no session and
//!    no more evaluated guesses than DESIGN §3 allows (30 password failures per address, 5
//!    consecutive per name before the backoff, 5 codes per challenge, 20 per account per hour);
//!    afterwards the store holds exactly the sessions, audit events and SMS the answers imply.
//! 2. Fault: more users sign in while `portal-local` is killed with SIGKILL; the SQLite file
//!    passes `PRAGMA integrity_check`, and after a restart on the same data every session that
//!    got its 200 before the kill still works (account, refresh).
//!
//! Request counts are fixed and the whole run has a time limit; it stops by itself. Latency
//! and throughput are reported, not asserted. Loopback only.

mod attacker;
mod client;
mod limits;
mod phases;
mod records;
mod report;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use clap::Parser;
use e2e::backend::Backend;
use e2e::Portal;

use crate::attacker::{VICTIM, VICTIM_MOBILE};
use crate::client::Record;
use crate::limits::Limits;
use crate::phases::{create_users, kill_phase, load_phase, user};

#[derive(Parser, Debug, Clone)]
#[command(about = "Bounded load and fault test of portal-local (loopback only)")]
pub(crate) struct Args {
    /// Legitimate users signing in at the same time.
    #[arg(long, default_value_t = 40)]
    pub(crate) users: usize,
    /// Sign-ins per user (each is 5 API requests; at most the policy's SMS per account and hour).
    #[arg(long, default_value_t = 2)]
    pub(crate) rounds: usize,
    /// Users in flight at once on SQLite (default: all of them).
    #[arg(long)]
    pub(crate) concurrency: Option<usize>,
    /// Users in flight at once on DynamoDB. The emulator serves one request at a time and
    /// copies the whole table on every transaction (each sign-in has one), so beyond a few in
    /// flight the latency measured is the emulator's queue.
    #[arg(long, default_value_t = 10)]
    pub(crate) dynamodb_concurrency: usize,
    /// Sign-ins per user on DynamoDB (the emulator's cost per transaction grows with the
    /// table, so its run stays smaller).
    #[arg(long, default_value_t = 1)]
    pub(crate) dynamodb_rounds: usize,
    /// Users signing in while the portal is killed.
    #[arg(long, default_value_t = 20)]
    pub(crate) kill_users: usize,
    /// `sqlite`, `dynamodb` or `both` (default: both when the AWS emulator is running).
    #[arg(long)]
    pub(crate) backend: Option<String>,
    /// The whole run must finish within this many seconds (the DynamoDB half, on the
    /// emulator, takes most of it: about 3 minutes on a 2-core machine).
    #[arg(long, default_value_t = 480)]
    pub(crate) time_limit_secs: u64,
}

async fn run_backend(backend: &Backend, args: &Args) -> Result<Vec<String>> {
    let label = match backend {
        Backend::Local => "SQLite",
        Backend::Aws { .. } => "DynamoDB (emulator)",
    };
    println!("== {label}");
    let record = Arc::new(Record::default());
    // SMS to the outbox in the store on both backends: the emulator's SMS log can only be read
    // by dumping all its state, which would make the readers, not the portal, the load.
    let portal = Portal::builder().backend(backend).sms_outbox().start()?;
    let mut users: Vec<(String, String)> = (0..args.users).map(user).collect();
    users.push((VICTIM.to_owned(), VICTIM_MOBILE.to_owned()));
    let setup = Instant::now();
    create_users(&portal, &users)?;
    println!("  {} accounts created in {:.1?}", users.len(), setup.elapsed());
    load_phase(&portal, args, &record).await?;
    let fault = Arc::new(Record::default());
    let killing = Instant::now();
    kill_phase(portal, args, &fault).await?;
    println!("  fault phase in {:.1?}", killing.elapsed());
    let mut failures = record.failures.lock().map(|f| f.clone()).unwrap_or_default();
    failures.extend(fault.failures.lock().map(|f| f.clone()).unwrap_or_default());
    Ok(failures.into_iter().map(|f| format!("{label}: {f}")).collect())
}

fn backends(args: &Args) -> Result<Vec<Backend>> {
    let endpoint = std::env::var("PORTAL_TEST_AWS_ENDPOINT").ok();
    let aws = || -> Result<Backend> {
        Ok(Backend::Aws {
            endpoint: endpoint.clone().ok_or_else(|| {
                anyhow!("the DynamoDB run needs PORTAL_TEST_AWS_ENDPOINT (scripts/test.sh starts the emulator)")
            })?,
        })
    };
    match args.backend.as_deref() {
        Some("sqlite") => Ok(vec![Backend::Local]),
        Some("dynamodb") => Ok(vec![aws()?]),
        Some("both") => Ok(vec![Backend::Local, aws()?]),
        Some(other) => bail!("--backend {other}: expected sqlite, dynamodb or both"),
        None if endpoint.is_some() => Ok(vec![Backend::Local, aws()?]),
        None if std::env::var("PORTAL_REQUIRE_AWS_EMULATOR").as_deref() == Ok("1") => {
            bail!("PORTAL_REQUIRE_AWS_EMULATOR=1 but PORTAL_TEST_AWS_ENDPOINT is not set")
        }
        None => {
            println!("(no AWS emulator: SQLite only; scripts/test.sh runs both)");
            Ok(vec![Backend::Local])
        }
    }
}

fn main() -> Result<()> {
    // The emulator on a 2-core machine shared with builds can take seconds per call under
    // load, and it copies its table on every transaction, so after the load phase ten
    // concurrent sign-ins can queue for over 30 s (a CI run saw 503s there). The portals this
    // test starts wait for it rather than answer 503, up to just under the client's 120 s per
    // request (before any thread exists, so the environment is ours to change).
    if std::env::var_os("PORTAL_AWS_OPERATION_TIMEOUT_SECS").is_none() {
        std::env::set_var("PORTAL_AWS_OPERATION_TIMEOUT_SECS", "100");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> Result<()> {
    let args = Args::parse();
    let sms_per_hour = Limits::of_policy().sms_per_account_hour;
    if args.rounds.max(args.dynamodb_rounds) > sms_per_hour {
        bail!("--rounds above {sms_per_hour} would hit the SMS limit by design");
    }
    let started = Instant::now();
    let limit = Duration::from_secs(args.time_limit_secs);
    let run = async {
        let mut failures = Vec::new();
        for backend in backends(&args)? {
            failures.extend(run_backend(&backend, &args).await?);
        }
        Ok::<_, anyhow::Error>(failures)
    };
    let failures = tokio::time::timeout(limit, run)
        .await
        .map_err(|_| anyhow!("the load test did not finish within {limit:?}"))??;
    println!("total {:.1?}", started.elapsed());
    if failures.is_empty() {
        println!("load test: 1 passed, 0 failed");
        Ok(())
    } else {
        for f in &failures {
            eprintln!("  {f}");
        }
        bail!("load test: {} failures", failures.len())
    }
}
