//! A fixed-bucket latency histogram with atomic counts: recorded from the output thread,
//! read by the scrape without a lock.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::text::Exposition;

pub struct Histogram {
    /// Upper bounds in seconds, ascending (the `+Inf` bucket is implicit).
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative; summed when written).
    counts: Vec<AtomicU64>,
    sum_ns: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe_ns(&self, ns: u64) {
        let secs = ns as f64 / 1e9;
        let i = self.bounds.partition_point(|b| *b < secs);
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Relaxed);
        }
        self.sum_ns.fetch_add(ns, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    pub fn render(&self, out: &mut Exposition, name: &str, help: &str) {
        out.family(name, help, "histogram");
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Relaxed);
            let le = match self.bounds.get(i) {
                Some(b) => format!("{b}"),
                None => "+Inf".to_string(),
            };
            out.sample(&bucket, &[("le", &le)], cumulative as f64);
        }
        out.sample(
            &format!("{name}_sum"),
            &[],
            self.sum_ns.load(Relaxed) as f64 / 1e9,
        );
        out.sample(&format!("{name}_count"), &[], cumulative as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_le_inclusive() {
        static B: [f64; 2] = [0.001, 0.01];
        let h = Histogram::new(&B);
        h.observe_ns(1_000_000); // exactly 1 ms: in le="0.001"
        h.observe_ns(5_000_000);
        h.observe_ns(2_000_000_000);
        let mut e = Exposition::default();
        h.render(&mut e, "x_seconds", "h");
        let text = e.into_string();
        assert!(
            text.contains("x_seconds_bucket{le=\"0.001\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("x_seconds_bucket{le=\"0.01\"} 2\n"), "{text}");
        assert!(text.contains("x_seconds_bucket{le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("x_seconds_sum 2.006\n"), "{text}");
        assert!(text.contains("x_seconds_count 3\n"), "{text}");
    }
}
