//! What became of the portal's SMS. Each message published is remembered briefly by the
//! provider's message id ([`SentSms`]); SNS's delivery status log reaches the
//! `serial-activation` function through a CloudWatch Logs subscription
//! ([`crate::sms::delivery_status`]), and a failure is written to the account's audit trail
//! and marks the challenge whose last code it was. The login screen asks
//! ([`App::sms_delivery`]) and, when the code did not arrive and the challenge can be answered
//! another way (an authenticator app today, passkeys later), offers that instead.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::challenges::purpose_name;
use crate::app::App;
use crate::audit::AuditKind;
use crate::clock::UnixTime;
use crate::domain::{ChallengeId, MobileNumber, Username};
use crate::error::ServiceError;
use crate::sms::delivery_status::DeliveryStatus;
use crate::sms::SmsError;
use crate::store::keys::{challenge_pk, sent_sms_pk, sent_sms_to_pk, CHALLENGE_SK, SENT_SMS_SK};
use crate::store::records::{to_item, Challenge, ChallengePurpose, Change};
use crate::store::{Condition, WriteOp};

/// How long a message is remembered: SNS reports the final status within hours; a status
/// later than this is dropped.
const SENT_SMS_LIFETIME: i64 = 3 * 24 * 3600;
/// Carrier answers are short phrases; anything longer is cut before it reaches the audit trail.
const MAX_PROVIDER_RESPONSE: usize = 200;

/// One published SMS, under its provider message id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SentSms {
    pub username: Username,
    /// The number as the audit trail shows numbers ([`MobileNumber::masked`]).
    pub to: String,
    /// `login`, `password_reset`, `phone_change` or `notice`.
    pub what: String,
    /// The challenge whose code this was, and its `last_sent_at` then: a failure marks the
    /// challenge only while this is still its last SMS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<(ChallengeId, UnixTime)>,
    /// Set by the first failure status recorded: a status delivered twice is audited once.
    #[serde(default)]
    pub failure_recorded: bool,
    /// The provider's id of the message whose failure was recorded: a record kept by number
    /// tells a repeated status (the same id) from another message to that number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_message: Option<String>,
}

/// What the login screen learns about a challenge's SMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmsDeliveryView {
    /// `failed` when the carrier reported that the challenge's last SMS was not delivered;
    /// `unknown` otherwise (sent and not reported failed, or none sent yet).
    pub sms: &'static str,
    /// Other ways to answer the challenge: `["totp"]` when it takes an authenticator-app code.
    pub alternatives: Vec<&'static str>,
}

/// What a batch of statuses did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    pub delivered: usize,
    pub failed: usize,
    /// Statuses of messages the portal does not know (another sender of the account, or
    /// older than [`SENT_SMS_LIFETIME`]).
    pub unknown: usize,
}

impl App {
    /// Publishes `body` to `to` for `username` and remembers the message id (best effort: a
    /// message not remembered only loses its delivery status).
    pub(crate) async fn publish_sms(
        &self,
        username: &Username,
        to: &MobileNumber,
        body: &str,
        what: &'static str,
        challenge: Option<&Challenge>,
    ) -> Result<(), SmsError> {
        let published = self.sms.publish(to, body).await;
        let Some(message_id) = published.as_ref().ok().and_then(|r| r.message_id.clone()) else {
            // The same one write whether or not a message went out, so a reset whose SMS
            // failed costs what a decoy's costs.
            self.sent_sms_stand_in().await;
            return published.map(|_| ());
        };
        let now = self.now();
        let sent = SentSms {
            username: username.clone(),
            to: to.masked(),
            what: what.to_owned(),
            challenge: challenge.map(|c| (c.id.clone(), c.last_sent_at)),
            failure_recorded: false,
            failed_message: None,
        };
        let stored = self
            .repo
            .insert(
                &sent_sms_pk(&message_id),
                SENT_SMS_SK,
                &sent,
                Some(now + SENT_SMS_LIFETIME),
                now,
            )
            .await;
        if let Err(e) = stored {
            tracing::warn!(error = %e, "sent SMS not remembered; its delivery status will be dropped");
        }
        Ok(())
    }

    /// Where no SMS is published (a decoy challenge, a failed send), an item of the same shape
    /// under a random id instead, kept briefly and never read: forgot-password paths must cost
    /// the same writes whether or not the account exists.
    pub(crate) async fn sent_sms_stand_in(&self) {
        let now = self.now();
        let stand_in = json!({
            "username": "", "to": "+47 ••••••00", "what": "password_reset", "failure_recorded": false,
        });
        let key = sent_sms_pk(&format!("none-{}", crate::security::random_token(18)));
        if let Err(e) = self
            .repo
            .insert(&key, SENT_SMS_SK, &stand_in, Some(now + 900), now)
            .await
        {
            tracing::warn!(error = %e, "stand-in for a sent SMS not stored");
        }
    }

    /// Records a batch of SNS delivery statuses: each failure of a portal message once in the
    /// account's audit trail, and on its challenge when it was the challenge's last SMS.
    pub async fn record_sms_delivery(&self, statuses: &[DeliveryStatus]) -> Result<DeliveryReport, ServiceError> {
        let mut report = DeliveryReport::default();
        for status in statuses {
            if status.delivered {
                report.delivered += 1;
                continue;
            }
            match self.record_sms_failure(status).await? {
                true => report.failed += 1,
                false => report.unknown += 1,
            }
        }
        Ok(report)
    }

