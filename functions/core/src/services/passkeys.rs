//! Passkeys (WebAuthn) as a second factor: enrolment after password re-authentication, the
//! list, and removal with the password. The login step is [`super::passkey_login`]; the
//! relying party and its options are [`super::passkey_party`].
//!
//! - An enrolment's WebAuthn state is stored under a fresh id for 5 minutes, bound to the
//!   account that started it, and is deleted by a conditional delete (version as read) before
//!   the attestation is checked: one enrolment state confirms at most one passkey.
//! - A credential id belongs to one account only: the passkey and its owner record are
//!   inserted in one transaction, each only if absent.
//! - Several passkeys per account (at most [`MAX_PASSKEYS`]); the ones already registered are
//!   excluded from a new enrolment, so one authenticator is not registered twice.

use serde::Serialize;
use serde_json::json;
use webauthn_rs::prelude::{CreationChallengeResponse, RegisterPublicKeyCredential, Uuid, Webauthn};

use super::passkey_party::for_passkeys;
use super::step_up::factor_settled;
use crate::app::App;
use crate::audit::AuditKind;
use crate::clock::{secs, UnixTime};
use crate::domain::{ChallengeId, PasskeyId, PasskeyName, Password, Username};
use crate::error::ServiceError;
use crate::services::admin::AdminError;
use crate::sms::messages;
use crate::store::keys::{
    account_pk, challenge_pk, passkey_owner_pk, passkey_sk, PASSKEYS_MARK_SK, PASSKEY_OWNER_SK,
    PASSKEY_REGISTRATION_SK, PASSKEY_SK_PREFIX,
};
use crate::store::passkey_records::{PasskeyOwner, PasskeyRecord, PasskeyRegistrationState, PasskeysMark};
use crate::store::records::{decode, to_item};
use crate::store::{Condition, StoreError, WriteOp};

/// Passkeys one account may hold: enough for a phone, a laptop and spare keys, few enough
/// that the login answer's list of allowed credentials stays small.
pub const MAX_PASSKEYS: usize = 10;

/// What `POST /v1/account/passkeys` answers: the options for `navigator.credentials.create`
/// and the id to confirm with.
#[derive(Debug, Clone, Serialize)]
pub struct PasskeyEnrolment {
    pub registration_id: ChallengeId,
    /// `{"publicKey": …}` as the browser wants it.
    pub options: CreationChallengeResponse,
    pub expires_in: i64,
}

/// One passkey as the account page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PasskeySummary {
    pub id: PasskeyId,
    pub name: PasskeyName,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

/// The WebAuthn user handle of an account: derived from the username, so every enrolment of
/// one account names the same user (an authenticator then keeps one credential per account,
/// not one per enrolment). A hash, so the handle does not show the username.
pub fn user_handle(username: &Username) -> Uuid {
    let digest = crate::security::sha256_hex(&format!("hk-webauthn-user\u{0}{username}"));
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digest[2 * i..2 * i + 2], 16).unwrap_or_default();
    }
    Uuid::from_bytes(bytes)
}

impl App {
    /// The relying party, or 503 where this deployment's `PORTAL_URL` cannot be one.
    pub(crate) fn relying_party(&self) -> Result<&Webauthn, ServiceError> {
        self.webauthn.as_ref().ok_or(ServiceError::PasskeysUnavailable)
    }

    /// The account's passkeys as records (no versions).
    pub async fn passkeys(&self, username: &Username) -> Result<Vec<PasskeyRecord>, ServiceError> {
        let now = self.now();
        let items = self
            .repo
            .items()
            .query(&account_pk(username), PASSKEY_SK_PREFIX, now)
            .await?;
        items
            .iter()
            .map(|item| decode(item).map_err(ServiceError::from))
            .collect()
    }

    /// `GET /v1/account/passkeys`, oldest first.
    pub async fn list_passkeys(&self, username: &Username) -> Result<Vec<PasskeySummary>, ServiceError> {
        let mut list: Vec<PasskeySummary> = self
            .passkeys(username)
            .await?
            .into_iter()
            .map(|p| PasskeySummary {
                id: p.id,
                name: p.name,
                created_at: p.created_at,
                last_used_at: p.last_used_at,
            })
            .collect();
        list.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
        Ok(list)
    }

