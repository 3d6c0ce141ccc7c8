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
    /// Writes nothing; the transaction happens only if `condition` holds for this key (DynamoDB
    /// ConditionCheck). So a decision made on a record read earlier commits only while that
    /// record is still as read, without rewriting it.
    Check {
        pk: String,
        sk: String,
        condition: Condition,
    },
}

impl WriteOp {
    pub fn key(&self) -> (&str, &str) {
        match self {
            WriteOp::Put { item, .. } => (&item.pk, &item.sk),
            WriteOp::Delete { pk, sk, .. } | WriteOp::Check { pk, sk, .. } => (pk, sk),
        }
    }
}

/// The most operations one [`ItemStore::transact`] takes: DynamoDB's TransactWriteItems limit
/// (100 since 2022), which the SQLite backend enforces too so nothing passes locally that AWS
/// would refuse.
pub const MAX_TRANSACTION_OPS: usize = 100;

/// The most keys one [`ItemStore::get_many`] takes: DynamoDB's BatchGetItem limit.
pub const MAX_BATCH_KEYS: usize = 100;

/// A record's key, for [`ItemStore::get_many`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

#[async_trait]
pub trait ItemStore: Send + Sync + 'static {
    /// The live item under the key, if any.
    async fn get(&self, pk: &str, sk: &str, now: UnixTime) -> Result<Option<Item>, StoreError>;

    /// The live items under `keys`, in the order asked (`None` where there is none), read
    /// strongly consistently in one request (DynamoDB BatchGetItem; one SELECT in SQLite), so
    /// a rule that needs several records costs one round trip instead of one per record. Each
    /// item is as current as a [`ItemStore::get`] at some moment during the call; the batch is
    /// not one snapshot, so a decision that needs several records unchanged writes with
    /// version conditions on each. A key may repeat; at most [`MAX_BATCH_KEYS`] distinct keys.
    async fn get_many(&self, keys: &[Key], now: UnixTime) -> Result<Vec<Option<Item>>, StoreError>;

    /// Live items under `pk` whose `sk` starts with `sk_prefix`, in `sk` order.
    async fn query(&self, pk: &str, sk_prefix: &str, now: UnixTime) -> Result<Vec<Item>, StoreError>;

    /// Up to `page.limit` live items under `pk` whose `sk` starts with the prefix, in `sk`
    /// order (descending if asked), starting after `page.after`; one Query (DynamoDB:
    /// `ScanIndexForward`, `Limit`, `ExclusiveStartKey`), never a scan.
    async fn query_page(&self, pk: &str, page: PageRequest<'_>, now: UnixTime) -> Result<Page, StoreError>;

    /// All writes happen or none does; any failed condition fails the whole batch with
    /// [`StoreError::ConditionFailed`]. At most [`MAX_TRANSACTION_OPS`] operations, each on a
    /// different key.
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

/// One page of a [`ItemStore::query_page`].
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest<'a> {
    /// Only items whose `sk` starts with this.
    pub sk_prefix: &'a str,
    /// Newest (highest `sk`) first when true.
    pub descending: bool,
    /// At most this many items (at least 1; larger values are capped at [`MAX_PAGE`]).
    pub limit: usize,
    /// Continue after this `sk` (exclusive), in the page's direction.
    pub after: Option<&'a str>,
}

/// Largest page any query returns: the caller's limit is capped here so untrusted input can
/// never ask the store for an unbounded read.
pub const MAX_PAGE: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    /// True when live items follow the last one returned (continue with its `sk`).
    pub more: bool,
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

/// The distinct keys of a [`ItemStore::get_many`] request (DynamoDB refuses a batch that names
/// a key twice), refused when there are more than one request may carry.
pub(crate) fn distinct_keys(keys: &[Key]) -> Result<Vec<&Key>, StoreError> {
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    let distinct: Vec<&Key> = keys.iter().filter(|k| seen.insert(*k)).collect();
    if distinct.len() > MAX_BATCH_KEYS {
        return Err(StoreError::Unavailable(format!(
            "more than {MAX_BATCH_KEYS} keys in one batch read"
        )));
    }
    Ok(distinct)
}

/// The live ones of `found` (in any order) placed in the order of `keys`.
pub(crate) fn in_order(keys: &[Key], found: Vec<Item>, now: UnixTime) -> Vec<Option<Item>> {
    let by_key: std::collections::HashMap<(String, String), Item> = found
        .into_iter()
        .filter(|i| i.is_live(now))
        .map(|i| ((i.pk.clone(), i.sk.clone()), i))
        .collect();
    keys.iter()
        .map(|k| by_key.get(&(k.pk.clone(), k.sk.clone())).cloned())
        .collect()
}

/// Refuses a transaction DynamoDB would refuse, on every backend alike.
pub(crate) fn check_transaction(ops: &[WriteOp]) -> Result<(), StoreError> {
    if ops.len() > MAX_TRANSACTION_OPS {
        return Err(StoreError::Unavailable(format!(
            "more than {MAX_TRANSACTION_OPS} operations in one transaction"
        )));
    }
    let mut seen = std::collections::HashSet::with_capacity(ops.len());
    for op in ops {
        let key = op.key();
        if !seen.insert(key) {
            return Err(StoreError::Unavailable(format!(
                "{}/{} written twice in one transaction",
                key.0, key.1
            )));
        }
    }
    Ok(())
}