    /// One failure; `false` when the message is not the portal's (or long forgotten).
    async fn record_sms_failure(&self, status: &DeliveryStatus) -> Result<bool, ServiceError> {
        let id = &status.message_id;
        let mut first = self.first_failure_of(&sent_sms_pk(id), id).await?;
        if first.is_none() {
            // Not remembered by its id: a batched login's code, remembered by its number.
            if let Some(to) = &status.destination {
                first = self
                    .first_failure_of(&sent_sms_to_pk(&self.number_hash(to)?), id)
                    .await?;
            }
        }
        let sent = match first {
            None => return Ok(false),
            Some(None) => return Ok(true),
            Some(Some(sent)) => sent,
        };
        let now = self.now();
        let response: String = status.provider_response.chars().take(MAX_PROVIDER_RESPONSE).collect();
        self.repo
            .audit(
                &sent.username,
                AuditKind::SmsDeliveryFailed,
                None,
                json!({ "to": sent.to, "what": sent.what, "provider_response": response }),
                now,
            )
            .await;
        if let Some((id, sent_at)) = &sent.challenge {
            self.mark_sms_undelivered(id, *sent_at).await?;
        }
        Ok(true)
    }

    /// Flips `failure_recorded` on the remembered SMS at `pk` for message `message_id`:
    /// `None` if there is none (or its recorded failure was another message's), `Some(None)` if
    /// this message's failure was recorded already (a status delivered twice is audited once),
    /// `Some(Some(sent))` for the first.
    async fn first_failure_of(&self, pk: &str, message_id: &str) -> Result<Option<Option<SentSms>>, ServiceError> {
        let now = self.now();
        self.repo
            .modify::<SentSms, Option<Option<SentSms>>, ServiceError, _>(
                pk,
                SENT_SMS_SK,
                now,
                |current| match current {
                    None => Ok((Change::Keep(None), None)),
                    Some(s) if s.failure_recorded => {
                        let same = s.failed_message.as_deref().is_none_or(|m| m == message_id);
                        Ok((Change::Keep(same.then_some(None)), None))
                    }
                    Some(s) => {
                        let mut next = s.clone();
                        next.failure_recorded = true;
                        next.failed_message = Some(message_id.to_owned());
                        Ok((
                            Change::Write(next, Some(Some(s.clone()))),
                            Some(now + SENT_SMS_LIFETIME),
                        ))
                    }
                },
            )
            .await
    }

    fn number_hash(&self, to: &MobileNumber) -> Result<String, ServiceError> {
        Ok(self.code_hasher()?.tag("sms-to", to.as_e164()))
    }

    /// The write that remembers a login code's SMS by its number, for the batched login's
    /// transaction: SNS's message id exists only after the publish, and a write after it would
    /// be a fourth round trip. The delivery status names the number; a later code to the same
    /// number replaces this one, and a failure is marked on a challenge only while that SMS is
    /// still the challenge's last.
    pub(crate) fn remember_code_by_number(
        &self,
        challenge: &Challenge,
        now: UnixTime,
    ) -> Result<WriteOp, ServiceError> {
        let sent = SentSms {
            username: challenge.username.clone(),
            to: challenge.destination.masked(),
            what: purpose_name(&challenge.purpose).to_owned(),
            challenge: Some((challenge.id.clone(), challenge.last_sent_at)),
            failure_recorded: false,
            failed_message: None,
        };
        let pk = sent_sms_to_pk(&self.number_hash(&challenge.destination)?);
        Ok(WriteOp::Put {
            item: to_item(&pk, SENT_SMS_SK, &sent, Some(now + SENT_SMS_LIFETIME))?,
            condition: Condition::Always,
        })
    }

    /// Marks the challenge's SMS as not delivered, if the failed one is still its last.
    async fn mark_sms_undelivered(&self, id: &ChallengeId, sent_at: UnixTime) -> Result<(), ServiceError> {
        let now = self.now();
        self.repo
            .modify::<Challenge, (), ServiceError, _>(&challenge_pk(id), CHALLENGE_SK, now, |current| match current {
                Some(c) if c.last_sent_at == sent_at && !c.sms_undelivered && !c.consumed => {
                    let mut next = c.clone();
                    next.sms_undelivered = true;
                    Ok((Change::Write(next, ()), Some(c.code_expires_at)))
                }
                _ => Ok((Change::Keep(()), None)),
            })
            .await
    }

    /// `POST /v1/auth/sms/status`: whether a login challenge's last SMS was reported
    /// undelivered, and how else it can be answered. Only login challenges (opened after a
    /// right password): any other is answered as gone, like an unknown one, so forgot-password
    /// decoys cannot be told from real challenges here.
    pub async fn sms_delivery(&self, id: &ChallengeId) -> Result<SmsDeliveryView, ServiceError> {
        let challenge = self.live_challenge(id).await?;
        if !matches!(challenge.purpose, ChallengePurpose::Login { .. }) {
            return Err(ServiceError::ChallengeGone);
        }
        Ok(delivery_view(&challenge))
    }
}

/// The pure part of [`App::sms_delivery`].
pub fn delivery_view(challenge: &Challenge) -> SmsDeliveryView {
    let failed = challenge.sms_undelivered && challenge.code_hash.is_some();
    let mut alternatives = Vec::new();
    // The one other factor today; passkeys (issue #17) add theirs here.
    if challenge.totp {
        alternatives.push("totp");
    }
    SmsDeliveryView {
        sms: if failed { "failed" } else { "unknown" },
        alternatives,
    }
}