    /// `POST /v1/account/passkeys`: after the current password, the options to create a
    /// passkey with, and the id under which their state waits 5 minutes for the confirmation.
    ///
    /// `second_factor_at` is the session's: an account with a strong factor needs a fresh one
    /// ([`App::require_fresh_second_factor`]); its first passkey needs none.
    pub async fn start_passkey_enrolment(
        &self,
        username: &Username,
        second_factor_at: Option<UnixTime>,
        password: &Password,
        source_ip: Option<&str>,
    ) -> Result<PasskeyEnrolment, ServiceError> {
        let webauthn = self.relying_party()?;
        let account = self.account(username).await?;
        self.reauthenticate(&account, password, source_ip, "passkey_enrolment")
            .await?;
        self.require_fresh_second_factor(second_factor_at, username, self.now())
            .await?;
        let existing = self.passkeys(username).await?;
        if existing.len() >= MAX_PASSKEYS {
            return Err(ServiceError::Conflict("passkey_limit"));
        }
        let exclude = existing.iter().map(|p| p.credential.cred_id().clone()).collect();
        let (options, state) = webauthn
            .start_securitykey_registration(
                user_handle(username),
                username.as_str(),
                &account.name,
                Some(exclude),
                None,
                None,
            )
            .map_err(|e| ServiceError::Internal(format!("passkey registration options: {e}")))?;
        let now = self.now();
        let lifetime = secs(self.policy.code_lifetime);
        let registration_id = ChallengeId::generate();
        let record = PasskeyRegistrationState {
            username: username.clone(),
            state,
        };
        self.repo
            .insert(
                &challenge_pk(&registration_id),
                PASSKEY_REGISTRATION_SK,
                &record,
                Some(now + lifetime),
                now,
            )
            .await?;
        Ok(PasskeyEnrolment {
            registration_id,
            options: for_passkeys(options),
            expires_in: lifetime,
        })
    }

    /// `POST /v1/account/passkeys/confirm`: the browser's attestation for an enrolment this
    /// account started. The enrolment state is used up first (whatever the attestation), then
    /// the passkey is stored and the account's phone told.
    pub async fn confirm_passkey_enrolment(
        &self,
        username: &Username,
        second_factor_at: Option<UnixTime>,
        registration_id: &ChallengeId,
        name: PasskeyName,
        credential: &RegisterPublicKeyCredential,
        source_ip: Option<&str>,
    ) -> Result<PasskeySummary, ServiceError> {
        let webauthn = self.relying_party()?;
        let now = self.now();
        let basis = self.guard_enrolment(second_factor_at, username, now).await?;
        let pk = challenge_pk(registration_id);
        let stored = self
            .repo
            .load::<PasskeyRegistrationState>(&pk, PASSKEY_REGISTRATION_SK, now)
            .await?
            // Another account's enrolment is as unknown as an expired one.
            .filter(|s| s.value.username == *username)
            .ok_or(ServiceError::PasskeyEnrolmentGone)?;
        // Single use: only the one request that deletes the version it read goes on.
        match self
            .repo
            .items()
            .delete(
                &pk,
                PASSKEY_REGISTRATION_SK,
                Condition::VersionIs(stored.version()),
                now,
            )
            .await
        {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => return Err(ServiceError::PasskeyEnrolmentGone),
            Err(e) => return Err(e.into()),
        }
        let key = match webauthn.finish_securitykey_registration(credential, &stored.value.state) {
            Ok(key) => key,
            Err(e) => {
                self.repo
                    .audit(
                        username,
                        AuditKind::PasskeyRejected,
                        source_ip,
                        json!({ "during": "enrolment", "reason": e.to_string() }),
                        now,
                    )
                    .await;
                return Err(ServiceError::PasskeyRejected);
            }
        };
        if self.passkeys(username).await?.len() >= MAX_PASSKEYS {
            return Err(ServiceError::Conflict("passkey_limit"));
        }
        let record = PasskeyRecord {
            id: PasskeyId::generate(),
            name,
            credential: key,
            created_at: now,
            last_used_at: None,
            counter: 0,
            counts_since: basis.counts_since,
        };
        let owner = PasskeyOwner {
            username: username.clone(),
            passkey: record.id.clone(),
        };
        let cred_id: &[u8] = record.credential.cred_id().as_ref();
        let ops = vec![
            WriteOp::Put {
                item: to_item(&account_pk(username), &passkey_sk(&record.id), &record, None)?,
                condition: Condition::Absent,
            },
            WriteOp::Put {
                item: to_item(&passkey_owner_pk(cred_id), PASSKEY_OWNER_SK, &owner, None)?,
                condition: Condition::Absent,
            },
            // The mark the batched login reads with the profile (its one batch read cannot
            // query the passkeys themselves).
            WriteOp::Put {
                item: to_item(
                    &account_pk(username),
                    PASSKEYS_MARK_SK,
                    &PasskeysMark { since: now },
                    None,
                )?,
                condition: Condition::Always,
            },
        ];
        match self.repo.items().transact(ops, now).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => return Err(ServiceError::Conflict("passkey_registered")),
            Err(e) => return Err(e.into()),
        }
        // The account's first strong factor: recovery codes made before it stand in for nothing
        // the owner chose (whoever held the password and an SMS code could make them).
        let recovery_codes_removed = basis.first && self.delete_recovery_codes(username).await?;
        let account = self.account(username).await?;
        let notified = self
            .send_notice(username, &account.mobile, messages::passkey_added(account.language))
            .await;
        self.repo
            .audit(
                username,
                AuditKind::PasskeyAdded,
                source_ip,
                json!({
                    "passkey": record.id,
                    "name": record.name,
                    "recovery_codes_removed": recovery_codes_removed,
                    "notice_to": account.mobile.masked(),
                    "notice_sent": notified,
                }),
                now,
            )
            .await;
        Ok(PasskeySummary {
            id: record.id,
            name: record.name,
            created_at: record.created_at,
            last_used_at: None,
        })
    }

    /// `DELETE /v1/account/passkeys/{id}`: with the current password. Another account's id is
    /// as unknown as a made-up one (404).
    pub async fn remove_passkey(
        &self,
        username: &Username,
        second_factor_at: Option<UnixTime>,
        id: &PasskeyId,
        password: &Password,
        source_ip: Option<&str>,
    ) -> Result<(), ServiceError> {
        let account = self.account(username).await?;
        self.reauthenticate(&account, password, source_ip, "passkey_removal")
            .await?;
        let now = self.now();
        self.require_fresh_second_factor(second_factor_at, username, now)
            .await?;
        let (pk, sk) = (account_pk(username), passkey_sk(id));
        let stored = self
            .repo
            .load::<PasskeyRecord>(&pk, &sk, now)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let cred_id: &[u8] = stored.value.credential.cred_id().as_ref();
        let ops = vec![
            WriteOp::Delete {
                pk,
                sk,
                condition: Condition::VersionIs(stored.version()),
            },
            WriteOp::Delete {
                pk: passkey_owner_pk(cred_id),
                sk: PASSKEY_OWNER_SK.to_owned(),
                condition: Condition::Always,
            },
        ];
        match self.repo.items().transact(ops, now).await {
            Ok(()) => {}
            // Removed (or used, which moves its version) meanwhile: the caller may look again.
            Err(StoreError::ConditionFailed) => return Err(ServiceError::Conflict("concurrent_update")),
            Err(e) => return Err(e.into()),
        }
        self.repo
            .audit(
                username,
                AuditKind::PasskeyRemoved,
                source_ip,
                json!({ "passkey": id, "name": stored.value.name }),
                now,
            )
            .await;
        Ok(())
    }
}

