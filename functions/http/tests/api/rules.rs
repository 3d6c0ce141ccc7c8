//! DESIGN §3 rules for login, codes and sessions, driven through the services with a clock
//! the tests move. Each test states the rule it pins.

use portal_core::audit::AuditKind;
use portal_core::domain::{MobileNumber, OneTimeCode, Password};
use portal_core::error::ServiceError;
use portal_core::services::sessions::RefreshToken;
use portal_core::store::records::ChallengePurpose;
use portal_testkit::TestApp;

const PASSWORD: &str = "korrekt hest batteri stift";
const MOBILE: &str = "+4791234567";

fn mobile() -> MobileNumber {
    MobileNumber::parse(MOBILE).unwrap()
}

fn wrong_code(right: &OneTimeCode) -> OneTimeCode {
    let n: u32 = right.expose().parse().unwrap();
    OneTimeCode::parse(&format!("{:06}", (n + 1) % 1_000_000)).unwrap()
}

fn is_login(c: &portal_core::store::records::Challenge) -> bool {
    matches!(c.purpose, ChallengePurpose::Login { .. })
}

async fn logged_in_challenge(t: &TestApp) -> (portal_core::domain::ChallengeId, OneTimeCode) {
    let issued = t
        .app
        .login("kari", &Password::new(PASSWORD.into()), false, Some("10.0.0.1"))
        .await
        .unwrap();
    (issued.challenge_id, t.sms.last_code_to(&mobile()).unwrap())
}

#[tokio::test]
async fn code_is_valid_until_just_before_five_minutes_and_dead_at_five() {
    let t = TestApp::in_memory();
    t.account("kari", PASSWORD, MOBILE).await;
    let (id, code) = logged_in_challenge(&t).await;
    t.clock.advance(299);
    assert!(t.app.live_challenge(&id).await.is_ok());
    t.clock.advance(1);
    assert!(matches!(
        t.app.verify_code(&id, &code, None, is_login).await,
        Err(ServiceError::ChallengeGone)
    ));

    let (id, code) = logged_in_challenge(&t).await;
    t.clock.advance(299);
    assert!(
        t.app.verify_code(&id, &code, None, is_login).await.is_ok(),
        "valid at 4:59"
    );
}

#[tokio::test]
async fn five_wrong_codes_kill_the_challenge_and_the_sixth_try_is_gone() {
    let t = TestApp::in_memory();
    t.account("kari", PASSWORD, MOBILE).await;
    let (id, code) = logged_in_challenge(&t).await;
    let wrong = wrong_code(&code);
    for left in (0..5).rev() {
        match t.app.verify_code(&id, &wrong, None, is_login).await {
            Err(ServiceError::InvalidCode { attempts_left }) => assert_eq!(attempts_left, left),
            other => panic!("expected invalid_code, got {other:?}"),
        }
    }
    assert!(
        matches!(
            t.app.verify_code(&id, &code, None, is_login).await,
            Err(ServiceError::ChallengeGone)
        ),
        "right code after 5 wrong"
    );
}

#[tokio::test]
async fn a_code_works_once() {
    let t = TestApp::in_memory();
    t.account("kari", PASSWORD, MOBILE).await;
    let (id, code) = logged_in_challenge(&t).await;
    assert!(t.app.verify_code(&id, &code, None, is_login).await.is_ok());
    assert!(matches!(
        t.app.verify_code(&id, &code, None, is_login).await,
        Err(ServiceError::ChallengeGone)
    ));
}

