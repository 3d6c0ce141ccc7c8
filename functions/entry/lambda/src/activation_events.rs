//! The `serial-activation` Lambda's event handling. One function receives four shapes:
//! DynamoDB stream batches (activate what was just registered; report batch item failures so
//! the event source mapping retries, bisects and finally dead-letters only what failed), the
//! EventBridge schedule (sweep), API Gateway HTTP requests for the gateway's certificate
//! lookup, and the CloudWatch Logs subscription of SNS's SMS delivery status log (failures go
//! to the audit trail and the challenge, `portal_core::services::sms_delivery`).

use aws_lambda_events::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

use portal_core::activation::{card_from_keys, Activator, Trigger};

/// Which of the three shapes an event has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventShape {
    DynamoDbStream,
    Schedule,
    Http,
    SmsDeliveryStatus,
    Unknown,
}

pub fn shape_of(payload: &Value) -> EventShape {
    if payload.get("Records").and_then(Value::as_array).is_some() {
        return EventShape::DynamoDbStream;
    }
    let scheduled = payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
        || payload.get("source").and_then(Value::as_str) == Some("aws.events");
    if scheduled {
        return EventShape::Schedule;
    }
    if payload.get("requestContext").is_some() && payload.get("rawPath").is_some() {
        return EventShape::Http;
    }
    if payload.pointer("/awslogs/data").and_then(Value::as_str).is_some() {
        return EventShape::SmsDeliveryStatus;
    }
    EventShape::Unknown
}

/// Processes a stream batch; records that failed come back as batch item failures (by
/// sequence number). Records that are not registry records, and removals, are skipped.
pub async fn handle_stream(activator: &Activator, event: DynamoDbEvent) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for record in event.records {
        if record.event_name == "REMOVE" {
            continue;
        }
        let key = |name: &str| match record.change.keys.get(name) {
            Some(serde_dynamo::AttributeValue::S(value)) => Some(value.clone()),
            _ => None,
        };
        let Some(card) = key("pk").zip(key("sk")).and_then(|(pk, sk)| card_from_keys(&pk, &sk)) else {
            continue;
        };
        if let Err(e) = activator.process(&card, Trigger::Event).await {
            tracing::warn!(card = %card, error = %e, "stream record failed; reported for retry");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone().or(Some(record.event_id.clone()));
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Records a batch of SNS SMS delivery statuses (a CloudWatch Logs subscription payload). An
/// undecodable payload is an error (the invocation fails and CloudWatch Logs retries); storage
/// trouble too.
pub async fn handle_sms_status(
    activator: &Activator,
    payload: &Value,
) -> Result<portal_core::services::sms_delivery::DeliveryReport, Error> {
    let data = payload
        .pointer("/awslogs/data")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let statuses = portal_core::sms::delivery_status::decode_subscription(data)?;
    let report = activator.app().record_sms_delivery(&statuses).await?;
    tracing::info!(
        delivered = report.delivered,
        failed = report.failed,
        unknown = report.unknown,
        "SMS delivery status recorded"
    );
    Ok(report)
}

/// The whole event handler.
pub async fn handle_event(
    activator: &Activator,
    router: axum::Router,
    event: LambdaEvent<Value>,
) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    match shape_of(&payload) {
        EventShape::DynamoDbStream => {
            let event: DynamoDbEvent = serde_json::from_value(payload)?;
            Ok(serde_json::to_value(handle_stream(activator, event).await)?)
        }
        EventShape::Schedule => {
            let report = activator.sweep().await?;
            Ok(serde_json::to_value(report)?)
        }
        EventShape::Http => {
            use tower::ServiceExt;
            let request: lambda_http::request::LambdaRequest = serde_json::from_value(payload)?;
            let adapter = lambda_http::Adapter::from(router);
            let response = adapter.oneshot(LambdaEvent::new(request, context)).await?;
            Ok(serde_json::to_value(response)?)
        }
        EventShape::SmsDeliveryStatus => Ok(serde_json::to_value(handle_sms_status(activator, &payload).await?)?),
        EventShape::Unknown => Err("serial-activation received an event of unknown shape".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recognises_the_three_shapes() {
        assert_eq!(shape_of(&json!({ "Records": [] })), EventShape::DynamoDbStream);
        assert_eq!(
            shape_of(&json!({ "source": "aws.events", "detail-type": "Scheduled Event", "detail": {} })),
            EventShape::Schedule
        );
        assert_eq!(
            shape_of(&json!({ "version": "2.0", "rawPath": "/v1/gateway/certificates/AB", "requestContext": {} })),
            EventShape::Http
        );
        assert_eq!(
            shape_of(&json!({ "awslogs": { "data": "H4sI" } })),
            EventShape::SmsDeliveryStatus
        );
        assert_eq!(shape_of(&json!({ "hello": 1 })), EventShape::Unknown);
    }

    /// A CloudWatch Logs subscription event of SNS's failure log, gzipped as CloudWatch Logs
    /// sends it, through the function's event handler: the failure lands in the audit trail
    /// and on the login challenge, once however often it is delivered.
    #[tokio::test]
    async fn a_delivery_failure_event_is_recorded_through_the_handler() {
        use portal_core::activation::gateway::LocalGatewayEvents;
        use portal_core::activation::ActivationPolicy;
        use portal_core::sms::delivery_status::{encode_subscription, status_record};
        use std::sync::Arc;

        let t = portal_testkit::TestApp::in_memory();
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
            &[
                status_record(&sent, false, "Unknown error attempting to reach phone"),
                status_record("not-ours", false, "Unknown error attempting to reach phone"),
            ],
        );
        let payload = json!({ "awslogs": { "data": data } });
        assert_eq!(shape_of(&payload), EventShape::SmsDeliveryStatus);
        for _ in 0..2 {
            let report = handle_sms_status(&activator, &payload).await.unwrap();
            assert_eq!((report.failed, report.unknown), (1, 1));
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
        let garbage = json!({ "awslogs": { "data": "bm90IGd6aXA=" } });
        assert!(handle_sms_status(&activator, &garbage).await.is_err());
    }
}
