//! Latency histograms, error tallies and the median over runs.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use hdrhistogram::Histogram;

use crate::error::OpError;

/// Highest latency recorded exactly: two minutes, in microseconds. Slower
/// operations are recorded as this value.
const MAX_MICROS: u64 = 120_000_000;

/// Operation latencies, microsecond resolution, 3 significant digits.
#[derive(Clone, Debug)]
pub struct Latencies(Histogram<u64>);

impl Latencies {
    /// An empty histogram.
    pub fn new() -> Result<Self> {
        Ok(Self(Histogram::new_with_bounds(1, MAX_MICROS, 3)?))
    }

    /// Records one operation.
    pub fn record(&mut self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(MAX_MICROS).max(1);
        self.0.saturating_record(micros);
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Self) -> Result<()> {
        self.0.add(&other.0)?;
        Ok(())
    }

    /// The latency at quantile `q` (0..=1) in milliseconds; 0 when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        micros_to_ms(self.0.value_at_quantile(q))
    }

    /// The highest latency in milliseconds; 0 when empty.
    pub fn max_ms(&self) -> f64 {
        micros_to_ms(self.0.max())
    }
}
fn micros_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Failed operations counted by kind, with the first few messages kept.
#[derive(Clone, Debug, Default)]
pub struct ErrorTally {
    /// Count per error kind.
    pub by_kind: BTreeMap<String, u64>,
    /// The first few error messages, as examples.
    pub samples: Vec<String>,
}

/// How many example messages a tally keeps.
const SAMPLES: usize = 3;

impl ErrorTally {
    /// Counts one failure.
    pub fn record(&mut self, e: &OpError) {
        *self.by_kind.entry(e.kind.clone()).or_default() += 1;
        if self.samples.len() < SAMPLES {
            self.samples.push(e.to_string());
        }
    }

    /// Adds another tally.
    pub fn merge(&mut self, other: &Self) {
        for (k, n) in &other.by_kind {
            *self.by_kind.entry(k.clone()).or_default() += n;
        }
        for s in &other.samples {
            if self.samples.len() >= SAMPLES {
                break;
            }
            self.samples.push(s.clone());
        }
    }

    /// All failures.
    pub fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }
}

/// `kind ×n` pairs, most frequent first.
pub fn kinds_summary(by_kind: &BTreeMap<String, u64>) -> String {
    let mut kinds: Vec<(&String, &u64)> = by_kind.iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    kinds
        .iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The median of the finite values; `None` when there are none.
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v.get(mid).copied()
    } else {
        Some((v.get(mid.checked_sub(1)?)? + v.get(mid)?) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median([]), None);
        assert_eq!(median([f64::NAN]), None);
        assert_eq!(median([3.0]), Some(3.0));
        assert_eq!(median([5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median([4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median([2.0, f64::NAN, 1.0, 9.0]), Some(2.0));
    }

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut h = Latencies::new().unwrap();
        assert_eq!(h.quantile_ms(0.5), 0.0);
        // 1 ms .. 1000 ms, one operation each.
        for ms in 1..=1000 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.0.len(), 1000);
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(close(h.quantile_ms(0.5), 500.0), "{}", h.quantile_ms(0.5));
        assert!(close(h.quantile_ms(0.9), 900.0), "{}", h.quantile_ms(0.9));
        assert!(close(h.quantile_ms(0.99), 990.0), "{}", h.quantile_ms(0.99));
        assert!(close(h.max_ms(), 1000.0), "{}", h.max_ms());
    }

    #[test]
    fn merged_histograms_and_outliers() {
        let mut a = Latencies::new().unwrap();
        let mut b = Latencies::new().unwrap();
        for _ in 0..99 {
            a.record(Duration::from_micros(1500));
        }
        b.record(Duration::from_secs(600)); // beyond the range: clamped
        b.record(Duration::ZERO); // below: counted as 1 µs
        a.merge(&b).unwrap();
        assert_eq!(a.0.len(), 101);
        assert!((a.quantile_ms(0.5) - 1.5).abs() < 0.01);
        assert!((a.max_ms() - 120_000.0).abs() / 120_000.0 < 0.001);
    }

    #[test]
    fn error_tallies() {
        let mut a = ErrorTally::default();
        let mut b = ErrorTally::default();
        for _ in 0..3 {
            a.record(&OpError::new("token 429", "slow down"));
        }
        b.record(&OpError::new("authorize timeout", "30 s"));
        b.record(&OpError::new("token 429", ""));
        a.merge(&b);
        assert_eq!(a.total(), 5);
        assert_eq!(
            kinds_summary(&a.by_kind),
            "token 429 ×4, authorize timeout ×1"
        );
        assert_eq!(a.samples.len(), 3);
    }
}
