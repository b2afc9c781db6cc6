//! The on-disk spool of a network sink: alerts are appended here by the output thread
//! ([`SpoolWriter`]) and read back by the sink's delivery task ([`SpoolReader`]), which moves a
//! cursor forward once the receiver has the records. A sink down for minutes, or a restart of
//! Lanner, loses nothing (at-least-once: a record delivered just before a crash, cursor not yet
//! saved, is sent again — the Elasticsearch sink's deterministic ids make that a no-op there).
//!
//! Layout of `<dir>`: segments `<n>.spool` (lines `<time_ns>\t<alert JSON>`), each rolled at
//! [`segment_bytes`] (a fraction of `max_bytes` and of the volume, so that delivered records
//! free space soon on any size of spool); `cursor` holds `<segment> <byte offset>` of the first
//! undelivered line, replaced atomically (write then rename).
//!
//! How it degrades instead of looping (a small or full volume):
//! - The reader's cursor in memory is the truth. Saving it is best effort, retried with a
//!   backoff: a cursor that cannot be written (ENOSPC) never makes a delivered batch go again.
//! - Space is freed as soon as records are delivered: a segment behind the cursor is deleted at
//!   once, and when the reader has caught up with the writer the head segment is closed and
//!   deleted too (the next record starts a new one).
//! - A failed append (ENOSPC, EIO) is cut back to the last whole record, the segment is closed
//!   (so it can be freed once delivered), and the writer does not touch the disk again for a
//!   backoff (or until the reader frees space); the records meanwhile are dropped and counted.
//! - The total size is bounded: past `max_bytes`, new records are refused (and counted).
//!
//! A restart never appends to an old segment: the writer starts a new one, so a torn last line
//! (a crash mid-write) stays at the end of a finished segment, where the reader skips it.

mod reader;
mod writer;

use std::{
    ffi::CString,
    fs, io,
    os::unix::ffi::OsStrExt as _,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    },
};

pub use reader::{Batch, SpoolReader};
pub use writer::{Refused, SpoolWriter};

/// The smallest `spool.max_bytes`: room for a few of the largest alerts (an alert line is a
/// few KiB; argv and paths are capped at a few KiB each). Smaller is refused at start.
pub const MIN_MAX_BYTES: u64 = 64 << 10;
/// Segment size bounds: at least a page, at most 8 MiB (fewer, larger files on a big spool).
const SEGMENT_MIN: u64 = 4 << 10;
const SEGMENT_MAX: u64 = 8 << 20;
/// Segments per spool (and per volume): a delivered segment frees 1/8 of the room at most
/// after its last record is delivered.
const SEGMENTS: u64 = 8;

/// The segment size for a spool of `max_bytes` on a volume of `volume` bytes (None: unknown).
pub fn segment_bytes(max_bytes: u64, volume: Option<u64>) -> u64 {
    let room = volume.map_or(max_bytes, |v| v.min(max_bytes));
    (room / SEGMENTS).clamp(SEGMENT_MIN, SEGMENT_MAX)
}

/// Total size of the filesystem holding `dir` (statvfs), if it can be read.
fn volume_bytes(dir: &Path) -> Option<u64> {
    let path = CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `path` is a NUL-terminated string; `st` is a writable statvfs the call fills.
    let r = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
    if r != 0 {
        return None;
    }
    // SAFETY: statvfs succeeded, so it filled `st` (it was zeroed before anyway).
    let st = unsafe { st.assume_init() };
    Some(st.f_blocks.saturating_mul(st.f_frsize))
}

fn err(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:012}.spool"))
}

/// Segment numbers present in `dir`, ascending.
fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut v: Vec<u64> = fs::read_dir(dir)
        .map_err(|e| err(dir, e))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".spool")?.parse().ok()
        })
        .collect();
    v.sort_unstable();
    Ok(v)
}

/// The segment being appended to, shared by the writer (appends) and the reader (closes it
/// when it has caught up, to delete it). Held only for one append or one check.
struct Head {
    /// The newest segment's number.
    n: u64,
    /// Open for appending; `None`: the next append starts segment `n + 1`.
    file: Option<fs::File>,
    /// Bytes of whole records in segment `n` (what the reader may read of it while open).
    len: u64,
}

/// Shared between the writer and the reader of one spool.
struct Shared {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    head: Mutex<Head>,
    /// Bytes of all segments on disk.
    bytes: AtomicU64,
    /// Set by the reader when it deleted something: a writer backing off after a failed
    /// write tries again at once.
    freed: AtomicBool,
}

impl Shared {
    fn head(&self) -> MutexGuard<'_, Head> {
        self.head.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Delete segment `n` (all delivered) and take its size off the total.
    fn delete(&self, n: u64) -> io::Result<()> {
        let p = segment_path(&self.dir, n);
        let len = match fs::metadata(&p) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(err(&p, e)),
        };
        fs::remove_file(&p).map_err(|e| err(&p, e))?;
        let _ = self
            .bytes
            .fetch_update(Relaxed, Relaxed, |b| Some(b.saturating_sub(len)));
        self.freed.store(true, Relaxed);
        Ok(())
    }
}

/// Open (or create) the spool in `dir`: both sides, positioned where the last run left them.
pub fn open(dir: &Path, max_bytes: u64) -> io::Result<(SpoolWriter, SpoolReader)> {
    if max_bytes < MIN_MAX_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("spool.max_bytes is {max_bytes}, below the smallest spool ({MIN_MAX_BYTES})"),
        ));
    }
    fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let segs = segments(dir)?;
    let (mut segment, mut offset) =
        reader::load_cursor(dir)?.unwrap_or((segs.first().copied().unwrap_or(0), 0));
    let shared = Arc::new(Shared {
        dir: dir.to_path_buf(),
        max_bytes,
        segment_bytes: segment_bytes(max_bytes, volume_bytes(dir)),
        head: Mutex::new(Head {
            n: segs.last().copied().unwrap_or(0).max(segment),
            file: None,
            len: 0,
        }),
        bytes: AtomicU64::new(0),
        freed: AtomicBool::new(false),
    });
    let mut bytes = 0;
    for &n in &segs {
        if n < segment {
            // Behind the cursor: delivered (the run ended before deleting it).
            shared.delete(n)?;
            continue;
        }
        let p = segment_path(dir, n);
        let len = fs::metadata(&p).map_err(|e| err(&p, e))?.len();
        if n == segment && offset > len {
            offset = len; // cut short by hand: what is left of it is behind the cursor
        }
        bytes += len;
    }
    if !segs.contains(&segment) {
        // Its segment is gone: every later one is undelivered from its start.
        offset = 0;
        segment = segs
            .iter()
            .copied()
            .find(|&n| n > segment)
            .unwrap_or(segment);
    }
    shared.bytes.store(bytes, Relaxed);
    let writer = SpoolWriter::new(shared.clone());
    let reader = SpoolReader::new(shared, segment, offset);
    Ok((writer, reader))
}

#[cfg(test)]
mod tests;
