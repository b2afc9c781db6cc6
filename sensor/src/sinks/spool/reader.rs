//! The delivering side of the spool, on the sink's task: read batches from the cursor, move the
//! cursor (in memory: the truth) once a batch is delivered, delete what is behind it, and save
//! the cursor to disk when it can.

use std::{
    fs::{self, File},
    io::{self, BufRead, BufReader, Read as _, Seek, SeekFrom},
    path::Path,
    sync::{Arc, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

use super::{Shared, err, segment_path, segments};
use crate::sinks::Record;

/// After a failed cursor save, the next try waits this long, doubling up to [`SAVE_PAUSE_MAX`].
const SAVE_PAUSE_MIN: Duration = Duration::from_millis(200);
const SAVE_PAUSE_MAX: Duration = Duration::from_secs(30);

/// A batch read from the spool, with where the cursor goes once it is delivered.
#[derive(Debug)]
pub struct Batch {
    pub records: Vec<Record>,
    next: (u64, u64),
    /// Lines that were not `<time_ns>\t<json>`, or torn (skipped, counted by the caller).
    pub corrupt: u64,
}

/// The delivering side (the sink's task).
pub struct SpoolReader {
    shared: Arc<Shared>,
    segment: u64,
    offset: u64,
    /// The cursor as last written to disk.
    saved: (u64, u64),
    /// After a failed save: not before this.
    save_after: Option<Instant>,
    save_pause: Duration,
}

/// The saved cursor of `dir`, if any.
pub(super) fn load_cursor(dir: &Path) -> io::Result<Option<(u64, u64)>> {
    let path = dir.join("cursor");
    let text = match fs::read(&path) {
        Ok(t) => String::from_utf8_lossy(&t[..t.len().min(100)]).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(&path, e)),
    };
    let mut it = text.split_whitespace().map(str::parse::<u64>);
    match (it.next(), it.next()) {
        (Some(Ok(s)), Some(Ok(o))) => Ok(Some((s, o))),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: expected `<segment> <offset>`, got {text:?}",
                path.display()
            ),
        )),
    }
}

impl SpoolReader {
    pub(super) fn new(shared: Arc<Shared>, segment: u64, offset: u64) -> Self {
        Self {
            shared,
            segment,
            offset,
            saved: (segment, offset),
            save_after: None,
            save_pause: SAVE_PAUSE_MIN,
        }
    }

    /// Bytes the spool's segments take on disk.
    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Relaxed)
    }

    /// Up to `max` records from the cursor (none when all is delivered).
    pub fn read(&mut self, max: usize) -> io::Result<Batch> {
        let s = &*self.shared;
        let (head_n, head_open, head_len) = {
            let h = s.head();
            (h.n, h.file.is_some(), h.len)
        };
        let mut b = Batch {
            records: Vec::new(),
            next: (self.segment, self.offset),
            corrupt: 0,
        };
        while b.records.len() < max && b.next.0 <= head_n {
            let (seg, off) = b.next;
            let path = segment_path(&s.dir, seg);
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if seg >= head_n {
                        break; // not started yet
                    }
                    let after = segments(&s.dir)?.into_iter().find(|&n| n > seg);
                    b.next = (after.unwrap_or(head_n), 0);
                    continue;
                }
                Err(e) => return Err(err(&path, e)),
            };
            // While the writer appends to it, a segment is read up to its last whole record.
            let growing = seg == head_n && head_open;
            let end = match growing {
                true => head_len,
                false => file.metadata().map_err(|e| err(&path, e))?.len(),
            };
            if off < end {
                let mut r = BufReader::new(file);
                r.seek(SeekFrom::Start(off)).map_err(|e| err(&path, e))?;
                let mut r = r.take(end - off);
                b.next.1 +=
                    read_lines(&mut r, max, s.max_bytes, &mut b).map_err(|e| err(&path, e))?;
            }
            if b.records.len() >= max || growing {
                break;
            }
            b.next = (seg + 1, 0); // read to its end and closed: on to the next
        }
        Ok(b)
    }

    /// The batch is delivered (or was empty): move the cursor past it and delete the segments
    /// behind it; when the reader has caught up with the writer, close and delete the head
    /// segment too. The cursor moves even when deleting fails (the error is returned); saving
    /// it to disk is [`save`](Self::save)'s job.
    pub fn commit(&mut self, b: &Batch) -> io::Result<()> {
        let s = &*self.shared;
        let behind = self.segment;
        (self.segment, self.offset) = b.next;
        let mut result = Ok(());
        if behind < self.segment {
            for n in segments(&s.dir)? {
                if (behind..self.segment).contains(&n)
                    && let Err(e) = s.delete(n)
                {
                    result = Err(e);
                }
            }
        }
        let mut head = s.head();
        if head.file.is_some() && head.n == self.segment && head.len == self.offset && head.len > 0
        {
            head.file = None;
            (self.segment, self.offset) = (head.n + 1, 0);
            s.delete(head.n)?;
        }
        result
    }

    /// Write the cursor to disk if it moved since the last save, unless a failed save was less
    /// than a pause ago. `None`: nothing tried.
    pub fn save(&mut self) -> Option<io::Result<()>> {
        let now = Instant::now();
        let pos = (self.segment, self.offset);
        if pos == self.saved || self.save_after.is_some_and(|t| now < t) {
            return None;
        }
        let dir = &self.shared.dir;
        let tmp = dir.join("cursor.tmp");
        let r = fs::write(&tmp, format!("{} {}\n", pos.0, pos.1))
            .and_then(|()| fs::rename(&tmp, dir.join("cursor")))
            .map_err(|e| err(&tmp, e));
        match &r {
            Ok(()) => {
                self.saved = pos;
                self.save_after = None;
                self.save_pause = SAVE_PAUSE_MIN;
            }
            Err(_) => {
                let _ = fs::remove_file(&tmp);
                self.save_after = Some(now + self.save_pause);
                self.save_pause = (self.save_pause * 2).min(SAVE_PAUSE_MAX);
            }
        }
        Some(r)
    }
}

/// Lines from `r` into `b` until `max` records or the end; the bytes consumed. A line longer
/// than `max_line` cannot be a record (the writer refuses them): skipped as corrupt, like a
/// last line without its newline (torn by a crash, or by a write whose cut failed).
fn read_lines(r: &mut impl BufRead, max: usize, max_line: u64, b: &mut Batch) -> io::Result<u64> {
    let mut consumed = 0;
    let mut line = Vec::new();
    while b.records.len() < max {
        line.clear();
        let n = r.by_ref().take(max_line + 1).read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        consumed += n as u64;
        if line.last() != Some(&b'\n') {
            b.corrupt += 1;
            if n as u64 > max_line {
                consumed += skip_line(r)?;
                continue;
            }
            break; // torn: the end
        }
        match parse_line(&line[..n - 1]) {
            Some(rec) => b.records.push(rec),
            None => b.corrupt += 1,
        }
    }
    Ok(consumed)
}

/// Skips to just past the next newline (or the end); the bytes skipped.
fn skip_line(r: &mut impl BufRead) -> io::Result<u64> {
    let mut skipped = 0;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(skipped);
        }
        let (n, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        r.consume(n);
        skipped += n as u64;
        if done {
            return Ok(skipped);
        }
    }
}

fn parse_line(line: &[u8]) -> Option<Record> {
    let line = std::str::from_utf8(line).ok()?;
    let (t, json) = line.split_once('\t')?;
    Some(Record::new(json.to_string(), t.parse().ok()?))
}
