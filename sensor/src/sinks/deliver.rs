//! A sink's delivery loop: take a batch from its queue (memory or spool), send it, resend what
//! the receiver did not take with exponential backoff and jitter, count everything. The
//! output thread only ever appends to the queue (never waits on a sink); with the memory queue
//! full, or the spool full or its disk failing, a record is dropped and counted with why.

use std::{
    sync::{Arc, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

use tokio::sync::{Notify, mpsc, watch};

use super::{
    Record,
    spool::{Batch, Refused, SpoolReader, SpoolWriter},
    stats::{DropReason, SinkStats},
    target::{Item, Target},
};

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

/// `now + d`, saturating (the config bounds every duration, this is the second line).
fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 86_400))
}

/// The output thread's end of a sink.
pub enum Input {
    /// The queue, and the most bytes of records it may hold.
    Memory(mpsc::Sender<Record>, u64),
    Spool(SpoolWriter, Arc<Notify>),
}

pub struct SinkHandle {
    pub name: String,
    pub input: Input,
    pub stats: Arc<SinkStats>,
    /// Records the spool refused since its disk started failing (logged when it recovers).
    failing: Option<u64>,
}

impl SinkHandle {
    pub fn new(name: String, input: Input, stats: Arc<SinkStats>) -> Self {
        Self {
            name,
            input,
            stats,
            failing: None,
        }
    }

    /// Queue `r`; never blocks.
    pub fn send(&mut self, r: &Record) {
        let stats = &self.stats;
        match &mut self.input {
            Input::Memory(tx, max_bytes) => {
                // Only this thread adds, so the check holds until the send.
                let bytes = r.json.len() as u64;
                if stats.queued_bytes.load(Relaxed) + bytes > *max_bytes {
                    stats.add_drops(DropReason::QueueFull, 1);
                    return;
                }
                match tx.try_send(r.clone()) {
                    Ok(()) => {
                        stats.queued.fetch_add(1, Relaxed);
                        stats.queued_bytes.fetch_add(bytes, Relaxed);
                    }
                    Err(_) => stats.add_drops(DropReason::QueueFull, 1),
                }
            }
            Input::Spool(w, notify) => {
                let result = w.append(r);
                stats.spool_bytes.store(w.bytes(), Relaxed);
                match result {
                    Ok(()) => {
                        notify.notify_one();
                        if let Some(n) = self.failing.take() {
                            log::warn!(
                                "sink {}: the spool takes alerts again ({n} dropped meanwhile)",
                                self.name
                            );
                        }
                    }
                    Err(Refused::Full) => stats.add_drops(DropReason::SpoolFull, 1),
                    Err(Refused::Paused) => {
                        stats.add_drops(DropReason::WriteError, 1);
                        *self.failing.get_or_insert(0) += 1;
                    }
                    Err(Refused::Failed(e)) => {
                        stats.add_drops(DropReason::WriteError, 1);
                        if self.failing.is_none() {
                            log::error!(
                                "sink {}: spooling an alert: {e}; alerts are dropped (counted) until the spool can be written",
                                self.name
                            );
                        }
                        *self.failing.get_or_insert(0) += 1;
                    }
                }
            }
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

/// Whether the spool's cursor could be saved last time (to log changes, not every failure).
#[derive(Default)]
struct CursorLog {
    failing: bool,
}

impl Delivery {
    /// Run until `stop`, then deliver what is queued for at most `policy.drain`.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut deadline: Option<Instant> = None;
        let mut rng = Jitter::new();
        let mut cursor = CursorLog::default();
        // Batches in a row the target could not take in full (a failing file): backoff.
        let mut setbacks = 0u32;
        loop {
            let batch = tokio::select! {
                b = self.next_batch(deadline.is_some(), &mut cursor) => b,
                _ = stop.changed(), if deadline.is_none() => {
                    deadline = Some(after(self.policy.drain));
                    continue;
                }
            };
            let Some((records, spooled)) = batch else {
                break;
            };
            let Some(dropped) = self
                .deliver(records, &mut deadline, &mut rng, &mut stop)
                .await
            else {
                break; // shutting down with this batch unsent (kept in the spool)
            };
            if let Some(b) = spooled {
                self.commit(&b, &mut cursor);
            }
            setbacks = if dropped { setbacks + 1 } else { 0 };
            if setbacks > 0 {
                let wait = rng.backoff(setbacks - 1, &self.policy);
                if deadline.is_some_and(|d| Instant::now() + wait > d) {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed(), if deadline.is_none() => {
                        deadline = Some(after(self.policy.drain));
                    }
                }
            }
        }
        match &mut self.source {
            Source::Memory(rx) => {
                // Whatever is still queued in memory is lost: say how much.
                let mut left = 0;
                while let Ok(r) = rx.try_recv() {
                    left += 1;
                    self.stats
                        .queued_bytes
                        .fetch_sub(r.json.len() as u64, Relaxed);
                }
                if left > 0 {
                    self.stats.queued.fetch_sub(left, Relaxed);
                    self.stats.add_drops(DropReason::Shutdown, left);
                    log::warn!("sink {}: {left} alerts undelivered at shutdown", self.name);
                }
            }
            Source::Spool(reader, _) => save_cursor(&self.name, reader, &mut cursor),
        }
    }

    /// The batch is delivered: move the spool's cursor (in memory, at once: a delivered batch
    /// is never sent again because the disk is full), free what is behind it, save it when
    /// the disk lets us.
    fn commit(&mut self, b: &Batch, cursor: &mut CursorLog) {
        let Source::Spool(reader, _) = &mut self.source else {
            return;
        };
        if let Err(e) = reader.commit(b) {
            log::error!("sink {}: deleting delivered spool segments: {e}", self.name);
        }
        self.stats.spool_bytes.store(reader.bytes(), Relaxed);
        save_cursor(&self.name, reader, cursor);
    }

    /// The next batch, waiting for one; `None` when the queue is closed and empty, or when
    /// draining and nothing is left.
    async fn next_batch(
        &mut self,
        draining: bool,
        cursor: &mut CursorLog,
    ) -> Option<(Vec<Record>, Option<Batch>)> {
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
                let bytes: usize = v.iter().map(|r| r.json.len()).sum();
                self.stats.queued_bytes.fetch_sub(bytes as u64, Relaxed);
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
                    self.stats.add_drops(DropReason::Unreadable, b.corrupt);
                }
                if !b.records.is_empty() {
                    let records = b.records.clone();
                    return Some((records, Some(b)));
                }
                // Nothing to send, but finished segments may be behind the cursor now.
                if let Err(e) = reader.commit(&b) {
                    log::error!("sink {}: deleting delivered spool segments: {e}", self.name);
                }
                self.stats.spool_bytes.store(reader.bytes(), Relaxed);
                save_cursor(&self.name, reader, cursor);
                if draining {
                    return None;
                }
                // Woken by the writer's next append (or every second, to be safe and to
                // retry a cursor save that failed).
                let _ = tokio::time::timeout(Duration::from_secs(1), notify.notified()).await;
            },
        }
    }

    /// Send until every record is delivered, rejected or dropped. `None` if shutdown cut it
    /// short; else whether the target dropped records (a failing file: back off). A stop seen
    /// here sets the run's `deadline` (the stop signal fires once).
    async fn deliver(
        &mut self,
        mut pending: Vec<Record>,
        deadline: &mut Option<Instant>,
        rng: &mut Jitter,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<bool> {
        let mut attempt = 0u32;
        let mut dropped = false;
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
                            Item::Dropped(reason) => {
                                if !dropped {
                                    log::error!("sink {}: alerts dropped: {reason}", self.name);
                                }
                                dropped = true;
                                self.stats.add_drops(DropReason::WriteError, 1);
                            }
                            Item::Retry(reason) => {
                                why = Some(reason);
                                retry.push(r);
                            }
                        }
                    }
                    if retry.is_empty() {
                        return Some(dropped);
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
            let wait = rng.backoff(attempt, &self.policy);
            attempt = attempt.saturating_add(1);
            log::warn!(
                "sink {}: {} alerts not delivered ({problem}); retry in {wait:?}",
                self.name,
                pending.len()
            );
            if deadline.is_some_and(|d| Instant::now() + wait > d) {
                if let Source::Memory(_) = self.source {
                    self.stats
                        .add_drops(DropReason::Shutdown, pending.len() as u64);
                }
                return None;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed(), if deadline.is_none() => {
                    *deadline = Some(after(self.policy.drain));
                }
            }
        }
    }
}

