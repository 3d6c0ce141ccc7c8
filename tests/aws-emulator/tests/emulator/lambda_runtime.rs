//! The Lambda functions as Lambda runs them: the real binaries, started under a Lambda Runtime
//! API emulator, on DynamoDB, SNS and Secrets Manager in the AWS emulator, invoked with API
//! Gateway HTTP API (v2) events.

use std::time::Duration;

use axum::http::HeaderMap;

use aws_emulator_tests::emulator::{create_secret, unique_mobile, unique_name};
use aws_emulator_tests::http_event::{event, Reply};
use aws_emulator_tests::process::{create_fixture_account, Running};
use aws_emulator_tests::runtime_api::RuntimeApi;
use aws_emulator_tests::Emulator;
use std::collections::BTreeMap;

use portal_core::security::key_parts::{KeyParts, KeyPurpose};
use portal_core::security::keys::KeyMaterial;
use portal_http::routes::Function;
use portal_lambda::config::keys_of;
use serde_json::json;

const PASSWORD: &str = "lang nok passord for lambda";
const COOKIE: &str = "__Host-hk_refresh";
/// What CloudFront adds to every request (infra/cloudfront.tf); the functions refuse others.
const ORIGIN: &str = "origin-secret-for-the-emulator-tests-0123456789";

struct Deployment {
    emulator: Emulator,
    table: String,
    /// The secret of each key purpose, as `infra/secrets.tf` and the operators leave them.
    secrets: BTreeMap<KeyPurpose, String>,
}

fn function(name: &str) -> Function {
    Function::ALL
        .into_iter()
        .find(|f| f.name() == name)
        .unwrap_or_else(|| panic!("no function {name}"))
}

impl Deployment {
    /// A table, the per-purpose key secrets and one account, as `infra/` and the operators
    /// would leave them.
    async fn new(emulator: Emulator, username: &str, mobile: &str) -> Self {
        let table = emulator.new_table().await.table().to_owned();
        let mut material = KeyMaterial::generate().unwrap();
        material.extra.insert(
            portal_core::buypass::keys::CLIENT_KEY_NAME.into(),
            portal_core::buypass::keys::Es256Key::generate().unwrap().encoded(),
        );
        let client = aws_sdk_secretsmanager::Client::new(&emulator.sdk_config().await);
        let mut secrets = BTreeMap::new();
        let mut parts = KeyParts::from_material(&material).unwrap();
        parts.origin_verify = Some(vec![ORIGIN.to_owned()]);
        for (purpose, document) in parts.documents() {
            secrets.insert(purpose, create_secret(&client, purpose.name(), document).await);
        }
        let data_dir = tempfile::tempdir().unwrap();
        let dir = data_dir.path().to_str().unwrap();
        let account = [username, "Lambda Test", mobile];
        create_fixture_account(&emulator.child_env(), dir, &table, account, PASSWORD).await;
        Self {
            emulator,
            table,
            secrets,
        }
    }

    /// Settings with no real resources behind them (for functions that must not start).
    fn unusable(emulator: Emulator, secret: &str) -> Self {
        Self {
            emulator,
            table: "unused".into(),
            secrets: KeyPurpose::ALL.into_iter().map(|p| (p, secret.to_owned())).collect(),
        }
    }

    fn function_env(&self, name: &str, runtime: &RuntimeApi) -> Vec<(String, String)> {
        let mut env = self.emulator.child_env();
        for (k, v) in [
            ("AWS_LAMBDA_RUNTIME_API", runtime.host_port()),
            ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "test".into()),
            ("PORTAL_STORE", "dynamodb".into()),
            ("PORTAL_TABLE", self.table.clone()),
            ("PORTAL_SMS", "sns".into()),
            ("PORTAL_SMS_SENDER_ID", "NHN".into()),
            ("PORTAL_TOKEN_ISSUER", "https://api.hjemmekontor.test".into()),
            ("PORTAL_TOKEN_AUDIENCE", "hjemmekontor-portal".into()),
            ("PORTAL_URL", "https://portal.hjemmekontor.test".into()),
        ] {
            env.push((k.to_owned(), v));
        }
        // Only the secrets of this function's purposes, as infra/environment.tf sets them.
        for purpose in keys_of(function(name)) {
            env.push((purpose.env_var().to_owned(), self.secrets[purpose].clone()));
        }
        env
    }
}

