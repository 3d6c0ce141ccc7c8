//! The brute-forcer running alongside the load: credential stuffing, password guessing on one
//! victim, then code guessing on every challenge it can open. Each part checks that the
//! portal evaluated no more guesses than the policy allows.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use e2e::PASSWORD;
use futures::stream::{self, StreamExt};

use crate::client::{Answer, Client, Phone, Record};
use crate::limits::Limits;

/// Where the brute-forcer's three personas come from.
pub(crate) const STUFFER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
pub(crate) const CODE_GUESSER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
pub(crate) const PASSWORD_GUESSER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);

pub(crate) const VICTIM: &str = "load-victim";
pub(crate) const VICTIM_MOBILE: &str = "+4790000001";

/// What the brute-forcer achieved, for the checks against the store.
#[derive(Debug, Default)]
pub(crate) struct Attack {
    /// Password failures the portal evaluated (401) on the victim.
    pub(crate) victim_password_failures: usize,
    /// Logins of the victim that opened a challenge (each sent an SMS).
    pub(crate) victim_logins: usize,
    /// Logins of the victim that passed the password step (with or without a challenge).
    pub(crate) victim_password_ok: usize,
    /// Wrong codes the portal evaluated (400 `invalid_code`), per challenge.
    pub(crate) evaluated_codes: BTreeMap<String, usize>,
    /// Wrong codes answered 429 `code_entry_locked` (refused, or compared as the last ones).
    pub(crate) locked_answers: usize,
}

/// Password attempts the portal evaluated (401) rather than refused unevaluated (429); any
/// other answer is a failure.
fn evaluated_failures(answers: Vec<Result<Answer>>, record: &Record, what: &str) -> Result<usize> {
    let mut evaluated = 0;
    for answer in answers {
        let answer = answer?;
        match answer.status {
            401 => evaluated += 1,
            429 => {}
            other => record.fail(format!("{what} got {other} {}", answer.body)),
        }
    }
    Ok(evaluated)
}

