//! Telling the remote-access gateway: activation and revocation events on an SNS topic it
//! subscribes to (AWS), or kept in the store and printed (local).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::buypass::registry::CardKey;
use crate::clock::{rfc3339, Clock, UnixTime};
use crate::event_log::EventLog;
use crate::store::{ItemStore, StoreError};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GatewayEventKind {
    Activated,
    Revoked,
}

/// What the gateway is told. Delivery is at least once: the gateway treats a repeat as a no-op,
/// and `version` (the registry record's version) orders events for one serial.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GatewayEvent {
    pub event: GatewayEventKind,
    pub serial_number: String,
    /// The serial's issuer ([`crate::domain::IssuerId`]): serials are unique per issuer only.
    pub issuer_id: String,
    pub username: String,
    /// RFC 3339.
    pub at: String,
    pub version: u64,
}

impl GatewayEvent {
    pub fn new(event: GatewayEventKind, card: &CardKey, username: &str, at: UnixTime, version: u64) -> Self {
        Self {
            event,
            serial_number: card.serial.to_string(),
            issuer_id: card.issuer_id.to_string(),
            username: username.to_owned(),
            at: rfc3339(at),
            version,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("gateway event not published: {0}")]
pub struct GatewayError(pub String);

#[async_trait]
pub trait GatewayEvents: Send + Sync + 'static {
    async fn publish(&self, event: &GatewayEvent) -> Result<(), GatewayError>;
}

/// AWS: `Publish` to the gateway's topic, with `event_type` as a message attribute so
/// subscribers can filter.
pub struct SnsGatewayEvents {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsGatewayEvents {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: String) -> Self {
        Self { client, topic_arn }
    }
}

#[async_trait]
impl GatewayEvents for SnsGatewayEvents {
    async fn publish(&self, event: &GatewayEvent) -> Result<(), GatewayError> {
        let kind = match event.event {
            GatewayEventKind::Activated => "activated",
            GatewayEventKind::Revoked => "revoked",
        };
        let attribute = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(kind)
            .build()
            .map_err(|e| GatewayError(e.to_string()))?;
        let message = serde_json::to_string(event).map_err(|e| GatewayError(e.to_string()))?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(message)
            .message_attributes("event_type", attribute)
            .send()
            .await
            .map_err(|e| GatewayError(aws_sdk_sns::error::DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}

/// Local: events are stored (every process on the data dir sees them; `GET /dev/gateway/events`
/// lists them) and printed to the console.
pub struct LocalGatewayEvents {
    log: EventLog<GatewayEvent>,
}

impl LocalGatewayEvents {
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>, echo: bool) -> Self {
        let log = EventLog::new(
            store,
            clock,
            crate::store::keys::GATEWAY_EVENTS_PK,
            crate::store::keys::GATEWAY_EVENT_SK_PREFIX,
        );
        let log = if echo {
            log.echoing(|event: &GatewayEvent| {
                format!(
                    "🔐 Gateway: {:?} {} from issuer {} ({})",
                    event.event, event.serial_number, event.issuer_id, event.username
                )
            })
        } else {
            log
        };
        Self { log }
    }

    /// Oldest first: the order the gateway would have received them in.
    pub async fn list(&self) -> Result<Vec<GatewayEvent>, StoreError> {
        self.log.oldest_first().await
    }
}

#[async_trait]
impl GatewayEvents for LocalGatewayEvents {
    async fn publish(&self, event: &GatewayEvent) -> Result<(), GatewayError> {
        self.log.append(event).await.map_err(|e| GatewayError(e.to_string()))
    }
}

/// Tests: remembers events; can be told to fail a number of times, like an SNS outage.
#[derive(Default)]
pub struct CapturingGateway {
    events: Mutex<Vec<GatewayEvent>>,
    failures_left: Mutex<u32>,
}

impl CapturingGateway {
    pub fn events(&self) -> Vec<GatewayEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    pub fn fail_next(&self, times: u32) {
        if let Ok(mut left) = self.failures_left.lock() {
            *left = times;
        }
    }
}

#[async_trait]
impl GatewayEvents for CapturingGateway {
    async fn publish(&self, event: &GatewayEvent) -> Result<(), GatewayError> {
        if let Ok(mut left) = self.failures_left.lock() {
            if *left > 0 {
                *left -= 1;
                return Err(GatewayError("topic unavailable (test)".into()));
            }
        }
        if let Ok(mut events) = self.events.lock() {
            events.push(event.clone());
        }
        Ok(())
    }
}