async fn call(
    runtime: &RuntimeApi,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
    cookies: &[String],
) -> Reply {
    Reply::parse(
        &runtime
            .invoke_ok(event(
                method,
                path,
                body.as_ref(),
                cookies,
                &[(portal_http::origin::ORIGIN_VERIFY_HEADER, ORIGIN)],
            ))
            .await,
    )
}

/// An anonymous JSON `POST` through the origin, as CloudFront forwards it.
async fn post(runtime: &RuntimeApi, path: &str, body: serde_json::Value) -> Reply {
    call(runtime, "POST", path, Some(body), &[]).await
}

fn assert_problem(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json"),
        "{reply:?}"
    );
    assert_eq!(reply.json()["code"], code, "{reply:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_verify_refresh_through_the_lambda_runtime_api() {
    let Some(emulator) = Emulator::from_env() else {
        return;
    };
    let username = unique_name("lambda").replace('-', ".");
    let mobile = unique_mobile();
    let deployment = Deployment::new(emulator.clone(), &username, &mobile).await;
    let login_api = RuntimeApi::start().await;
    let sms_api = RuntimeApi::start().await;
    let login = Running::spawn("login", &[], &deployment.function_env("login", &login_api));
    let sms_code = Running::spawn("sms-code", &[], &deployment.function_env("sms-code", &sms_api));

    // Around CloudFront (no origin header, or a wrong one): as if the route did not exist.
    for origin in [None, Some("origin-secret-guessed-by-an-attacker-0123456789")] {
        let headers: Vec<(&str, &str)> = origin
            .map(|v| (portal_http::origin::ORIGIN_VERIFY_HEADER, v))
            .into_iter()
            .collect();
        let direct = Reply::parse(
            &login_api
                .invoke_ok(event(
                    "POST",
                    "/v1/auth/login",
                    Some(&json!({"username": username, "password": PASSWORD})),
                    &[],
                    &headers,
                ))
                .await,
        );
        assert_problem(&direct, 404, "not_found");
    }
    assert!(
        emulator.sms_to(&mobile).await.is_empty(),
        "a request around CloudFront sent no SMS"
    );

    let wrong = post(
        &login_api,
        "/v1/auth/login",
        json!({"username": username, "password": "feil passord her ok"}),
    )
    .await;
    assert_problem(&wrong, 401, "invalid_credentials");

    let started = post(
        &login_api,
        "/v1/auth/login",
        json!({"username": username, "password": PASSWORD}),
    )
    .await;
    assert_eq!(started.status, 200, "{started:?}");
    assert_eq!(started.header("cache-control"), Some("no-store"));
    let challenge = started.json()["challenge_id"].as_str().unwrap().to_owned();
    let hint = portal_core::domain::MobileNumber::parse(&mobile).unwrap().masked();
    assert_eq!(started.json()["phone_hint"], hint.as_str());
    let code = emulator.latest_code(&mobile).await;

    let too_soon = post(&sms_api, "/v1/auth/sms/resend", json!({"challenge_id": challenge})).await;
    assert_problem(&too_soon, 429, "resend_too_soon");
    let wait: u64 = too_soon.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=30).contains(&wait), "Retry-After {wait}");

    let wrong_code = if code == "000000" { "111111" } else { "000000" };
    let refused = post(
        &sms_api,
        "/v1/auth/sms/verify",
        json!({"challenge_id": challenge, "code": wrong_code}),
    )
    .await;
    assert_problem(&refused, 400, "invalid_code");
    assert_eq!(refused.json()["attempts_left"], 4);

    let verified = post(
        &sms_api,
        "/v1/auth/sms/verify",
        json!({"challenge_id": challenge, "code": code}),
    )
    .await;
    assert_eq!(verified.status, 200, "{verified:?}");
    assert_eq!(verified.json()["token_type"], "Bearer");
    assert!(verified.json()["access_token"]
        .as_str()
        .is_some_and(|t| t.split('.').count() == 3));
    let set_cookie = verified
        .cookies
        .iter()
        .find(|c| c.starts_with(COOKIE))
        .expect("refresh cookie")
        .clone();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie} lacks {attribute}");
    }
    let first = verified.cookie(COOKIE).unwrap();
    let bearer = verified.json()["access_token"].as_str().unwrap().to_owned();

    // `account` holds only the public verification keys, and they accept what sms-code minted.
    let account_api = RuntimeApi::start().await;
    let account = Running::spawn("account", &[], &deployment.function_env("account", &account_api));
    let me = Reply::parse(
        &account_api
            .invoke_ok(event(
                "GET",
                "/v1/account",
                None,
                &[],
                &[
                    ("authorization", &format!("Bearer {bearer}")),
                    (portal_http::origin::ORIGIN_VERIFY_HEADER, ORIGIN),
                ],
            ))
            .await,
    );
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.json()["username"], username.as_str(), "{me:?}");
    drop(account);

    let again = post(
        &sms_api,
        "/v1/auth/sms/verify",
        json!({"challenge_id": challenge, "code": code}),
    )
    .await;
    assert_problem(&again, 410, "challenge_expired");

    let refreshed = call(&sms_api, "POST", "/v1/auth/refresh", None, std::slice::from_ref(&first)).await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    let second = refreshed.cookie(COOKIE).expect("rotated cookie");
    assert_ne!(second, first, "the refresh token rotates");

    let replayed = call(&sms_api, "POST", "/v1/auth/refresh", None, std::slice::from_ref(&first)).await;
    assert_problem(&replayed, 401, "session_revoked");
    assert!(
        replayed
            .cookies
            .iter()
            .any(|c| c.starts_with(COOKIE) && c.contains("Max-Age=0")),
        "{replayed:?}"
    );
    let after_reuse = call(&sms_api, "POST", "/v1/auth/refresh", None, &[second]).await;
    assert_problem(&after_reuse, 401, "session_expired");

    let elsewhere = call(&sms_api, "GET", "/v1/account", None, &[]).await;
    assert_problem(&elsewhere, 404, "not_found");

    // One process served every invocation, and built its clients and keys once.
    assert_eq!(login.count("\"initialised\""), 1, "{:?}", login.lines());
    assert_eq!(sms_code.count("\"initialised\""), 1, "{:?}", sms_code.lines());
    assert!(login_api.next_calls() >= 2 && sms_api.next_calls() >= 6);
    let logs = [login.lines(), sms_code.lines()].concat().join("\n");
    assert!(
        !logs.contains(&code) && !logs.contains(PASSWORD) && !logs.contains(&mobile[3..]),
        "secrets or numbers in logs:\n{logs}"
    );
}

