//! Issue #18's SMS rules: codes and notices only to Norwegian numbers unless an operator
//! allowed the account another country, the portal-wide SMS ceilings, SNS delivery failures in
//! the audit trail and on the login screen, and the WebOTP line of every code SMS.

use std::sync::Arc;

use http::Method;
use portal_core::audit::AuditKind;
use portal_core::config::Policy;
use portal_core::domain::{CountryCode, MobileNumber, Password, Username};
use portal_core::error::ServiceError;
use portal_core::services::sms_spend::{DAY_BUDGET, HOUR_BUDGET};
use portal_core::sms::delivery_status::{decode_subscription, encode_subscription, status_record};
use portal_core::store::sqlite::SqliteStore;
use portal_testkit::TestApp;
use serde_json::{json, Value};

use crate::harness::{request, send, PASSWORD};

const SWEDISH: &str = "+46701234567";
const BRITISH: &str = "+447912345678";
const FAILURE_LOG: &str = "sns/eu-north-1/123456789012/DirectPublishToPhoneNumber/Failure";

fn pw(s: &str) -> Password {
    Password::new(s.into())
}

fn number(s: &str) -> MobileNumber {
    MobileNumber::parse(s).unwrap()
}

fn sweden() -> CountryCode {
    CountryCode::parse("46").unwrap()
}

fn test_app_with(policy: Policy) -> TestApp {
    TestApp::with_policy(
        Arc::new(SqliteStore::in_memory().unwrap()),
        Policy {
            forgot_password_min_response: std::time::Duration::ZERO,
            ..policy
        },
    )
}

async fn trail(t: &TestApp, user: &Username) -> Vec<portal_core::audit::AuditEvent> {
    t.app.repo.audit_trail(user, t.app.now()).await.unwrap()
}

/// `POST path` with a JSON body through `router`: (status, body).
async fn post(router: &axum::Router, path: &str, body: Value) -> (u16, Value) {
    let answer = send(router, request(Method::POST, path, None, Some(body))).await;
    (answer.status.as_u16(), answer.body)
}

// ---- countries ------------------------------------------------------------------------

