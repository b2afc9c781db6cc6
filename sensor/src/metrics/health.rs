//! Once a second: read the kernel's loss counters into the metrics, and raise Falco's
//! `Falco internal: syscall event drop` alert when the share of lost events passes the
//! threshold (rule name, priority and fields as Falco writes them, so existing routing catches
//! it), rate-limited by a token bucket as Falco's `syscall_event_drops` is; and decide whether
//! the pipeline is stalled (`stall.rs`, what `/healthz` answers). Once a minute: expire
//! `falco_events` series of pods gone from the node.

use std::{
    sync::{Arc, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

use lanner_common::{EventKind, LossReason};
use lanner_rules::{Alert, Priority};
use serde_json::{Map, Value};

use super::{Metrics, stall::StallCheck};
use crate::stats::KernelLosses;

pub const DROP_RULE: &str = "Falco internal: syscall event drop";

/// falco.yaml's `syscall_event_drops`.
#[derive(Clone, Debug, PartialEq)]
pub struct DropPolicy {
    /// Share of events lost in a second above which the actions run (Falco: 0.1).
    pub threshold: f64,
    pub log: bool,
    pub alert: bool,
    /// Token bucket: actions per second and burst (Falco: 1/30 s, burst 1).
    pub rate: f64,
    pub max_burst: f64,
}

impl Default for DropPolicy {
    fn default() -> Self {
        Self {
            threshold: 0.1,
            log: true,
            alert: true,
            rate: 0.03333,
            max_burst: 1.0,
        }
    }
}

/// Losses and events of one interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interval {
    pub events: u64,
    /// Records the ring buffer had no room for.
    pub ringbuf_full: u64,
    /// Records the probe could not build (unreadable arguments, a failed map insert).
    pub dropped: u64,
}

impl Interval {
    pub fn lost(&self) -> u64 {
        self.ringbuf_full + self.dropped
    }

    pub fn loss_share(&self) -> f64 {
        let all = self.events + self.lost();
        if all == 0 {
            0.0
        } else {
            self.lost() as f64 / all as f64
        }
    }
}

/// Decides when the drop actions run.
pub struct DropMonitor {
    policy: DropPolicy,
    tokens: f64,
    last: Option<Instant>,
}

impl DropMonitor {
    pub fn new(policy: DropPolicy) -> Self {
        Self {
            tokens: policy.max_burst,
            policy,
            last: None,
        }
    }

    /// Whether this interval's losses trigger the actions now (spending a token).
    pub fn check(&mut self, i: &Interval, now: Instant) -> bool {
        if let Some(last) = self.last {
            let refill = now.saturating_duration_since(last).as_secs_f64() * self.policy.rate;
            self.tokens = (self.tokens + refill).min(self.policy.max_burst);
        }
        self.last = Some(now);
        if i.lost() == 0 || i.loss_share() <= self.policy.threshold || self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// The alert Falco raises for an interval with losses.
pub fn drop_alert(i: &Interval, time_ns: u64) -> Alert {
    let message = format!(
        "{DROP_RULE}. {} system calls dropped in last second.",
        i.lost()
    );
    let mut fields = Map::new();
    // Falco writes these as strings.
    for (k, v) in [
        ("ebpf_enabled", 1),
        ("n_drops", i.lost()),
        ("n_drops_buffer", i.ringbuf_full),
        ("n_drops_bug", i.dropped),
        ("n_drops_pf", 0),
        ("n_evts", i.events),
    ] {
        fields.insert(k.into(), Value::String(v.to_string()));
    }
    Alert {
        rule: DROP_RULE.into(),
        priority: Priority::Critical,
        source: "syscall".into(),
        tags: Arc::from(Vec::<String>::new()),
        time_ns,
        output: format!(
            "{}: {} {message}",
            lanner_rules::timefmt::time(time_ns),
            Priority::Critical
        ),
        message,
        output_fields: fields.into(),
    }
}

fn totals(k: &KernelLosses, read: u64) -> Interval {
    let sum = |r: LossReason| EventKind::ALL.iter().map(|kind| k.get(*kind, r)).sum();
    Interval {
        events: read,
        ringbuf_full: sum(LossReason::RingbufFull),
        dropped: sum(LossReason::Dropped),
    }
}

fn delta(now: &Interval, before: &Interval) -> Interval {
    Interval {
        events: now.events.saturating_sub(before.events),
        ringbuf_full: now.ringbuf_full.saturating_sub(before.ringbuf_full),
        dropped: now.dropped.saturating_sub(before.dropped),
    }
}

/// Hand the waiting alert to the output queue if it has room; keep it if not.
fn offer(alerts: &tokio::sync::mpsc::Sender<Alert>, pending: &mut Option<Alert>) {
    if let Some(a) = pending.take()
        && let Err(tokio::sync::mpsc::error::TrySendError::Full(a)) = alerts.try_send(a)
    {
        *pending = Some(a);
    }
}

/// Run until `stop`: `read_kernel` reads the kernel's loss map; internal alerts go to `alerts`;
/// the pipeline is stalled when it stands still with work waiting for `stall`.
pub async fn run(
    metrics: Arc<Metrics>,
    mut read_kernel: impl FnMut() -> anyhow::Result<KernelLosses>,
    policy: DropPolicy,
    stall: Duration,
    alerts: tokio::sync::mpsc::Sender<Alert>,
    clock: crate::clock::Clock,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut stalls = StallCheck::new(stall, crate::clock::boot_now_ns());
    let mut monitor = DropMonitor::new(policy.clone());
    let mut before = Interval::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_expiry = Instant::now();
    // A drop alert the output queue could not take (the writer stuck on a slow stdout) waits
    // here: this task must not stall, and the alert must not vanish.
    let mut pending: Option<Alert> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        offer(&alerts, &mut pending);
        let read: u64 = metrics
            .sources
            .counters
            .read
            .iter()
            .map(|c| c.load(Relaxed))
            .sum();
        stalls.check(&metrics.pipeline, read, crate::clock::boot_now_ns());
        let kernel = match read_kernel() {
            Ok(k) => k,
            Err(e) => {
                log::warn!("reading the kernel's loss counters: {e:#}");
                continue;
            }
        };
        let now_totals = totals(&kernel, read);
        metrics.set_kernel_losses(kernel);
        let interval = delta(&now_totals, &before);
        before = now_totals;
        if monitor.check(&interval, Instant::now()) {
            if policy.log {
                log::warn!(
                    "{DROP_RULE}: {} events lost in the last second ({} ring buffer full, {} dropped in the probe) of {}",
                    interval.lost(),
                    interval.ringbuf_full,
                    interval.dropped,
                    interval.events + interval.lost()
                );
            }
            if policy.alert {
                metrics.drop_alerts.fetch_add(1, Relaxed);
                let a = drop_alert(&interval, clock.now_epoch_ns());
                // A newer alert replaces one still waiting (its counts are the newer news);
                // the replaced one is counted as lost.
                if pending.replace(a).is_some() {
                    metrics.drop_alerts_lost.fetch_add(1, Relaxed);
                }
                offer(&alerts, &mut pending);
            }
        }
        if last_expiry.elapsed() >= Duration::from_secs(60) {
            last_expiry = Instant::now();
            metrics.expire_series();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lossy(events: u64, lost: u64) -> Interval {
        Interval {
            events,
            ringbuf_full: lost,
            dropped: 0,
        }
    }

    #[test]
    fn acts_above_the_threshold_and_at_most_at_the_bucket_rate() {
        let mut m = DropMonitor::new(DropPolicy::default());
        let t0 = Instant::now();
        assert!(!m.check(&lossy(1000, 0), t0), "no loss");
        assert!(!m.check(&lossy(1000, 100), t0), "9% is under 10%");
        assert!(m.check(&lossy(1000, 200), t0), "17% with a token");
        assert!(
            !m.check(&lossy(1000, 900), t0 + Duration::from_secs(10)),
            "bucket empty"
        );
        assert!(
            m.check(&lossy(1000, 900), t0 + Duration::from_secs(31)),
            "refilled after 30 s"
        );
    }

    #[test]
    fn the_alert_is_falcos() {
        let i = Interval {
            events: 900,
            ringbuf_full: 90,
            dropped: 10,
        };
        let a = drop_alert(&i, 1_764_238_272_123_456_789);
        assert_eq!(&*a.rule, "Falco internal: syscall event drop");
        assert_eq!(a.priority, Priority::Critical);
        assert_eq!(
            a.message,
            "Falco internal: syscall event drop. 100 system calls dropped in last second."
        );
        assert!(a.output.ends_with(": Critical Falco internal: syscall event drop. 100 system calls dropped in last second."), "{}", a.output);
        assert_eq!(a.output_fields["n_drops"], "100");
        assert_eq!(a.output_fields["n_drops_buffer"], "90");
        assert_eq!(a.output_fields["n_drops_bug"], "10");
        assert_eq!(a.output_fields["n_evts"], "900");
    }

    /// A full output queue keeps the alert waiting; it goes out once there is room.
    #[test]
    fn a_drop_alert_waits_for_room_in_the_output_queue() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let alert = |n| drop_alert(&lossy(10, n), 0);
        tx.try_send(alert(1)).unwrap();
        let mut pending = Some(alert(2));
        offer(&tx, &mut pending);
        assert!(pending.is_some(), "the queue is full: the alert waits");
        assert_eq!(rx.try_recv().unwrap().output_fields["n_drops"], "1");
        offer(&tx, &mut pending);
        assert!(pending.is_none());
        assert_eq!(rx.try_recv().unwrap().output_fields["n_drops"], "2");
    }
}
