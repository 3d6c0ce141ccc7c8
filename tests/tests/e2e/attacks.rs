//! What an attacker sees: nothing that tells accounts apart, no way to guess codes, no 500s.

use e2e::{parts, wrong_code, Portal, Session, PASSWORD};
use serde_json::Value;

const MOBILE: &str = "+4791234567";

#[tokio::test]
async fn unknown_user_wrong_password_and_disabled_account_look_identical() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    portal.create_user("ola", "+4791234568")?;
    portal.admin(&["disable", "ola"])?;
    let unknown = parts(portal.login_response("finnes.ikke", "feil passord her", false).await?).await?;
    let wrong = parts(portal.login_response("kari", "feil passord her", false).await?).await?;
    let disabled = parts(portal.login_response("ola", PASSWORD, false).await?).await?;
    let malformed = parts(
        portal
            .login_response("ugyldig navn!", "feil passord her", false)
            .await?,
    )
    .await?;
    assert_eq!(unknown.0, 401);
    assert_eq!(unknown.2["code"], "invalid_credentials", "{:?}", unknown.2);
    assert_eq!(unknown, wrong);
    assert_eq!(unknown, disabled);
    assert_eq!(unknown, malformed);
    assert_eq!(portal.sms_count_to("+4791234568").await?, 0);
    Ok(())
}

#[tokio::test]
async fn guessing_codes_ends_the_challenge_after_five_tries() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let challenge = portal.login("kari", PASSWORD).await?;
    let right = portal.latest_code(MOBILE).await?;
    let wrong = wrong_code(&right);
    for left in (0..5).rev() {
        let r = portal.verify_sms_response(&challenge, &wrong).await?;
        let (status, content_type, body) = parts(r).await?;
        assert_eq!((status, content_type.as_str()), (400, "application/problem+json"));
        assert_eq!(body["code"], "invalid_code");
        assert_eq!(body["attempts_left"], left);
    }
    let r = portal.verify_sms_response(&challenge, &right).await?;
    let (status, _, body) = parts(r).await?;
    assert_eq!(status, 410, "the right code is useless once the challenge is dead");
    assert_eq!(body["code"], "challenge_expired");
    Ok(())
}

#[tokio::test]
async fn concurrent_verifies_of_the_right_code_open_exactly_one_session() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let challenge = portal.login("kari", PASSWORD).await?;
    let code = portal.latest_code(MOBILE).await?;
    let requests = (0..8).map(|_| portal.verify_sms_response(&challenge, &code));
    let results = futures::future::join_all(requests).await;
    let statuses: Vec<u16> = results
        .into_iter()
        .map(|r| r.map(|r| r.status().as_u16()).unwrap_or(0))
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 410), "{statuses:?}");
    Ok(())
}

#[tokio::test]
async fn resend_flooding_is_throttled_with_retry_after() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let challenge = portal.login("kari", PASSWORD).await?;
    for _ in 0..5 {
        let r = portal.resend_sms(&challenge).await?;
        assert_eq!(r.status(), 429);
        let retry: u64 = r.headers()["retry-after"].to_str()?.parse()?;
        assert!((1..=30).contains(&retry), "{retry}");
        let body: Value = r.json().await?;
        assert_eq!(body["code"], "resend_too_soon");
    }
    assert_eq!(portal.sms_count_to(MOBILE).await?, 1, "no SMS was sent by the flood");
    Ok(())
}

#[tokio::test]
async fn login_flooding_one_account_hits_the_backoff() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            portal
                .login_response("kari", "feil passord her", false)
                .await?
                .status()
                .as_u16(),
        );
    }
    assert_eq!(
        &statuses[..5],
        &[401; 5],
        "the first five wrong passwords are plain failures"
    );
    assert!(matches!(statuses[5], 401 | 429), "{statuses:?}");
    // Fail until 8 failures are counted, waiting out each backoff: the next wait is 8 s.
    e2e::build_backoff(8 - statuses.iter().filter(|s| **s == 401).count(), 401, || async {
        let r = portal.login_response("kari", "feil passord her", false).await?;
        Ok(e2e::status_and_retry_after(&r))
    })
    .await?;
    let throttled = portal.login_response("kari", PASSWORD, false).await?;
    assert_eq!(throttled.status(), 429, "the right password waits out the backoff too");
    assert!(throttled.headers().contains_key("retry-after"));
    Ok(())
}

#[tokio::test]
async fn refresh_token_reuse_revokes_the_session() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;
    let rotated = portal.refresh(&session).await?;
    let rotated = Session::from_token_response(rotated).await?;
    let stolen = portal.refresh(&session).await?;
    assert_eq!(stolen.status(), 401);
    let body: Value = stolen.json().await?;
    assert_eq!(body["code"], "session_revoked");
    let legit = portal.refresh(&rotated).await?;
    assert_eq!(legit.status(), 401, "the thief's reuse ends the whole session");
    let account = portal.account_response(&rotated).await?;
    assert_eq!(account.status(), 401);
    Ok(())
}

