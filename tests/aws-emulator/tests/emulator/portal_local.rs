//! `portal-local --store dynamodb --sms sns` against the AWS emulator: the whole journey over
//! HTTP, then outages of SNS and of DynamoDB in the middle of it. The emulator sits behind
//! proxies the test cuts and restores, so it keeps its data like a recovering AWS region would.

use std::time::{Duration, Instant};

use aws_emulator_tests::emulator::{unique_mobile, unique_name};
use aws_emulator_tests::process::{create_fixture_account, run, Running};
use aws_emulator_tests::proxy::Proxy;
use aws_emulator_tests::Emulator;
use reqwest::header::{HeaderMap, CONTENT_TYPE, SET_COOKIE};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "et passord som holder mål";
const COOKIE: &str = "__Host-hk_refresh";

struct Portal {
    base: String,
    http: Client,
    _process: Running,
}

impl Portal {
    async fn post(&self, path: &str, body: Value) -> Response {
        self.http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("portal-local answers")
    }

    async fn login(&self, username: &str) -> Response {
        self.post("/v1/auth/login", json!({"username": username, "password": PASSWORD}))
            .await
    }
}

/// An outage answers 503 with this problem `code`, and quickly (no hanging on the dead
/// service until the caller gives up).
async fn assert_unavailable_at_once(response: Response, started: Instant, code: &str) {
    let (status, _, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some(code))
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

async fn problem(response: Response) -> (StatusCode, HeaderMap, Value) {
    let status = response.status();
    let headers = response.headers().clone();
    assert_eq!(
        headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "status {status}"
    );
    (status, headers, response.json().await.expect("problem body"))
}

fn refresh_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(COOKIE))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journey_survives_sns_and_dynamodb_outages() {
    let Some(emulator) = Emulator::from_env() else {
        return;
    };
    let mut dynamodb = Proxy::start(&emulator.address()).await;
    let mut sns = Proxy::start(&emulator.address()).await;
    let data_dir = tempfile::tempdir().unwrap();
    let dir = data_dir.path().to_str().unwrap().to_owned();
    let table = unique_name("portal-local");
    let username = unique_name("kari").replace('-', "_");
    let mobile = unique_mobile();

    let mut env = emulator.child_env();
    env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), dynamodb.endpoint()));
    env.push(("AWS_ENDPOINT_URL_SNS".into(), sns.endpoint()));
    let (ok, out) = run(
        "portal-admin",
        &["--store", "dynamodb", "--table", &table, "init-table"],
        &env,
    )
    .await;
    assert!(ok && out.contains("created table"), "{out}");
    let account = [username.as_str(), "Kari Nordmann", mobile.as_str()];
    create_fixture_account(&env, &dir, &table, account, PASSWORD).await;

    let process = Running::spawn(
        "portal-local",
        &[
            "--port",
            "0",
            "--data-dir",
            &dir,
            "--store",
            "dynamodb",
            "--table",
            &table,
            "--sms",
            "sns",
            "--no-demo",
        ],
        &env,
    );
    let line = process.wait_for("listening on ", Duration::from_secs(20)).await;
    let address = line.rsplit("listening on ").next().unwrap().trim().to_owned();
    let portal = Portal {
        base: format!("http://{address}"),
        http: Client::builder().timeout(Duration::from_secs(20)).build().unwrap(),
        _process: process,
    };

    let outbox = portal
        .http
        .get(format!("{}/dev/sms", portal.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        outbox.status(),
        StatusCode::NOT_FOUND,
        "no local outbox when SMS go through SNS"
    );

    // SNS is down: login answers 503 and leaves nothing half-done behind.
    sns.cut();
    let started = Instant::now();
    let login = portal.login(&username).await;
    assert_unavailable_at_once(login, started, "sms_unavailable").await;
    assert!(emulator.sms_to(&mobile).await.is_empty());

    // SNS is back: the same login simply works.
    sns.restore().await;
    let login = portal.login(&username).await;
    assert_eq!(login.status(), StatusCode::OK);
    let challenge = login.json::<Value>().await.unwrap()["challenge_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = emulator.latest_code(&mobile).await;

    // DynamoDB is down while the user types the code: 503 problem, no 500, no lost code.
    dynamodb.cut();
    let started = Instant::now();
    let verify = portal
        .post("/v1/auth/sms/verify", json!({"challenge_id": challenge, "code": code}))
        .await;
    assert_unavailable_at_once(verify, started, "service_unavailable").await;
    let (status, _, _) = problem(portal.login(&username).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    // DynamoDB is back: the user retries the same code and is in.
    dynamodb.restore().await;
    let verified = portal
        .post("/v1/auth/sms/verify", json!({"challenge_id": challenge, "code": code}))
        .await;
    assert_eq!(verified.status(), StatusCode::OK);
    let cookie = refresh_cookie(verified.headers()).expect("refresh cookie");
    let token = verified.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let account: Value = portal
        .http
        .get(format!("{}/v1/account", portal.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(account["username"], username.as_str());
    assert_eq!(account["mobile"], mobile.as_str());

    let refreshed = portal
        .http
        .post(format!("{}/v1/auth/refresh", portal.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK);
    let token = refreshed.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let logout = portal
        .http
        .post(format!("{}/v1/auth/logout", portal.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let after = portal
        .http
        .get(format!("{}/v1/account", portal.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}
