//! Races the services must win on every backend, written once and run against SQLite (below)
//! and DynamoDB (the emulator tests): what an attacker or a double-clicking user gets when the
//! same code, refresh token or counter is hit many times at once.
//!
//! Each check uses its own account and number, so the suite can share a store with other tests.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use portal_core::app::{App, AppParts, SharedApp};
use portal_core::clock::{Clock, ManualClock, SystemClock};
use portal_core::config::{Policy, Settings};
use portal_core::domain::{MobileNumber, OneTimeCode, Password, RecoveryCode, Username};
use portal_core::error::ServiceError;
use portal_core::i18n::Lang;
use portal_core::security::passwords::HashParams;
use portal_core::services::admin::NewAccount;
use portal_core::services::limits::Limit;
use portal_core::sms::messages;
use portal_core::sms::{SmsError, SmsReceipt, SmsSender};
use portal_core::store::keys::{account_pk, PROFILE_SK, SESSION_INDEX_PREFIX};
use portal_core::store::records::ChallengePurpose;
use portal_core::store::{Condition, ItemStore};

/// How many callers race in each check. Below the repositories' retry budget, so every loser
/// of a race ends in a decided outcome rather than "gave up".
const RACERS: usize = 10;

const PASSWORD: &str = "korrekt hest batteri stift";

/// Runs every check; panics with the name of the first that fails.
pub async fn run_all(store: Arc<dyn ItemStore>) {
    parallel_verifies_of_the_right_code_open_exactly_one_session(store.clone()).await;
    parallel_refreshes_with_one_token_have_one_winner_and_revoke_the_session(store.clone()).await;
    parallel_rate_limit_hits_are_all_counted(store.clone()).await;
    parallel_wrong_codes_across_challenges_get_no_more_tries_than_the_hourly_limit(store.clone()).await;
    parallel_wrong_app_codes_get_no_more_tries_than_the_hourly_limit(store.clone()).await;
    parallel_uses_of_one_recovery_code_open_exactly_one_session(store.clone()).await;
    parallel_wrong_passwords_get_no_more_tries_than_the_backoff_allows(store.clone()).await;
    parallel_wrong_passwords_from_one_address_get_no_more_tries_than_its_limit(store.clone()).await;
    the_account_language_is_stored_and_records_without_one_read_as_bokmal(store).await;
}

/// The phone of these checks: remembers what was sent.
#[derive(Default)]
struct Phone(Mutex<Vec<(String, String)>>);

#[async_trait]
impl SmsSender for Phone {
    async fn publish(&self, to: &MobileNumber, body: &str) -> Result<SmsReceipt, SmsError> {
        self.0
            .lock()
            .map_err(|_| SmsError::Unavailable("poisoned".into()))?
            .push((to.as_e164().to_owned(), body.to_owned()));
        Ok(SmsReceipt::default())
    }
}

impl Phone {
    fn last_code(&self, to: &MobileNumber) -> OneTimeCode {
        let sent = self.0.lock().expect("phone lock");
        let (_, body) = sent
            .iter()
            .rev()
            .find(|(n, _)| n == to.as_e164())
            .expect("an SMS was sent to the number");
        let digits: String = body
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .expect("the SMS holds a 6-digit code")
            .to_owned();
        OneTimeCode::parse(&digits).expect("valid code")
    }
}

fn app(store: Arc<dyn ItemStore>, phone: Arc<Phone>) -> SharedApp {
    app_with(store, phone, Policy::default(), ManualClock::new(SystemClock.now()))
}

fn app_with(store: Arc<dyn ItemStore>, phone: Arc<Phone>, policy: Policy, clock: ManualClock) -> SharedApp {
    let clock: Arc<dyn Clock> = Arc::new(clock);
    App::build(AppParts {
        store,
        sms: phone,
        clock,
        keys: portal_core::security::key_parts::KeyParts::generate().expect("keys"),
        settings: Settings::default(),
        policy,
        // Password hashing is not what these checks are about.
        hash_params: HashParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
    })
    .expect("app")
}

