//! SNS SMS and Secrets Manager keys over the real wire protocol.

use std::sync::{Arc, Mutex};

use aws_emulator_tests::emulator::{create_secret, unique_mobile};
use aws_emulator_tests::Emulator;
use axum::http::StatusCode;
use portal_core::domain::MobileNumber;
use portal_core::security::key_parts::{KeyParts, KeyPurpose};
use portal_core::security::keys::{KeyError, KeyMaterial};
use portal_core::security::secrets_manager::load_key_parts;
use portal_core::sms::sns::{SenderId, SnsSms};
use portal_core::sms::{SmsError, SmsSender};

#[tokio::test]
async fn sms_reach_the_number_through_sns() {
    let Some(emulator) = Emulator::from_env() else {
        return;
    };
    let sns = SnsSms::new(
        aws_sdk_sns::Client::new(&emulator.sdk_config().await),
        Some(SenderId::parse("NHN").unwrap()),
    );
    let to = unique_mobile();
    sns.send(&MobileNumber::parse(&to).unwrap(), "Din engangskode er 123456.")
        .await
        .unwrap();
    assert_eq!(
        emulator.sms_to(&to).await,
        vec!["Din engangskode er 123456.".to_owned()]
    );
}

/// A stand-in SNS endpoint that records each raw request body and answers with a canned reply.
async fn fake_sns(status: StatusCode, reply: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |body: String| {
        let record = record.clone();
        async move {
            record.lock().unwrap().push(body);
            (status, [("content-type", "text/xml")], reply)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), seen)
}

const PUBLISHED: &str = r#"<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>94f20ce6-13c5-43a0-9a9e-ca52d816e90b</MessageId></PublishResult><ResponseMetadata><RequestId>f187a3c1-376f-11df-8963-01868b7c937a</RequestId></ResponseMetadata></PublishResponse>"#;

fn decoded(form: &str) -> Vec<(String, String)> {
    form.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (unescape(k), unescape(v)))
        .collect()
}

