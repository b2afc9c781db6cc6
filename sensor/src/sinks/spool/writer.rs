//! The appending side of the spool, on the output thread: one record is one line, written
//! whole or not at all, never blocking on anything but the disk write itself.

use std::{
    fs::OpenOptions,
    io::{self, Write as _},
    sync::{Arc, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

use super::{Head, Shared, err, segment_path};
use crate::sinks::Record;

/// After a failed write the disk is left alone this long, doubling per failure up to
/// [`PAUSE_MAX`] (or until the reader frees space): a full disk costs one failed write per
/// pause, not one per alert.
const PAUSE_MIN: Duration = Duration::from_millis(100);
const PAUSE_MAX: Duration = Duration::from_secs(10);

/// Why a record was not spooled (the caller counts it as dropped).
#[derive(Debug)]
pub enum Refused {
    /// The spool holds `max_bytes` already.
    Full,
    /// The write failed (ENOSPC, EIO…); nothing of the record is left in the spool.
    Failed(io::Error),
    /// A write failed less than a pause ago: the disk was not tried.
    Paused,
}

/// The appending side (the output thread).
pub struct SpoolWriter {
    shared: Arc<Shared>,
    /// No disk write before this, after a failure (unless the reader frees space).
    paused_until: Option<Instant>,
    pause: Duration,
}

impl SpoolWriter {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            paused_until: None,
            pause: PAUSE_MIN,
        }
    }

    /// Append `r`, or say why not.
    pub fn append(&mut self, r: &Record) -> Result<(), Refused> {
        let line = format!("{}\t{}\n", r.time_ns, r.json);
        let n = line.len() as u64;
        let s = &*self.shared;
        if s.bytes.load(Relaxed).saturating_add(n) > s.max_bytes {
            return Err(Refused::Full);
        }
        if let Some(until) = self.paused_until
            && Instant::now() < until
            && !s.freed.swap(false, Relaxed)
        {
            return Err(Refused::Paused);
        }
        let result = append_locked(s, &mut s.head(), line.as_bytes());
        match result {
            Ok(()) => {
                self.paused_until = None;
                self.pause = PAUSE_MIN;
                Ok(())
            }
            Err(e) => {
                s.freed.store(false, Relaxed);
                self.paused_until = Some(Instant::now() + self.pause);
                self.pause = (self.pause * 2).min(PAUSE_MAX);
                Err(Refused::Failed(e))
            }
        }
    }

    /// Flush to the disk (at shutdown).
    pub fn sync(&mut self) -> io::Result<()> {
        let head = self.shared.head();
        match &head.file {
            Some(f) => f
                .sync_data()
                .map_err(|e| err(&segment_path(&self.shared.dir, head.n), e)),
            None => Ok(()),
        }
    }

    /// Bytes the spool's segments take on disk.
    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Relaxed)
    }
}

/// Append one line to the head segment, rolling to a new one first when it would pass the
/// segment size (or when it was closed). On a failed write, what was written of the line is
/// cut off again and the segment closed, so that it can be deleted as soon as its records are
/// delivered (the next record starts a new segment).
fn append_locked(s: &Shared, head: &mut Head, line: &[u8]) -> io::Result<()> {
    let n = line.len() as u64;
    if head.file.is_some() && head.len > 0 && head.len.saturating_add(n) > s.segment_bytes {
        head.file = None;
    }
    let file = match head.file.take() {
        Some(f) => head.file.insert(f),
        None => {
            let next = head.n + 1;
            let path = segment_path(&s.dir, next);
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| err(&path, e))?;
            // Only a file made by hand could already be there: count what it holds.
            let len = f.metadata().map_err(|e| err(&path, e))?.len();
            s.bytes.fetch_add(len, Relaxed);
            (head.n, head.len) = (next, len);
            head.file.insert(f)
        }
    };
    if let Err(e) = file.write_all(line) {
        let cut = file.set_len(head.len);
        if head.len > 0 || cut.is_err() {
            // A torn tail the cut could not remove is skipped by the reader at the end of a
            // closed segment.
            head.file = None;
        }
        return Err(err(&segment_path(&s.dir, head.n), e));
    }
    head.len += n;
    // Counted under the lock: the reader cannot delete (and subtract) the record before it
    // was added.
    s.bytes.fetch_add(n, Relaxed);
    Ok(())
}
