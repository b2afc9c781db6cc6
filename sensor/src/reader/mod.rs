//! Drain the kernel ring buffer on tokio (`AsyncFd`), decode, and pass typed events on through
//! a bounded channel. A full channel blocks the reader (back-pressure into the ring buffer,
//! whose overflow the kernel counts), so nothing is dropped silently in user space.

pub mod decode;
mod file;
mod file_change;
mod net_fd;
mod path;
mod privilege;
pub mod record;

use std::{sync::Arc, time::Duration};

use aya::maps::{MapData, RingBuf};
use tokio::{io::unix::AsyncFd, sync::mpsc, sync::watch};

use self::record::Recorder;
use crate::{event::Event, stats::Counters};

/// Longest time an event waits in the ring buffer before user space reads it, should a
/// wake-up be missed (the kernel side wakes the reader on the first record into an empty ring).
/// When the reader takes what the kernel wrote (`--max-delay-ms`): on its own tick, and when an
/// eighth of the ring waits; with no delay, also for the first record into an empty ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    max_delay: Duration,
}

impl Delivery {
    /// With no delay the tick stays, as a backstop for a wake-up lost in a race.
    const BACKSTOP: Duration = Duration::from_millis(10);

    pub fn from_ms(ms: u64) -> Self {
        Delivery {
            max_delay: Duration::from_millis(ms),
        }
    }

    pub fn wake_on_first(self) -> bool {
        self.max_delay.is_zero()
    }

    fn tick(self) -> Duration {
        if self.max_delay.is_zero() {
            Self::BACKSTOP
        } else {
            self.max_delay
        }
    }
}

/// Read until `stop` flips, then drain what is already in the ring and return. With `record`
/// (`--record-raw`), every record is also appended to the recording as it is read.
pub async fn run(
    ring: RingBuf<MapData>,
    tx: mpsc::Sender<Event>,
    counters: Arc<Counters>,
    capture_env: bool,
    delivery: Delivery,
    mut stop: watch::Receiver<bool>,
    mut record: Option<Recorder>,
) -> std::io::Result<()> {
    // SAFETY: the RingBuf owns its map fd for as long as the AsyncFd owns the RingBuf, and
    // always reports that same fd.
    let mut fd = unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)?;
    let mut decoder = decode::Decoder::new(capture_env);
    // The kernel wakes us when a good amount of data waits (see `Settings::wakeup_bytes`), and
    // with no delay for the first record into an empty ring; the tick bounds the wait.
    let mut tick = tokio::time::interval(delivery.tick());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            guard = fd.readable_mut() => {
                let mut guard = guard?;
                // Clear before draining: a wake-up for a record that lands after the drain
                // looked is then kept, not cleared with the one we are handling.
                guard.clear_ready();
                drain(guard.get_inner_mut(), &tx, &counters, &mut decoder, &mut record).await;
            }
            _ = tick.tick() => drain(fd.get_mut(), &tx, &counters, &mut decoder, &mut record).await,
            _ = stop.changed() => break,
        }
    }
    drain(fd.get_mut(), &tx, &counters, &mut decoder, &mut record).await;
    if let Some(Err(e)) = record.as_mut().map(Recorder::flush) {
        log::error!("--record-raw: the recording is incomplete: {e}");
    }
    Ok(())
}

async fn drain(
    ring: &mut RingBuf<MapData>,
    tx: &mpsc::Sender<Event>,
    counters: &Counters,
    decoder: &mut decode::Decoder,
    record: &mut Option<Recorder>,
) {
    // Decode in a batch first: a ring item borrows the ring and cannot live across an await.
    let mut batch = Vec::new();
    let mut first = true;
    loop {
        batch.clear();
        while let Some(item) = ring.next() {
            // Off (the normal case), this is one never-taken branch per record.
            if let Some(r) = record
                && let Err(e) = r.write(&item)
            {
                log::error!("--record-raw: writing failed, recording stops: {e}");
                *record = None;
            }
            match decoder.decode(&item) {
                Ok(ev) => {
                    counters.count_read(ev.kind());
                    counters.count_cut_paths(ev.body.cut_paths());
                    batch.push(ev);
                }
                Err(e) => {
                    counters
                        .decode_error
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    log::warn!("dropped a kernel record that does not decode: {e}");
                }
            }
            if batch.len() >= 256 {
                break;
            }
        }
        if batch.is_empty() {
            return;
        }
        if first {
            counters
                .drains
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            first = false;
        }
        for ev in batch.drain(..) {
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    }
}