fn unescape(raw: &str) -> String {
    let bytes = raw.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The message attribute `name`'s value in a Publish form.
fn attribute(form: &[(String, String)], name: &str) -> Option<String> {
    let entry = form
        .iter()
        .find(|(k, v)| k.starts_with("MessageAttributes.entry.") && k.ends_with(".Name") && v == name)?
        .0
        .trim_end_matches(".Name")
        .to_owned();
    let get = |suffix: &str| {
        form.iter()
            .find(|(k, _)| *k == format!("{entry}.Value.{suffix}"))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("DataType").as_deref(), Some("String"));
    get("StringValue")
}

#[tokio::test]
async fn publish_is_a_transactional_sms_to_the_number_with_the_sender_id() {
    let (endpoint, seen) = fake_sns(StatusCode::OK, PUBLISHED).await;
    let sdk = Emulator::sdk_config_for(&endpoint).await;
    let sns = SnsSms::new(aws_sdk_sns::Client::new(&sdk), Some(SenderId::parse("NHN").unwrap()));
    sns.send(&MobileNumber::parse("+4791234567").unwrap(), "Koden er 654321")
        .await
        .unwrap();
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let form = decoded(&requests[0]);
    let field = |k: &str| form.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    assert_eq!(field("Action"), Some("Publish"));
    assert_eq!(field("PhoneNumber"), Some("+4791234567"));
    assert_eq!(field("Message"), Some("Koden er 654321"));
    assert!(field("TopicArn").is_none() && field("TargetArn").is_none());
    assert_eq!(
        attribute(&form, "AWS.SNS.SMS.SMSType").as_deref(),
        Some("Transactional")
    );
    assert_eq!(attribute(&form, "AWS.SNS.SMS.SenderID").as_deref(), Some("NHN"));

    let (endpoint, seen) = fake_sns(StatusCode::OK, PUBLISHED).await;
    let sdk = Emulator::sdk_config_for(&endpoint).await;
    SnsSms::new(aws_sdk_sns::Client::new(&sdk), None)
        .send(&MobileNumber::parse("+4791234567").unwrap(), "x")
        .await
        .unwrap();
    let form = decoded(&seen.lock().unwrap()[0]);
    assert_eq!(
        attribute(&form, "AWS.SNS.SMS.SenderID"),
        None,
        "no sender ID unless configured"
    );
}

#[tokio::test]
async fn a_refused_number_is_rejected_without_echoing_it() {
    const REFUSED: &str = r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>Invalid parameter: PhoneNumber Reason: +4791234567 is not valid to publish</Message></Error><RequestId>x</RequestId></ErrorResponse>"#;
    let (endpoint, seen) = fake_sns(StatusCode::BAD_REQUEST, REFUSED).await;
    let sdk = Emulator::sdk_config_for(&endpoint).await;
    let error = SnsSms::new(aws_sdk_sns::Client::new(&sdk), None)
        .send(&MobileNumber::parse("+4791234567").unwrap(), "x")
        .await
        .unwrap_err();
    assert!(matches!(error, SmsError::Rejected(_)), "{error:?}");
    assert!(!error.to_string().contains("91234567"), "{error}");
    assert_eq!(seen.lock().unwrap().len(), 1, "a refusal is not retried");
}

#[tokio::test]
async fn an_sns_outage_is_unavailable_after_quick_retries() {
    const DOWN: &str = r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Receiver</Type><Code>InternalError</Code><Message>oops</Message></Error><RequestId>x</RequestId></ErrorResponse>"#;
    let (endpoint, seen) = fake_sns(StatusCode::INTERNAL_SERVER_ERROR, DOWN).await;
    let sdk = Emulator::sdk_config_for(&endpoint).await;
    let started = std::time::Instant::now();
    let error = SnsSms::new(aws_sdk_sns::Client::new(&sdk), None)
        .send(&MobileNumber::parse("+4791234567").unwrap(), "x")
        .await
        .unwrap_err();
    assert!(matches!(error, SmsError::Unavailable(_)), "{error:?}");
    assert_eq!(seen.lock().unwrap().len(), 3, "retried twice, then given up");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[tokio::test]
async fn key_parts_are_read_from_their_secrets_concurrently() {
    let Some(emulator) = Emulator::from_env() else {
        return;
    };
    let client = aws_sdk_secretsmanager::Client::new(&emulator.sdk_config().await);
    let material = KeyMaterial::generate().unwrap();
    let parts = KeyParts::from_material(&material).unwrap();
    let mut secrets = Vec::new();
    for (purpose, document) in parts.documents() {
        if purpose == KeyPurpose::TokenSigning {
            continue;
        }
        secrets.push((purpose, create_secret(&client, purpose.name(), document).await));
    }
    let loaded = load_key_parts(&client, &secrets).await.unwrap();
    assert_eq!(
        loaded.held(),
        vec![KeyPurpose::TokenVerifying, KeyPurpose::CodePepper, KeyPurpose::TotpKey]
    );
    assert!(loaded.signing.is_none(), "only what was asked for is loaded");
    assert_eq!(loaded.code_pepper, parts.code_pepper);

    let broken = create_secret(
        &client,
        "code-pepper-broken",
        format!(r#"{{"signing_keys": "{}"}}"#, material.code_pepper),
    )
    .await;
    let error = load_key_parts(&client, &[(KeyPurpose::CodePepper, broken.clone())])
        .await
        .unwrap_err();
    assert!(matches!(error, KeyError::Invalid(_)));
    assert!(error.to_string().contains(&broken), "{error}");
    assert!(!error.to_string().contains(&material.code_pepper), "{error}");

    let missing = load_key_parts(&client, &[(KeyPurpose::CodePepper, "no-such-secret".into())])
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("ResourceNotFoundException"), "{missing}");
}
