//! The two phases run on each backend: the load with the brute-forcer alongside, then SIGKILL
//! while users sign in and a restart on the same data.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use e2e::Portal;
use futures::stream::{self, StreamExt};

use crate::attacker::{guess_codes, guess_passwords, stuff_credentials, Attack};
use crate::client::{legit_round, sign_in, Client, Phone, Record, Session};
use crate::records::{check_records, open_store, sessions_of};
use crate::report::report;
use crate::Args;

/// Legitimate users come from this many addresses (127.0.1.x): a few people per address, as
/// from homes and small offices.
pub(crate) const USER_ADDRESSES: u8 = 10;

pub(crate) fn user_clients(base: &str, record: &Arc<Record>) -> Result<Vec<Client>> {
    (1..=USER_ADDRESSES)
        .map(|i| Client::new(base, Ipv4Addr::new(127, 0, 1, i), record))
        .collect()
}

pub(crate) fn user(i: usize) -> (String, String) {
    (format!("load-user-{i:03}"), format!("+47410{i:05}"))
}

pub(crate) fn kill_user(i: usize) -> (String, String) {
    (format!("kill-user-{i:03}"), format!("+47420{i:05}"))
}

/// Creates accounts with the operators' tool, four at a time.
pub(crate) fn create_users(portal: &Portal, users: &[(String, String)]) -> Result<()> {
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|w| {
                    scope.spawn(move || -> Result<()> {
                        for (name, mobile) in users.iter().skip(w).step_by(4) {
                            portal.create_user(name, mobile)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            workers
                .into_iter()
                .try_for_each(|w| w.join().map_err(|_| anyhow!("account creation panicked"))?)
        })
    })
}

pub(crate) fn rounds_on(portal: &Portal, args: &Args) -> usize {
    match portal.aws() {
        None => args.rounds,
        Some(_) => args.dynamodb_rounds,
    }
}

/// Phase 1: the load with the brute-forcer alongside.
pub(crate) async fn load_phase(portal: &Portal, args: &Args, record: &Arc<Record>) -> Result<()> {
    let in_flight = match portal.aws() {
        None => args.concurrency.unwrap_or(args.users),
        Some(_) => args.dynamodb_concurrency,
    }
    .max(1);
    let rounds = rounds_on(portal, args);
    println!("  {} users, {rounds} sign-ins each, {in_flight} in flight", args.users);
    let clients = user_clients(&portal.base, record)?;
    let phone = Phone::of(portal, record);
    let attack = Mutex::new(Attack::default());
    let started = Instant::now();
    let legit = stream::iter(0..args.users)
        .map(|i| {
            let (client, phone) = (&clients[i % clients.len()], &phone);
            async move {
                let (name, mobile) = user(i);
                for _ in 0..rounds {
                    if let Err(e) = legit_round(client, phone, &name, &mobile).await {
                        client.record.fail(format!("{e:#}"));
                        return;
                    }
                }
            }
        })
        .buffer_unordered(in_flight)
        .collect::<Vec<()>>();
    let attacker = async {
        stuff_credentials(&portal.base, record).await?;
        guess_passwords(&portal.base, record, &attack).await?;
        guess_codes(&phone, record, &attack).await
    };
    let (_, attacked) = tokio::join!(legit, attacker);
    if let Err(e) = attacked {
        record.fail(format!("attacker: {e:#}"));
    }
    report("load", record, started.elapsed());
    let attack = attack.into_inner().map_err(|_| anyhow!("poisoned"))?;
    let checking = Instant::now();
    check_records(portal, args, &attack, record).await?;
    println!("  records checked in {:.1?}", checking.elapsed());
    Ok(())
}

/// `PRAGMA integrity_check` on the SQLite file, with nothing else running.
pub(crate) fn integrity_check(db: &Path) -> Result<String> {
    let conn = rusqlite::Connection::open(db)?;
    let result: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    Ok(result)
}

/// Phase 2: SIGKILL while users sign in; then every committed session must still work.
pub(crate) async fn kill_phase(mut portal: Portal, args: &Args, record: &Arc<Record>) -> Result<()> {
    let users: Vec<(String, String)> = (0..args.kill_users).map(kill_user).collect();
    create_users(&portal, &users)?;
    let committed: Arc<Mutex<Vec<Session>>> = Arc::default();
    let clients = Arc::new(user_clients(&portal.base, record)?);
    let phone = Phone::of(&portal, record);
    let mut tasks = Vec::new();
    for i in 0..args.kill_users {
        let (clients, phone, committed) = (clients.clone(), phone.clone(), committed.clone());
        tasks.push(tokio::spawn(async move {
            let (name, mobile) = kill_user(i);
            // Sign in over and over until the portal goes away (at most 5 times).
            let client = &clients[i % clients.len()];
            for _ in 0..5 {
                match sign_in(client, &phone, &name, &mobile).await {
                    Ok(session) => {
                        if let Ok(mut c) = committed.lock() {
                            c.push(session);
                        }
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    // Kill once half the users have a session and the rest are mid-flight.
    let wait_until = Instant::now() + Duration::from_secs(60);
    while committed.lock().map(|c| c.len()).unwrap_or(0) < args.kill_users / 2 && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    portal.kill();
    let sessions: Vec<Session> = committed.lock().map(|c| c.clone()).unwrap_or_default();
    println!("  killed with {} committed sessions", sessions.len());
    for task in tasks {
        let _ = task.await;
    }
    if portal.aws().is_none() {
        let verdict = integrity_check(&portal.data_dir.join("portal.db"))?;
        record.check(verdict == "ok", || format!("integrity_check after SIGKILL: {verdict}"));
    }
    let portal = portal.start_again()?;
    let client = Client::new(&portal.base, Ipv4Addr::new(127, 0, 1, 1), record)?;
    let mut refreshed = 0;
    for session in &sessions {
        let account = client.account(&session.access_token).await?;
        record.check(
            account.status == 200 && account.body["username"] == session.username.as_str(),
            || {
                format!(
                    "{}: a committed session answered {} after the restart",
                    session.username, account.status
                )
            },
        );
        let refresh = client.refresh(&session.cookie).await?;
        record.check(refresh.status == 200, || {
            format!(
                "{}: refresh after the restart answered {} {}",
                session.username, refresh.status, refresh.body
            )
        });
        if refresh.status == 200 {
            refreshed += 1;
        }
    }
    println!(
        "  after restart: {refreshed}/{} committed sessions refreshed",
        sessions.len()
    );
    if portal.aws().is_none() {
        let store = open_store(&portal).await?;
        for session in &sessions {
            let stored = sessions_of(&store, &session.username).await?;
            record.check(stored >= 1, || format!("{}: committed session lost", session.username));
        }
    }
    Ok(())
}
