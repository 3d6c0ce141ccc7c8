//! Rate limits kept in the store (the window arithmetic is in [`super::limit_windows`]),
//! lockouts, and the per-username password backoff. Each decision is one conditional write.

use serde::{Deserialize, Serialize};

pub use super::limit_windows::{Allowance, Limit};
use super::limit_windows::{HitLog, Pending, Room};
use crate::clock::UnixTime;
use crate::store::keys;
use crate::store::records::{Change, Repo};
use crate::store::StoreError;

/// The handle of a reserved attempt, for [`Repo::limit_settle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservationId(pub(crate) u64);

/// What [`Repo::limit_reserve`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt may go ahead; settle it with [`Repo::limit_settle`].
    Reserved(ReservationId),
    /// The limit is reached; that many seconds until one more fits.
    Full(u64),
    /// Only attempts under way stand in the way: try again in a moment.
    Busy,
}

fn limit_pk(limit: &Limit, key: &str) -> String {
    keys::limit_pk(limit.scope, key)
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct FailureStreak {
    pub count: u32,
    pub last_at: UnixTime,
}

impl Repo {
    /// Whether one more hit would stay within the limit (writes nothing).
    pub async fn limit_check(&self, limit: &Limit, key: &str, now: UnixTime) -> Result<Allowance, StoreError> {
        let log = self
            .load::<HitLog>(&limit_pk(limit, key), keys::LIMIT_LOG_SK, now)
            .await?;
        Ok(HitLog::current(log.as_ref().map(|l| &l.value), limit, now).allowance(limit, now))
    }

    /// Counts one hit, whatever the count.
    pub async fn limit_record(&self, limit: &Limit, key: &str, now: UnixTime) -> Result<usize, StoreError> {
        self.modify::<HitLog, usize, StoreError, _>(&limit_pk(limit, key), keys::LIMIT_LOG_SK, now, |log| {
            let mut log = HitLog::current(log, limit, now);
            log.hits.push(now);
            // Only the newest `max` hits can ever matter.
            let excess = log.hits.len().saturating_sub(limit.max.max(1));
            log.hits.drain(..excess);
            let count = log.hits.len();
            let expires = log.expires(limit, now);
            Ok((Change::Write(log, count), Some(expires)))
        })
        .await
    }

    /// Counts one hit only if it fits; atomically.
    pub async fn limit_acquire(&self, limit: &Limit, key: &str, now: UnixTime) -> Result<Allowance, StoreError> {
        Ok(match self.limit_acquire_counted(limit, key, now).await? {
            Ok(_) => Allowance::Allowed,
            Err(wait) => Allowance::Wait(wait),
        })
    }

    /// Like [`Self::limit_acquire`], also saying how many live hits there are with this one
    /// (so the caller knows when it took the last slot).
    pub async fn limit_acquire_counted(
        &self,
        limit: &Limit,
        key: &str,
        now: UnixTime,
    ) -> Result<Result<usize, u64>, StoreError> {
        self.modify::<HitLog, Result<usize, u64>, StoreError, _>(
            &limit_pk(limit, key),
            keys::LIMIT_LOG_SK,
            now,
            |log| match HitLog::current(log, limit, now).with_hit(limit, now) {
                Err(wait) => Ok((Change::Keep(Err(wait)), None)),
                Ok((log, count)) => {
                    let expires = log.expires(limit, now);
                    Ok((Change::Write(log, Ok(count)), Some(expires)))
                }
            },
        )
        .await
    }

    /// Reserves one attempt that may become a hit, atomically: refused when the hits of the
    /// window plus the attempts already under way reach the limit. So parallel attempts cannot
    /// all pass a check made before any of them was counted, and still an attempt that turns
    /// out not to count (a right password) never uses up the limit, not even for a moment:
    /// more right passwords at once than the limit (an office behind one address at 8
    /// o'clock) wait for each other instead of being refused. Every `Reserved` must be settled
    /// with [`Repo::limit_settle`].
    pub async fn limit_reserve(&self, limit: &Limit, key: &str, now: UnixTime) -> Result<Reservation, StoreError> {
        self.modify::<HitLog, Reservation, StoreError, _>(&limit_pk(limit, key), keys::LIMIT_LOG_SK, now, |log| {
            let mut log = HitLog::current(log, limit, now);
            match log.room(limit, now) {
                Room::Full(wait) => return Ok((Change::Keep(Reservation::Full(wait)), None)),
                Room::Busy => return Ok((Change::Keep(Reservation::Busy), None)),
                Room::Free => {}
            }
            let id = rand::random::<u64>();
            log.pending.push(Pending { id, at: now });
            let expires = log.expires(limit, now);
            Ok((
                Change::Write(log, Reservation::Reserved(ReservationId(id))),
                Some(expires),
            ))
        })
        .await
    }

    /// [`Repo::limit_reserve`], waiting up to `patience` while only attempts under way stand in
    /// the way: `Ok` when reserved, `Err(seconds)` when the limit is reached or the wait ran out.
    /// The wait is short and backs off, so waiting requests cost little store traffic and never
    /// hold a function instance for long.
    pub async fn limit_reserve_waiting(
        &self,
        limit: &Limit,
        key: &str,
        now: UnixTime,
        patience: std::time::Duration,
    ) -> Result<Result<ReservationId, u64>, StoreError> {
        let started = std::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(20);
        loop {
            match self.limit_reserve(limit, key, now).await? {
                Reservation::Reserved(id) => return Ok(Ok(id)),
                Reservation::Full(wait) => return Ok(Err(wait)),
                Reservation::Busy if started.elapsed() + pause <= patience => {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Reservation::Busy => return Ok(Err(1)),
            }
        }
    }

    /// Ends the reserved attempt `id`: it becomes a hit (`counts`) or is dropped. An attempt
    /// whose reservation already lapsed is a hit already. Returns the hits of the window after.
    pub async fn limit_settle(
        &self,
        limit: &Limit,
        key: &str,
        id: ReservationId,
        counts: bool,
        now: UnixTime,
    ) -> Result<usize, StoreError> {
        self.modify::<HitLog, usize, StoreError, _>(&limit_pk(limit, key), keys::LIMIT_LOG_SK, now, |log| {
            let mut log = HitLog::current(log, limit, now);
            let Some(index) = log.pending.iter().position(|p| p.id == id.0) else {
                let hits = log.hits.len();
                return Ok((Change::Keep(hits), None));
            };
            log.pending.remove(index);
            if counts {
                log.hits.push(now);
            }
            let hits = log.hits.len();
            let expires = log.expires(limit, now);
            Ok((Change::Write(log, hits), Some(expires)))
        })
        .await
    }

    /// Gives back the most recent hit (an SMS that could not be sent after all).
    pub async fn limit_release(&self, limit: &Limit, key: &str, now: UnixTime) -> Result<(), StoreError> {
        self.modify::<HitLog, (), StoreError, _>(&limit_pk(limit, key), keys::LIMIT_LOG_SK, now, |log| {
            if log.is_none() {
                return Ok((Change::Keep(()), None));
            }
            let mut log = HitLog::current(log, limit, now);
            log.hits.pop();
            let expires = log.expires(limit, now);
            Ok((Change::Write(log, ()), Some(expires)))
        })
        .await
    }

    /// Locks `key` until `until` (or keeps a later lock). `true` when no lock was in force, so
    /// parallel callers that all reach a limit record one lockout between them, not one each.
    pub async fn lock(&self, scope: &str, key: &str, until: UnixTime, now: UnixTime) -> Result<bool, StoreError> {
        self.modify::<UnixTime, bool, StoreError, _>(&keys::lock_pk(scope, key), keys::LOCK_SK, now, |current| {
            let started = current.is_none();
            let until = current.map_or(until, |c| (*c).max(until));
            Ok((Change::Write(until, started), Some(until)))
        })
        .await
    }

    /// Seconds left on a lock, if one is in force.
    pub async fn locked(&self, scope: &str, key: &str, now: UnixTime) -> Result<Option<u64>, StoreError> {
        let lock = self
            .load::<UnixTime>(&keys::lock_pk(scope, key), keys::LOCK_SK, now)
            .await?;
        Ok(lock.map(|l| (l.value - now).max(1) as u64))
    }

    pub async fn failure_streak(&self, key: &str, now: UnixTime) -> Result<FailureStreak, StoreError> {
        Ok(self
            .load::<FailureStreak>(&keys::password_streak_pk(key), keys::STREAK_SK, now)
            .await?
            .map(|s| s.value)
            .unwrap_or_default())
    }

    /// Reserves one password attempt under the per-username backoff, in one conditional write
    /// of the streak record: refused (`Err(seconds to wait)`) while `now` is inside the backoff
    /// the streak has earned (`backoff(count)` after its last attempt), otherwise counted at
    /// once (`count + 1`, `last_at = now`) before any password is checked, so parallel
    /// attempts cannot all pass on the same streak. A right password then clears the streak
    /// ([`Self::failure_streak_clear`]); a wrong one leaves the reservation as its failure.
    pub async fn failure_streak_reserve(
        &self,
        key: &str,
        now: UnixTime,
        backoff: impl Fn(u32) -> std::time::Duration,
    ) -> Result<Result<FailureStreak, u64>, StoreError> {
        self.modify::<FailureStreak, Result<FailureStreak, u64>, StoreError, _>(
            &keys::password_streak_pk(key),
            keys::STREAK_SK,
            now,
            |s| {
                let current = s.cloned().unwrap_or_default();
                let until = crate::clock::after(current.last_at, backoff(current.count));
                if current.count > 0 && now < until {
                    return Ok((Change::Keep(Err((until - now) as u64)), None));
                }
                let next = FailureStreak {
                    count: current.count.saturating_add(1),
                    last_at: now,
                };
                Ok((Change::Write(next.clone(), Ok(next)), Some(now + 24 * 3600)))
            },
        )
        .await
    }

    /// Moves the streak's last attempt to `now`, when a reserved attempt turned out wrong: the
    /// backoff runs from when the failure was known, not from before the password was hashed.
    /// A streak cleared meanwhile (a right password) stays cleared.
    pub async fn failure_streak_touch(&self, key: &str, now: UnixTime) -> Result<(), StoreError> {
        self.modify::<FailureStreak, (), StoreError, _>(&keys::password_streak_pk(key), keys::STREAK_SK, now, |s| {
            Ok(match s {
                Some(s) if s.last_at < now => (
                    Change::Write(
                        FailureStreak {
                            count: s.count,
                            last_at: now,
                        },
                        (),
                    ),
                    Some(now + 24 * 3600),
                ),
                _ => (Change::Keep(()), None),
            })
        })
        .await
    }

    pub async fn failure_streak_clear(&self, key: &str, now: UnixTime) -> Result<(), StoreError> {
        self.modify::<FailureStreak, (), StoreError, _>(&keys::password_streak_pk(key), keys::STREAK_SK, now, |_| {
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
        window: std::time::Duration::from_secs(60),
    };

    #[tokio::test]
    async fn sliding_window_allows_exactly_max_and_says_when_the_next_fits() {
        let r = repo();
        assert_eq!(r.limit_acquire(&L, "k", 100).await.unwrap(), Allowance::Allowed);
        assert_eq!(r.limit_acquire(&L, "k", 110).await.unwrap(), Allowance::Allowed);
        assert_eq!(r.limit_acquire(&L, "k", 120).await.unwrap(), Allowance::Allowed);
        assert_eq!(r.limit_acquire(&L, "k", 130).await.unwrap(), Allowance::Wait(30));
        assert_eq!(r.limit_check(&L, "k", 159).await.unwrap(), Allowance::Wait(1));
        assert_eq!(r.limit_acquire(&L, "k", 160).await.unwrap(), Allowance::Allowed);
        assert_eq!(r.limit_acquire(&L, "other", 160).await.unwrap(), Allowance::Allowed);
    }

    async fn reserved(r: &Repo, at: UnixTime) -> ReservationId {
        match r.limit_reserve(&L, "k", at).await.unwrap() {
            Reservation::Reserved(id) => id,
            other => panic!("expected a reservation at {at}, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn reservations_count_while_under_way_and_only_failures_stay() {
        let r = repo();
        let (a, b, c) = (
            reserved(&r, 100).await,
            reserved(&r, 100).await,
            reserved(&r, 100).await,
        );
        // Three under way, none failed yet: the fourth waits.
        assert_eq!(r.limit_reserve(&L, "k", 100).await.unwrap(), Reservation::Busy);
        assert_eq!(r.limit_settle(&L, "k", a, false, 101).await.unwrap(), 0);
        assert_eq!(r.limit_settle(&L, "k", b, true, 101).await.unwrap(), 1);
        assert_eq!(r.limit_settle(&L, "k", c, true, 102).await.unwrap(), 2);
        // Settling twice changes nothing.
        assert_eq!(r.limit_settle(&L, "k", c, true, 102).await.unwrap(), 2);
        let d = reserved(&r, 103).await;
        assert_eq!(r.limit_settle(&L, "k", d, true, 103).await.unwrap(), 3);
        assert_eq!(r.limit_reserve(&L, "k", 104).await.unwrap(), Reservation::Full(57));
    }

    #[tokio::test]
    async fn a_settlement_ends_its_own_reservation_not_another() {
        let r = repo();
        let first = reserved(&r, 0).await;
        let second = reserved(&r, 30).await;
        // The first lapses (a failure now); settling it must not free the second's slot.
        assert_eq!(r.limit_settle(&L, "k", first, false, 61).await.unwrap(), 1);
        let third = reserved(&r, 61).await;
        assert_eq!(r.limit_reserve(&L, "k", 61).await.unwrap(), Reservation::Busy);
        assert_eq!(r.limit_settle(&L, "k", second, true, 62).await.unwrap(), 2);
        assert_eq!(r.limit_settle(&L, "k", third, false, 62).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn an_unsettled_reservation_fails_closed() {
        // The process died mid-attempt, or the settling write failed: after a minute the
        // reservation counts as the failure it may have been, for the rest of its window.
        let r = repo();
        for _ in 0..3 {
            reserved(&r, 0).await;
        }
        assert_eq!(r.limit_reserve(&L, "k", 59).await.unwrap(), Reservation::Busy);
        assert_eq!(r.limit_reserve(&L, "k", 60).await.unwrap(), Reservation::Full(60));
        assert_eq!(r.limit_check(&L, "k", 119).await.unwrap(), Allowance::Wait(1));
        reserved(&r, 120).await;
    }

    #[tokio::test]
    async fn release_gives_back_a_hit() {
        let r = repo();
        for t in 0..3 {
            assert!(r.limit_acquire(&L, "k", t).await.unwrap().is_allowed());
        }
        r.limit_release(&L, "k", 3).await.unwrap();
        assert_eq!(r.limit_acquire(&L, "k", 4).await.unwrap(), Allowance::Allowed);
    }

    #[tokio::test]
    async fn acquire_counted_says_which_slot_was_taken() {
        let r = repo();
        assert_eq!(r.limit_acquire_counted(&L, "k", 100).await.unwrap(), Ok(1));
        assert_eq!(r.limit_acquire_counted(&L, "k", 100).await.unwrap(), Ok(2));
        assert_eq!(r.limit_acquire_counted(&L, "k", 100).await.unwrap(), Ok(3));
        assert_eq!(r.limit_acquire_counted(&L, "k", 100).await.unwrap(), Err(60));
    }

    #[tokio::test]
    async fn streak_reservation_counts_before_the_check_and_refuses_inside_the_backoff() {
        let r = repo();
        // Two free attempts, then one second per failure.
        let backoff = |n: u32| std::time::Duration::from_secs(if n < 2 { 0 } else { u64::from(n) - 1 });
        let reserve = |at: UnixTime| {
            let r = r.clone();
            async move {
                r.failure_streak_reserve("k", at, backoff)
                    .await
                    .unwrap()
                    .map(|s| s.count)
            }
        };
        assert_eq!(reserve(100).await, Ok(1));
        assert_eq!(reserve(100).await, Ok(2));
        assert_eq!(reserve(100).await, Err(1));
        assert_eq!(reserve(101).await, Ok(3));
        assert!(reserve(102).await.is_err());
        // The third attempt's hash took until 105: its backoff (2 s) runs from there.
        r.failure_streak_touch("k", 105).await.unwrap();
        assert_eq!(reserve(106).await, Err(1));
        assert_eq!(reserve(107).await, Ok(4));
        r.failure_streak_clear("k", 107).await.unwrap();
        r.failure_streak_touch("k", 108).await.unwrap();
        assert_eq!(
            r.failure_streak("k", 108).await.unwrap().count,
            0,
            "cleared stays cleared"
        );
        assert_eq!(reserve(108).await, Ok(1));
    }

    #[tokio::test]
    async fn locks_expire() {
        let r = repo();
        assert!(r.lock("codes", "kari", 1_000, 100).await.unwrap());
        assert!(!r.lock("codes", "kari", 900, 200).await.unwrap(), "already locked");
        assert_eq!(r.locked("codes", "kari", 400).await.unwrap(), Some(600));
        assert_eq!(r.locked("codes", "kari", 1_000).await.unwrap(), None);
    }
}