/// A function that must not start: it reports an init error to the Runtime API, exits
/// unsuccessfully and takes no invocation. Returns the report's headers and body.
async fn refused_to_start(runtime: &RuntimeApi, function: &mut Running, name: &str) -> (HeaderMap, serde_json::Value) {
    let report = runtime
        .init_error(Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("{name}: an init error report"));
    let status = tokio::time::timeout(Duration::from_secs(10), function.child.wait())
        .await
        .expect("the process exits")
        .unwrap();
    assert!(!status.success(), "{name}");
    assert_eq!(
        runtime.next_calls(),
        0,
        "{name}: no invocation is taken by a function that failed to start"
    );
    report
}

#[tokio::test]
async fn a_function_that_cannot_start_reports_why_to_the_runtime_api() {
    let Some(emulator) = Emulator::from_env() else {
        return;
    };
    let runtime = RuntimeApi::start().await;
    let deployment = Deployment::unusable(emulator, "no-such-secret");
    let mut login = Running::spawn("login", &[], &deployment.function_env("login", &runtime));
    let (headers, report) = refused_to_start(&runtime, &mut login, "login").await;
    assert_eq!(
        headers
            .get("lambda-runtime-function-error-type")
            .and_then(|v| v.to_str().ok()),
        Some("Runtime.InitError")
    );
    assert_eq!(report["errorType"], "ConfigError");
    let message = report["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("no-such-secret") && message.contains("ResourceNotFoundException"),
        "{message}"
    );
}

