//! SNS SMS delivery status, as it reaches a function: CloudWatch Logs writes each status line
//! SNS logs (`sns/<region>/<account>/DirectPublishToPhoneNumber[/Failure]`) to a subscription
//! filter's target as `{"awslogs": {"data": base64(gzip(JSON))}}`; the JSON lists log events
//! whose `message` is SNS's status record:
//!
//! ```json
//! {"notification": {"messageId": "…", "timestamp": "…"},
//!  "delivery": {"destination": "+47…", "providerResponse": "…", …},
//!  "status": "SUCCESS" | "FAILURE"}
//! ```
//!
//! Pure decoding, no I/O; the rule that acts on it is `services::sms_delivery`.

use std::io::Read;

use base64::Engine;
use serde::Deserialize;

/// The most a decoded payload may be (CloudWatch Logs sends at most 1 MB per batch, gzipped;
/// this bounds what a hostile invocation can make us inflate).
const MAX_INFLATED: u64 = 8 * 1024 * 1024;

/// One message's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryStatus {
    pub message_id: String,
    pub delivered: bool,
    /// The number it was sent to, when the record names a valid one (its `Debug` is masked).
    pub destination: Option<crate::domain::MobileNumber>,
    /// The carrier's answer, e.g. "Phone is currently unreachable/unavailable". Never holds
    /// the number.
    pub provider_response: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("not base64")]
    Base64,
    #[error("not gzip, or too large")]
    Gzip,
    #[error("not a CloudWatch Logs subscription message: {0}")]
    Json(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogsData {
    message_type: String,
    #[serde(default)]
    log_events: Vec<LogEvent>,
}

#[derive(Deserialize)]
struct LogEvent {
    message: String,
}

#[derive(Deserialize)]
struct StatusRecord {
    notification: Notification,
    #[serde(default)]
    delivery: Delivery,
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    message_id: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    #[serde(default)]
    provider_response: String,
    #[serde(default)]
    destination: String,
}

/// The statuses in a subscription payload's `awslogs.data`. A control message (CloudWatch
/// Logs checks the destination with one) holds none; log lines that are not status records
/// are skipped.
pub fn decode_subscription(data: &str) -> Result<Vec<DeliveryStatus>, DecodeError> {
    let gzipped = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| DecodeError::Base64)?;
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(gzipped.as_slice())
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut json)
        .map_err(|_| DecodeError::Gzip)?;
    if json.len() as u64 > MAX_INFLATED {
        return Err(DecodeError::Gzip);
    }
    let logs: LogsData = serde_json::from_slice(&json).map_err(|e| DecodeError::Json(e.to_string()))?;
    if logs.message_type != "DATA_MESSAGE" {
        return Ok(Vec::new());
    }
    Ok(logs
        .log_events
        .iter()
        .filter_map(|event| serde_json::from_str::<StatusRecord>(&event.message).ok())
        .map(|record| DeliveryStatus {
            message_id: record.notification.message_id,
            delivered: record.status == "SUCCESS",
            destination: crate::domain::MobileNumber::parse(&record.delivery.destination).ok(),
            provider_response: record.delivery.provider_response,
        })
        .collect())
}

/// Builds a subscription payload's `awslogs.data` as CloudWatch Logs does, for tests and the
/// local stand-in: `records` are SNS status records, one log event each.
pub fn encode_subscription(log_group: &str, records: &[serde_json::Value]) -> String {
    use std::io::Write;
    let events: Vec<serde_json::Value> = records
        .iter()
        .enumerate()
        .map(|(i, r)| serde_json::json!({ "id": format!("{i}"), "timestamp": 0, "message": r.to_string() }))
        .collect();
    let body = serde_json::json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": log_group,
        "logStream": "stream",
        "subscriptionFilters": ["sms-delivery-status"],
        "logEvents": events,
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(body.to_string().as_bytes());
    let bytes = gz.finish().unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An SNS status record as SNS logs it (the fields the portal reads, and a few it does not).
pub fn status_record(message_id: &str, delivered: bool, provider_response: &str) -> serde_json::Value {
    serde_json::json!({
        "notification": { "messageId": message_id, "timestamp": "2026-01-01 00:00:00.000" },
        "delivery": {
            "numberOfMessageParts": 1,
            "destination": "+4791234567",
            "priceInUSD": 0.0418,
            "smsType": "Transactional",
            "providerResponse": provider_response,
            "dwellTimeMs": 310
        },
        "status": if delivered { "SUCCESS" } else { "FAILURE" }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_gzipped_subscription_payload() {
        let data = encode_subscription(
            "sns/eu-north-1/123456789012/DirectPublishToPhoneNumber/Failure",
            &[
                status_record("m-1", false, "Phone is currently unreachable/unavailable"),
                serde_json::json!({ "not": "a status" }),
                status_record("m-2", true, "Message has been accepted by phone"),
            ],
        );
        let statuses = decode_subscription(&data).unwrap();
        assert_eq!(
            statuses,
            vec![
                DeliveryStatus {
                    message_id: "m-1".into(),
                    delivered: false,
                    destination: crate::domain::MobileNumber::parse("+4791234567").ok(),
                    provider_response: "Phone is currently unreachable/unavailable".into(),
                },
                DeliveryStatus {
                    message_id: "m-2".into(),
                    delivered: true,
                    destination: crate::domain::MobileNumber::parse("+4791234567").ok(),
                    provider_response: "Message has been accepted by phone".into(),
                },
            ]
        );
    }

    #[test]
    fn control_messages_hold_no_status_and_garbage_is_refused() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(br#"{"messageType":"CONTROL_MESSAGE","logEvents":[{"id":"1","timestamp":0,"message":"CWL CONTROL MESSAGE"}]}"#)
            .unwrap();
        let control = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        assert_eq!(decode_subscription(&control).unwrap(), vec![]);
        assert_eq!(decode_subscription("%%%"), Err(DecodeError::Base64));
        assert_eq!(decode_subscription("aGVsbG8="), Err(DecodeError::Gzip));
    }

    #[test]
    fn a_gzip_bomb_is_refused() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b' '; (MAX_INFLATED + 10) as usize]).unwrap();
        let bomb = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        assert_eq!(decode_subscription(&bomb), Err(DecodeError::Gzip));
    }
}
