//! Sending SMS: the `outbox` backend locally, SNS in AWS.

pub mod delivery_status;
pub mod messages;
pub mod outbox;
pub mod sns;
pub mod webotp;

use async_trait::async_trait;

use crate::domain::MobileNumber;

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("SMS provider unavailable: {0}")]
    Unavailable(String),
    #[error("SMS provider refused the message: {0}")]
    Rejected(String),
}

/// What the provider said when it took a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmsReceipt {
    /// The provider's id of the message (SNS `MessageId`), which its delivery status names;
    /// `None` from senders that report no delivery status.
    pub message_id: Option<String>,
}

#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    /// Hands the message to the provider.
    async fn publish(&self, to: &MobileNumber, body: &str) -> Result<SmsReceipt, SmsError>;

    /// [`Self::publish`], when the receipt does not matter.
    async fn send(&self, to: &MobileNumber, body: &str) -> Result<(), SmsError> {
        self.publish(to, body).await.map(|_| ())
    }
}
