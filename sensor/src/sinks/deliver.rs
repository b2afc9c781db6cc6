//! A sink's delivery loop: take a batch from its queue (memory or spool), send it, resend what
//! the receiver did not take with exponential backoff and jitter, count everything. The
//! output thread only ever appends to the queue (never waits on a sink); with the memory queue
//! full, or the spool at its size limit, a record is dropped and counted.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use tokio::sync::{Notify, mpsc, watch};

use super::{
    Record,
    spool::{SpoolReader, SpoolWriter},
    target::{Item, Target},
};

/// Counters of one sink (exposed as `lanner_sink_*`).
#[derive(Debug, Default)]
pub struct SinkStats {
    pub delivered: AtomicU64,
    /// Refused by the receiver for good (logged with the reason).
    pub rejected: AtomicU64,
    /// Never sent: queue or spool full, or left in a memory queue at shutdown.
    pub dropped: AtomicU64,
    /// Attempts that failed and were retried.
    pub retries: AtomicU64,
    /// Records waiting (memory queue) or bytes spooled.
    pub queued: AtomicU64,
    pub spool_bytes: AtomicU64,
}

#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub max_batch: usize,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// At shutdown, how long to keep delivering what is queued.
    pub drain: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_batch: 500,
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            drain: Duration::from_secs(10),
        }
    }
}

/// The output thread's end of a sink.
pub enum Input {
    Memory(mpsc::Sender<Record>),
    Spool(SpoolWriter, Arc<Notify>),
}

pub struct SinkHandle {
    pub name: String,
    pub input: Input,
    pub stats: Arc<SinkStats>,
}

impl SinkHandle {
    /// Queue `r`; never blocks.
    pub fn send(&mut self, r: &Record) {
        match &mut self.input {
            Input::Memory(tx) => match tx.try_send(r.clone()) {
                Ok(()) => {
                    self.stats.queued.fetch_add(1, Relaxed);
                }
                Err(_) => {
                    self.stats.dropped.fetch_add(1, Relaxed);
                }
            },
            Input::Spool(w, notify) => match w.append(r) {
                Ok(true) => {
                    self.stats.spool_bytes.store(w.bytes(), Relaxed);
                    notify.notify_one();
                }
                Ok(false) => {
                    self.stats.dropped.fetch_add(1, Relaxed);
                }
                Err(e) => {
                    log::error!("sink {}: spooling an alert: {e}", self.name);
                    self.stats.dropped.fetch_add(1, Relaxed);
                }
            },
        }
    }

    /// At shutdown: make the spool durable.
    pub fn close(&mut self) {
        if let Input::Spool(w, _) = &mut self.input
            && let Err(e) = w.sync()
        {
            log::error!("sink {}: syncing the spool: {e}", self.name);
        }
    }
}

/// The delivery task's end.
pub enum Source {
    Memory(mpsc::Receiver<Record>),
    Spool(SpoolReader, Arc<Notify>),
}

pub struct Delivery {
    pub name: String,
    pub target: Target,
    pub source: Source,
    pub stats: Arc<SinkStats>,
    pub policy: Policy,
}

