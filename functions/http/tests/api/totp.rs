//! Authenticator app (TOTP) rules, driven through the services with a clock the tests move.
//! Codes are computed here from the secret the enrolment returned, the way the user's app
//! computes them.

use std::sync::Arc;

use portal_core::app::{App, AppParts};
use portal_core::clock::ManualClock;
use portal_core::config::{Policy, Settings};
use portal_core::domain::{ChallengeId, MobileNumber, OneTimeCode, Password, Username};
use portal_core::error::ServiceError;
use portal_core::security::keys::{KeyMaterial, TOTP_KEY};
use portal_core::security::secretbox::{Sealed, SecretBox};
use portal_core::services::admin::AdminError;
use portal_core::services::step_up::StepUpAnswer;
use portal_core::services::totp::TotpRecord;
use portal_core::store::keys::{account_pk, TOTP_SK};
use portal_core::store::records::ChallengePurpose;
use portal_core::store::sqlite::SqliteStore;
use portal_core::store::{Condition, Item};
use portal_testkit::{CapturingSms, TestApp, FAST_HASH, START};
use totp_rs::{Secret, Totp};

const PASSWORD: &str = "korrekt hest batteri stift";
const MOBILE: &str = "+4791234567";

fn pw(p: &str) -> Password {
    Password::new(p.into())
}

fn mobile() -> MobileNumber {
    MobileNumber::parse(MOBILE).unwrap()
}

fn kari() -> Username {
    Username::parse("kari").unwrap()
}

/// The user's app, from the base32 secret shown at enrolment.
fn app_from(secret_base32: &str) -> Totp {
    portal_testkit::authenticator_app(secret_base32).unwrap()
}

fn code_at(app: &Totp, at: i64) -> OneTimeCode {
    OneTimeCode::parse(&app.generate(at as u64).to_string()).unwrap()
}

/// A code that matches none of the steps the server accepts at `now`.
fn wrong_code(app: &Totp, now: i64) -> OneTimeCode {
    let taken: Vec<String> = (-2..=2)
        .map(|k| code_at(app, now + 30 * k).expose().to_owned())
        .collect();
    (0..)
        .map(|n| format!("{n:06}"))
        .find(|c| !taken.contains(c))
        .map(|c| OneTimeCode::parse(&c).unwrap())
        .unwrap()
}

fn now(t: &TestApp) -> i64 {
    t.clock.now_for_tests()
}

/// A new session of kari's that has just stepped up with `app` (at the current time step):
/// its `second_factor_at`, as the guarded rules get it from the request's session.
async fn stepped_up(t: &TestApp, app: &Totp) -> Option<i64> {
    let tokens = t.app.open_session(&kari(), false, None).await.unwrap();
    let caller = t.app.authenticate(&tokens.access_token).await.unwrap();
    assert_eq!(
        caller.second_factor_at, None,
        "an SMS-like session has no second factor"
    );
    let code = code_at(app, now(t));
    t.app.step_up(&caller, StepUpAnswer::Totp(&code), None).await.unwrap();
    let caller = t.app.authenticate(&tokens.access_token).await.unwrap();
    assert_eq!(caller.second_factor_at, Some(now(t)));
    caller.second_factor_at
}

/// Enrols an authenticator for `kari` and confirms it; returns the user's app.
async fn enrolled(t: &TestApp) -> Totp {
    let enrolment = t
        .app
        .start_totp_enrolment(&kari(), None, &pw(PASSWORD), None)
        .await
        .unwrap();
    let app = app_from(&enrolment.secret);
    t.app
        .confirm_totp_enrolment(&kari(), None, &code_at(&app, now(t)), None)
        .await
        .unwrap();
    // The confirming code is used up; the next login takes the next step's code.
    t.clock.advance(30);
    app
}

/// What a phone camera reads from a `data:image/png;base64,…` QR code.
fn qr_content(data_uri: &str) -> String {
    use base64::Engine;
    let b64 = data_uri
        .strip_prefix("data:image/png;base64,")
        .unwrap_or_else(|| panic!("not a PNG data URI: {data_uri:.40}"));
    let png = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    let image = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
        .unwrap()
        .to_luma8();
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| image.get_pixel(x as u32, y as u32)[0]);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().unwrap().1
}

