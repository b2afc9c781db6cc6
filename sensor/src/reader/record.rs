//! Raw recordings of the ring buffer (`--record-raw`), for the userspace benchmark
//! (`--replay`): every record as the reader got it, appended as a u32 little-endian length
//! followed by the record's bytes.

use std::{
    fs::File,
    io::{self, BufWriter, Write as _},
    path::Path,
};

use anyhow::Context as _;

/// Appends records to the recording file. Buffered: the file is complete once the sensor
/// has stopped (the reader flushes it as it returns).
pub struct Recorder {
    out: BufWriter<File>,
}

impl Recorder {
    /// Opens `path` for appending (created if missing).
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::options()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening the recording file {}", path.display()))?;
        Ok(Self {
            out: BufWriter::with_capacity(1 << 20, file),
        })
    }

    pub fn write(&mut self, record: &[u8]) -> io::Result<()> {
        let len = u32::try_from(record.len()).map_err(io::Error::other)?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(record)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The records of a recording, in order. A record cut short (the file ends inside it) is an
/// error that says where.
pub fn split(bytes: &[u8]) -> anyhow::Result<Vec<&[u8]>> {
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len = bytes
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
            .with_context(|| format!("the recording ends inside a length prefix at {at}"))?;
        let start = at + 4;
        let end = start + len as usize;
        let record = bytes.get(start..end).with_context(|| {
            format!(
                "the recording ends inside record {} (at {at}, {len} bytes)",
                records.len()
            )
        })?;
        records.push(record);
        at = end;
    }
    Ok(records)
}

/// The 8-byte words `records` take, each starting on its own word.
fn words_for(records: &[&[u8]]) -> usize {
    records.iter().map(|r| r.len().div_ceil(8)).sum()
}

/// Records handed to the pipeline the way the ring buffer hands them to the reader: each batch
/// is first copied (the kernel's write; the caller does not time it) into a region the size of
/// the sensor's ring, at the next free place, wrapping at its end. The decoder then reads
/// records written just before, as the reader does, rather than records spread over a
/// recording's worth of memory that no cache holds. (A feed the size of the whole recording,
/// loaded once, is that other case: every record at its own aligned place.) Aligned as the ring
/// buffer hands records out: `decode` reads a whole aligned record in place.
pub struct RingFeed {
    words: Vec<u64>,
    /// Next free word.
    head: usize,
}

impl RingFeed {
    pub fn new(bytes: usize) -> Self {
        Self {
            words: vec![0u64; bytes.div_ceil(8).max(1)],
            head: 0,
        }
    }

    /// A feed that holds all of `records` at once, each at its own place.
    pub fn holding(records: &[&[u8]]) -> Self {
        Self::new(words_for(records) * 8)
    }

    /// Copy `batch` in; the copies, 8-byte aligned, in order.
    pub fn load(&mut self, batch: &[&[u8]]) -> Vec<&[u8]> {
        let need = words_for(batch);
        if need > self.words.len() {
            // A batch larger than the ring (not the sensor's case): make room for it whole.
            self.words.resize(need, 0);
        }
        let mut spans = Vec::with_capacity(batch.len());
        for r in batch {
            let n = r.len().div_ceil(8);
            if self.head + n > self.words.len() {
                self.head = 0;
            }
            let dst = &mut self.words[self.head..self.head + n];
            // SAFETY: u64 has no invalid bit patterns and the byte view covers exactly `dst`.
            let bytes = unsafe {
                std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<u8>(), dst.len() * 8)
            };
            bytes[..r.len()].copy_from_slice(r);
            spans.push((self.head * 8, r.len()));
            self.head += n;
        }
        // SAFETY: a byte view of the whole u64 buffer.
        let bytes = unsafe {
            std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.words.len() * 8)
        };
        spans
            .into_iter()
            .map(|(start, len)| &bytes[start..start + len])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_appends_add_up() {
        let dir = std::env::temp_dir().join(format!("lanner-record-test.{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("raw");
        let _ = std::fs::remove_file(&path);
        let batches: [&[&[u8]]; 2] = [&[b"abc", b""], &[b"\x01\x02\x03\x04\x05"]];
        for batch in batches {
            let mut r = Recorder::create(&path).unwrap();
            for rec in batch {
                r.write(rec).unwrap();
            }
            r.flush().unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        let records = split(&bytes).unwrap();
        assert_eq!(records, [&b"abc"[..], b"", b"\x01\x02\x03\x04\x05"]);
        assert!(split(&bytes[..bytes.len() - 1]).is_err());
        assert!(split(&bytes[..2]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_ring_feed_hands_back_each_batch_aligned_and_wraps() {
        let mut feed = RingFeed::new(32);
        let batch: [&[u8]; 3] = [b"0123456789", b"", b"abc"];
        let got = feed.load(&batch);
        assert_eq!(got, batch);
        assert!(got.iter().all(|r| r.as_ptr().cast::<u64>().is_aligned()));
        let start = got[0].as_ptr() as usize;
        // 16 + 8 of 32 bytes used: the next 16-byte record wraps to the start.
        let next: [&[u8]; 1] = [b"fedcba9876543210"];
        let again = feed.load(&next);
        assert_eq!(again, next);
        assert_eq!(again[0].as_ptr() as usize, start);
        // A batch bigger than the ring still comes back whole.
        let big = [&[7u8; 40][..], &[9u8; 9][..]];
        assert_eq!(feed.load(&big), big);
    }
}
