//! The ceiling on every SMS the portal sends, all accounts together: at most
//! `sms_global_per_hour` per hour and `sms_global_per_day` per day (DESIGN §3's spend cap, in
//! the portal rather than only at SNS's monthly limit). Past either, new codes are refused
//! with `sms_unavailable` and the `SmsBudgetExhausted` metric (dimension `Budget`) alarms.
//!
//! One small item holds both budgets, so one conditional write reserves an SMS under both
//! (all or none), however many functions send at once. Each budget is a sliding-window
//! counter: the current fixed window's count plus the previous window's, weighted by how much
//! of it still overlaps the sliding window. Unlike a per-hit log it stays a few bytes at
//! thousands a day, and unlike plain fixed windows it cannot let twice the ceiling through
//! across a window boundary.
//!
//! Security notices are counted but never refused: they report a change that already
//! happened, and a spent budget must not silence them.

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::clock::UnixTime;
use crate::error::ServiceError;
use crate::store::keys::{limit_pk, SPEND_SK};
use crate::store::records::{write_op, Change, Stored};
use crate::store::{Key, WriteOp};

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
/// The `Budget` dimension of the metric for each ceiling (alarmed in infra/alarms.tf).
pub const HOUR_BUDGET: &str = "sms-global-hour";
pub const DAY_BUDGET: &str = "sms-global-day";

/// One budget's fixed windows: the current one (starting at `start`) and the one before.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    pub start: UnixTime,
    pub count: u64,
    pub previous: u64,
}

impl Counter {
    /// The counter as of `now`, windows of `len` seconds aligned to the epoch.
    fn rolled(self, len: i64, now: UnixTime) -> Self {
        let start = now - now.rem_euclid(len);
        match start - self.start {
            0 => self,
            d if d == len => Self {
                start,
                count: 0,
                previous: self.count,
            },
            _ => Self {
                start,
                count: 0,
                previous: 0,
            },
        }
    }

    /// SMS in the sliding window ending `now` (after [`Self::rolled`]), rounded up.
    fn estimate(self, len: i64, now: UnixTime) -> u64 {
        let left = (len - (now - self.start)) as u64; // seconds of the previous window still inside
        self.count + (self.previous * left).div_ceil(len as u64)
    }

    /// Seconds until one more fits under `max` (after [`Self::rolled`]).
    fn wait(self, len: i64, max: u64, now: UnixTime) -> u64 {
        let elapsed = (now - self.start) as u64;
        if self.count >= max || self.previous == 0 {
            return (len as u64 - elapsed).max(1);
        }
        // previous * (len - t) / len <= max - 1 - count  ⇔  t >= len - (max - 1 - count) * len / previous
        let room = max - 1 - self.count;
        let needed = (len as u64).saturating_sub(room * len as u64 / self.previous);
        needed.saturating_sub(elapsed).max(1)
    }
}

/// Both budgets' counters: the one stored item.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendLog {
    pub hour: Counter,
    pub day: Counter,
}

/// The two ceilings.
#[derive(Debug, Clone, Copy)]
pub struct Ceilings {
    pub per_hour: u64,
    pub per_day: u64,
}

/// Which ceiling refused an SMS, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted {
    pub budget: &'static str,
    pub retry_after: u64,
}

impl SpendLog {
    fn rolled(self, now: UnixTime) -> Self {
        Self {
            hour: self.hour.rolled(HOUR, now),
            day: self.day.rolled(DAY, now),
        }
    }

    /// One more SMS if both ceilings have room, else which one is full.
    pub fn take(self, ceilings: Ceilings, now: UnixTime) -> Result<Self, Exhausted> {
        let log = self.rolled(now);
        for (counter, len, max, budget) in [
            (log.hour, HOUR, ceilings.per_hour, HOUR_BUDGET),
            (log.day, DAY, ceilings.per_day, DAY_BUDGET),
        ] {
            if counter.estimate(len, now) >= max {
                return Err(Exhausted {
                    budget,
                    retry_after: counter.wait(len, max, now),
                });
            }
        }
        Ok(log.counted())
    }