async fn setup() -> TestApp {
    let t = TestApp::in_memory();
    t.account("kari", PASSWORD, MOBILE).await;
    t
}

async fn login(t: &TestApp) -> portal_core::services::login::LoginStarted {
    t.app.start_login("kari", &pw(PASSWORD), false, None).await.unwrap()
}

fn is_login(c: &portal_core::store::records::Challenge) -> bool {
    matches!(c.purpose, ChallengePurpose::Login { .. })
}

#[tokio::test]
async fn enrolment_returns_a_working_secret_once_and_activates_only_on_a_right_code() {
    let t = setup().await;
    let enrolment = t
        .app
        .start_totp_enrolment(&kari(), None, &pw(PASSWORD), None)
        .await
        .unwrap();
    assert_eq!(enrolment.secret.len(), 32, "160 bits are 32 base32 characters");
    assert_eq!(
        Secret::try_from_base32(&enrolment.secret)
            .unwrap()
            .as_bytes()
            .to_vec()
            .len(),
        20
    );
    assert!(
        enrolment
            .otpauth_uri
            .starts_with("otpauth://totp/Norsk%20Helsenett%20Hjemmekontor:kari?"),
        "{}",
        enrolment.otpauth_uri
    );
    assert!(enrolment.otpauth_uri.contains(&format!("secret={}", enrolment.secret)));
    assert!(enrolment
        .otpauth_uri
        .contains("issuer=Norsk%20Helsenett%20Hjemmekontor"));
    assert_eq!(
        qr_content(&enrolment.qr_code),
        enrolment.otpauth_uri,
        "the QR code carries the URI"
    );
    assert!(!format!("{enrolment:?}").contains(&enrolment.secret));

    let status = t.app.totp_status(&kari()).await.unwrap();
    assert!(!status.enabled && status.pending);
    assert!(
        !t.app.totp_active(&kari()).await.unwrap(),
        "not active before confirmation"
    );
    assert_eq!(
        login(&t).await.methods,
        ["sms"],
        "login still uses SMS before confirmation"
    );

    let app = app_from(&enrolment.secret);
    t.clock.advance(7);
    t.app
        .confirm_totp_enrolment(&kari(), None, &code_at(&app, now(&t)), Some("10.0.0.1"))
        .await
        .unwrap();
    let status = t.app.totp_status(&kari()).await.unwrap();
    assert!(status.enabled && !status.pending);
    assert_eq!(status.enabled_at, Some(START + 7));

    let (to, notice) = t.sms.sent().last().cloned().unwrap();
    assert_eq!(to, MOBILE);
    assert!(notice.contains("autentiseringsapp"), "{notice}");

    let trail = t.app.repo.audit_trail(&kari(), now(&t)).await.unwrap();
    let text = serde_json::to_string(&trail).unwrap();
    assert!(
        text.contains("totp_enrolment_started") && text.contains("totp_enabled"),
        "{text}"
    );
    assert!(!text.contains(&enrolment.secret), "{text}");
}

#[tokio::test]
async fn enrolment_needs_the_current_password() {
    let t = setup().await;
    let r = t
        .app
        .start_totp_enrolment(&kari(), None, &pw("feil passord her"), None)
        .await;
    assert!(matches!(r, Err(ServiceError::WrongPassword)), "{r:?}");
    assert!(!t.app.totp_status(&kari()).await.unwrap().pending);
}

#[tokio::test]
async fn confirmation_with_wrong_codes_counts_down_and_then_the_enrolment_is_gone() {
    let t = setup().await;
    let enrolment = t
        .app
        .start_totp_enrolment(&kari(), None, &pw(PASSWORD), None)
        .await
        .unwrap();
    let app = app_from(&enrolment.secret);
    let wrong = wrong_code(&app, now(&t));
    for left in (0..5).rev() {
        match t.app.confirm_totp_enrolment(&kari(), None, &wrong, None).await {
            Err(ServiceError::InvalidCode { attempts_left }) => assert_eq!(attempts_left, left),
            other => panic!("expected invalid_code, got {other:?}"),
        }
    }
    let r = t
        .app
        .confirm_totp_enrolment(&kari(), None, &code_at(&app, now(&t)), None)
        .await;
    assert!(matches!(r, Err(ServiceError::TotpEnrolmentGone)), "{r:?}");
    assert!(!t.app.totp_status(&kari()).await.unwrap().enabled);
}

