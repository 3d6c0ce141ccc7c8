//! Latency and throughput, reported (not asserted).

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::client::Record;

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(crate) fn report(label: &str, record: &Record, elapsed: Duration) {
    let mut latencies = record.latencies.lock().map(|l| l.clone()).unwrap_or_default();
    latencies.sort();
    let n = latencies.len();
    println!(
        "  {label}: {n} API requests in {elapsed:.1?} = {:.1} req/s; latency p50 {:.1?}, p99 {:.1?}, max {:.1?} ({} SMS reads besides)",
        n as f64 / elapsed.as_secs_f64().max(0.001),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or_default(),
        record.sms_reads.load(Ordering::Relaxed),
    );
}
