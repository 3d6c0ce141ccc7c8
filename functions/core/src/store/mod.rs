//! Storage: one small set of conditional primitives over a single-table layout (`pk`/`sk`,
//! `version`, `expires_at`, JSON attributes), implemented by every backend, and typed
//! repositories on top. The primitives are all that differ between SQLite and DynamoDB, and the
//! conformance suite in `portal-testkit` pins their behaviour for both.

mod dynamo_codec;
pub mod dynamodb;
mod dynamodb_table;
pub mod keys;
pub mod passkey_records;
pub mod records;
pub mod sqlite;

use async_trait::async_trait;
use serde_json::Value;

use crate::clock::UnixTime;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A condition on a write did not hold (item exists, version moved, item gone).
    #[error("condition failed")]
    ConditionFailed,
    /// The backend could not be reached or refused the request; the caller may retry later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A stored item could not be decoded; a defect or tampering, never the user's fault.
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
}

/// One stored record. `version` starts at 1 and increases by one on every conditional update,
/// which is how read-modify-write cycles stay safe under concurrency.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub pk: String,
    pub sk: String,
    pub version: u64,
    /// Unix seconds after which the item counts as absent (DynamoDB TTL attribute).
    pub expires_at: Option<UnixTime>,
    pub data: Value,
}

impl Item {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>, data: Value) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
            version: 1,
            expires_at: None,
            data,
        }
    }

    pub fn expiring(mut self, at: UnixTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    pub fn is_live(&self, now: UnixTime) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// When a write may happen. Expired items count as absent everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// No live item under this key.
    Absent,
    /// A live item exists with exactly this version.
    VersionIs(u64),
}

#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Stores `item` as given (its `version` is written as is).
    Put { item: Item, condition: Condition },
    Delete {
        pk: String,
        sk: String,
        condition: Condition,
    },
}

#[async_trait]
pub trait ItemStore: Send + Sync + 'static {
    /// The live item under the key, if any.
    async fn get(&self, pk: &str, sk: &str, now: UnixTime) -> Result<Option<Item>, StoreError>;

    /// Live items under `pk` whose `sk` starts with `sk_prefix`, in `sk` order.
    async fn query(&self, pk: &str, sk_prefix: &str, now: UnixTime) -> Result<Vec<Item>, StoreError>;

    /// All writes happen or none does; any failed condition fails the whole batch with
    /// [`StoreError::ConditionFailed`]. At most 25 operations.
    async fn transact(&self, ops: Vec<WriteOp>, now: UnixTime) -> Result<(), StoreError>;

    /// Live items of any key whose `sk` starts with `sk_prefix` and whose `data[field]` equals
    /// `value`, in `pk` order; used only by background sweeps (DynamoDB scans), never on a
    /// request path.
    async fn scan_by_field(
        &self,
        sk_prefix: &str,
        field: &str,
        value: &str,
        now: UnixTime,
    ) -> Result<Vec<Item>, StoreError>;
}

/// Convenience wrappers over the primitives.
impl dyn ItemStore {
    pub async fn put(&self, item: Item, condition: Condition, now: UnixTime) -> Result<(), StoreError> {
        self.transact(vec![WriteOp::Put { item, condition }], now).await
    }

    pub async fn delete(&self, pk: &str, sk: &str, condition: Condition, now: UnixTime) -> Result<(), StoreError> {
        self.transact(
            vec![WriteOp::Delete {
                pk: pk.to_owned(),
                sk: sk.to_owned(),
                condition,
            }],
            now,
        )
        .await
    }

    /// Replaces `item` if nobody changed it since it was read; bumps its version.
    pub async fn update(&self, mut item: Item, now: UnixTime) -> Result<Item, StoreError> {
        let expected = item.version;
        item.version += 1;
        self.put(item.clone(), Condition::VersionIs(expected), now).await?;
        Ok(item)
    }
}