#[tokio::test]
async fn an_enrolment_not_confirmed_within_ten_minutes_expires() {
    let t = setup().await;
    let enrolment = t
        .app
        .start_totp_enrolment(&kari(), None, &pw(PASSWORD), None)
        .await
        .unwrap();
    let app = app_from(&enrolment.secret);
    t.clock.advance(600);
    let r = t
        .app
        .confirm_totp_enrolment(&kari(), None, &code_at(&app, now(&t)), None)
        .await;
    assert!(matches!(r, Err(ServiceError::TotpEnrolmentGone)), "{r:?}");
    let never = t
        .app
        .confirm_totp_enrolment(&Username::parse("ola").unwrap(), None, &code_at(&app, now(&t)), None)
        .await;
    assert!(matches!(never, Err(ServiceError::TotpEnrolmentGone)), "{never:?}");
}

#[tokio::test]
async fn with_an_app_login_sends_no_sms_and_the_app_code_opens_a_session() {
    let t = setup().await;
    let app = enrolled(&t).await;
    let sent_before = t.sms.sent().len();
    let started = login(&t).await;
    assert_eq!(started.methods, ["totp", "sms", "recovery_code"]);
    assert_eq!(t.sms.sent().len(), sent_before, "no SMS at login");
    assert_eq!(started.challenge.phone_hint, "+47 ••••••67");
    assert_eq!(started.challenge.expires_in, 300);
    assert_eq!(
        started.challenge.resend_after, 0,
        "SMS instead may be asked for at once"
    );

    let id = &started.challenge.challenge_id;
    let challenge = t.app.verify_totp(id, &code_at(&app, now(&t)), None).await.unwrap();
    assert_eq!(challenge.username, kari());
    let tokens = t.app.open_session(&challenge.username, false, None).await.unwrap();
    assert!(t.app.authenticate(&tokens.access_token).await.is_ok());
    let r = t.app.verify_totp(id, &code_at(&app, now(&t) + 30), None).await;
    assert!(
        matches!(r, Err(ServiceError::ChallengeGone)),
        "a challenge is answered once: {r:?}"
    );
}