#[tokio::test]
async fn a_function_without_its_deployment_settings_does_not_start_on_local_defaults() {
    let Some(emulator) = Emulator::from_env() else {
        return;
    };
    let runtime = RuntimeApi::start().await;
    let deployment = Deployment::unusable(emulator, "unused");
    let env: Vec<_> = deployment
        .function_env("login", &runtime)
        .into_iter()
        .filter(|(k, _)| k != "PORTAL_URL")
        .collect();
    let mut login = Running::spawn("login", &[], &env);
    let (_, report) = refused_to_start(&runtime, &mut login, "login").await;
    assert_eq!(report["errorType"], "ConfigError");
    let message = report["errorMessage"].as_str().unwrap();
    assert!(message.contains("PORTAL_URL"), "{message}");
}

/// What a function is given decides what it can do: one that lacks a secret it needs, or is
/// handed one it must not hold, does not start and says why.
#[tokio::test]
async fn a_function_starts_only_with_exactly_its_own_secrets() {
    let Some(emulator) = Emulator::from_env() else {
        return;
    };
    let deployment = Deployment::new(emulator, &unique_name("keys").replace('-', "."), &unique_mobile()).await;
    for (name, change, expected) in [
        (
            "sms-code",
            Some(("PORTAL_TOTP_KEY_SECRET_ID", None)),
            "PORTAL_TOTP_KEY_SECRET_ID",
        ),
        (
            "buypass",
            Some((
                "PORTAL_TOKEN_SIGNING_SECRET_ID",
                Some(deployment.secrets[&KeyPurpose::TokenSigning].clone()),
            )),
            "must not hold this key",
        ),
        (
            // The signing document where the verification one belongs: refused, not used.
            "account",
            Some((
                "PORTAL_TOKEN_VERIFYING_SECRET_ID",
                Some(deployment.secrets[&KeyPurpose::TokenSigning].clone()),
            )),
            "not a token-verifying document",
        ),
    ] {
        let runtime = RuntimeApi::start().await;
        let mut env = deployment.function_env(name, &runtime);
        if let Some((var, value)) = change {
            env.retain(|(k, _)| k != var);
            if let Some(value) = value {
                env.push((var.to_owned(), value));
            }
        }
        let mut child = Running::spawn(name, &[], &env);
        let (_, report) = refused_to_start(&runtime, &mut child, name).await;
        let message = report["errorMessage"].as_str().unwrap();
        assert!(message.contains(expected), "{name}: {message}");
    }

    // serial-activation needs no key at all and starts with none.
    let runtime = RuntimeApi::start().await;
    let mut env = deployment.function_env("serial-activation", &runtime);
    env.extend([
        ("PORTAL_GATEWAY_EVENTS".to_owned(), "local".to_owned()),
        ("PORTAL_GATEWAY_AUTH".to_owned(), "iam".to_owned()),
        (
            "PORTAL_GATEWAY_ROLE_ARN".to_owned(),
            "arn:aws:iam::123456789012:role/hjemmekontor-gateway".to_owned(),
        ),
    ]);
    assert!(!env.iter().any(|(k, _)| k.ends_with("_SECRET_ID")), "{env:?}");
    let activation = Running::spawn("serial-activation", &[], &env);
    activation.wait_for("\"initialised\"", Duration::from_secs(20)).await;
}
