//! The on-disk spool of a network sink: alerts are appended here by the output thread and
//! read back by the sink's delivery task, which moves a cursor forward only after the receiver
//! has the records. A sink down for minutes, or a restart of Lanner, loses nothing
//! (at-least-once: a record delivered just before a crash, cursor not yet saved, is sent
//! again — the Elasticsearch sink's deterministic ids make that a no-op there).
//!
//! Layout of `<dir>`: segments `<n>.spool` (lines `<time_ns>\t<alert JSON>`), rolled at
//! [`SEGMENT_BYTES`]; `cursor` holds `<segment> <byte offset>` of the first undelivered line,
//! replaced atomically (write then rename). Segments behind the cursor are deleted. The total
//! size is bounded: past `max_bytes`, new records are refused (and counted by the caller).

use std::{
    fs::{self, File, OpenOptions},
    io::{self, BufRead, BufReader, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

use super::Record;

pub const SEGMENT_BYTES: u64 = 8 << 20;

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

/// Shared between the writer and the reader of one spool.
struct Shared {
    dir: PathBuf,
    /// Segment being appended to.
    head: AtomicU64,
    /// Bytes in all segments (approximate: counted on append, recounted at open).
    bytes: AtomicU64,
}

/// The appending side (the output thread).
pub struct SpoolWriter {
    shared: Arc<Shared>,
    file: File,
    file_len: u64,
    max_bytes: u64,
}

/// The delivering side (the sink's task).
pub struct SpoolReader {
    shared: Arc<Shared>,
    segment: u64,
    offset: u64,
}

/// Open (or create) the spool in `dir`: both sides, positioned where the last run left them.
pub fn open(dir: &Path, max_bytes: u64) -> io::Result<(SpoolWriter, SpoolReader)> {
    fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let segs = segments(dir)?;
    let mut bytes = 0;
    for n in &segs {
        let p = segment_path(dir, *n);
        bytes += fs::metadata(&p).map_err(|e| err(&p, e))?.len();
    }
    let head = segs.last().copied().unwrap_or(0);
    let (segment, offset) = read_cursor(dir)?.unwrap_or((segs.first().copied().unwrap_or(0), 0));
    let shared = Arc::new(Shared {
        dir: dir.to_path_buf(),
        head: AtomicU64::new(head),
        bytes: AtomicU64::new(bytes),
    });
    let path = segment_path(dir, head);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| err(&path, e))?;
    let file_len = file.metadata().map_err(|e| err(&path, e))?.len();
    Ok((
        SpoolWriter {
            shared: shared.clone(),
            file,
            file_len,
            max_bytes,
        },
        SpoolReader {
            shared,
            segment,
            offset,
        },
    ))
}

fn read_cursor(dir: &Path) -> io::Result<Option<(u64, u64)>> {
    let path = dir.join("cursor");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
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

impl SpoolWriter {
    /// Append `r`; false (nothing written) when the spool is full.
    pub fn append(&mut self, r: &Record) -> io::Result<bool> {
        let line = format!("{}\t{}\n", r.time_ns, r.json);
        let n = line.len() as u64;
        if self.shared.bytes.load(Relaxed) + n > self.max_bytes {
            return Ok(false);
        }
        if self.file_len > 0 && self.file_len + n > SEGMENT_BYTES {
            let next = self.shared.head.load(Relaxed) + 1;
            let path = segment_path(&self.shared.dir, next);
            self.file.flush().map_err(|e| err(&path, e))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| err(&path, e))?;
            self.file_len = 0;
            self.shared.head.store(next, Relaxed);
        }
        // One write per record: the reader never sees half a line unless the process dies
        // mid-write, and it skips a torn last line (see `SpoolReader::read`).
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| err(&self.shared.dir, e))?;
        self.file_len += n;
        self.shared.bytes.fetch_add(n, Relaxed);
        Ok(true)
    }

    /// Flush to the kernel and disk (at shutdown).
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data().map_err(|e| err(&self.shared.dir, e))
    }

    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Relaxed)
    }
}

/// A batch read from the spool, with where the cursor goes once it is delivered.
#[derive(Debug)]
pub struct Batch {
    pub records: Vec<Record>,
    next: (u64, u64),
    /// Lines that were not `<time_ns>\t<json>` (skipped, counted by the caller).
    pub corrupt: u64,
}

impl SpoolReader {
    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Relaxed)
    }

    /// Up to `max` records from the cursor (empty when all is delivered).
    pub fn read(&mut self, max: usize) -> io::Result<Batch> {
        let mut records = Vec::new();
        let mut corrupt = 0;
        let (mut segment, mut offset) = (self.segment, self.offset);
        while records.len() < max {
            let path = segment_path(&self.shared.dir, segment);
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if segment < self.shared.head.load(Relaxed) {
                        (segment, offset) = (segment + 1, 0);
                        continue;
                    }
                    break;
                }
                Err(e) => return Err(err(&path, e)),
            };
            let mut r = BufReader::new(file);
            r.seek(SeekFrom::Start(offset)).map_err(|e| err(&path, e))?;
            let mut line = String::new();
            while records.len() < max {
                line.clear();
                let n = r.read_line(&mut line).map_err(|e| err(&path, e))?;
                if n == 0 || !line.ends_with('\n') {
                    break; // end, or a line still being written
                }
                offset += n as u64;
                match parse_line(line.trim_end_matches('\n')) {
                    Some(rec) => records.push(rec),
                    None => corrupt += 1,
                }
            }
            if records.len() >= max || segment >= self.shared.head.load(Relaxed) {
                break;
            }
            // This segment is read to its end and a newer one exists: go on there.
            let len = fs::metadata(&path).map_err(|e| err(&path, e))?.len();
            if offset < len {
                break;
            }
            (segment, offset) = (segment + 1, 0);
        }
        Ok(Batch {
            records,
            next: (segment, offset),
            corrupt,
        })
    }

    /// The batch is delivered: move the cursor past it, save it, delete finished segments.
    pub fn commit(&mut self, b: &Batch) -> io::Result<()> {
        let dir = &self.shared.dir;
        let tmp = dir.join("cursor.tmp");
        fs::write(&tmp, format!("{} {}\n", b.next.0, b.next.1)).map_err(|e| err(&tmp, e))?;
        fs::rename(&tmp, dir.join("cursor")).map_err(|e| err(&tmp, e))?;
        for n in self.segment..b.next.0 {
            let p = segment_path(dir, n);
            if let Ok(m) = fs::metadata(&p) {
                fs::remove_file(&p).map_err(|e| err(&p, e))?;
                let _ = self
                    .shared
                    .bytes
                    .fetch_update(Relaxed, Relaxed, |b| Some(b.saturating_sub(m.len())));
            }
        }
        (self.segment, self.offset) = b.next;
        Ok(())
    }
}

fn parse_line(line: &str) -> Option<Record> {
    let (t, json) = line.split_once('\t')?;
    Some(Record::new(json.to_string(), t.parse().ok()?))
}

#[cfg(test)]
#[path = "spool_tests.rs"]
mod tests;
