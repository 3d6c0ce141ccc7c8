//! The DynamoDB backend over the real wire protocol (moto): the shared conformance suite, the
//! service races, the table's shape, and how it fails when DynamoDB is unreachable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_emulator_tests::Emulator;
use aws_sdk_dynamodb::types::{BillingMode, KeyType, StreamViewType, TimeToLiveStatus};
use portal_core::store::dynamodb::{create_table, DynamoStore, TableCreated};
use portal_core::store::{Condition, Item, ItemStore, StoreError};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_store_passes_the_storage_conformance_suite() {
    let Some(emulator) = Emulator::from_env() else {
        return;
    };
    portal_testkit::store_conformance::run_all(Arc::new(emulator.new_table().await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_win_their_races_on_dynamodb() {
    let Some(emulator) = Emulator::from_env() else {
        return;
    };
    portal_testkit::races::run_all(Arc::new(emulator.new_table().await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serials_are_keyed_by_issuer_on_dynamodb() {
    let Some(emulator) = Emulator::from_env() else {
        return;
    };
    portal_testkit::registry_conformance::run_all(Arc::new(emulator.new_table().await)).await;
}

#[tokio::test]
async fn init_table_creates_the_table_as_infra_declares_it() {
    let Some(emulator) = Emulator::from_env() else {
        return;
    };
    let store = emulator.new_table().await;
    let client = store.client();
    let table = client
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(
        table.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let keys: Vec<(&str, &KeyType)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect();
    assert_eq!(keys, vec![("pk", &KeyType::Hash), ("sk", &KeyType::Range)]);
    let stream = table.stream_specification().unwrap();
    assert!(stream.stream_enabled());
    assert_eq!(stream.stream_view_type(), Some(&StreamViewType::NewAndOldImages));
    let ttl = client
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    let backups = client
        .describe_continuous_backups()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    let pitr = backups
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status());
    assert_eq!(pitr.map(|s| s.as_str()), Some("ENABLED"));
    assert_eq!(
        create_table(client, store.table()).await.unwrap(),
        TableCreated::AlreadyExisted,
        "init-table is safe to run twice"
    );
}

#[tokio::test]
async fn a_missing_table_is_reported_as_unavailable_with_the_fix() {
    let Some(emulator) = Emulator::from_env() else {
        return;
    };
    let client = aws_sdk_dynamodb::Client::new(&emulator.sdk_config().await);
    let store = DynamoStore::new(client, "no-such-table");
    let message = store.check_table().await.unwrap_err().to_string();
    assert!(message.contains("init-table"), "{message}");
    assert!(matches!(store.get("a", "b", 0).await, Err(StoreError::Unavailable(_))));
}

/// Needs no emulator: nothing listens on the port.
#[tokio::test]
async fn a_dead_endpoint_answers_unavailable_within_seconds() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let sdk = Emulator::sdk_config_for(&format!("http://127.0.0.1:{port}")).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), "t");
    let started = Instant::now();
    assert!(matches!(store.get("a", "b", 0).await, Err(StoreError::Unavailable(_))));
    assert!(matches!(
        store
            .transact(
                vec![portal_core::store::WriteOp::Put {
                    item: Item::new("a", "b", json!({})),
                    condition: Condition::Absent
                }],
                0
            )
            .await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

/// Needs no emulator: the endpoint accepts connections and never answers.
#[tokio::test]
async fn a_hanging_endpoint_times_out_within_the_operation_budget() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let sdk = Emulator::production_sdk_config_for(&format!("http://{address}")).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), "t");
    let started = Instant::now();
    assert!(matches!(store.query("a", "", 0).await, Err(StoreError::Unavailable(_))));
    let took = started.elapsed();
    assert!(
        took < portal_core::aws::OPERATION_TIMEOUT + Duration::from_secs(1),
        "took {took:?}"
    );
    hold.abort();
}

/// An SNS delivery-failure event (a gzipped CloudWatch Logs subscription payload) through the
/// serial-activation handler on DynamoDB: audited once however often it arrives, and the login
/// challenge's SMS shows as failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_delivery_failures_are_recorded_through_the_handler_on_dynamodb() {
    use portal_core::activation::gateway::LocalGatewayEvents;
    use portal_core::activation::{ActivationPolicy, Activator};
    use portal_core::sms::delivery_status::{encode_subscription, status_record};

    let Some(emulator) = Emulator::from_env() else {
        return;
    };
    let t = portal_testkit::TestApp::on(Arc::new(emulator.new_table().await));
    let kari = t.account("kari", "korrekt hest batteri stift", "+4791234567").await;
    let password = portal_core::domain::Password::new("korrekt hest batteri stift".into());
    let id = t.app.login("kari", &password, false, None).await.unwrap().challenge_id;
    let mobile = portal_core::domain::MobileNumber::parse("+4791234567").unwrap();
    let sent = t.sms.last_message_id_to(&mobile).unwrap();
    let gateway = Arc::new(LocalGatewayEvents::new(
        t.app.repo.items().clone(),
        t.app.clock.clone(),
        false,
    ));
    let activator = Activator::new(t.app.clone(), gateway, ActivationPolicy::default(), false);
    let data = encode_subscription(
        "sns/eu-north-1/123456789012/DirectPublishToPhoneNumber/Failure",
        &[status_record(&sent, false, "Phone carrier has blocked this message")],
    );
    let payload = json!({ "awslogs": { "data": data } });
    for _ in 0..2 {
        let report = portal_lambda::activation_events::handle_sms_status(&activator, &payload)
            .await
            .unwrap();
        assert_eq!(report.failed, 1);
    }
    assert_eq!(t.app.sms_delivery(&id).await.unwrap().sms, "failed");
    let failures = t
        .app
        .repo
        .audit_trail(&kari, t.app.now())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == portal_core::audit::AuditKind::SmsDeliveryFailed)
        .count();
    assert_eq!(failures, 1);
}