#[tokio::test]
async fn resend_needs_30_seconds_allows_3_and_kills_the_old_code() {
    let t = TestApp::in_memory();
    t.account("kari", PASSWORD, MOBILE).await;
    let (id, old_code) = logged_in_challenge(&t).await;
    t.clock.advance(10);
    match t.app.resend_code(&id, None).await {
        Err(ServiceError::ResendTooSoon { retry_after }) => assert_eq!(retry_after, 20),
        other => panic!("expected resend_too_soon, got {other:?}"),
    }
    for _ in 0..3 {
        t.clock.advance(30);
        t.app.resend_code(&id, None).await.unwrap();
    }
    t.clock.advance(30);
    assert!(matches!(
        t.app.resend_code(&id, None).await,
        Err(ServiceError::ResendLimit { .. })
    ));
    let new_code = t.sms.last_code_to(&mobile()).unwrap();
    if new_code != old_code {
        assert!(matches!(
            t.app.verify_code(&id, &old_code, None, is_login).await,
            Err(ServiceError::InvalidCode { .. })
        ));
    }
    assert!(t.app.verify_code(&id, &new_code, None, is_login).await.is_ok());
}

#[tokio::test]
async fn wrong_codes_count_per_account_across_resends_and_lock_code_entry_at_20_per_hour() {
    let t = TestApp::in_memory();
    t.account("kari", PASSWORD, MOBILE).await;
    let mut wrongs = 0;
    // 4 challenges x 5 wrong codes = 20 failures within the hour.
    for _ in 0..4 {
        let (id, code) = logged_in_challenge(&t).await;
        let wrong = wrong_code(&code);
        for _ in 0..5 {
            let r = t.app.verify_code(&id, &wrong, None, is_login).await;
            wrongs += 1;
            if wrongs < 20 {
                assert!(
                    matches!(r, Err(ServiceError::InvalidCode { .. })),
                    "failure {wrongs}: {r:?}"
                );
            } else {
                assert!(
                    matches!(r, Err(ServiceError::CodeEntryLocked { .. })),
                    "failure {wrongs}: {r:?}"
                );
            }
        }
        t.clock.advance(60);
    }
    // Locked: even a fresh login cannot reach code entry.
    let r = t.app.login("kari", &Password::new(PASSWORD.into()), false, None).await;
    assert!(matches!(r, Err(ServiceError::CodeEntryLocked { .. })), "{r:?}");
    t.clock.advance(3600);
    assert!(
        t.app
            .login("kari", &Password::new(PASSWORD.into()), false, None)
            .await
            .is_ok(),
        "lock lifts after 1 h"
    );
}

#[tokio::test]
async fn sms_per_account_is_capped_at_10_per_hour() {
    let t = TestApp::in_memory();
    t.account("kari", PASSWORD, MOBILE).await;
    for _ in 0..10 {
        t.app
            .login("kari", &Password::new(PASSWORD.into()), false, None)
            .await
            .unwrap();
    }
    match t.app.login("kari", &Password::new(PASSWORD.into()), false, None).await {
        Err(ServiceError::SmsLimit { retry_after }) => assert_eq!(retry_after, 3600),
        other => panic!("expected sms_limit, got {other:?}"),
    }
    assert_eq!(t.sms.sent().len(), 10);
}

