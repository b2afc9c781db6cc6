//! Pod context, with a bounded wait for pods the cache does not know yet.
//!
//! The first exec of a new pod often beats the watch event that announces the pod. Such an
//! event waits (at most `max_wait`, at most `max_pending` events in all) for the pod to arrive;
//! events of the same container queue behind it so their order holds. If the pod does not come
//! in time, the event goes on with the visible `<pending>` marker and a counter moves: never a
//! silent null.

use std::{
    collections::VecDeque,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

use tokio::{
    sync::mpsc,
    time::{Instant, sleep_until},
};

use super::{Enriched, Enricher};
use crate::{event::Event, k8s::PodCache, k8s::PodMeta, process::TableStats, stats::StageGauges};

/// The pod side of an event's context.
#[derive(Clone, Debug, PartialEq)]
pub enum PodContext {
    /// Not in a container.
    Host,
    /// No Kubernetes configuration: the sensor runs without pod context.
    Off,
    Found(Arc<PodMeta>),
    /// In a container whose pod did not arrive within the wait.
    Pending,
}

#[derive(Clone, Copy, Debug)]
pub struct PodWait {
    pub max_wait: Duration,
    pub max_pending: usize,
}

/// Counters of the wait, for the metrics endpoint and the exit summary.
#[derive(Debug, Default)]
pub struct PodWaitCounters {
    /// Events that waited and got their pod.
    pub resolved_after_wait: AtomicU64,
    /// Events sent on with the `<pending>` marker (timed out, or pushed out by a full queue).
    pub sent_pending: AtomicU64,
}

struct Waiting {
    deadline: Instant,
    id: String,
    ev: Enriched,
}

/// The enrichment stage: process context for every event, then pod context, in order per
/// container. Returns the process table's counters when the input closes.
pub async fn run(
    mut rx: mpsc::Receiver<Event>,
    tx: mpsc::Sender<Enriched>,
    mut enricher: Enricher,
    pods: PodCache,
    wait: PodWait,
    counters: Arc<PodWaitCounters>,
    gauges: Arc<StageGauges>,
) -> TableStats {
    let mut queue: VecDeque<Waiting> = VecDeque::new();
    loop {
        // Subscribe before looking up, so a pod arriving in between is not missed.
        let changed = pods.changed();
        let next_deadline = queue.front().map(|w| w.deadline);
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                let e = enricher.enrich(ev);
                gauges.set_table(&enricher.table_stats());
                if !admit(e, &pods, &mut queue, wait, &tx, &counters).await {
                    break;
                }
                gauges.pending.store(queue.len() as u64, Relaxed);
            }
            () = changed, if !queue.is_empty() => {
                if !release(&mut queue, &pods, false, &tx, &counters).await {
                    break;
                }
                gauges.pending.store(queue.len() as u64, Relaxed);
            }
            () = sleep_until(next_deadline.unwrap_or_else(Instant::now)), if next_deadline.is_some() => {
                if !release(&mut queue, &pods, false, &tx, &counters).await {
                    break;
                }
                gauges.pending.store(queue.len() as u64, Relaxed);
            }
        }
    }
    // Shutting down: what still waits goes out now, resolved or marked.
    release(&mut queue, &pods, true, &tx, &counters).await;
    enricher.table_stats()
}

/// Decide the pod context of a new event, or queue it. False when the output is gone.
async fn admit(
    mut e: Enriched,
    pods: &PodCache,
    queue: &mut VecDeque<Waiting>,
    wait: PodWait,
    tx: &mpsc::Sender<Enriched>,
    counters: &PodWaitCounters,
) -> bool {
    let Some(id) = e.ctx.container.full_id().map(str::to_string) else {
        e.ctx.pod = PodContext::Host;
        return tx.send(e).await.is_ok();
    };
    if !pods.enabled() {
        e.ctx.pod = PodContext::Off;
        return tx.send(e).await.is_ok();
    }
    let queued_same = queue.iter().any(|w| w.id == id);
    match pods.lookup(&id) {
        Some(meta) if !queued_same => {
            e.ctx.pod = PodContext::Found(meta);
            tx.send(e).await.is_ok()
        }
        _ => {
            queue.push_back(Waiting {
                deadline: Instant::now() + wait.max_wait,
                id,
                ev: e,
            });
            if queue.len() > wait.max_pending {
                // Bounded memory: the oldest goes on now, resolved or marked.
                if let Some(w) = queue.pop_front() {
                    return send_resolved(w, pods, tx, counters).await;
                }
            }
            // The pod may have arrived for earlier events of this container.
            if queued_same {
                return release(queue, pods, false, tx, counters).await;
            }
            true
        }
    }
}

/// Send every queued event whose pod is now known or whose wait is over (all when `all`),
/// keeping each container's order: a still-waiting event holds back the later ones of its
/// container.
async fn release(
    queue: &mut VecDeque<Waiting>,
    pods: &PodCache,
    all: bool,
    tx: &mpsc::Sender<Enriched>,
    counters: &PodWaitCounters,
) -> bool {
    let now = Instant::now();
    let mut held: Vec<String> = Vec::new();
    let mut keep = VecDeque::with_capacity(queue.len());
    while let Some(w) = queue.pop_front() {
        let ready = all || w.deadline <= now || pods.lookup(&w.id).is_some();
        if ready && !held.contains(&w.id) {
            if !send_resolved(w, pods, tx, counters).await {
                return false;
            }
        } else {
            held.push(w.id.clone());
            keep.push_back(w);
        }
    }
    *queue = keep;
    true
}

async fn send_resolved(
    mut w: Waiting,
    pods: &PodCache,
    tx: &mpsc::Sender<Enriched>,
    counters: &PodWaitCounters,
) -> bool {
    w.ev.ctx.pod = match pods.lookup(&w.id) {
        Some(meta) => {
            counters.resolved_after_wait.fetch_add(1, Relaxed);
            PodContext::Found(meta)
        }
        None => {
            counters.sent_pending.fetch_add(1, Relaxed);
            PodContext::Pending
        }
    };
    tx.send(w.ev).await.is_ok()
}