/// Credential stuffing from one address: unknown names, wrong passwords, 8 at a time.
pub(crate) async fn stuff_credentials(base: &str, record: &Arc<Record>) -> Result<()> {
    let limits = Limits::of_policy();
    let client = Client::new(base, STUFFER, record)?;
    let attempts = limits.ip_failures_per_window + 10;
    let answers: Vec<Result<Answer>> = stream::iter(0..attempts)
        .map(|i| {
            let client = &client;
            async move { client.login(&format!("nobody-{i:03}"), "Sommer2024!").await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let evaluated = evaluated_failures(answers, record, "credential stuffing")?;
    record.check(evaluated <= limits.ip_failures_per_window, || {
        format!(
            "{evaluated} password failures evaluated from one address (limit {})",
            limits.ip_failures_per_window
        )
    });
    record.check(evaluated > 0, || {
        "the portal refused every credential-stuffing attempt unevaluated".into()
    });
    println!("  credential stuffing: {attempts} attempts, {evaluated} evaluated, the rest 429");
    Ok(())
}

/// Concurrent password guessing on the victim from one address.
pub(crate) async fn guess_passwords(base: &str, record: &Arc<Record>, attack: &Mutex<Attack>) -> Result<()> {
    let limits = Limits::of_policy();
    let client = Client::new(base, PASSWORD_GUESSER, record)?;
    let started = Instant::now();
    let answers: Vec<Result<Answer>> = stream::iter(0..24)
        .map(|i| {
            let client = &client;
            async move { client.login(VICTIM, &format!("gjett passord nummer {i}")).await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let evaluated = evaluated_failures(answers, record, "password guessing")?;
    let allowed = limits.failures_before_backoff + limits.backoff_windows(elapsed);
    record.check(evaluated <= allowed, || {
        format!("{evaluated} wrong passwords evaluated for one name in {elapsed:?} (at most {allowed})")
    });
    println!("  password guessing: 24 attempts in {elapsed:.1?}, {evaluated} evaluated (at most {allowed})");
    if let Ok(mut a) = attack.lock() {
        a.victim_password_failures = evaluated;
    }
    Ok(())
}

/// Opens as many challenges for the victim as the portal allows (the attacker has the
/// password), then guesses codes on all of them at once, never the right one, then tries the
/// right ones: none may open a session.
pub(crate) async fn guess_codes(phone: &Phone, record: &Arc<Record>, attack: &Mutex<Attack>) -> Result<()> {
    let limits = Limits::of_policy();
    let client = Client::new(&phone.base, CODE_GUESSER, record)?;
    let mut challenges: Vec<(String, String)> = Vec::new();
    let mut password_ok = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while challenges.len() < limits.sms_per_account_hour + 2 && Instant::now() < deadline {
        let login = client.login(VICTIM, PASSWORD).await?;
        match (login.status, login.body["code"].as_str()) {
            (200, _) => {
                password_ok += 1;
                let id = login.body["challenge_id"].as_str().unwrap_or_default().to_owned();
                let code = phone.code(VICTIM_MOBILE).await?;
                challenges.push((id, code));
            }
            // The password guesser's backoff: wait it out like a patient attacker.
            (429, Some("too_many_attempts")) => {
                tokio::time::sleep(Duration::from_secs(login.retry_after.unwrap_or(1).min(20))).await;
            }
            (429, Some("sms_limit")) => {
                password_ok += 1;
                break;
            }
            (status, _) => bail!("victim login answered {status} {}", login.body),
        }
    }
    let logins = challenges.len();
    record.check(logins <= limits.sms_per_account_hour, || {
        format!("{logins} SMS codes sent to one account within the hour")
    });
    // Every challenge, one wrong code more than it allows each, 16 in flight.
    let guesses: Vec<(String, String)> = challenges
        .iter()
        .flat_map(|(id, real)| {
            (0..=limits.codes_per_challenge).map(move |k| {
                let guess = (real.parse::<u32>().unwrap_or(0) + 1 + k as u32) % 1_000_000;
                (id.clone(), format!("{guess:06}"))
            })
        })
        .collect();
    let answers: Vec<(String, Result<Answer>)> = stream::iter(guesses)
        .map(|(id, code)| {
            let client = &client;
            async move { (id.clone(), client.verify(&id, &code).await) }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut per_challenge: BTreeMap<String, usize> = BTreeMap::new();
    let mut locked_answers = 0;
    for (id, answer) in answers {
        let answer = answer?;
        match (answer.status, answer.body["code"].as_str()) {
            (400, Some("invalid_code")) => *per_challenge.entry(id).or_default() += 1,
            (429, Some("code_entry_locked")) => locked_answers += 1,
            (410, _) => {}
            (status, _) => record.fail(format!("a wrong code answered {status} {}", answer.body)),
        }
    }
    let total: usize = per_challenge.values().sum();
    for (id, n) in &per_challenge {
        record.check(*n <= limits.codes_per_challenge, || {
            format!("challenge {id}: {n} wrong codes evaluated")
        });
    }
    record.check(total <= limits.codes_per_account_hour, || {
        format!(
            "{total} wrong codes evaluated for one account within the hour (limit {})",
            limits.codes_per_account_hour
        )
    });
    // The right codes, now that code entry is locked: still no session.
    for (id, real) in &challenges {
        let answer = client.verify(id, real).await?;
        record.check(answer.status != 200, || {
            format!("the right code opened a session after {total} wrong ones")
        });
        record.check([410, 429].contains(&answer.status), || {
            format!(
                "the right code after the lock answered {} {}",
                answer.status, answer.body
            )
        });
    }
    let login = client.login(VICTIM, PASSWORD).await?;
    record.check(login.status == 429 && login.body["code"] == "code_entry_locked", || {
        format!("a login of the locked account answered {} {}", login.status, login.body)
    });
    if login.status == 429 {
        password_ok += 1;
    }
    println!(
        "  code guessing: {logins} challenges opened, {} guesses, {total} evaluated",
        challenges.len() * (limits.codes_per_challenge + 1)
    );
    if let Ok(mut a) = attack.lock() {
        a.victim_logins = logins;
        a.victim_password_ok = password_ok;
        a.evaluated_codes = per_challenge;
        a.locked_answers = locked_answers;
    }
    Ok(())
}