    /// One more SMS whatever the ceilings (security notices).
    pub fn record(self, now: UnixTime) -> Self {
        self.rolled(now).counted()
    }

    /// Gives back an SMS taken at `taken_at` that was not sent, from the windows that still
    /// hold it.
    pub fn give_back(self, taken_at: UnixTime, now: UnixTime) -> Self {
        let mut log = self.rolled(now);
        for (counter, len) in [(&mut log.hour, HOUR), (&mut log.day, DAY)] {
            if taken_at - taken_at.rem_euclid(len) == counter.start {
                counter.count = counter.count.saturating_sub(1);
            }
        }
        log
    }

    fn counted(mut self) -> Self {
        self.hour.count += 1;
        self.day.count += 1;
        self
    }

    /// Forgotten once neither window can count any more: the end of the day after this one.
    fn expires(&self) -> UnixTime {
        self.day.start + 2 * DAY
    }
}

impl App {
    fn ceilings(&self) -> Ceilings {
        Ceilings {
            per_hour: self.policy.sms_global_per_hour as u64,
            per_day: self.policy.sms_global_per_day as u64,
        }
    }

    /// Reserves one SMS under the portal-wide ceilings, in one conditional write. Refused:
    /// [`ServiceError::SmsBudgetExhausted`], and the metric line for the alarm.
    pub(crate) async fn reserve_sms_spend(&self, now: UnixTime) -> Result<(), ServiceError> {
        let ceilings = self.ceilings();
        let taken = self
            .repo
            .modify::<SpendLog, Result<(), Exhausted>, ServiceError, _>(&spend_pk(), SPEND_SK, now, |current| {
                match current.copied().unwrap_or_default().take(ceilings, now) {
                    Ok(next) => Ok((Change::Write(next, Ok(())), Some(next.expires()))),
                    Err(full) => Ok((Change::Keep(Err(full)), None)),
                }
            })
            .await?;
        taken.map_err(|full| exhausted(full, now))
    }

    /// The write that reserves one SMS on `stored` (the log as read, in a batch) for a
    /// transaction; on the log's version, so parallel reservations cannot overdraw it.
    pub(crate) fn sms_spend_op(
        &self,
        stored: Option<&Stored<SpendLog>>,
        now: UnixTime,
    ) -> Result<WriteOp, ServiceError> {
        let next = stored
            .map(|s| s.value)
            .unwrap_or_default()
            .take(self.ceilings(), now)
            .map_err(|full| exhausted(full, now))?;
        Ok(write_op(&spend_pk(), SPEND_SK, stored, &next, Some(next.expires()))?)
    }

    /// Gives back an SMS reserved at `taken_at` that was not sent. Best effort.
    pub(crate) async fn release_sms_spend(&self, taken_at: UnixTime) {
        let now = self.now();
        let result = self
            .repo
            .modify::<SpendLog, (), ServiceError, _>(&spend_pk(), SPEND_SK, now, |current| match current {
                Some(log) => {
                    let next = log.give_back(taken_at, now);
                    Ok((Change::Write(next, ()), Some(next.expires())))
                }
                None => Ok((Change::Keep(()), None)),
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "SMS not given back to the portal-wide budget");
        }
    }

    /// Counts an SMS the ceilings never refuse (security notices, operator texts). Best effort.
    pub(crate) async fn record_sms_spend(&self) {
        let now = self.now();
        let result = self
            .repo
            .modify::<SpendLog, (), ServiceError, _>(&spend_pk(), SPEND_SK, now, |current| {
                let next = current.copied().unwrap_or_default().record(now);
                Ok((Change::Write(next, ()), Some(next.expires())))
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "SMS not counted in the portal-wide budget");
        }
    }
}

/// A ceiling is full: the metric line for the alarm, and the problem for the caller.
fn exhausted(full: Exhausted, now: UnixTime) -> ServiceError {
    println!("{}", super::code_budgets::budget_exhausted_metric(full.budget, now));
    tracing::warn!(
        budget = full.budget,
        retry_after = full.retry_after,
        "portal-wide SMS budget used up"
    );
    ServiceError::SmsBudgetExhausted {
        retry_after: full.retry_after,
    }
}

