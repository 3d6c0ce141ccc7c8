//! The embedded backend: one SQLite file in WAL mode. Conditions are checked and writes applied
//! inside one `BEGIN IMMEDIATE` transaction, so they hold across threads and across processes
//! sharing the file.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{
    check_transaction, distinct_keys, in_order, Condition, Item, ItemStore, Key, Page, PageRequest, StoreError,
    WriteOp, MAX_PAGE,
};
use crate::clock::UnixTime;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk         TEXT    NOT NULL,
    sk         TEXT    NOT NULL,
    version    INTEGER NOT NULL CHECK (version >= 1),
    expires_at INTEGER,
    data       TEXT    NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_by_sk ON items (sk);
";

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(unavailable)?;
        Self::configure(conn, true)
    }

    /// A private in-memory database, for tests and benchmarks.
    pub fn in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(unavailable)?;
        Self::configure(conn, false)
    }

    fn configure(conn: Connection, file: bool) -> Result<Self, StoreError> {
        // Another process may hold the write lock for a moment; wait rather than fail.
        conn.busy_timeout(Duration::from_secs(10)).map_err(unavailable)?;
        if file {
            conn.pragma_update(None, "journal_mode", "WAL").map_err(unavailable)?;
            // NORMAL is durable across process crashes in WAL mode (only power loss can lose
            // the last transactions), which is the failure the local store must survive.
            conn.pragma_update(None, "synchronous", "NORMAL").map_err(unavailable)?;
        }
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Unavailable("connection poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("storage task failed: {e}")))?
    }
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn row_to_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, i64, Option<i64>, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
}

fn decode(raw: (String, String, i64, Option<i64>, String)) -> Result<Item, StoreError> {
    let (pk, sk, version, expires_at, data) = raw;
    let data = serde_json::from_str(&data).map_err(|e| StoreError::Corrupt(format!("{pk}/{sk}: {e}")))?;
    let version = u64::try_from(version).map_err(|_| StoreError::Corrupt(format!("{pk}/{sk}: version")))?;
    Ok(Item {
        pk,
        sk,
        version,
        expires_at,
        data,
    })
}

