//! A small append-only log kept in the store: timestamped JSON entries under one partition,
//! listed in time order, optionally echoed to the console. The local SMS outbox
//! ([`crate::sms::outbox`]) and the local gateway events ([`crate::activation::gateway`]) are
//! two such logs; keeping them in the store lets every process on the same data dir (or
//! table) see what the others wrote, and the entries expire on their own.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::clock::Clock;
use crate::store::{Condition, Item, ItemStore, StoreError};

/// How long entries live unless told otherwise: a week of local history.
pub const DEFAULT_KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

pub struct EventLog<T> {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
    pk: &'static str,
    /// Sort-key prefix, e.g. `MSG#`.
    prefix: &'static str,
    keep: Duration,
    echo: Option<fn(&T) -> String>,
    _entries: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> EventLog<T> {
    /// A log under partition `pk`, sort keys starting with `prefix`, kept
    /// [`DEFAULT_KEEP`], silent.
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>, pk: &'static str, prefix: &'static str) -> Self {
        Self {
            store,
            clock,
            pk,
            prefix,
            keep: DEFAULT_KEEP,
            echo: None,
            _entries: PhantomData,
        }
    }

    /// Prints `line(entry)` to stdout after each append (the local developer's view).
    pub fn echoing(mut self, line: fn(&T) -> String) -> Self {
        self.echo = Some(line);
        self
    }

    pub fn keeping(mut self, keep: Duration) -> Self {
        self.keep = keep;
        self
    }

    /// Appends `entry`. Written with [`Condition::Absent`] under a key no other append can
    /// have, so concurrent writers (several processes on one store) never overwrite each other.
    pub async fn append(&self, entry: &T) -> Result<(), StoreError> {
        let now = self.clock.now();
        // Time first (the clock's second), then wall-clock nanoseconds to order appends within
        // a second, then randomness so two processes never pick the same key.
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        let sk = crate::store::keys::log_sk(self.prefix, now, nanos, &crate::security::random_token(6));
        let data = serde_json::to_value(entry).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let item = Item::new(self.pk, sk, data).expiring(crate::clock::after(now, self.keep));
        self.store.put(item, Condition::Absent, now).await?;
        if let Some(line) = self.echo {
            println!("{}", line(entry));
        }
        Ok(())
    }

    /// The live entries, oldest first. Entries that no longer parse as `T` are skipped.
    pub async fn oldest_first(&self) -> Result<Vec<T>, StoreError> {
        let items = self.store.query(self.pk, self.prefix, self.clock.now()).await?;
        Ok(items
            .into_iter()
            .filter_map(|i| serde_json::from_value(i.data).ok())
            .collect())
    }

    /// The live entries, newest first.
    pub async fn newest_first(&self) -> Result<Vec<T>, StoreError> {
        let mut entries = self.oldest_first().await?;
        entries.reverse();
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::sqlite::SqliteStore;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Entry {
        n: u32,
    }

    fn log(store: Arc<dyn ItemStore>, clock: Arc<ManualClock>) -> EventLog<Entry> {
        EventLog::new(store, clock, "TESTLOG", "E#").keeping(Duration::from_secs(60))
    }

    #[tokio::test]
    async fn entries_list_in_append_order_within_one_second_and_across_seconds() {
        let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::in_memory().unwrap());
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let log = log(store, clock.clone());
        for n in 0..3 {
            log.append(&Entry { n }).await.unwrap();
        }
        clock.advance(1);
        log.append(&Entry { n: 3 }).await.unwrap();
        let newest: Vec<u32> = log.newest_first().await.unwrap().iter().map(|e| e.n).collect();
        assert_eq!(newest, [3, 2, 1, 0]);
        let oldest: Vec<u32> = log.oldest_first().await.unwrap().iter().map(|e| e.n).collect();
        assert_eq!(oldest, [0, 1, 2, 3]);
    }

    #[tokio::test]
    async fn two_logs_on_one_store_see_each_others_appends_and_entries_expire() {
        let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::in_memory().unwrap());
        let clock = Arc::new(ManualClock::new(1_700_000_000));
        let writer = log(store.clone(), clock.clone());
        let reader = log(store.clone(), clock.clone());
        writer.append(&Entry { n: 7 }).await.unwrap();
        assert_eq!(reader.newest_first().await.unwrap(), [Entry { n: 7 }]);
        // Another log's partition is not this log.
        let other: EventLog<Entry> = EventLog::new(store, clock.clone(), "OTHERLOG", "E#");
        assert!(other.newest_first().await.unwrap().is_empty());
        clock.advance(61);
        assert!(reader.newest_first().await.unwrap().is_empty(), "kept 60 seconds");
    }
}