fn spend_pk() -> String {
    limit_pk("sms-global", "all")
}

/// Where the portal-wide log is, for a batch read.
pub(crate) fn spend_key() -> Key {
    Key::new(spend_pk(), SPEND_SK)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A day boundary (2023-11-15T00:00:00Z), so hour and day windows start together.
    const DAY0: UnixTime = 1_700_006_400;
    const CEILINGS: Ceilings = Ceilings {
        per_hour: 3,
        per_day: 5,
    };

    fn take_n(mut log: SpendLog, n: usize, now: UnixTime) -> SpendLog {
        for _ in 0..n {
            log = log.take(CEILINGS, now).unwrap();
        }
        log
    }

    #[test]
    fn the_hour_ceiling_refuses_the_one_past_it_until_the_window_slides() {
        assert_eq!(DAY0 % DAY, 0);
        let log = take_n(SpendLog::default(), 3, DAY0 + 10);
        let full = log.take(CEILINGS, DAY0 + 20).unwrap_err();
        assert_eq!(full.budget, HOUR_BUDGET);
        assert_eq!(full.retry_after, (HOUR - 20) as u64);
        // Right after the boundary the previous hour still weighs almost fully: no burst of
        // twice the ceiling across it.
        assert_eq!(log.take(CEILINGS, DAY0 + HOUR + 1).unwrap_err().budget, HOUR_BUDGET);
        // A third into the next hour, a third of the previous hour's 3 has slid out: one fits.
        let later = log.take(CEILINGS, DAY0 + HOUR + HOUR / 3).unwrap();
        assert_eq!(
            later.take(CEILINGS, DAY0 + HOUR + HOUR / 3).unwrap_err().budget,
            HOUR_BUDGET
        );
    }

    #[test]
    fn the_wait_is_when_one_more_fits() {
        let log = take_n(SpendLog::default(), 3, DAY0 + 10).rolled(DAY0 + HOUR + 1);
        let wait = log.hour.wait(HOUR, 3, DAY0 + HOUR + 1);
        let at = DAY0 + HOUR + 1 + wait as i64;
        assert!(log.take(CEILINGS, at).is_ok(), "fits after the wait");
        assert!(log.take(CEILINGS, at - 1).is_err(), "and not a second before");
    }

    #[test]
    fn the_day_ceiling_holds_across_hours() {
        let log = take_n(SpendLog::default(), 3, DAY0);
        let log = take_n(log, 2, DAY0 + 3 * HOUR);
        let full = log.take(CEILINGS, DAY0 + 5 * HOUR).unwrap_err();
        assert_eq!(full.budget, DAY_BUDGET);
        assert_eq!(full.retry_after, (DAY - 5 * HOUR) as u64);
        // Two days on, everything has slid out.
        assert!(log.take(CEILINGS, DAY0 + 2 * DAY).is_ok());
    }

    #[test]
    fn notices_are_counted_past_the_ceilings_and_given_back_sms_free_their_slot() {
        let log = take_n(SpendLog::default(), 3, DAY0);
        let over = log.record(DAY0 + 1);
        assert_eq!(over.hour.count, 4);
        assert!(over.take(CEILINGS, DAY0 + 2).is_err());
        let back = log.give_back(DAY0, DAY0 + 2);
        assert_eq!(back.hour.count, 2);
        assert!(back.take(CEILINGS, DAY0 + 2).is_ok());
        // Given back after its hour ended: only the day still holds it.
        let late = log.give_back(DAY0, DAY0 + HOUR + 5);
        assert_eq!((late.hour.count, late.hour.previous, late.day.count), (0, 3, 2));
    }

    #[test]
    fn a_log_lives_until_its_day_can_no_longer_count() {
        let log = SpendLog::default().take(CEILINGS, DAY0 + 5).unwrap();
        assert_eq!(log.expires(), DAY0 + 2 * DAY);
    }
}