#[tokio::test]
async fn sms_failure_leaves_nothing_behind_and_the_user_can_retry() {
    let t = TestApp::in_memory();
    t.account("kari", PASSWORD, MOBILE).await;
    t.sms.set_failing(true);
    let r = t.app.login("kari", &Password::new(PASSWORD.into()), false, None).await;
    assert!(matches!(r, Err(ServiceError::SmsUnavailable(_))), "{r:?}");
    t.sms.set_failing(false);
    for _ in 0..10 {
        t.app
            .login("kari", &Password::new(PASSWORD.into()), false, None)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn password_backoff_follows_the_curve_and_unknown_users_get_the_same() {
    let t = TestApp::in_memory();
    t.account("kari", PASSWORD, MOBILE).await;
    for name in ["kari", "finnes-ikke"] {
        for _ in 0..5 {
            let r = t
                .app
                .login(name, &Password::new("feil passord".into()), false, None)
                .await;
            assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
        }
        // After 5 failures: wait 1 s.
        match t.app.login(name, &Password::new(PASSWORD.into()), false, None).await {
            Err(ServiceError::TooManyAttempts { retry_after }) => assert_eq!(retry_after, 1),
            other => panic!("{name}: expected too_many_attempts, got {other:?}"),
        }
        t.clock.advance(1);
        let r = t
            .app
            .login(name, &Password::new("feil passord".into()), false, None)
            .await;
        assert!(matches!(r, Err(ServiceError::InvalidCredentials)));
        // After 6 failures: wait 2 s.
        match t.app.login(name, &Password::new(PASSWORD.into()), false, None).await {
            Err(ServiceError::TooManyAttempts { retry_after }) => assert_eq!(retry_after, 2),
            other => panic!("{name}: expected too_many_attempts, got {other:?}"),
        }
        t.clock.advance(2);
    }
    assert!(
        t.app
            .login("kari", &Password::new(PASSWORD.into()), false, None)
            .await
            .is_ok(),
        "right password after the wait"
    );
}

#[tokio::test]
async fn thirty_failures_from_one_address_block_that_address() {
    let t = TestApp::in_memory();
    t.account("kari", PASSWORD, MOBILE).await;
    for i in 0..30 {
        let r = t
            .app
            .login(
                &format!("user{i}"),
                &Password::new("feil passord".into()),
                false,
                Some("198.51.100.7"),
            )
            .await;
        assert!(matches!(r, Err(ServiceError::InvalidCredentials)));
    }
    let r = t
        .app
        .login("kari", &Password::new(PASSWORD.into()), false, Some("198.51.100.7"))
        .await;
    assert!(matches!(r, Err(ServiceError::TooManyAttempts { .. })), "{r:?}");
    assert!(t
        .app
        .login("kari", &Password::new(PASSWORD.into()), false, Some("198.51.100.8"))
        .await
        .is_ok());
    t.clock.advance(600);
    assert!(t
        .app
        .login("kari", &Password::new(PASSWORD.into()), false, Some("198.51.100.7"))
        .await
        .is_ok());
}

#[tokio::test]
async fn disabled_account_looks_like_a_wrong_password() {
    let t = TestApp::in_memory();
    let user = t.account("kari", PASSWORD, MOBILE).await;
    t.app.set_disabled(&user, true).await.unwrap();
    let r = t.app.login("kari", &Password::new(PASSWORD.into()), false, None).await;
    assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
}

async fn open(t: &TestApp, remember: bool) -> portal_core::services::sessions::Tokens {
    let user = portal_core::domain::Username::parse("kari").unwrap();
    t.app.open_session(&user, remember, None).await.unwrap()
}

#[tokio::test]
async fn refresh_rotates_and_reuse_of_an_old_token_revokes_the_session() {
    let t = TestApp::in_memory();
    t.account("kari", PASSWORD, MOBILE).await;
    let first = open(&t, false).await;
    let second = t.app.refresh_session(&first.refresh, None).await.unwrap();
    assert_ne!(first.refresh.encode(), second.refresh.encode());
    assert!(t.app.authenticate(&second.access_token).await.is_ok());
    assert!(matches!(
        t.app.refresh_session(&first.refresh, None).await,
        Err(ServiceError::RefreshReused)
    ));
    assert!(
        t.app.refresh_session(&second.refresh, None).await.is_err(),
        "the newest token dies too"
    );
    assert!(
        t.app.authenticate(&second.access_token).await.is_err(),
        "access tokens of the session die at once"
    );
}

/// Issue 14.1: reuse detection used to look one rotation back only, so a thief who rotated a
/// copied token twice kept the session while the victim's replay got a plain 401.
#[tokio::test]
async fn replaying_the_first_token_after_any_number_of_rotations_revokes_the_session() {
    for rotations in [1, 2, 5] {
        let t = TestApp::in_memory();
        t.account("kari", PASSWORD, MOBILE).await;
        let first = open(&t, false).await;
        let mut newest = t.app.refresh_session(&first.refresh, None).await.unwrap();
        for _ in 1..rotations {
            newest = t.app.refresh_session(&newest.refresh, None).await.unwrap();
        }
        assert!(t.app.authenticate(&newest.access_token).await.is_ok());
        assert!(
            matches!(
                t.app.refresh_session(&first.refresh, None).await,
                Err(ServiceError::RefreshReused)
            ),
            "after {rotations} rotations"
        );
        assert!(
            matches!(
                t.app.refresh_session(&newest.refresh, None).await,
                Err(ServiceError::SessionExpired)
            ),
            "after {rotations} rotations the newest token dies too"
        );
        assert!(t.app.authenticate(&newest.access_token).await.is_err());
        let user = portal_core::domain::Username::parse("kari").unwrap();
        let trail = t.app.repo.audit_trail(&user, t.clock.now_for_tests()).await.unwrap();
        assert_eq!(
            trail
                .iter()
                .filter(|e| e.event == AuditKind::RefreshReuseDetected)
                .count(),
            1,
            "after {rotations} rotations"
        );
    }
}

#[tokio::test]
async fn a_middle_generation_replayed_also_revokes_the_session() {
    let t = TestApp::in_memory();
    t.account("kari", PASSWORD, MOBILE).await;
    let mut tokens = vec![open(&t, false).await];
    for _ in 0..4 {
        let next = t
            .app
            .refresh_session(&tokens.last().unwrap().refresh, None)
            .await
            .unwrap();
        tokens.push(next);
    }
    assert!(matches!(
        t.app.refresh_session(&tokens[2].refresh, None).await,
        Err(ServiceError::RefreshReused)
    ));
    assert!(t.app.refresh_session(&tokens[4].refresh, None).await.is_err());
}

#[tokio::test]
async fn session_idles_out_after_30_minutes_without_refresh() {
    let t = TestApp::in_memory();
    t.account("kari", PASSWORD, MOBILE).await;
    let s = open(&t, false).await;
    t.clock.advance(29 * 60);
    let s = t.app.refresh_session(&s.refresh, None).await.unwrap();
    t.clock.advance(30 * 60);
    assert!(matches!(
        t.app.refresh_session(&s.refresh, None).await,
        Err(ServiceError::SessionExpired)
    ));
}

#[tokio::test]
async fn session_ends_after_12_hours_however_active() {
    let t = TestApp::in_memory();
    t.account("kari", PASSWORD, MOBILE).await;
    let mut s = open(&t, true).await;
    assert_eq!(
        s.cookie_max_age,
        Some(12 * 3600),
        "remember-me cookie lives as long as the session"
    );
    for _ in 0..(12 * 60 / 20 - 1) {
        t.clock.advance(20 * 60);
        s = t.app.refresh_session(&s.refresh, None).await.unwrap();
    }
    assert_eq!(s.cookie_max_age, Some(20 * 60));
    t.clock.advance(20 * 60);
    assert!(matches!(
        t.app.refresh_session(&s.refresh, None).await,
        Err(ServiceError::SessionExpired)
    ));
}

#[tokio::test]
async fn without_remember_me_the_cookie_is_a_browser_session_cookie() {
    let t = TestApp::in_memory();
    t.account("kari", PASSWORD, MOBILE).await;
    assert_eq!(open(&t, false).await.cookie_max_age, None);
}

#[tokio::test]
async fn access_token_expires_after_15_minutes() {
    let t = TestApp::in_memory();
    t.account("kari", PASSWORD, MOBILE).await;
    let s = open(&t, false).await;
    t.clock.advance(15 * 60 - 1);
    assert!(t.app.authenticate(&s.access_token).await.is_ok());
    t.clock.advance(1);
    assert!(matches!(
        t.app.authenticate(&s.access_token).await,
        Err(ServiceError::SessionExpired)
    ));
}

#[tokio::test]
async fn logout_and_disable_end_sessions_at_once() {
    let t = TestApp::in_memory();
    let user = t.account("kari", PASSWORD, MOBILE).await;
    let a = open(&t, false).await;
    let b = open(&t, false).await;
    t.app.revoke_session(&a.session.id, None).await.unwrap();
    assert!(t.app.authenticate(&a.access_token).await.is_err());
    assert!(t.app.authenticate(&b.access_token).await.is_ok());
    t.app.set_disabled(&user, true).await.unwrap();
    assert!(t.app.authenticate(&b.access_token).await.is_err());
}

#[tokio::test]
async fn forged_refresh_tokens_are_refused_without_harming_the_session() {
    let t = TestApp::in_memory();
    t.account("kari", PASSWORD, MOBILE).await;
    let s = open(&t, false).await;
    // An earlier generation of a family nobody issued: refused, and no "reuse" that would end
    // the session someone else holds.
    for generation in ["1", "2"] {
        let raw = format!("{}.{generation}.{}.{}", s.session.id, "A".repeat(43), "B".repeat(43));
        let forged = RefreshToken::parse(&raw).unwrap();
        assert!(matches!(
            t.app.refresh_session(&forged, None).await,
            Err(ServiceError::SessionExpired)
        ));
    }
    assert!(
        t.app.refresh_session(&s.refresh, None).await.is_ok(),
        "the real token still works"
    );
}

#[tokio::test]
async fn audit_trail_records_logins_without_secrets() {
    let t = TestApp::in_memory();
    let user = t.account("kari", PASSWORD, MOBILE).await;
    let (id, code) = logged_in_challenge(&t).await;
    t.app.verify_code(&id, &code, Some("10.0.0.1"), is_login).await.unwrap();
    let trail = t.app.repo.audit_trail(&user, t.clock.now_for_tests()).await.unwrap();
    let text = serde_json::to_string(&trail).unwrap();
    assert!(
        text.contains("login_password_ok") && text.contains("code_sent"),
        "{text}"
    );
    assert!(
        !text.contains(code.expose()) && !text.contains("91234567") && !text.contains(PASSWORD),
        "{text}"
    );
}

#[tokio::test]
async fn wrong_passwords_cost_the_same_storage_io_for_known_and_unknown_usernames() {
    use portal_testkit::CountingStore;
    let counting = CountingStore::new(std::sync::Arc::new(
        portal_core::store::sqlite::SqliteStore::in_memory().unwrap(),
    ));
    let t = TestApp::on(counting.clone());
    t.account("kari", PASSWORD, MOBILE).await;
    let mut costs = Vec::new();
    for name in ["kari", "finnes-ikke"] {
        // The fifth failure starts the backoff, which a real account also audits.
        let mut per_attempt = Vec::new();
        for _ in 0..5 {
            let (r, io) = counting
                .io_of(
                    t.app
                        .login(name, &Password::new("feil passord".into()), false, Some("10.0.0.9")),
                )
                .await;
            assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{name}: {r:?}");
            per_attempt.push(io);
        }
        costs.push(per_attempt);
    }
    assert_eq!(
        costs[0], costs[1],
        "a wrong password for an account and for a name without one do the same reads and writes"
    );
}

/// A right code that earns no session (the operator disabled the account after the password
/// step) is spent all the same: once the account is enabled again, it opens nothing.
#[tokio::test]
async fn a_right_code_refused_a_session_is_spent() {
    use portal_core::services::devices::{DeviceId, SessionOrigin};
    use portal_core::services::login_verify::LoginAnswer;
    let t = TestApp::in_memory();
    let kari = t.account("kari", PASSWORD, MOBILE).await;
    let (id, code) = logged_in_challenge(&t).await;
    t.app.set_disabled(&kari, true).await.unwrap();
    let origin = SessionOrigin::new(None, None);
    let device = DeviceId::generate();
    let refused = t
        .app
        .verify_login(&id, LoginAnswer::Code(&code), None, &origin, &device)
        .await;
    assert!(matches!(refused, Err(ServiceError::SessionExpired)), "{refused:?}");
    t.app.set_disabled(&kari, false).await.unwrap();
    let replayed = t
        .app
        .verify_login(&id, LoginAnswer::Code(&code), None, &origin, &device)
        .await;
    assert!(matches!(replayed, Err(ServiceError::ChallengeGone)), "{replayed:?}");
}