impl Delivery {
    /// Run until `stop`, then deliver what is queued for at most `policy.drain`.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut deadline: Option<Instant> = None;
        let mut rng = Jitter::new();
        loop {
            let batch = tokio::select! {
                b = self.next_batch(deadline.is_some()) => b,
                _ = stop.changed(), if deadline.is_none() => {
                    deadline = Some(Instant::now() + self.policy.drain);
                    continue;
                }
            };
            let Some((records, commit)) = batch else {
                break;
            };
            if !self.deliver(records, deadline, &mut rng, &mut stop).await {
                break; // shutting down with this batch unsent (kept in the spool)
            }
            if let (Source::Spool(reader, _), Some(b)) = (&mut self.source, commit) {
                if let Err(e) = reader.commit(&b) {
                    log::error!("sink {}: saving the spool cursor: {e}", self.name);
                }
                self.stats.spool_bytes.store(reader.bytes(), Relaxed);
            }
        }
        if let Source::Memory(rx) = &mut self.source {
            // Whatever is still queued in memory is lost: say how much.
            let mut left = 0;
            while rx.try_recv().is_ok() {
                left += 1;
            }
            if left > 0 {
                self.stats.dropped.fetch_add(left, Relaxed);
                log::warn!("sink {}: {left} alerts undelivered at shutdown", self.name);
            }
        }
    }

    /// The next batch, waiting for one; `None` when the queue is closed and empty, or when
    /// draining and nothing is left.
    async fn next_batch(
        &mut self,
        draining: bool,
    ) -> Option<(Vec<Record>, Option<super::spool::Batch>)> {
        let max = self.policy.max_batch;
        match &mut self.source {
            Source::Memory(rx) => {
                let first = if draining {
                    rx.try_recv().ok()?
                } else {
                    rx.recv().await?
                };
                let mut v = vec![first];
                while v.len() < max {
                    match rx.try_recv() {
                        Ok(r) => v.push(r),
                        Err(_) => break,
                    }
                }
                self.stats.queued.fetch_sub(v.len() as u64, Relaxed);
                Some((v, None))
            }
            Source::Spool(reader, notify) => loop {
                let b = match reader.read(max) {
                    Ok(b) => b,
                    Err(e) => {
                        log::error!("sink {}: reading the spool: {e}", self.name);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if b.corrupt > 0 {
                    log::error!(
                        "sink {}: {} unreadable spool lines skipped",
                        self.name,
                        b.corrupt
                    );
                    self.stats.rejected.fetch_add(b.corrupt, Relaxed);
                }
                if !b.records.is_empty() {
                    let records = b.records.clone();
                    return Some((records, Some(b)));
                }
                if draining {
                    return None;
                }
                // Woken by the writer's next append (or every second, to be safe).
                let _ = tokio::time::timeout(Duration::from_secs(1), notify.notified()).await;
            },
        }
    }

    /// Send until every record is delivered or rejected. False if shutdown cut it short.
    async fn deliver(
        &mut self,
        mut pending: Vec<Record>,
        mut deadline: Option<Instant>,
        rng: &mut Jitter,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        let mut attempt = 0u32;
        loop {
            let problem = match self.target.send(&pending).await {
                Ok(items) => {
                    let mut retry = Vec::new();
                    let mut why = None;
                    for (r, item) in pending.into_iter().zip(items) {
                        match item {
                            Item::Delivered => {
                                self.stats.delivered.fetch_add(1, Relaxed);
                            }
                            Item::Rejected(reason) => {
                                self.stats.rejected.fetch_add(1, Relaxed);
                                log::error!(
                                    "sink {}: alert {} rejected: {reason}",
                                    self.name,
                                    r.id
                                );
                            }
                            Item::Retry(reason) => {
                                why = Some(reason);
                                retry.push(r);
                            }
                        }
                    }
                    if retry.is_empty() {
                        return true;
                    }
                    pending = retry;
                    why.unwrap_or_default()
                }
                Err(f) => {
                    if f.lasting {
                        log::error!("sink {}: {} (retrying)", self.name, f.reason);
                    }
                    f.reason
                }
            };
            self.stats.retries.fetch_add(1, Relaxed);
            let wait = rng.backoff(attempt, self.policy.backoff_min, self.policy.backoff_max);
            attempt = attempt.saturating_add(1);
            log::warn!(
                "sink {}: {} alerts not delivered ({problem}); retry in {wait:?}",
                self.name,
                pending.len()
            );
            if deadline.is_some_and(|d| Instant::now() + wait > d) {
                if let Source::Memory(_) = self.source {
                    self.stats.dropped.fetch_add(pending.len() as u64, Relaxed);
                }
                return false;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed(), if deadline.is_none() => {
                    deadline = Some(Instant::now() + self.policy.drain);
                }
            }
        }
    }
}

/// Exponential backoff with jitter: the n-th wait is uniform in [cap/2, cap], cap =
/// min(max, min·2ⁿ), so sensors retrying against the same receiver spread out.
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ u64::from(std::process::id());
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn backoff(&mut self, attempt: u32, min: Duration, max: Duration) -> Duration {
        let cap = min
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(max);
        let half = cap / 2;
        let span = (cap - half).as_nanos() as u64;
        half + Duration::from_nanos(if span == 0 { 0 } else { self.next() % span })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let mut j = Jitter::new();
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(2));
        for attempt in 0..10 {
            let cap = (min * 2u32.pow(attempt)).min(max);
            for _ in 0..50 {
                let w = j.backoff(attempt, min, max);
                assert!(
                    w >= cap / 2 && w <= cap,
                    "attempt {attempt}: {w:?} not in [{:?}, {cap:?}]",
                    cap / 2
                );
            }
        }
    }
}