/// A fresh account with a number nobody else in the store uses.
async fn account(app: &App, tag: &str) -> (Username, MobileNumber) {
    let suffix = portal_core::security::random_token(6).to_ascii_lowercase();
    let suffix: String = suffix.chars().filter(char::is_ascii_alphanumeric).collect();
    let username = Username::parse(&format!("race-{tag}-{suffix}")).expect("username");
    let national = 40_000_000 + rand::random::<u32>() % 10_000_000;
    let mobile = MobileNumber::parse(&format!("+47{national}")).expect("mobile");
    app.create_account(NewAccount {
        username: username.clone(),
        name: "Race Test".into(),
        email: None,
        mobile: mobile.clone(),
        home_office: false,
        password: portal_core::services::admin::InitialPassword::Permanent(Password::new(PASSWORD.into())),
    })
    .await
    .expect("account created");
    (username, mobile)
}

/// Not a race: the optional `language` of the account record (no migration) on every backend.
async fn the_account_language_is_stored_and_records_without_one_read_as_bokmal(store: Arc<dyn ItemStore>) {
    let phone = Arc::new(Phone::default());
    let app = app(store, phone.clone());
    let (username, mobile) = account(&app, "lang").await;
    assert_eq!(
        app.account(&username).await.expect("account").language,
        Lang::Nb,
        "new accounts are bokmål"
    );
    app.set_language(&username, Lang::Nn).await.expect("language set");
    assert_eq!(
        app.account(&username).await.expect("account").language,
        Lang::Nn,
        "language stored"
    );
    app.login(username.as_str(), &Password::new(PASSWORD.into()), false, None)
        .await
        .expect("login");
    let code = phone.last_code(&mobile);
    let last = phone.0.lock().expect("phone lock").last().cloned().expect("an SMS");
    assert_eq!(
        last.1,
        messages::code_message(
            &portal_core::store::records::ChallengePurpose::Login { remember_me: false },
            Lang::Nn,
            &code,
            app.webotp_host.as_ref()
        ),
        "the login code in the account's language"
    );

    // A record written before accounts had a language.
    let items = app.repo.items();
    let mut item = items
        .get(&account_pk(&username), PROFILE_SK, app.now())
        .await
        .expect("read")
        .expect("the account record");
    let data = item.data.as_object_mut().expect("an object");
    assert_eq!(
        data.remove("language"),
        Some(serde_json::json!("nn")),
        "stored as its tag"
    );
    items.put(item, Condition::Always, app.now()).await.expect("write");
    assert_eq!(
        app.account(&username).await.expect("account").language,
        Lang::Nb,
        "no language reads as bokmål"
    );
}

async fn parallel_verifies_of_the_right_code_open_exactly_one_session(store: Arc<dyn ItemStore>) {
    let phone = Arc::new(Phone::default());
    let app = app(store, phone.clone());
    let (username, mobile) = account(&app, "verify").await;
    let issued = app
        .login(username.as_str(), &Password::new(PASSWORD.into()), false, None)
        .await
        .expect("login");
    let code = phone.last_code(&mobile);
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let (app, id, code) = (app.clone(), issued.challenge_id.clone(), code.clone());
            tokio::spawn(async move {
                let challenge = app
                    .verify_code(&id, &code, None, |c| {
                        matches!(c.purpose, ChallengePurpose::Login { .. })
                    })
                    .await?;
                app.open_session(&challenge.username, false, None).await
            })
        })
        .collect();
    let mut sessions = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => sessions += 1,
            Err(ServiceError::ChallengeGone) => {}
            Err(other) => panic!("parallel verify: unexpected outcome {other:?}"),
        }
    }
    assert_eq!(sessions, 1, "parallel verifies of one code: exactly one session");
    let index = app
        .repo
        .items()
        .query(&account_pk(&username), SESSION_INDEX_PREFIX, app.now())
        .await
        .expect("session index");
    assert_eq!(index.len(), 1, "exactly one session stored for the account");
}

