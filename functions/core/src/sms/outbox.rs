//! The local SMS backend: messages are kept in the store (so every process sharing the data dir
//! sees them, and they survive restarts), printed to the console, and listed at `GET /dev/sms`.

use std::sync::Arc;

use async_trait::async_trait;

use super::{SmsError, SmsReceipt, SmsSender};
use crate::clock::{rfc3339, Clock};
use crate::domain::MobileNumber;
use crate::event_log::EventLog;
use crate::store::ItemStore;

pub struct OutboxSms {
    log: EventLog<OutboxMessage>,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct OutboxMessage {
    pub to: String,
    pub body: String,
    pub sent_at: String,
    /// Stands in for the provider's message id, so delivery status works locally too.
    #[serde(default)]
    pub message_id: String,
}

impl OutboxSms {
    /// `echo` prints each message to stdout (the local developer's "phone").
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>, echo: bool) -> Self {
        let log = EventLog::new(
            store,
            clock.clone(),
            crate::store::keys::OUTBOX_PK,
            crate::store::keys::OUTBOX_SK_PREFIX,
        );
        let log = if echo {
            log.echoing(|m: &OutboxMessage| format!("📱 SMS til {}: {}", m.to, m.body))
        } else {
            log
        };
        Self { log, clock }
    }

    /// Newest first.
    pub async fn list(&self) -> Result<Vec<OutboxMessage>, crate::store::StoreError> {
        self.log.newest_first().await
    }
}

#[async_trait]
impl SmsSender for OutboxSms {
    async fn publish(&self, to: &MobileNumber, body: &str) -> Result<SmsReceipt, SmsError> {
        let message = OutboxMessage {
            to: to.as_e164().to_owned(),
            body: body.to_owned(),
            sent_at: rfc3339(self.clock.now()),
            message_id: format!("outbox-{}", crate::security::random_token(12)),
        };
        self.log
            .append(&message)
            .await
            .map_err(|e| SmsError::Unavailable(e.to_string()))?;
        Ok(SmsReceipt {
            message_id: Some(message.message_id),
        })
    }
}
