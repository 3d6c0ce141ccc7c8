//! `portal-admin repair-cards`: a one-off repair of older data, in a file of its own because it
//! scans the table and no Lambda may (infra/checks/functions.toml lists it as operator-only).

use super::registry::{CardKey, CertificateRecord, RegisterError, SerialStatus};
use crate::app::App;
use crate::store::keys::SERIAL_PREFIX;

impl App {
    /// Revokes every card left `active` for an account that may not use it (reason
    /// `repair`): such records could be written before account changes revoked the card in
    /// the same transaction (an operator's disable or home-office change whose second step
    /// failed), and the gateway lookup no longer reads the account. One scan: an operator's
    /// command (`portal-admin repair-cards`, run once before deploying over older data),
    /// never a request path. Returns the cards revoked.
    pub async fn repair_active_cards(&self) -> Result<Vec<CardKey>, RegisterError> {
        let now = self.now();
        let items = self
            .repo
            .items()
            .scan_by_field(SERIAL_PREFIX, "status", "active", now)
            .await?;
        let mut revoked = Vec::new();
        for item in items {
            let Ok(record) = serde_json::from_value::<CertificateRecord>(item.data) else {
                continue;
            };
            if record.status != SerialStatus::Active {
                continue;
            }
            let card = record.key();
            let usable = self.load_account(&record.username).await?.is_some_and(|account| {
                !account.disabled && account.home_office && CardKey::of_account(&account).as_ref() == Some(&card)
            });
            if !usable && self.revoke_serial(&card, "repair").await? {
                revoked.push(card);
            }
        }
        Ok(revoked)
    }
}