impl App {
    /// `portal-admin remove-passkeys` (the user lost the devices, or an intruder's passkey
    /// blocks the owner's step-up): every passkey of the account, audited `by: operator`.
    /// Returns how many were removed.
    pub async fn admin_remove_passkeys(&self, username: &Username) -> Result<usize, AdminError> {
        self.admin_account(username).await?;
        Ok(self.remove_all_passkeys(username, None, "operator").await?)
    }

    /// Removes every passkey of the account (an operator's `remove-passkeys`). Each removal
    /// is audited with `by`. Returns how many.
    pub async fn remove_all_passkeys(
        &self,
        username: &Username,
        source_ip: Option<&str>,
        by: &'static str,
    ) -> Result<usize, ServiceError> {
        self.remove_passkeys_unless(username, source_ip, by, |_| false).await
    }

    /// Removes the account's passkeys that have not settled ("this wasn't me": one the
    /// intruder enrolled would let them log in again with the password alone). Those that
    /// have ([`factor_settled`] from their `counts_since`) are the owner's: the report needed
    /// a step-up from one of them, and taking them away would leave the account to whoever
    /// holds the password and the SIM. Returns how many were removed.
    pub async fn remove_unsettled_passkeys(
        &self,
        username: &Username,
        source_ip: Option<&str>,
        by: &'static str,
        now: UnixTime,
    ) -> Result<usize, ServiceError> {
        self.remove_passkeys_unless(username, source_ip, by, |record| {
            factor_settled(record.counts_since.unwrap_or(record.created_at), now)
        })
        .await
    }

    /// Removes each passkey of the account for which `keep` is false, audited with `by`.
    async fn remove_passkeys_unless(
        &self,
        username: &Username,
        source_ip: Option<&str>,
        by: &'static str,
        keep: impl Fn(&PasskeyRecord) -> bool,
    ) -> Result<usize, ServiceError> {
        let now = self.now();
        let items = self
            .repo
            .items()
            .query(&account_pk(username), PASSKEY_SK_PREFIX, now)
            .await?;
        let mut removed = 0;
        for item in items {
            let record: PasskeyRecord = decode(&item).map_err(ServiceError::from)?;
            if keep(&record) {
                continue;
            }
            let cred_id: &[u8] = record.credential.cred_id().as_ref();
            let ops = vec![
                WriteOp::Delete {
                    pk: item.pk.clone(),
                    sk: item.sk.clone(),
                    condition: Condition::Always,
                },
                WriteOp::Delete {
                    pk: passkey_owner_pk(cred_id),
                    sk: PASSKEY_OWNER_SK.to_owned(),
                    condition: Condition::Always,
                },
            ];
            self.repo.items().transact(ops, now).await?;
            removed += 1;
            self.repo
                .audit(
                    username,
                    AuditKind::PasskeyRemoved,
                    source_ip,
                    json!({ "passkey": record.id, "name": record.name, "by": by }),
                    now,
                )
                .await;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_handle_is_stable_per_account_and_differs_between_accounts() {
        let kari = Username::parse("kari").unwrap();
        let ola = Username::parse("ola").unwrap();
        assert_eq!(user_handle(&kari), user_handle(&kari));
        assert_ne!(user_handle(&kari), user_handle(&ola));
        assert!(!user_handle(&kari).as_bytes().windows(4).any(|w| w == b"kari"));
    }
}