async fn parallel_refreshes_with_one_token_have_one_winner_and_revoke_the_session(store: Arc<dyn ItemStore>) {
    let app = app(store, Arc::new(Phone::default()));
    let (username, _) = account(&app, "refresh").await;
    let opened = app.open_session(&username, false, None).await.expect("session");
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let (app, token) = (app.clone(), opened.refresh.clone());
            tokio::spawn(async move { app.refresh_session(&token, None).await })
        })
        .collect();
    let (mut winners, mut reuse_detected) = (Vec::new(), 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(tokens) => winners.push(tokens),
            Err(ServiceError::RefreshReused) => reuse_detected += 1,
            Err(ServiceError::SessionExpired) => {}
            Err(other) => panic!("parallel refresh: unexpected outcome {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "one refresh token rotates exactly once");
    assert!(
        reuse_detected >= 1,
        "the losers presented a rotated-away token: reuse must be detected"
    );
    let winner = winners.remove(0);
    assert!(
        matches!(
            app.refresh_session(&winner.refresh, None).await,
            Err(ServiceError::SessionExpired)
        ),
        "after reuse the whole session is revoked, the winner's new token included"
    );
    assert!(
        matches!(
            app.authenticate(&winner.access_token).await,
            Err(ServiceError::SessionExpired)
        ),
        "the winner's access token stops working at once"
    );
}

async fn parallel_rate_limit_hits_are_all_counted(store: Arc<dyn ItemStore>) {
    let app = app(store, Arc::new(Phone::default()));
    let key = portal_core::security::random_token(8);
    let counter = Limit {
        scope: "race-count",
        max: 100,
        window: std::time::Duration::from_secs(3600),
    };
    let now = app.now();
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let (app, key) = (app.clone(), key.clone());
            tokio::spawn(async move { app.repo.limit_record(&counter, &key, now).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("hit recorded");
    }
    let total = app.repo.limit_record(&counter, &key, now).await.expect("one more");
    assert_eq!(total, RACERS + 1, "no parallel hit may be lost");

    let allowance = Limit {
        scope: "race-acquire",
        max: 4,
        window: std::time::Duration::from_secs(3600),
    };
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let (app, key) = (app.clone(), key.clone());
            tokio::spawn(async move { app.repo.limit_acquire(&allowance, &key, now).await })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        granted += usize::from(task.await.expect("task").expect("acquire").is_allowed());
    }
    assert_eq!(
        granted, 4,
        "a limit of 4 lets exactly 4 of {RACERS} parallel callers through"
    );
}

/// A code other than `right`.
fn other_than(right: &OneTimeCode) -> OneTimeCode {
    let n: u32 = right.expose().parse().expect("digits");
    OneTimeCode::parse(&format!("{:06}", (n + 1) % 1_000_000)).expect("valid code")
}

/// Runs `attempt` for each of `inputs` at once (all released together) and collects the
/// outcomes: how many succeeded, and the errors.
async fn burst<I, F, Fut, T>(inputs: Vec<I>, attempt: F) -> (usize, Vec<ServiceError>)
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut,
    Fut: std::future::Future<Output = Result<T, ServiceError>> + Send + 'static,
{
    let start = Arc::new(tokio::sync::Barrier::new(inputs.len()));
    let tasks: Vec<_> = inputs
        .into_iter()
        .map(|i| {
            let (start, attempt) = (start.clone(), attempt(i));
            tokio::spawn(async move {
                start.wait().await;
                attempt.await
            })
        })
        .collect();
    let (mut ok, mut errors) = (0, Vec::new());
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => ok += 1,
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

fn count(errors: &[ServiceError], which: fn(&ServiceError) -> bool) -> usize {
    errors.iter().filter(|e| which(e)).count()
}

/// An hourly limit of this many wrong codes (or password failures per address) in the
/// checks below: small, so a burst of [`RACERS`] goes well past it.
const SMALL_LIMIT: usize = 4;

async fn parallel_wrong_codes_across_challenges_get_no_more_tries_than_the_hourly_limit(store: Arc<dyn ItemStore>) {
    let phone = Arc::new(Phone::default());
    let policy = Policy {
        code_failures_per_account_hour: SMALL_LIMIT,
        ..Policy::default()
    };
    let app = app_with(store, phone.clone(), policy, ManualClock::new(SystemClock.now()));
    let (username, mobile) = account(&app, "codes").await;
    let password = Password::new(PASSWORD.into());
    // Two challenges: RACERS guesses fit their 5 + 5 attempts, far more than the hourly limit.
    let first = app
        .login(username.as_str(), &password, false, None)
        .await
        .expect("login");
    let first_code = phone.last_code(&mobile);
    let second = app
        .login(username.as_str(), &password, false, None)
        .await
        .expect("login");
    let second_code = phone.last_code(&mobile);
    let guesses: Vec<_> = (0..RACERS)
        .map(|i| match i % 2 {
            0 => (first.challenge_id.clone(), other_than(&first_code)),
            _ => (second.challenge_id.clone(), other_than(&second_code)),
        })
        .collect();
    let (ok, errors) = burst(guesses, |(id, guess)| {
        let app = app.clone();
        async move {
            app.verify_code(&id, &guess, None, |c| {
                matches!(c.purpose, ChallengePurpose::Login { .. })
            })
            .await
        }
    })
    .await;
    assert_eq!(ok, 0, "parallel wrong codes: none can be right");
    assert_eq!(
        count(&errors, |e| matches!(e, ServiceError::InvalidCode { .. })),
        SMALL_LIMIT - 1,
        "parallel wrong codes: only the hourly limit's worth is compared, the last of them locks ({errors:?})"
    );
    assert_eq!(
        count(&errors, |e| matches!(e, ServiceError::CodeEntryLocked { .. })),
        RACERS - (SMALL_LIMIT - 1),
        "parallel wrong codes: everything past the limit is refused ({errors:?})"
    );
    // Neither challenge had its five tries used up, yet even the right code is refused now.
    let right = app.verify_code(&first.challenge_id, &first_code, None, |_| true).await;
    assert!(
        matches!(right, Err(ServiceError::CodeEntryLocked { .. })),
        "parallel wrong codes: the account is locked, the challenge is not spent: {right:?}"
    );
}

async fn parallel_wrong_app_codes_get_no_more_tries_than_the_hourly_limit(store: Arc<dyn ItemStore>) {
    let phone = Arc::new(Phone::default());
    let policy = Policy {
        code_failures_per_account_hour: SMALL_LIMIT,
        ..Policy::default()
    };
    let clock = ManualClock::new(SystemClock.now());
    let app = app_with(store, phone, policy, clock.clone());
    let (username, _) = account(&app, "totp").await;
    let password = Password::new(PASSWORD.into());
    let enrolment = app
        .start_totp_enrolment(&username, None, &password, None)
        .await
        .expect("enrolment");
    let authenticator = crate::authenticator_app(&enrolment.secret).expect("the enrolment's secret");
    let code_now = |app: &App| OneTimeCode::parse(&authenticator.generate(app.now() as u64).to_string()).expect("code");
    app.confirm_totp_enrolment(&username, None, &code_now(&app), None)
        .await
        .expect("confirmed");
    // The confirming code is used up; logins take the next step's.
    clock.advance(30);
    let right = code_now(&app);
    let wrong = (0..)
        .map(|n| OneTimeCode::parse(&format!("{n:06}")).expect("code"))
        .find(|c| (-1..=1).all(|k| authenticator.generate((app.now() + 30 * k) as u64).to_string() != c.expose()))
        .expect("a wrong code");
    let first = app
        .start_login(username.as_str(), &password, false, None)
        .await
        .expect("login");
    let second = app
        .start_login(username.as_str(), &password, false, None)
        .await
        .expect("login");
    assert_eq!(first.methods, &["totp", "sms", "recovery_code"]);
    let guesses: Vec<_> = (0..RACERS)
        .map(|i| match i % 2 {
            0 => first.challenge.challenge_id.clone(),
            _ => second.challenge.challenge_id.clone(),
        })
        .collect();
    let (ok, errors) = burst(guesses, |id| {
        let (app, wrong) = (app.clone(), wrong.clone());
        async move { app.verify_totp(&id, &wrong, None).await }
    })
    .await;
    assert_eq!(ok, 0);
    assert_eq!(
        count(&errors, |e| matches!(e, ServiceError::InvalidCode { .. })),
        SMALL_LIMIT - 1,
        "parallel wrong app codes: only the hourly limit's worth is compared ({errors:?})"
    );
    assert_eq!(
        count(&errors, |e| matches!(e, ServiceError::CodeEntryLocked { .. })),
        RACERS - (SMALL_LIMIT - 1),
        "parallel wrong app codes: everything past the limit is refused ({errors:?})"
    );
    let late = app.verify_totp(&first.challenge.challenge_id, &right, None).await;
    assert!(
        matches!(late, Err(ServiceError::CodeEntryLocked { .. })),
        "parallel wrong app codes: the account is locked, the challenge is not spent: {late:?}"
    );
}

/// One recovery code answered to several login challenges at once: the challenge and the
/// code's hash are written in one transaction conditional on both versions, so exactly one
/// login gets in and the code is gone after it.
async fn parallel_uses_of_one_recovery_code_open_exactly_one_session(store: Arc<dyn ItemStore>) {
    const LOGINS: usize = 6;
    let clock = ManualClock::new(SystemClock.now());
    let app = app_with(store, Arc::new(Phone::default()), Policy::default(), clock.clone());
    let (username, _) = account(&app, "recovery").await;
    let password = Password::new(PASSWORD.into());
    let enrolment = app
        .start_totp_enrolment(&username, None, &password, None)
        .await
        .expect("enrolment");
    let authenticator = crate::authenticator_app(&enrolment.secret).expect("the enrolment's secret");
    let code = OneTimeCode::parse(&authenticator.generate(app.now() as u64).to_string()).expect("code");
    app.confirm_totp_enrolment(&username, None, &code, None)
        .await
        .expect("confirmed");
    let generated = app
        .generate_recovery_codes(&username, Some(app.now()), &password, None)
        .await
        .expect("codes");
    let code = RecoveryCode::parse(&generated.codes[0]).expect("a code as shown");
    let mut challenges = Vec::new();
    for _ in 0..LOGINS {
        let started = app
            .start_login(username.as_str(), &password, false, None)
            .await
            .expect("login");
        challenges.push(started.challenge.challenge_id);
    }
    let (ok, errors) = burst(challenges, |id| {
        let (app, code) = (app.clone(), code.clone());
        async move { app.verify_recovery_code(&id, &code, None).await }
    })
    .await;
    assert_eq!(
        ok, 1,
        "one recovery code, parallel logins: exactly one gets in ({errors:?})"
    );
    assert_eq!(
        count(&errors, |e| matches!(e, ServiceError::InvalidCode { .. })),
        LOGINS - 1,
        "the others find the code used ({errors:?})"
    );
    let left = app.recovery_codes_status(&username).await.expect("status");
    assert_eq!(left.remaining, 9);
}

async fn parallel_wrong_passwords_get_no_more_tries_than_the_backoff_allows(store: Arc<dyn ItemStore>) {
    let app = app(store, Arc::new(Phone::default()));
    let (username, _) = account(&app, "backoff").await;
    let free = app.policy.password_failures_before_backoff as usize;
    for name in [username.to_string(), format!("{username}-finnes-ikke")] {
        let (ok, errors) = burst(vec![name.clone(); RACERS], |name| {
            let app = app.clone();
            async move {
                app.check_password(&name, &Password::new("feil passord".into()), None)
                    .await
            }
        })
        .await;
        assert_eq!(ok, 0);
        assert_eq!(
            count(&errors, |e| matches!(e, ServiceError::InvalidCredentials)),
            free,
            "parallel wrong passwords: only the failures before the backoff are tried ({errors:?})"
        );
        assert_eq!(
            count(&errors, |e| matches!(e, ServiceError::TooManyAttempts { .. })),
            RACERS - free,
            "parallel wrong passwords: the rest wait out the backoff ({errors:?})"
        );
    }
}

async fn parallel_wrong_passwords_from_one_address_get_no_more_tries_than_its_limit(store: Arc<dyn ItemStore>) {
    let policy = Policy {
        ip_failures_per_window: SMALL_LIMIT,
        ..Policy::default()
    };
    let app = app_with(
        store,
        Arc::new(Phone::default()),
        policy,
        ManualClock::new(SystemClock.now()),
    );
    // An address of its own, so the check can share a store with others.
    let address = format!("race-address-{}", portal_core::security::random_token(8));
    let names: Vec<_> = (0..RACERS).map(|i| format!("race-ip-{i}-{address}")).collect();
    let (ok, errors) = burst(names, |name| {
        let (app, address) = (app.clone(), address.clone());
        async move {
            app.check_password(&name, &Password::new("feil passord".into()), Some(&address))
                .await
        }
    })
    .await;
    assert_eq!(ok, 0);
    assert_eq!(
        count(&errors, |e| matches!(e, ServiceError::InvalidCredentials)),
        SMALL_LIMIT,
        "parallel wrong passwords from one address: only its limit's worth is tried ({errors:?})"
    );
    assert_eq!(
        count(&errors, |e| matches!(e, ServiceError::TooManyAttempts { .. })),
        RACERS - SMALL_LIMIT,
        "parallel wrong passwords from one address: the rest are refused ({errors:?})"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use portal_core::store::sqlite::SqliteStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn races_on_sqlite_in_memory() {
        run_all(Arc::new(SqliteStore::in_memory().unwrap())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn races_on_a_sqlite_file() {
        let dir = tempfile::tempdir().unwrap();
        run_all(Arc::new(SqliteStore::open(&dir.path().join("p.db")).unwrap())).await;
    }
}