#[tokio::test]
async fn a_login_code_to_a_swedish_number_is_refused_until_an_operator_allows_sweden() {
    let t = test_app_with(Policy::default());
    let user = t.account("sven", PASSWORD, SWEDISH).await;
    let login = portal_http::routes::login_routes().with_state(t.app.clone());
    let (status, problem) = post(
        &login,
        "/v1/auth/login",
        json!({"username": "sven", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("sms_country_not_allowed")),
        "{problem}"
    );
    assert_eq!(problem["country_code"], "+46");
    assert!(t.sms.sent().is_empty(), "nothing texted abroad");
    // A wrong password still answers exactly as for anyone: the country is told only after
    // the password was right.
    let (status, problem) = post(
        &login,
        "/v1/auth/login",
        json!({"username": "sven", "password": "feil feil feil"}),
    )
    .await;
    assert_eq!((status, problem["code"].as_str()), (401, Some("invalid_credentials")));

    // Another country's allowance opens nothing for Sweden.
    t.app
        .allow_sms_country(&user, CountryCode::parse("44").unwrap())
        .await
        .unwrap();
    let r = t.app.login("sven", &pw(PASSWORD), false, None).await;
    assert!(
        matches!(r, Err(ServiceError::SmsCountryNotAllowed { country }) if country == sweden()),
        "{r:?}"
    );

    t.app.allow_sms_country(&user, sweden()).await.unwrap();
    t.app
        .login("sven", &pw(PASSWORD), false, None)
        .await
        .expect("allowed now");
    assert!(t.sms.last_code_to(&number(SWEDISH)).is_some());
    assert!(trail(&t, &user)
        .await
        .iter()
        .any(|e| e.event == AuditKind::SmsCountryAllowed && e.detail["country_code"] == "+46"));

    t.app.disallow_sms_country(&user, sweden()).await.unwrap();
    t.clock.advance(30);
    let r = t.app.login("sven", &pw(PASSWORD), false, None).await;
    assert!(matches!(r, Err(ServiceError::SmsCountryNotAllowed { .. })), "{r:?}");
}

#[tokio::test]
async fn a_reset_for_a_foreign_number_answers_like_any_other_and_texts_nothing() {
    let t = test_app_with(Policy::default());
    let user = t.account("sven", PASSWORD, SWEDISH).await;
    let id = t
        .app
        .forgot_password("sven", None)
        .await
        .expect("the same 202 as always");
    assert!(t.sms.sent().is_empty());
    let requested = trail(&t, &user)
        .await
        .into_iter()
        .find(|e| e.event == AuditKind::PasswordResetRequested)
        .unwrap();
    assert_eq!(requested.detail["code_sent"], false);
    // "Send again" answers alike too, and still texts nothing.
    t.clock.advance(30);
    t.app.resend_code(&id, None).await.expect("200 as for anyone");
    assert!(t.sms.sent().is_empty());
    t.app.allow_sms_country(&user, sweden()).await.unwrap();
    t.clock.advance(30);
    t.app.resend_code(&id, None).await.unwrap();
    assert!(
        t.sms.last_code_to(&number(SWEDISH)).is_some(),
        "allowed: the code goes out"
    );
}

#[tokio::test]
async fn a_phone_change_abroad_is_refused_up_front_unless_the_country_is_allowed() {
    let t = test_app_with(Policy::default());
    let user = t.account("kari", PASSWORD, "+4791234567").await;
    let tokens = t.app.open_session(&user, false, None).await.unwrap();
    let me = t.app.authenticate(&tokens.access_token).await.unwrap();
    // Refused before the password is checked: a wrong one is not even counted.
    let r = t
        .app
        .start_phone_change(&me, SWEDISH, &pw("feil passord her"), None)
        .await;
    assert!(matches!(r, Err(ServiceError::SmsCountryNotAllowed { .. })), "{r:?}");
    assert!(t.sms.sent().is_empty());
    t.app.allow_sms_country(&user, sweden()).await.unwrap();
    t.app
        .start_phone_change(&me, SWEDISH, &pw(PASSWORD), None)
        .await
        .expect("allowed");
    assert!(t.sms.last_code_to(&number(SWEDISH)).is_some());
    let r = t.app.start_phone_change(&me, BRITISH, &pw(PASSWORD), None).await;
    assert!(matches!(r, Err(ServiceError::SmsCountryNotAllowed { .. })), "{r:?}");
}

#[tokio::test]
async fn security_notices_to_a_foreign_number_follow_the_same_rule() {
    let t = test_app_with(Policy::default());
    let user = t.account("sven", PASSWORD, SWEDISH).await;
    let tokens = t.app.open_session(&user, false, None).await.unwrap();
    let me = t.app.authenticate(&tokens.access_token).await.unwrap();
    t.app
        .change_password(&me, &pw(PASSWORD), pw("blåbær syltetøy på vaffel"), None)
        .await
        .unwrap();
    assert!(t.sms.sent().is_empty(), "no notice abroad without the allowance");
    let changed = trail(&t, &user)
        .await
        .into_iter()
        .find(|e| e.event == AuditKind::PasswordChanged)
        .unwrap();
    assert_eq!(changed.detail["notice_sent"], false, "{changed:?}");
}

// ---- the portal-wide ceilings -----------------------------------------------------------

#[tokio::test]
async fn past_the_hourly_ceiling_new_codes_are_refused_for_everyone_until_the_hour_slides() {
    let t = test_app_with(Policy {
        sms_global_per_hour: 3,
        sms_global_per_day: 100,
        ..Policy::default()
    });
    for (i, name) in ["anne1", "anne2", "anne3", "anne4"].iter().enumerate() {
        t.account(name, PASSWORD, &format!("+479123456{i}")).await;
    }
    for name in ["anne1", "anne2", "anne3"] {
        t.app.login(name, &pw(PASSWORD), false, None).await.unwrap();
    }
    let login = portal_http::routes::login_routes().with_state(t.app.clone());
    let (status, problem) = post(
        &login,
        "/v1/auth/login",
        json!({"username": "anne4", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (503, Some("sms_unavailable")),
        "{problem}"
    );
    let retry = problem["retry_after"].as_u64().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_eq!(t.sms.sent().len(), 3);
    // A decoy (forgot-password for an unknown name) is refused alike: the ceiling does not
    // tell names apart.
    let r = t.app.forgot_password("nobody", None).await;
    assert!(matches!(r, Err(ServiceError::SmsBudgetExhausted { .. })), "{r:?}");
    // A refusal gives nothing back to the per-account limits: a4 can log in once it slides.
    t.clock.advance(3600 * 2);
    t.app
        .login("anne4", &pw(PASSWORD), false, None)
        .await
        .expect("a new hour");
}

#[tokio::test]
async fn the_daily_ceiling_holds_across_hours_and_notices_still_go_out_past_it() {
    let t = test_app_with(Policy {
        sms_global_per_hour: 100,
        sms_global_per_day: 2,
        ..Policy::default()
    });
    let kari = t.account("kari", PASSWORD, "+4791234567").await;
    t.account("ola", PASSWORD, "+4791234568").await;
    t.app.login("kari", &pw(PASSWORD), false, None).await.unwrap();
    t.clock.advance(3 * 3600);
    t.app.login("ola", &pw(PASSWORD), false, None).await.unwrap();
    t.clock.advance(3 * 3600);
    let r = t.app.login("kari", &pw(PASSWORD), false, None).await;
    match r {
        Err(ServiceError::SmsBudgetExhausted { retry_after }) => assert!(retry_after > 3600, "{retry_after}"),
        other => panic!("expected the daily ceiling, got {other:?}"),
    }
    // A security notice reports what already happened: never silenced by the ceiling.
    let tokens = t.app.open_session(&kari, false, None).await.unwrap();
    let me = t.app.authenticate(&tokens.access_token).await.unwrap();
    let before = t.sms.sent().len();
    t.app
        .change_password(&me, &pw(PASSWORD), pw("blåbær syltetøy på vaffel"), None)
        .await
        .unwrap();
    assert_eq!(t.sms.sent().len(), before + 1, "the notice went out");
    assert_eq!(
        [HOUR_BUDGET, DAY_BUDGET],
        ["sms-global-hour", "sms-global-day"],
        "the alarms' Budget dimensions"
    );
}

#[tokio::test]
async fn an_sms_that_could_not_be_sent_gives_its_place_under_the_ceiling_back() {
    let t = test_app_with(Policy {
        sms_global_per_hour: 1,
        ..Policy::default()
    });
    t.account("kari", PASSWORD, "+4791234567").await;
    t.sms.set_failing(true);
    let r = t.app.login("kari", &pw(PASSWORD), false, None).await;
    assert!(matches!(r, Err(ServiceError::SmsUnavailable(_))), "{r:?}");
    t.sms.set_failing(false);
    t.app
        .login("kari", &pw(PASSWORD), false, None)
        .await
        .expect("the failed one was given back");
}

// ---- delivery status --------------------------------------------------------------------

/// The CloudWatch Logs subscription payload SNS's failure log sends for `message_id`.
fn failure_event(message_id: &str) -> String {
    encode_subscription(
        FAILURE_LOG,
        &[status_record(
            message_id,
            false,
            "Phone is currently unreachable/unavailable",
        )],
    )
}

#[tokio::test]
async fn a_login_sms_reported_undelivered_is_audited_and_the_app_is_offered() {
    let t = portal_testkit::TestApp::in_memory();
    let user = t.account("kari", PASSWORD, "+4791234567").await;
    let secret = t
        .app
        .start_totp_enrolment(&user, None, &pw(PASSWORD), None)
        .await
        .unwrap()
        .secret;
    let authenticator = portal_testkit::authenticator_app(&secret).unwrap();
    let now = t.app.now() as u64;
    let code = portal_core::domain::OneTimeCode::parse(&authenticator.generate(now).to_string()).unwrap();
    t.app.confirm_totp_enrolment(&user, None, &code, None).await.unwrap();
    t.clock.advance(30);

    let id = t
        .app
        .start_login("kari", &pw(PASSWORD), false, None)
        .await
        .unwrap()
        .challenge
        .challenge_id;
    let sms_code = portal_http::routes::sms_code_routes().with_state(t.app.clone());
    let (status, view) = post(&sms_code, "/v1/auth/sms/status", json!({"challenge_id": id})).await;
    assert_eq!(
        (status, view.clone()),
        (200, json!({"sms": "unknown", "alternatives": ["totp"]}))
    );

    t.app.resend_code(&id, None).await.unwrap(); // "send me an SMS instead"
    let sent = t.sms.last_message_id_to(&number("+4791234567")).unwrap();
    let statuses = decode_subscription(&failure_event(&sent)).unwrap();
    let report = t.app.record_sms_delivery(&statuses).await.unwrap();
    assert_eq!(report.failed, 1);
    let (_, view) = post(&sms_code, "/v1/auth/sms/status", json!({"challenge_id": id})).await;
    assert_eq!(view, json!({"sms": "failed", "alternatives": ["totp"]}));

    // The same status again (CloudWatch Logs retries) is audited once.
    t.app.record_sms_delivery(&statuses).await.unwrap();
    let failures: Vec<_> = trail(&t, &user)
        .await
        .into_iter()
        .filter(|e| e.event == AuditKind::SmsDeliveryFailed)
        .collect();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        failures[0].detail["to"], "+47 ••••••67",
        "masked as the audit trail masks numbers"
    );
    assert_eq!(failures[0].detail["what"], "login");
    assert_eq!(
        failures[0].detail["provider_response"],
        "Phone is currently unreachable/unavailable"
    );

    // The app answers the challenge, as offered.
    let app_code =
        portal_core::domain::OneTimeCode::parse(&authenticator.generate(t.app.now() as u64).to_string()).unwrap();
    t.app
        .verify_totp(&id, &app_code, None)
        .await
        .expect("the offered factor works");
}

#[tokio::test]
async fn a_resend_starts_over_and_an_older_sms_failing_late_does_not_mark_the_new_one() {
    let t = portal_testkit::TestApp::in_memory();
    t.account("kari", PASSWORD, "+4791234567").await;
    let id = t
        .app
        .login("kari", &pw(PASSWORD), false, None)
        .await
        .unwrap()
        .challenge_id;
    let first = t.sms.last_message_id_to(&number("+4791234567")).unwrap();
    t.clock.advance(30);
    t.app.resend_code(&id, None).await.unwrap();
    let second = t.sms.last_message_id_to(&number("+4791234567")).unwrap();
    // The first one fails after the resend: audited, but the challenge's SMS is the second.
    let report = t
        .app
        .record_sms_delivery(&decode_subscription(&failure_event(&first)).unwrap())
        .await
        .unwrap();
    assert_eq!(report.failed, 1);
    let view = t.app.sms_delivery(&id).await.unwrap();
    assert_eq!((view.sms, view.alternatives.len()), ("unknown", 0));
    t.app
        .record_sms_delivery(&decode_subscription(&failure_event(&second)).unwrap())
        .await
        .unwrap();
    let view = t.app.sms_delivery(&id).await.unwrap();
    assert_eq!(
        (view.sms, view.alternatives.len()),
        ("failed", 0),
        "no app: nothing else to offer"
    );
    // Statuses of messages that are not the portal's are counted and otherwise ignored.
    let other = t
        .app
        .record_sms_delivery(&decode_subscription(&failure_event("someone-else")).unwrap())
        .await
        .unwrap();
    assert_eq!((other.failed, other.unknown), (0, 1));
}

#[tokio::test]
async fn only_login_challenges_answer_the_status_question() {
    let t = test_app_with(Policy::default());
    t.account("kari", PASSWORD, "+4791234567").await;
    let real = t.app.forgot_password("kari", None).await.unwrap();
    let decoy = t.app.forgot_password("nobody", None).await.unwrap();
    let sms_code = portal_http::routes::sms_code_routes().with_state(t.app.clone());
    for id in [real, decoy] {
        let (status, problem) = post(&sms_code, "/v1/auth/sms/status", json!({"challenge_id": id})).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (410, Some("challenge_expired")),
            "{problem}"
        );
    }
}

// ---- WebOTP -------------------------------------------------------------------------------

#[tokio::test]
async fn every_code_sms_ends_with_the_webotp_line_of_the_portal_host() {
    let t = test_app_with(Policy::default());
    let kari = t.account("kari", PASSWORD, "+4791234567").await;
    let host = t.app.webotp_host.clone().expect("the test portal URL has a host");
    t.app.login("kari", &pw(PASSWORD), false, None).await.unwrap();
    t.app.forgot_password("kari", None).await.unwrap();
    let tokens = t.app.open_session(&kari, false, None).await.unwrap();
    let me = t.app.authenticate(&tokens.access_token).await.unwrap();
    t.app
        .start_phone_change(&me, "+4798765432", &pw(PASSWORD), None)
        .await
        .unwrap();
    let sent = t.sms.sent();
    assert_eq!(sent.len(), 3);
    for (_, body) in sent {
        let code = portal_testkit::extract_code(&body).unwrap();
        let last = body.lines().last().unwrap();
        assert_eq!(last, format!("@{} #{}", host.as_str(), code.expose()), "{body}");
        assert!(portal_core::sms::messages::fits_one_sms(&body), "{body}");
    }
}

/// The batched login cannot wait for SNS's message id (a write after the publish would be a
/// fourth round trip): its code is remembered by number, and a failure reported for that
/// number still reaches the audit trail and the login screen.
#[tokio::test]
async fn a_batched_login_code_reported_undelivered_by_number_is_audited_and_shown() {
    let t = portal_testkit::TestApp::in_memory();
    let user = t.account("kari", PASSWORD, "+4791234567").await;
    let id = t
        .app
        .start_login("kari", &pw(PASSWORD), false, None)
        .await
        .unwrap()
        .challenge
        .challenge_id;
    let sent = t.sms.last_message_id_to(&number("+4791234567")).unwrap();
    // SNS's status names the message by an id the portal never stored, and the number.
    let statuses = decode_subscription(&failure_event(&format!("{sent}-unseen"))).unwrap();
    let report = t.app.record_sms_delivery(&statuses).await.unwrap();
    assert_eq!((report.failed, report.unknown), (1, 0));
    // The same status again (CloudWatch Logs retries): still this message, audited once.
    let repeated = t.app.record_sms_delivery(&statuses).await.unwrap();
    assert_eq!((repeated.failed, repeated.unknown), (1, 0));
    let view = t.app.sms_delivery(&id).await.unwrap();
    assert_eq!((view.sms, view.alternatives.len()), ("failed", 0));
    let failures: Vec<_> = trail(&t, &user)
        .await
        .into_iter()
        .filter(|e| e.event == AuditKind::SmsDeliveryFailed)
        .collect();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (failures[0].detail["to"].as_str(), failures[0].detail["what"].as_str()),
        (Some("+47 ••••••67"), Some("login"))
    );
    // A second failure for the number is another message: not pinned on this login.
    let again = t
        .app
        .record_sms_delivery(&decode_subscription(&failure_event("another")).unwrap())
        .await
        .unwrap();
    assert_eq!((again.failed, again.unknown), (0, 1));
}
