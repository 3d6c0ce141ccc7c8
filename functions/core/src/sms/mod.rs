//! Sending SMS: the `outbox` backend locally, SNS in AWS.

pub mod messages;
pub mod outbox;
pub mod sns;

use async_trait::async_trait;

use crate::domain::MobileNumber;

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("SMS provider unavailable: {0}")]
    Unavailable(String),
    #[error("SMS provider refused the message: {0}")]
    Rejected(String),
}

#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    async fn send(&self, to: &MobileNumber, body: &str) -> Result<(), SmsError>;
}