/// Issue 14.1: a thief who rotates a copied refresh token twice used to keep the session.
#[tokio::test]
async fn a_copied_refresh_token_rotated_by_the_thief_is_still_caught() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let victim = portal.sign_in("kari", MOBILE).await?;
    let client = portal.client();
    let refresh = |cookie: String| {
        let request = client
            .post(portal.url("/v1/auth/refresh"))
            .header("cookie", cookie)
            .send();
        async move { anyhow::Ok(request.await?) }
    };
    // The thief copies the cookie and rotates it three times.
    let mut thief = Session::from_token_response(refresh(victim.refresh_cookie.clone()).await?).await?;
    for _ in 0..2 {
        thief = Session::from_token_response(refresh(thief.refresh_cookie.clone()).await?).await?;
    }
    // The victim's browser refreshes with the token it still has.
    let replay = refresh(victim.refresh_cookie.clone()).await?;
    assert_eq!(replay.status(), 401);
    let body: Value = replay.json().await?;
    assert_eq!(body["code"], "session_revoked");
    assert_eq!(refresh(thief.refresh_cookie.clone()).await?.status(), 401);
    let account = portal.account_response(&thief).await?;
    assert_eq!(account.status(), 401, "the thief's access token dies with the session");
    Ok(())
}

#[tokio::test]
async fn forged_and_missing_tokens_are_refused() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    let client = portal.client();
    for auth in [
        "",
        "Bearer",
        "Bearer x.y.z",
        "Basic a2FyaTpwdw==",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJrYXJpIn0.",
    ] {
        let r = client
            .get(portal.url("/v1/account"))
            .header("authorization", auth)
            .send()
            .await?;
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    let r = client
        .post(portal.url("/v1/auth/refresh"))
        .header("cookie", "__Host-hk_refresh=garbage")
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    Ok(())
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_4xx_problems_never_500() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    let client = portal.client();
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        ("/v1/auth/login", "application/json", b"{not json".to_vec(), 400),
        ("/v1/auth/login", "application/json", b"[]".to_vec(), 400),
        (
            "/v1/auth/login",
            "application/json",
            br#"{"username":"kari"}"#.to_vec(),
            400,
        ),
        (
            "/v1/auth/login",
            "application/json",
            br#"{"username":1,"password":2}"#.to_vec(),
            400,
        ),
        (
            "/v1/auth/login",
            "application/json",
            br#"{"username":"a","password":"b","extra":true}"#.to_vec(),
            400,
        ),
        (
            "/v1/auth/login",
            "text/plain",
            br#"{"username":"a","password":"b"}"#.to_vec(),
            415,
        ),
        ("/v1/auth/login", "application/json", vec![b'a'; 64 * 1024], 413),
        ("/v1/auth/login", "application/json", vec![0xff, 0xfe, 0x00], 400),
        (
            "/v1/auth/sms/verify",
            "application/json",
            br#"{"challenge_id":"../../etc","code":"123456"}"#.to_vec(),
            400,
        ),
        (
            "/v1/auth/sms/verify",
            "application/json",
            br#"{"challenge_id":"AAAAAAAAAAAAAAAAAAAAAA","code":"12345x"}"#.to_vec(),
            400,
        ),
        (
            "/v1/auth/sms/verify",
            "application/json",
            br#"{"challenge_id":"AAAAAAAAAAAAAAAAAAAAAA","code":"123456"}"#.to_vec(),
            410,
        ),
        (
            "/v1/auth/sms/resend",
            "application/json",
            br#"{"challenge_id":null}"#.to_vec(),
            400,
        ),
    ];
    for (path, content_type, body, expected) in cases {
        let r = client
            .post(portal.url(path))
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await?;
        let (status, ct, problem) = parts(r).await?;
        assert_eq!(
            status,
            expected,
            "{path} {content_type} {:?}",
            String::from_utf8_lossy(&body[..body.len().min(60)])
        );
        assert_eq!(ct, "application/problem+json");
        assert!(problem["code"].is_string() && problem["title"].is_string(), "{problem}");
    }
    let huge_password = "x".repeat(10_000);
    let r = portal.login_response("kari", &huge_password, false).await?;
    assert_eq!(r.status(), 401, "overlong passwords are refused without hashing them");
    Ok(())
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() -> anyhow::Result<()> {
    let portal = Portal::start()?;
    let client = portal.client();
    let r = client.get(portal.url("/v1/nope")).send().await?;
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = client.get(portal.url("/v1/auth/login")).send().await?;
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    Ok(())
}

#[tokio::test]
async fn secrets_stay_out_of_the_console() -> anyhow::Result<()> {
    // The outbox is the local phone; the code must appear there and nowhere in the logs.
    let portal = Portal::start()?;
    portal.create_user("kari", MOBILE)?;
    let session = portal.sign_in("kari", MOBILE).await?;
    let db = portal.stored_data().await?;
    assert!(!db.contains(PASSWORD), "password stored in clear");
    // `<session>.<generation>.<family>.<secret>`: neither 256-bit part may be in the store.
    let parts: Vec<&str> = session.refresh_cookie.split('.').collect();
    assert_eq!(parts.len(), 4, "{}", session.refresh_cookie);
    for secret in &parts[2..] {
        assert!(
            secret.len() == 43 && !db.contains(secret),
            "refresh secret stored in clear"
        );
    }
    Ok(())
}