/// Save the spool's cursor if it moved, logging when saving starts or stops failing.
fn save_cursor(name: &str, reader: &mut SpoolReader, log: &mut CursorLog) {
    match reader.save() {
        Some(Err(e)) if !log.failing => {
            log.failing = true;
            log::error!(
                "sink {name}: saving the spool cursor: {e}; delivery goes on (after a restart, what was delivered since the last save is sent again)"
            );
        }
        Some(Ok(())) if log.failing => {
            log.failing = false;
            log::warn!("sink {name}: the spool cursor is saved again");
        }
        _ => {}
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

    fn backoff(&mut self, attempt: u32, p: &Policy) -> Duration {
        let cap = p
            .backoff_min
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(p.backoff_max);
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
        let p = Policy {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            ..Policy::default()
        };
        for attempt in 0..10 {
            let cap = (p.backoff_min * 2u32.pow(attempt)).min(p.backoff_max);
            for _ in 0..50 {
                let w = j.backoff(attempt, &p);
                assert!(
                    w >= cap / 2 && w <= cap,
                    "attempt {attempt}: {w:?} not in [{:?}, {cap:?}]",
                    cap / 2
                );
            }
        }
    }

    #[test]
    fn a_deadline_far_away_does_not_overflow() {
        assert!(after(Duration::MAX) > Instant::now());
    }

    /// The memory queue holds at most its bytes, whatever its count allows: big alerts are
    /// dropped (counted `queue_full`) once it is full, and fit again once delivery takes some.
    #[test]
    fn the_memory_queue_keeps_to_its_bytes() {
        let (tx, mut rx) = mpsc::channel(10_000);
        let stats = Arc::new(SinkStats::default());
        let mut h = SinkHandle::new("t".into(), Input::Memory(tx, 64 << 10), stats.clone());
        let big = Record::new("x".repeat(10 << 10), 0);
        for _ in 0..7 {
            h.send(&big);
        }
        assert_eq!(stats.queued.load(Relaxed), 6);
        assert_eq!(stats.queued_bytes.load(Relaxed), 6 * (10 << 10));
        assert_eq!(stats.drops(DropReason::QueueFull), 1);
        let dir = lanner_tests::TempDir::new("queue-bytes");
        let file = crate::sinks::file::FileSink::open(dir.path().join("a"), 1 << 20, 1).unwrap();
        let mut d = Delivery {
            name: "t".into(),
            target: Target::File(crate::sinks::target::FileTarget::new(file)),
            source: Source::Memory(std::mem::replace(&mut rx, mpsc::channel(1).1)),
            stats: stats.clone(),
            policy: Policy::default(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (batch, _) = rt
            .block_on(d.next_batch(true, &mut CursorLog::default()))
            .expect("a batch");
        assert_eq!(batch.len(), 6);
        assert_eq!(stats.queued_bytes.load(Relaxed), 0);
        h.send(&big);
        assert_eq!(stats.queued.load(Relaxed), 1);
    }
}
