//! Throughput and latency percentiles of one measured loop.

use std::time::Duration;

use serde_json::{Value, json};

/// The figures of `latencies` (nanoseconds, any order) collected over `elapsed`.
pub fn figures(mut latencies: Vec<u64>, elapsed: Duration, threads: usize) -> Value {
    latencies.sort_unstable();
    let ops = latencies.len();
    let seconds = elapsed.as_secs_f64();
    json!({
        "ops": ops,
        "seconds": seconds,
        "threads": threads,
        "per_second": if seconds > 0.0 { ops as f64 / seconds } else { 0.0 },
        "p50_ms": percentile(&latencies, 50.0),
        "p99_ms": percentile(&latencies, 99.0),
    })
}

/// The nearest-rank percentile of sorted nanoseconds, in milliseconds.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted.get(index).copied().unwrap_or_default() as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let ns: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        assert_eq!(percentile(&ns, 50.0), 50.0);
        assert_eq!(percentile(&ns, 99.0), 99.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
    }
}
