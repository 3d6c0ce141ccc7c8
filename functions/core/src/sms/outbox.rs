//! The local SMS backend: messages are kept in the store (so every process sharing the data dir
//! sees them, and they survive restarts), printed to the console, and listed at `GET /dev/sms`.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use super::{SmsError, SmsSender};
use crate::clock::{rfc3339, Clock};
use crate::domain::MobileNumber;
use crate::store::keys::{log_sk, OUTBOX_PK, OUTBOX_SK_PREFIX};
use crate::store::{Condition, Item, ItemStore};

/// Local messages are kept for a week.
const KEEP_SECONDS: i64 = 7 * 24 * 3600;

pub struct OutboxSms {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
    echo: bool,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct OutboxMessage {
    pub to: String,
    pub body: String,
    pub sent_at: String,
}

impl OutboxSms {
    /// `echo` prints each message to stdout (the local developer's "phone").
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>, echo: bool) -> Self {
        Self { store, clock, echo }
    }

    /// Newest first.
    pub async fn list(&self) -> Result<Vec<OutboxMessage>, crate::store::StoreError> {
        let items = self.store.query(OUTBOX_PK, OUTBOX_SK_PREFIX, self.clock.now()).await?;
        let mut messages: Vec<OutboxMessage> = items
            .into_iter()
            .filter_map(|i| serde_json::from_value(i.data).ok())
            .collect();
        messages.reverse();
        Ok(messages)
    }
}

#[async_trait]
impl SmsSender for OutboxSms {
    async fn send(&self, to: &MobileNumber, body: &str) -> Result<(), SmsError> {
        let now = self.clock.now();
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        let sk = log_sk(OUTBOX_SK_PREFIX, now, nanos, &crate::security::random_token(6));
        let message = OutboxMessage {
            to: to.as_e164().to_owned(),
            body: body.to_owned(),
            sent_at: rfc3339(now),
        };
        let item = Item::new(OUTBOX_PK, sk, json!(message)).expiring(now + KEEP_SECONDS);
        self.store
            .put(item, Condition::Absent, now)
            .await
            .map_err(|e| SmsError::Unavailable(e.to_string()))?;
        if self.echo {
            println!("📱 SMS til {}: {}", to.as_e164(), body);
        }
        Ok(())
    }
}
