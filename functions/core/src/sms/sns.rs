//! The AWS SMS backend: SNS `Publish` straight to a phone number, as a transactional message
//! (delivered ahead of promotional traffic and past opt-out of marketing), with an optional
//! alphanumeric sender ID.
//!
//! Errors carry only SNS's error code, never its message: SNS echoes phone numbers there, and
//! these errors end up in logs.

use async_trait::async_trait;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;

use super::{SmsError, SmsReceipt, SmsSender};
use crate::domain::MobileNumber;

pub const SMS_TYPE_ATTRIBUTE: &str = "AWS.SNS.SMS.SMSType";
pub const SENDER_ID_ATTRIBUTE: &str = "AWS.SNS.SMS.SenderID";

pub struct SnsSms {
    client: Client,
    sender_id: Option<SenderId>,
}

/// An SNS alphanumeric sender ID: 1 to 11 letters and digits, at least one letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderId(String);

impl SenderId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid = (1..=11).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_alphanumeric())
            && raw.bytes().any(|b| b.is_ascii_alphabetic());
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err("a sender ID is 1 to 11 letters and digits, at least one of them a letter".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl SnsSms {
    pub fn new(client: Client, sender_id: Option<SenderId>) -> Self {
        Self { client, sender_id }
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, SmsError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| SmsError::Unavailable(e.to_string()))
}

fn classify<E, R>(e: SdkError<E, R>) -> SmsError
where
    E: ProvideErrorMetadata,
{
    match &e {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("unknown").to_owned();
            // The number or the text was refused: sending the same again will not help.
            if matches!(code.as_str(), "InvalidParameter" | "InvalidParameterValue" | "OptedOut") {
                SmsError::Rejected(format!("SNS Publish: {code}"))
            } else {
                SmsError::Unavailable(format!("SNS Publish: {code}"))
            }
        }
        SdkError::TimeoutError(_) => SmsError::Unavailable("SNS Publish: timed out".into()),
        SdkError::DispatchFailure(_) => SmsError::Unavailable("SNS Publish: could not reach SNS".into()),
        _ => SmsError::Unavailable("SNS Publish: unreadable response".into()),
    }
}

#[async_trait]
impl SmsSender for SnsSms {
    async fn publish(&self, to: &MobileNumber, body: &str) -> Result<SmsReceipt, SmsError> {
        let mut request = self
            .client
            .publish()
            .phone_number(to.as_e164())
            .message(body)
            .message_attributes(SMS_TYPE_ATTRIBUTE, string_attribute("Transactional")?);
        if let Some(sender) = &self.sender_id {
            request = request.message_attributes(SENDER_ID_ATTRIBUTE, string_attribute(sender.as_str())?);
        }
        let output = request.send().await.map_err(classify)?;
        Ok(SmsReceipt {
            message_id: output.message_id().map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_ids_follow_the_sns_rules() {
        for good in ["NHN", "Helsenett", "A1234567890"] {
            assert!(SenderId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "123456", "Norsk Helse", "Helsenettet1x", "NHN-portal", "Blåbær"] {
            assert!(SenderId::parse(bad).is_err(), "{bad}");
        }
    }
}