fn live_version(tx: &rusqlite::Transaction<'_>, pk: &str, sk: &str, now: UnixTime) -> Result<Option<u64>, StoreError> {
    let row: Option<(i64, Option<i64>)> = tx
        .query_row(
            "SELECT version, expires_at FROM items WHERE pk = ?1 AND sk = ?2",
            params![pk, sk],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(unavailable)?;
    Ok(row.and_then(|(v, exp)| match exp {
        Some(at) if at <= now => None,
        _ => Some(v as u64),
    }))
}

fn check(
    tx: &rusqlite::Transaction<'_>,
    pk: &str,
    sk: &str,
    condition: Condition,
    now: UnixTime,
) -> Result<(), StoreError> {
    let holds = match condition {
        Condition::Always => true,
        Condition::Absent => live_version(tx, pk, sk, now)?.is_none(),
        Condition::VersionIs(v) => live_version(tx, pk, sk, now)? == Some(v),
    };
    if holds {
        Ok(())
    } else {
        Err(StoreError::ConditionFailed)
    }
}

#[async_trait]
impl ItemStore for SqliteStore {
    async fn get(&self, pk: &str, sk: &str, now: UnixTime) -> Result<Option<Item>, StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.with_conn(move |conn| {
            let raw = conn
                .prepare_cached(
                    "SELECT pk, sk, version, expires_at, data FROM items
                     WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
                )
                .map_err(unavailable)?
                .query_row(params![pk, sk, now], row_to_item)
                .optional()
                .map_err(unavailable)?;
            raw.map(decode).transpose()
        })
        .await
    }

    async fn get_many(&self, keys: &[Key], now: UnixTime) -> Result<Vec<Option<Item>>, StoreError> {
        let distinct: Vec<(String, String)> = distinct_keys(keys)?
            .into_iter()
            .map(|k| (k.pk.clone(), k.sk.clone()))
            .collect();
        if distinct.is_empty() {
            return Ok(vec![None; keys.len()]);
        }
        let found = self
            .with_conn(move |conn| {
                // One statement for the whole batch: `(pk, sk) IN (VALUES (?, ?), ...)`.
                let pairs = vec!["(?, ?)"; distinct.len()].join(", ");
                let sql = format!(
                    "SELECT pk, sk, version, expires_at, data FROM items
                     WHERE (pk, sk) IN (VALUES {pairs}) AND (expires_at IS NULL OR expires_at > ?)"
                );
                let mut stmt = conn.prepare_cached(&sql).map_err(unavailable)?;
                let mut values: Vec<rusqlite::types::Value> = Vec::with_capacity(distinct.len() * 2 + 1);
                for (pk, sk) in distinct {
                    values.push(pk.into());
                    values.push(sk.into());
                }
                values.push(now.into());
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(values), row_to_item)
                    .map_err(unavailable)?;
                rows.map(|r| r.map_err(unavailable).and_then(decode))
                    .collect::<Result<Vec<Item>, StoreError>>()
            })
            .await?;
        Ok(in_order(keys, found, now))
    }

    async fn query(&self, pk: &str, sk_prefix: &str, now: UnixTime) -> Result<Vec<Item>, StoreError> {
        let (pk, prefix) = (pk.to_owned(), sk_prefix.to_owned());
        self.with_conn(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT pk, sk, version, expires_at, data FROM items
                     WHERE pk = ?1 AND substr(sk, 1, length(?2)) = ?2
                       AND (expires_at IS NULL OR expires_at > ?3)
                     ORDER BY sk",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![pk, prefix, now], row_to_item)
                .map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable).and_then(decode)).collect()
        })
        .await
    }

    async fn query_page(&self, pk: &str, page: PageRequest<'_>, now: UnixTime) -> Result<Page, StoreError> {
        let limit = page.limit.clamp(1, MAX_PAGE);
        let (pk, prefix, after) = (pk.to_owned(), page.sk_prefix.to_owned(), page.after.map(str::to_owned));
        // One more than asked for tells whether another page follows.
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let sql = if page.descending {
            "SELECT pk, sk, version, expires_at, data FROM items
             WHERE pk = ?1 AND substr(sk, 1, length(?2)) = ?2
               AND (expires_at IS NULL OR expires_at > ?3) AND (?4 IS NULL OR sk < ?4)
             ORDER BY sk DESC LIMIT ?5"
        } else {
            "SELECT pk, sk, version, expires_at, data FROM items
             WHERE pk = ?1 AND substr(sk, 1, length(?2)) = ?2
               AND (expires_at IS NULL OR expires_at > ?3) AND (?4 IS NULL OR sk > ?4)
             ORDER BY sk LIMIT ?5"
        };
        self.with_conn(move |conn| {
            let mut stmt = conn.prepare_cached(sql).map_err(unavailable)?;
            let rows = stmt
                .query_map(params![pk, prefix, now, after, fetch], row_to_item)
                .map_err(unavailable)?;
            let mut items = rows
                .map(|r| r.map_err(unavailable).and_then(decode))
                .collect::<Result<Vec<_>, _>>()?;
            let more = items.len() > limit;
            items.truncate(limit);
            Ok(Page { items, more })
        })
        .await
    }

    async fn transact(&self, ops: Vec<WriteOp>, now: UnixTime) -> Result<(), StoreError> {
        check_transaction(&ops)?;
        self.with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            for op in &ops {
                match op {
                    WriteOp::Put { item, condition } => {
                        check(&tx, &item.pk, &item.sk, *condition, now)?;
                        let data = serde_json::to_string(&item.data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        tx.prepare_cached(
                            "INSERT INTO items (pk, sk, version, expires_at, data) VALUES (?1, ?2, ?3, ?4, ?5)
                             ON CONFLICT (pk, sk) DO UPDATE SET version = excluded.version,
                               expires_at = excluded.expires_at, data = excluded.data",
                        )
                        .map_err(unavailable)?
                        .execute(params![item.pk, item.sk, item.version as i64, item.expires_at, data])
                        .map_err(unavailable)?;
                    }
                    WriteOp::Check { pk, sk, condition } => check(&tx, pk, sk, *condition, now)?,
                    WriteOp::Delete { pk, sk, condition } => {
                        check(&tx, pk, sk, *condition, now)?;
                        tx.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
                            .map_err(unavailable)?
                            .execute(params![pk, sk])
                            .map_err(unavailable)?;
                    }
                }
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn scan_by_field(
        &self,
        sk_prefix: &str,
        field: &str,
        value: &str,
        now: UnixTime,
    ) -> Result<Vec<Item>, StoreError> {
        if !field.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StoreError::Unavailable(format!("invalid field name {field:?}")));
        }
        let (sk, path, value) = (sk_prefix.to_owned(), format!("$.{field}"), value.to_owned());
        self.with_conn(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT pk, sk, version, expires_at, data FROM items
                     WHERE substr(sk, 1, length(?1)) = ?1 AND json_extract(data, ?2) = ?3
                       AND (expires_at IS NULL OR expires_at > ?4)
                     ORDER BY pk",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![sk, path, value, now], row_to_item)
                .map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable).and_then(decode)).collect()
        })
        .await
    }
}
