//! Sliding-window limits without I/O, time passed in: which hits of a log still count, whether
//! one more fits, how long until it does, and when a log can be forgotten. A sliding log is
//! exact, unlike fixed windows, so "10 per hour" never lets 20 through across a window
//! boundary. `limits.rs` keeps these logs in the store, one conditional write per decision.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;

/// At most `max` hits per `window`, counted per key under `scope`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub scope: &'static str,
    pub max: usize,
    pub window: Duration,
}

impl Limit {
    fn window_secs(&self) -> i64 {
        crate::clock::secs(self.window)
    }
}

/// Whether one more hit fits a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    Allowed,
    /// The limit is reached; that many seconds until one more is allowed.
    Wait(u64),
}

impl Allowance {
    pub fn is_allowed(self) -> bool {
        self == Self::Allowed
    }
}

/// What the log has room for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// One more hit (or reservation) fits.
    Free,
    /// The hits of the window fill the limit: that many seconds until one more fits.
    Full(u64),
    /// Only attempts under way stand in the way: one may fit in a moment.
    Busy,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HitLog {
    pub hits: Vec<UnixTime>,
    /// Attempts reserved and not yet settled: each may still become a hit, so they count
    /// against the limit while they are under way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<Pending>,
}

/// One reserved attempt: when, and the id its settlement names it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub id: u64,
    pub at: UnixTime,
}

/// A reservation is settled within seconds. One that is not (the process died mid-attempt, or
/// its settling write failed) becomes a hit after this long: it fails closed, counting as the
/// failure it may have been, rather than freeing its slot.
pub const PENDING_LIFETIME: i64 = 60;

impl HitLog {
    /// When nothing in the log matters any more: the last hit's window has passed, and so has
    /// the window of every reservation that could still lapse into a hit.
    pub fn expires(&self, limit: &Limit, now: UnixTime) -> UnixTime {
        let window = limit.window_secs();
        let hits = self.hits.iter().map(|t| t + window);
        let pending = self.pending.iter().map(|p| p.at + PENDING_LIFETIME + window);
        hits.chain(pending).max().unwrap_or(now + window)
    }

    /// The log as it is at `now`: hits of the window (lapsed reservations among them, counted
    /// from when they lapsed, so each stays a whole window like any failure), and the
    /// reservations still under way.
    pub fn current(log: Option<&Self>, limit: &Limit, now: UnixTime) -> Self {
        let Some(log) = log else {
            return Self::default();
        };
        let (under_way, lapsed): (Vec<Pending>, Vec<Pending>) =
            log.pending.iter().partition(|p| now - p.at < PENDING_LIFETIME);
        let mut hits = log.hits.clone();
        hits.extend(lapsed.iter().map(|p| p.at + PENDING_LIFETIME));
        hits.retain(|t| now - t < limit.window_secs());
        hits.sort_unstable();
        Self {
            hits,
            pending: under_way,
        }
    }

    /// Whether the hits alone leave room for one more (a current log, see [`Self::current`]).
    pub fn allowance(&self, limit: &Limit, now: UnixTime) -> Allowance {
        if self.hits.len() >= limit.max {
            Allowance::Wait(self.retry_after(limit, now))
        } else {
            Allowance::Allowed
        }
    }

    /// Room for one more, counting the attempts under way too.
    pub fn room(&self, limit: &Limit, now: UnixTime) -> Room {
        match self.allowance(limit, now) {
            Allowance::Wait(wait) => Room::Full(wait),
            Allowance::Allowed if self.hits.len() + self.pending.len() >= limit.max => Room::Busy,
            Allowance::Allowed => Room::Free,
        }
    }

    /// The log with one more hit at `now` and how many hits it then holds, or the seconds to
    /// wait when there is no room (attempts under way count: see [`Self::room`]). A current
    /// log ([`Self::current`]) in, the one to write out.
    pub fn with_hit(&self, limit: &Limit, now: UnixTime) -> Result<(Self, usize), u64> {
        match self.room(limit, now) {
            Room::Full(wait) => Err(wait),
            Room::Busy => Err(1),
            Room::Free => {
                let mut next = self.clone();
                next.hits.push(now);
                let count = next.hits.len();
                Ok((next, count))
            }
        }
    }

    /// Seconds until the hit that must age out before one more fits has aged out (at least
    /// one). Only for a full log.
    fn retry_after(&self, limit: &Limit, now: UnixTime) -> u64 {
        let index = self.hits.len().saturating_sub(limit.max);
        let oldest_blocking = self.hits.get(index).copied().unwrap_or(now);
        (oldest_blocking + limit.window_secs() - now).max(1) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limit = Limit {
        scope: "test",
        max: 3,
        window: std::time::Duration::from_secs(60),
    };

    fn log(hits: &[UnixTime], pending: &[UnixTime]) -> HitLog {
        HitLog {
            hits: hits.to_vec(),
            pending: pending
                .iter()
                .enumerate()
                .map(|(i, &at)| Pending { id: i as u64, at })
                .collect(),
        }
    }

    #[test]
    fn the_window_slides_one_second_at_a_time() {
        // (hits, now, expected allowance) for 3 per 60 s
        let vectors: [(&[UnixTime], UnixTime, Allowance); 6] = [
            (&[], 0, Allowance::Allowed),
            (&[100, 110], 120, Allowance::Allowed),
            (&[100, 110, 120], 130, Allowance::Wait(30)),
            (&[100, 110, 120], 159, Allowance::Wait(1)),
            // 100 has aged out at 160: exactly 60 s later.
            (&[100, 110, 120], 160, Allowance::Allowed),
            // More hits than the limit (a lowered policy): the wait is for the max-th newest.
            (&[100, 110, 120, 125], 130, Allowance::Wait(40)),
        ];
        for (hits, now, expected) in vectors {
            let current = HitLog::current(Some(&log(hits, &[])), &L, now);
            assert_eq!(current.allowance(&L, now), expected, "{hits:?} at {now}");
        }
    }

    #[test]
    fn reservations_under_way_make_the_log_busy_and_lapse_into_hits_after_a_minute() {
        let vectors: [(&[UnixTime], &[UnixTime], UnixTime, Room); 5] = [
            (&[], &[0, 0], 10, Room::Free),
            (&[5], &[0, 0], 10, Room::Busy),
            (&[], &[0, 0, 0], 59, Room::Busy),
            // Lapsed at 60, counted from then: full until 120.
            (&[], &[0, 0, 0], 60, Room::Full(60)),
            (&[], &[0, 0, 0], 120, Room::Free),
        ];
        for (hits, pending, now, expected) in vectors {
            let current = HitLog::current(Some(&log(hits, pending)), &L, now);
            assert_eq!(current.room(&L, now), expected, "{hits:?} {pending:?} at {now}");
        }
        let lapsed = HitLog::current(Some(&log(&[], &[0, 30])), &L, 61);
        assert_eq!((lapsed.hits, lapsed.pending.len()), (vec![60], 1));
    }

    #[test]
    fn a_log_expires_when_its_last_hit_or_possible_hit_has_aged_out() {
        assert_eq!(log(&[], &[]).expires(&L, 500), 560);
        assert_eq!(log(&[100, 130], &[]).expires(&L, 140), 190);
        assert_eq!(log(&[100], &[120]).expires(&L, 140), 240);
    }
}
