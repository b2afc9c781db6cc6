//! The writer: what the rules stage produced, out — each alert to stdout (Falco's JSON line or
//! text line), to the sinks' queues and into the alert metrics; each `--dump-events` line to
//! stdout. It evaluates nothing (`rules/evaluate.rs` does).
//!
//! For the stall check (`metrics/stall.rs`) stdout is wrapped ([`watched_stdout`]) so that the
//! time a write to it began is published: a pipe nobody reads blocks that write, and
//! `/healthz` must say so.

use std::{
    io::Write,
    sync::atomic::{AtomicU64, Ordering::Relaxed},
};

use lanner_rules::Alert;
use serde_json::Value as Json;

use crate::{
    clock,
    metrics::{Metrics, falco_events::PodRef},
    output::{alert, alert::AlertFormat},
    sinks::{Record, deliver::SinkHandle},
};

pub struct Writer {
    pub format: AlertFormat,
    pub metrics: std::sync::Arc<Metrics>,
    /// The other outputs' queues (file, Fluentd, Elasticsearch).
    pub sinks: Vec<SinkHandle>,
}

impl Writer {
    /// One alert to `out` (stdout), the sinks and the metrics. `pod`: the labels it is counted
    /// under (empty for the host and for internal alerts).
    pub fn alert(&mut self, a: &Alert, pod: &PodRef, out: &mut impl Write) -> anyhow::Result<()> {
        if self.sinks.is_empty() {
            alert::write(out, a, &self.format, None)?;
        } else {
            // The sinks always take JSON: made once, also written to stdout when that is JSON.
            let json = alert::json_text(a, &self.format);
            alert::write(out, a, &self.format, Some(&json))?;
            let record = Record::new(json, a.time_ns);
            for s in &mut self.sinks {
                s.send(&record);
            }
        }
        self.metrics.record_alert(a, pod);
        Ok(())
    }

    /// One `--dump-events` line.
    pub fn event(&mut self, line: &Json, out: &mut impl Write) -> anyhow::Result<()> {
        serde_json::to_writer(&mut *out, line)?;
        out.write_all(b"\n")?;
        Ok(())
    }

    /// No more alerts: the sinks deliver what is queued and end.
    pub fn close(&mut self) {
        for s in &mut self.sinks {
            s.close();
        }
    }
}

/// Locked stdout behind a 64 KiB buffer, publishing in `since_ns` when its current write began.
pub fn watched_stdout(
    since_ns: &AtomicU64,
) -> std::io::BufWriter<Watched<'_, std::io::StdoutLock<'static>>> {
    let watched = Watched {
        inner: std::io::stdout().lock(),
        since_ns,
    };
    std::io::BufWriter::with_capacity(1 << 16, watched)
}

/// A writer that publishes when its current write began (boot-clock ns, 0 between writes).
/// Wrapped under the `BufWriter`, so the clock is read once per flush, not per alert.
pub struct Watched<'a, W> {
    inner: W,
    since_ns: &'a AtomicU64,
}

impl<W: Write> Watched<'_, W> {
    fn timed<T>(&mut self, f: impl FnOnce(&mut W) -> std::io::Result<T>) -> std::io::Result<T> {
        self.since_ns.store(clock::boot_now_ns().max(1), Relaxed);
        let r = f(&mut self.inner);
        self.since_ns.store(0, Relaxed);
        r
    }
}

impl<W: Write> Write for Watched<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.timed(|w| w.write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.timed(|w| w.write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.timed(|w| w.flush())
    }
}
