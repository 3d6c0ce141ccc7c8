//! Rate limits as sliding logs (exact, unlike fixed windows, so "10 per hour" never lets 20
//! through across a window boundary), lockouts, and the per-username password backoff.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::store::records::{Change, Repo};
use crate::store::StoreError;

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub scope: &'static str,
    pub max: usize,
    pub window: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct HitLog {
    hits: Vec<UnixTime>,
}

impl HitLog {
    fn live(&self, limit: &Limit, now: UnixTime) -> Vec<UnixTime> {
        self.hits.iter().copied().filter(|t| now - t < limit.window).collect()
    }
}

/// `Err(seconds)`: the limit is reached; that long until one more is allowed.
pub type Allowance = Result<(), u64>;

fn retry_after(live: &[UnixTime], limit: &Limit, now: UnixTime) -> u64 {
    // The hit that must age out before one more fits.
    let oldest_blocking = live[live.len() - limit.max];
    (oldest_blocking + limit.window - now).max(1) as u64
}

fn limit_pk(limit: &Limit, key: &str) -> String {
    format!("LIMIT#{}#{key}", limit.scope)
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct FailureStreak {
    pub count: u32,
    pub last_at: UnixTime,
}

impl Repo {
    /// Whether one more hit would stay within the limit (writes nothing).
    pub async fn limit_check(&self, limit: &Limit, key: &str, now: UnixTime) -> Result<Allowance, StoreError> {
        let log = self.load::<HitLog>(&limit_pk(limit, key), "LOG", now).await?;
        let live = log.map(|l| l.value.live(limit, now)).unwrap_or_default();
        Ok(if live.len() >= limit.max {
            Err(retry_after(&live, limit, now))
        } else {
            Ok(())
        })
    }

    /// Counts one hit, whatever the count.
    pub async fn limit_record(&self, limit: &Limit, key: &str, now: UnixTime) -> Result<usize, StoreError> {
        self.modify::<HitLog, usize, StoreError, _>(&limit_pk(limit, key), "LOG", now, |log| {
            let mut live = log.map(|l| l.live(limit, now)).unwrap_or_default();
            live.push(now);
            // Only the newest `max` hits can ever matter.
            let excess = live.len().saturating_sub(limit.max.max(1));
            live.drain(..excess);
            let count = live.len();
            Ok((Change::Write(HitLog { hits: live }, count), Some(now + limit.window)))
        })
        .await
    }

    /// Counts one hit only if it fits; atomically.
    pub async fn limit_acquire(&self, limit: &Limit, key: &str, now: UnixTime) -> Result<Allowance, StoreError> {
        self.modify::<HitLog, Allowance, StoreError, _>(&limit_pk(limit, key), "LOG", now, |log| {
            let mut live = log.map(|l| l.live(limit, now)).unwrap_or_default();
            if live.len() >= limit.max {
                let wait = retry_after(&live, limit, now);
                return Ok((Change::Keep(Err(wait)), None));
            }
            live.push(now);
            Ok((Change::Write(HitLog { hits: live }, Ok(())), Some(now + limit.window)))
        })
        .await
    }

    /// Gives back the most recent hit (an SMS that could not be sent after all).
    pub async fn limit_release(&self, limit: &Limit, key: &str, now: UnixTime) -> Result<(), StoreError> {
        self.modify::<HitLog, (), StoreError, _>(&limit_pk(limit, key), "LOG", now, |log| {
            let Some(log) = log else {
                return Ok((Change::Keep(()), None));
            };
            let mut live = log.live(limit, now);
            live.pop();
            Ok((Change::Write(HitLog { hits: live }, ()), Some(now + limit.window)))
        })
        .await
    }

    pub async fn lock(&self, scope: &str, key: &str, until: UnixTime, now: UnixTime) -> Result<(), StoreError> {
        let pk = format!("LOCK#{scope}#{key}");
        self.modify::<UnixTime, (), StoreError, _>(&pk, "LOCK", now, |current| {
            let until = current.map_or(until, |c| (*c).max(until));
            Ok((Change::Write(until, ()), Some(until)))
        })
        .await
    }

    /// Seconds left on a lock, if one is in force.
    pub async fn locked(&self, scope: &str, key: &str, now: UnixTime) -> Result<Option<u64>, StoreError> {
        let lock = self
            .load::<UnixTime>(&format!("LOCK#{scope}#{key}"), "LOCK", now)
            .await?;
        Ok(lock.map(|l| (l.value - now).max(1) as u64))
    }

    pub async fn failure_streak(&self, key: &str, now: UnixTime) -> Result<FailureStreak, StoreError> {
        Ok(self
            .load::<FailureStreak>(&format!("LIMIT#pwfail#{key}"), "STREAK", now)
            .await?
            .map(|s| s.value)
            .unwrap_or_default())
    }

    /// One more consecutive failure; the streak is forgotten a day after the last one.
    pub async fn failure_streak_add(&self, key: &str, now: UnixTime) -> Result<FailureStreak, StoreError> {
        self.modify::<FailureStreak, FailureStreak, StoreError, _>(&format!("LIMIT#pwfail#{key}"), "STREAK", now, |s| {
            let next = FailureStreak {
                count: s.map_or(0, |s| s.count).saturating_add(1),
                last_at: now,
            };
            Ok((Change::Write(next.clone(), next), Some(now + 24 * 3600)))
        })
        .await
    }

    pub async fn failure_streak_clear(&self, key: &str, now: UnixTime) -> Result<(), StoreError> {
        self.modify::<FailureStreak, (), StoreError, _>(&format!("LIMIT#pwfail#{key}"), "STREAK", now, |_| {
            Ok((Change::Delete(()), None))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use std::sync::Arc;

    fn repo() -> Repo {
        Repo::new(Arc::new(SqliteStore::in_memory().unwrap()))
    }

    const L: Limit = Limit {
        scope: "test",
        max: 3,
        window: 60,
    };

    #[tokio::test]
    async fn sliding_window_allows_exactly_max_and_says_when_the_next_fits() {
        let r = repo();
        assert_eq!(r.limit_acquire(&L, "k", 100).await.unwrap(), Ok(()));
        assert_eq!(r.limit_acquire(&L, "k", 110).await.unwrap(), Ok(()));
        assert_eq!(r.limit_acquire(&L, "k", 120).await.unwrap(), Ok(()));
        assert_eq!(r.limit_acquire(&L, "k", 130).await.unwrap(), Err(30));
        assert_eq!(r.limit_check(&L, "k", 159).await.unwrap(), Err(1));
        assert_eq!(r.limit_acquire(&L, "k", 160).await.unwrap(), Ok(()));
        assert_eq!(r.limit_acquire(&L, "other", 160).await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn release_gives_back_a_hit() {
        let r = repo();
        for t in 0..3 {
            r.limit_acquire(&L, "k", t).await.unwrap().unwrap();
        }
        r.limit_release(&L, "k", 3).await.unwrap();
        assert_eq!(r.limit_acquire(&L, "k", 4).await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn locks_expire() {
        let r = repo();
        r.lock("codes", "kari", 1_000, 100).await.unwrap();
        assert_eq!(r.locked("codes", "kari", 400).await.unwrap(), Some(600));
        assert_eq!(r.locked("codes", "kari", 1_000).await.unwrap(), None);
    }
}
