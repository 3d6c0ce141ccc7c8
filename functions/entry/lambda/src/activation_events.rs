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
}