#[tokio::test]
async fn a_code_is_accepted_once_even_on_another_challenge_and_the_confirming_code_cannot_log_in() {
    let t = setup().await;
    let enrolment = t
        .app
        .start_totp_enrolment(&kari(), None, &pw(PASSWORD), None)
        .await
        .unwrap();
    let app = app_from(&enrolment.secret);
    let confirming = code_at(&app, now(&t));
    t.app
        .confirm_totp_enrolment(&kari(), None, &confirming, None)
        .await
        .unwrap();

    let first = login(&t).await.challenge.challenge_id;
    match t.app.verify_totp(&first, &confirming, None).await {
        Err(ServiceError::InvalidCode { attempts_left }) => assert_eq!(attempts_left, 4),
        other => panic!("the confirming code logged in: {other:?}"),
    }
    t.clock.advance(30);
    let code = code_at(&app, now(&t));
    t.app.verify_totp(&first, &code, None).await.unwrap();

    let second = login(&t).await.challenge.challenge_id;
    let r = t.app.verify_totp(&second, &code, None).await;
    assert!(matches!(r, Err(ServiceError::InvalidCode { .. })), "replayed: {r:?}");
    let trail = serde_json::to_string(&t.app.repo.audit_trail(&kari(), now(&t)).await.unwrap()).unwrap();
    assert!(
        trail.contains(r#""reused":true"#),
        "the audit trail tells replays apart: {trail}"
    );
    // Older steps than the one used are refused too, newer ones work.
    let r = t.app.verify_totp(&second, &code_at(&app, now(&t) - 30), None).await;
    assert!(matches!(r, Err(ServiceError::InvalidCode { .. })), "{r:?}");
    t.clock.advance(30);
    t.app.verify_totp(&second, &code_at(&app, now(&t)), None).await.unwrap();
}

#[tokio::test]
async fn codes_one_step_early_or_late_work_two_steps_do_not() {
    let t = setup().await;
    let app = enrolled(&t).await;
    // Past the step used to confirm (else "previous step" would be a replay), inside a step.
    t.clock.advance(30 + 12);
    let at = now(&t);
    let id = login(&t).await.challenge.challenge_id;
    for offset in [-60, 60] {
        let r = t.app.verify_totp(&id, &code_at(&app, at + offset), None).await;
        assert!(
            matches!(r, Err(ServiceError::InvalidCode { .. })),
            "offset {offset}: {r:?}"
        );
    }
    t.app
        .verify_totp(&id, &code_at(&app, at - 30), None)
        .await
        .expect("previous step");
    let id = login(&t).await.challenge.challenge_id;
    t.app
        .verify_totp(&id, &code_at(&app, at + 30), None)
        .await
        .expect("next step");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_verifies_of_one_code_open_exactly_one_session() {
    let t = setup().await;
    let app = enrolled(&t).await;
    let code = code_at(&app, now(&t));
    // The same code on several challenges at once (a phished code replayed in parallel)...
    let mut ids = Vec::new();
    // (8 x 2 attempts: the 15 that lose stay below the 20 wrong codes that lock code entry.)
    for _ in 0..8 {
        ids.push(login(&t).await.challenge.challenge_id);
    }
    // ...and several times on each, all released at once.
    let attempts: Vec<ChallengeId> = ids.iter().flat_map(|id| [id.clone(), id.clone()]).collect();
    let start = Arc::new(tokio::sync::Barrier::new(attempts.len()));
    let tasks = attempts.into_iter().map(|id| {
        let (a, code, start) = (t.app.clone(), code.clone(), start.clone());
        tokio::spawn(async move {
            start.wait().await;
            a.verify_totp(&id, &code, None).await
        })
    });
    let results: Vec<_> = futures_join(tasks).await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    assert!(
        results.iter().all(|r| matches!(
            r,
            Ok(_) | Err(ServiceError::InvalidCode { .. }) | Err(ServiceError::ChallengeGone)
        )),
        "{results:?}"
    );
}

async fn futures_join<T: Send + 'static>(tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test]
async fn sms_fallback_sends_the_first_code_at_once_then_the_usual_spacing_applies() {
    let t = setup().await;
    let app = enrolled(&t).await;
    let started = login(&t).await;
    let id = started.challenge.challenge_id;
    let before = t.sms.sent().len();
    // Before asking for an SMS there is no SMS code: a guess is a wrong code.
    let r = t
        .app
        .verify_code(&id, &OneTimeCode::parse("123456").unwrap(), None, is_login)
        .await;
    assert!(
        matches!(r, Err(ServiceError::InvalidCode { attempts_left: 4 })),
        "{r:?}"
    );

    t.app.resend_code(&id, None).await.expect("first SMS at once");
    assert_eq!(t.sms.sent().len(), before + 1);
    let sms_code = t.sms.last_code_to(&mobile()).unwrap();
    match t.app.resend_code(&id, None).await {
        Err(ServiceError::ResendTooSoon { retry_after }) => assert_eq!(retry_after, 30),
        other => panic!("expected resend_too_soon, got {other:?}"),
    }
    // Both factors stay open: the app code would also work, but the SMS code is used here.
    let challenge = t.app.verify_code(&id, &sms_code, None, is_login).await.unwrap();
    assert_eq!(challenge.username, kari());

    // On another login the app still works after asking for an SMS.
    let id = login(&t).await.challenge.challenge_id;
    t.clock.advance(30);
    t.app.resend_code(&id, None).await.unwrap();
    t.app.verify_totp(&id, &code_at(&app, now(&t)), None).await.unwrap();
}

#[tokio::test]
async fn sms_fallback_that_fails_to_send_can_be_retried_at_once() {
    let t = setup().await;
    enrolled(&t).await;
    let id = login(&t).await.challenge.challenge_id;
    t.sms.set_failing(true);
    let r = t.app.resend_code(&id, None).await;
    assert!(matches!(r, Err(ServiceError::SmsUnavailable(_))), "{r:?}");
    t.sms.set_failing(false);
    t.app.resend_code(&id, None).await.expect("retry without waiting");
    let code = t.sms.last_code_to(&mobile()).unwrap();
    t.app.verify_code(&id, &code, None, is_login).await.unwrap();
}

#[tokio::test]
async fn wrong_app_and_sms_codes_share_the_five_attempts_of_a_challenge() {
    let t = setup().await;
    let app = enrolled(&t).await;
    let id = login(&t).await.challenge.challenge_id;
    let wrong = wrong_code(&app, now(&t));
    let mut lefts = Vec::new();
    for i in 0..5 {
        let r = if i % 2 == 0 {
            t.app.verify_totp(&id, &wrong, None).await
        } else {
            t.app.verify_code(&id, &wrong, None, is_login).await
        };
        match r {
            Err(ServiceError::InvalidCode { attempts_left }) => lefts.push(attempts_left),
            other => panic!("expected invalid_code, got {other:?}"),
        }
    }
    assert_eq!(lefts, [4, 3, 2, 1, 0]);
    let r = t.app.verify_totp(&id, &code_at(&app, now(&t)), None).await;
    assert!(
        matches!(r, Err(ServiceError::ChallengeGone)),
        "right code on a dead challenge: {r:?}"
    );
}

#[tokio::test]
async fn twenty_wrong_codes_of_either_kind_lock_code_entry_for_the_app_too() {
    let t = setup().await;
    let app = enrolled(&t).await;
    let mut wrongs = 0;
    for round in 0..4 {
        let id = login(&t).await.challenge.challenge_id;
        let wrong = wrong_code(&app, now(&t));
        for _ in 0..5 {
            let r = if round % 2 == 0 {
                t.app.verify_totp(&id, &wrong, None).await
            } else {
                t.app.verify_code(&id, &wrong, None, is_login).await
            };
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
    let r = t.app.start_login("kari", &pw(PASSWORD), false, None).await;
    assert!(matches!(r, Err(ServiceError::CodeEntryLocked { .. })), "{r:?}");
    t.clock.advance(3600);
    let id = login(&t).await.challenge.challenge_id;
    t.app
        .verify_totp(&id, &code_at(&app, now(&t)), None)
        .await
        .expect("the lock lifts after an hour");
}

#[tokio::test]
async fn app_logins_open_at_most_ten_challenges_an_hour() {
    let t = setup().await;
    enrolled(&t).await;
    // Each challenge sends no SMS, so it is counted on its own: 10 an hour, like SMS codes.
    for i in 0..10 {
        let r = t.app.start_login("kari", &pw(PASSWORD), false, None).await;
        assert!(r.is_ok(), "login {i}: {r:?}");
    }
    match t.app.start_login("kari", &pw(PASSWORD), false, None).await {
        Err(ServiceError::TooManyAttempts { retry_after }) => assert_eq!(retry_after, 3600),
        other => panic!("expected too_many_attempts, got {other:?}"),
    }
    t.clock.advance(3600);
    assert_eq!(login(&t).await.methods, &["totp", "sms", "recovery_code"]);
    assert!(t
        .sms
        .sent()
        .iter()
        .all(|(_, body)| !body.starts_with("Din engangskode")));
}

#[tokio::test]
async fn a_right_app_code_is_refused_while_code_entry_is_locked() {
    let policy = Policy {
        code_failures_per_account_hour: 3,
        ..Policy::default()
    };
    let t = TestApp::with_policy(Arc::new(SqliteStore::in_memory().unwrap()), policy);
    t.account("kari", PASSWORD, MOBILE).await;
    let app = enrolled(&t).await;
    let open = login(&t).await.challenge.challenge_id;
    let id = login(&t).await.challenge.challenge_id;
    let wrong = wrong_code(&app, now(&t));
    for _ in 0..3 {
        let _ = t.app.verify_totp(&id, &wrong, None).await;
    }
    let r = t.app.verify_totp(&open, &code_at(&app, now(&t)), None).await;
    assert!(matches!(r, Err(ServiceError::CodeEntryLocked { .. })), "{r:?}");
}

#[tokio::test]
async fn the_stored_secret_is_encrypted_and_bound_to_its_account() {
    let t = setup().await;
    t.account("ola", PASSWORD, "+4791234568").await;
    let enrolment = t
        .app
        .start_totp_enrolment(&kari(), None, &pw(PASSWORD), None)
        .await
        .unwrap();
    let app = app_from(&enrolment.secret);
    t.app
        .confirm_totp_enrolment(&kari(), None, &code_at(&app, now(&t)), None)
        .await
        .unwrap();

    let item = t
        .store
        .get(&account_pk(&kari()), TOTP_SK, now(&t))
        .await
        .unwrap()
        .expect("stored");
    let raw = item.data.to_string();
    let secret_bytes = Secret::try_from_base32(&enrolment.secret).unwrap().as_bytes().to_vec();
    let hex: String = secret_bytes.iter().map(|b| format!("{b:02x}")).collect();
    use base64::Engine;
    for encoding in [
        enrolment.secret.clone(),
        enrolment.secret.to_lowercase(),
        hex,
        base64::engine::general_purpose::STANDARD.encode(&secret_bytes),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&secret_bytes),
    ] {
        assert!(!raw.contains(&encoding), "secret readable in the store: {raw}");
    }

    let record: TotpRecord = serde_json::from_value(item.data.clone()).unwrap();
    let sealed: Sealed = record.active.clone().unwrap().secret;
    assert_eq!(t.app.open_totp_secret(&kari(), &sealed).unwrap(), secret_bytes);
    let other_key = SecretBox::new(&[42u8; 32]).unwrap();
    assert!(
        other_key.open(&sealed, b"hjemmekontor-totp-v1:kari").is_err(),
        "another key opens nothing"
    );
    let ola = Username::parse("ola").unwrap();
    assert!(
        t.app.open_totp_secret(&ola, &sealed).is_err(),
        "the secret is bound to its username"
    );

    // Copied onto another account, the sealed secret does not make codes work there.
    let copy = Item::new(account_pk(&ola), TOTP_SK, item.data.clone());
    t.store.put(copy, Condition::Absent, now(&t)).await.unwrap();
    t.clock.advance(30);
    let id = t
        .app
        .start_login("ola", &pw(PASSWORD), false, None)
        .await
        .unwrap()
        .challenge
        .challenge_id;
    let r = t.app.verify_totp(&id, &code_at(&app, now(&t)), None).await;
    assert!(r.is_err(), "{r:?}");
}

#[tokio::test]
async fn removal_needs_the_password_notifies_and_brings_back_sms_login() {
    let t = setup().await;
    let app = enrolled(&t).await;
    let r = t.app.remove_totp(&kari(), None, &pw("feil passord her"), None).await;
    assert!(matches!(r, Err(ServiceError::WrongPassword)), "{r:?}");
    assert!(t.app.totp_status(&kari()).await.unwrap().enabled);
    // The right password is not enough without a fresh second factor.
    let r = t.app.remove_totp(&kari(), None, &pw(PASSWORD), None).await;
    assert!(
        matches!(&r, Err(ServiceError::StepUpRequired { methods }) if methods == &["totp", "recovery_code"]),
        "{r:?}"
    );
    assert!(t.app.totp_status(&kari()).await.unwrap().enabled);

    t.clock.advance(30);
    let fresh = stepped_up(&t, &app).await;
    t.app.remove_totp(&kari(), fresh, &pw(PASSWORD), None).await.unwrap();
    let (to, notice) = t.sms.sent().last().cloned().unwrap();
    assert_eq!(to, MOBILE);
    assert!(notice.contains("fjernet"), "{notice}");
    assert!(!t.app.totp_status(&kari()).await.unwrap().enabled);

    let before = t.sms.sent().len();
    let started = login(&t).await;
    assert_eq!(started.methods, ["sms"]);
    assert_eq!(t.sms.sent().len(), before + 1, "login sends an SMS again");
    let r = t.app.remove_totp(&kari(), None, &pw(PASSWORD), None).await;
    assert!(matches!(r, Err(ServiceError::TotpNotEnrolled)), "{r:?}");
}

#[tokio::test]
async fn a_new_enrolment_replaces_the_old_app_only_when_confirmed() {
    let t = setup().await;
    let old = enrolled(&t).await;
    t.clock.advance(30);
    let fresh = stepped_up(&t, &old).await;
    let enrolment = t
        .app
        .start_totp_enrolment(&kari(), fresh, &pw(PASSWORD), None)
        .await
        .unwrap();
    let new = app_from(&enrolment.secret);
    t.clock.advance(30);
    let id = login(&t).await.challenge.challenge_id;
    t.app
        .verify_totp(&id, &code_at(&old, now(&t)), None)
        .await
        .expect("the old app works until the new one is confirmed");
    t.clock.advance(30);
    t.app
        .confirm_totp_enrolment(&kari(), fresh, &code_at(&new, now(&t)), None)
        .await
        .unwrap();
    t.clock.advance(30);
    let id = login(&t).await.challenge.challenge_id;
    let r = t.app.verify_totp(&id, &code_at(&old, now(&t)), None).await;
    assert!(
        matches!(r, Err(ServiceError::InvalidCode { .. })),
        "old app after replacement: {r:?}"
    );
    t.app.verify_totp(&id, &code_at(&new, now(&t)), None).await.unwrap();
}

#[tokio::test]
async fn operators_can_see_and_remove_an_app() {
    let t = setup().await;
    let r = t.app.admin_totp_status(&Username::parse("finnes-ikke").unwrap()).await;
    assert!(matches!(r, Err(AdminError::NoSuchAccount(_))), "{r:?}");
    assert!(!t.app.admin_totp_status(&kari()).await.unwrap().enabled);
    enrolled(&t).await;
    assert!(t.app.admin_totp_status(&kari()).await.unwrap().enabled);
    assert!(t.app.admin_remove_totp(&kari()).await.unwrap());
    assert!(
        !t.app.admin_remove_totp(&kari()).await.unwrap(),
        "nothing left to remove"
    );
    assert_eq!(login(&t).await.methods, ["sms"]);
    let trail = serde_json::to_string(&t.app.repo.audit_trail(&kari(), now(&t)).await.unwrap()).unwrap();
    assert!(
        trail.contains(r#""event":"totp_removed""#) && trail.contains(r#""by":"operator""#),
        "{trail}"
    );
}

#[tokio::test]
async fn an_app_code_does_not_answer_an_sms_only_challenge() {
    let t = setup().await;
    let id = login(&t).await.challenge.challenge_id;
    let r = t
        .app
        .verify_totp(&id, &OneTimeCode::parse("123456").unwrap(), None)
        .await;
    assert!(matches!(r, Err(ServiceError::ChallengeGone)), "{r:?}");
}

#[tokio::test]
async fn without_a_totp_key_enrolment_is_refused_and_sms_login_goes_on() {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let mut keys = KeyMaterial::generate().unwrap();
    keys.extra.remove(TOTP_KEY);
    let sms = Arc::new(CapturingSms::default());
    let app = App::build(AppParts {
        store: store.clone(),
        sms: sms.clone(),
        clock: Arc::new(ManualClock::new(START)),
        keys: portal_core::security::key_parts::KeyParts::from_material(&keys).unwrap(),
        settings: Settings::default(),
        policy: Policy::default(),
        hash_params: FAST_HASH,
    })
    .unwrap();
    app.create_account(portal_core::services::admin::NewAccount {
        username: kari(),
        name: "Kari".into(),
        email: None,
        mobile: mobile(),
        home_office: true,
        password: portal_core::services::admin::InitialPassword::Permanent(pw(PASSWORD)),
    })
    .await
    .unwrap();
    let r = app.start_totp_enrolment(&kari(), None, &pw(PASSWORD), None).await;
    assert!(matches!(r, Err(ServiceError::TotpUnavailable(_))), "{r:?}");
    let started = app.start_login("kari", &pw(PASSWORD), false, None).await.unwrap();
    assert_eq!(started.methods, ["sms"]);
    assert_eq!(sms.sent().len(), 1);
}
