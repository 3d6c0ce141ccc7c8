//! Races the services must win on every backend, written once and run against SQLite (below)
//! and DynamoDB (the emulator tests): what an attacker or a double-clicking user gets when the
//! same code, refresh token or counter is hit many times at once.
//!
//! Each check uses its own account and number, so the suite can share a store with other tests.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::app::{App, AppParts, SharedApp};
use crate::clock::{Clock, ManualClock, SystemClock};
use crate::config::{Policy, Settings};
use crate::domain::{MobileNumber, Password, SmsCode, Username};
use crate::error::ApiError;
use crate::security::keys::KeyMaterial;
use crate::security::passwords::HashParams;
use crate::services::admin::NewAccount;
use crate::services::limits::Limit;
use crate::sms::{SmsError, SmsSender};
use crate::store::records::{account_pk, ChallengePurpose};
use crate::store::ItemStore;

/// How many callers race in each check. Below the repositories' retry budget, so every loser
/// of a race ends in a decided outcome rather than "gave up".
const RACERS: usize = 10;

const PASSWORD: &str = "korrekt hest batteri stift";

/// Runs every check; panics with the name of the first that fails.
pub async fn run_all(store: Arc<dyn ItemStore>) {
    parallel_verifies_of_the_right_code_open_exactly_one_session(store.clone()).await;
    parallel_refreshes_with_one_token_have_one_winner_and_revoke_the_session(store.clone()).await;
    parallel_rate_limit_hits_are_all_counted(store).await;
}

/// The phone of these checks: remembers what was sent.
#[derive(Default)]
struct Phone(Mutex<Vec<(String, String)>>);

#[async_trait]
impl SmsSender for Phone {
    async fn send(&self, to: &MobileNumber, body: &str) -> Result<(), SmsError> {
        self.0
            .lock()
            .map_err(|_| SmsError::Unavailable("poisoned".into()))?
            .push((to.as_e164().to_owned(), body.to_owned()));
        Ok(())
    }
}

impl Phone {
    fn last_code(&self, to: &MobileNumber) -> SmsCode {
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
        SmsCode::parse(&digits).expect("valid code")
    }
}

fn app(store: Arc<dyn ItemStore>, phone: Arc<Phone>) -> SharedApp {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(SystemClock.now()));
    App::build(AppParts {
        store,
        sms: phone,
        clock,
        keys: KeyMaterial::generate().expect("keys"),
        settings: Settings::default(),
        policy: Policy::default(),
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
    let suffix = crate::security::random_token(6).to_ascii_lowercase();
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
        password: Some(Password::new(PASSWORD.into())),
    })
    .await
    .expect("account created");
    (username, mobile)
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
            Err(ApiError::ChallengeGone) => {}
            Err(other) => panic!("parallel verify: unexpected outcome {other:?}"),
        }
    }
    assert_eq!(sessions, 1, "parallel verifies of one code: exactly one session");
    let index = app
        .repo
        .items()
        .query(&account_pk(&username), "SESSION#", app.now())
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
            Err(ApiError::RefreshReused) => reuse_detected += 1,
            Err(ApiError::SessionExpired) => {}
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
            Err(ApiError::SessionExpired)
        ),
        "after reuse the whole session is revoked, the winner's new token included"
    );
    assert!(
        matches!(
            app.authenticate(&winner.access_token).await,
            Err(ApiError::SessionExpired)
        ),
        "the winner's access token stops working at once"
    );
}

async fn parallel_rate_limit_hits_are_all_counted(store: Arc<dyn ItemStore>) {
    let app = app(store, Arc::new(Phone::default()));
    let key = crate::security::random_token(8);
    let counter = Limit {
        scope: "race-count",
        max: 100,
        window: 3600,
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
        window: 3600,
    };
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let (app, key) = (app.clone(), key.clone());
            tokio::spawn(async move { app.repo.limit_acquire(&allowance, &key, now).await })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        granted += usize::from(task.await.expect("task").expect("acquire").is_ok());
    }
    assert_eq!(
        granted, 4,
        "a limit of 4 lets exactly 4 of {RACERS} parallel callers through"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

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
