//! The file output: one alert per line, appended, with size-based rotation
//! (`path` → `path.1` → … → `path.<keep>`, the oldest dropped). A line is in the file whole or
//! not at all: a write the disk cuts short (ENOSPC) is cut back to the last whole line.

use std::{
    ffi::OsString,
    fs::{self, File, OpenOptions},
    io::{self, Write},
    os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _},
    path::{Path, PathBuf},
};

pub struct FileSink {
    path: PathBuf,
    /// 0: never rotate.
    max_bytes: u64,
    /// Rotated files kept (`path.1` … `path.<keep>`); 0: the full file is deleted.
    keep: usize,
    file: File,
    /// Bytes of whole lines in the current file.
    size: u64,
    /// A failed write could not be cut back to `size`: done before the next write.
    torn: bool,
}

impl FileSink {
    /// Opens `path` for appending (creating the file, not its directory); an existing file is
    /// continued and its length counts toward `max_bytes`. It must be a regular file (not a
    /// directory, FIFO, device or socket): anything else is an error.
    pub fn open(path: PathBuf, max_bytes: u64, keep: usize) -> io::Result<Self> {
        let (file, size) = open_append(&path)?;
        Ok(Self {
            path,
            max_bytes,
            keep,
            file,
            size,
            torn: false,
        })
    }

    /// Appends each line and a newline, rotating first when a line would take a non-empty
    /// file past `max_bytes` (a line longer than that on its own still goes to a fresh file).
    /// Returns how many lines (a prefix of `lines`) are in the file, and the error that
    /// stopped the others: those are not in it, not even in part.
    pub fn write_lines<S: AsRef<str>>(&mut self, lines: &[S]) -> (usize, Option<io::Error>) {
        if self.torn {
            if let Err(e) = self.file.set_len(self.size) {
                return (0, Some(at(&self.path, e)));
            }
            self.torn = false;
        }
        let mut done = 0;
        let mut chunk = Vec::new();
        let mut in_chunk = 0;
        for line in lines {
            let n = line.as_ref().len() as u64 + 1;
            let size = self.size + chunk.len() as u64;
            if self.max_bytes > 0 && size > 0 && size.saturating_add(n) > self.max_bytes {
                let (k, e) = self.write_chunk(&chunk, in_chunk);
                done += k;
                if let Some(e) = e.or_else(|| self.rotate().err()) {
                    return (done, Some(e));
                }
                (chunk, in_chunk) = (Vec::new(), 0);
            }
            chunk.extend_from_slice(line.as_ref().as_bytes());
            chunk.push(b'\n');
            in_chunk += 1;
        }
        let (k, e) = self.write_chunk(&chunk, in_chunk);
        (done + k, e)
    }

    /// Writes `chunk` (`lines` whole lines); on a failure, cuts the file back to its last
    /// whole line. The lines that made it, and the error.
    fn write_chunk(&mut self, chunk: &[u8], lines: usize) -> (usize, Option<io::Error>) {
        let mut written = 0;
        let error = loop {
            if written == chunk.len() {
                self.size += chunk.len() as u64;
                return (lines, None);
            }
            match self.file.write(&chunk[written..]) {
                Ok(0) => break io::Error::from(io::ErrorKind::WriteZero),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break e,
            }
        };
        let whole = chunk[..written]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        self.size += whole as u64;
        if whole < written && self.file.set_len(self.size).is_err() {
            self.torn = true; // cut before the next write
        }
        let made_it = memchr::memchr_iter(b'\n', &chunk[..whole]).count();
        (made_it, Some(at(&self.path, error)))
    }

    /// Shifts `path.<i>` to `path.<i+1>` from the oldest kept down (the rename onto
    /// `path.<keep>` replaces it), moves `path` to `path.1` (or deletes it when `keep` is 0),
    /// and starts a new `path`. A failure leaves the current file open, so the next write
    /// tries again.
    fn rotate(&mut self) -> io::Result<()> {
        if self.keep == 0 {
            match fs::remove_file(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(at(&self.path, e)),
                _ => {}
            }
        } else {
            for i in (1..self.keep).rev() {
                rename(&self.rotated(i), &self.rotated(i + 1))?;
            }
            rename(&self.path, &self.rotated(1))?;
        }
        (self.file, self.size) = open_append(&self.path)?;
        Ok(())
    }

    /// `path.<i>`
    fn rotated(&self, i: usize) -> PathBuf {
        let mut s = OsString::from(self.path.as_os_str());
        s.push(format!(".{i}"));
        s.into()
    }
}

/// Opens `path` to append, creating it; refuses anything but a regular file. The type is
/// checked before opening (opening a FIFO to write would block, or fail with ENXIO without a
/// reader) and again on what was opened (`O_NONBLOCK`: it may have been swapped meanwhile).
fn open_append(path: &Path) -> io::Result<(File, u64)> {
    match fs::metadata(path) {
        Ok(m) => regular(path, m.file_type())?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(at(path, e)),
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| at(path, e))?;
    let meta = file.metadata().map_err(|e| at(path, e))?;
    regular(path, meta.file_type())?;
    Ok((file, meta.len()))
}

fn regular(path: &Path, ft: fs::FileType) -> io::Result<()> {
    let what = if ft.is_file() {
        return Ok(());
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() || ft.is_block_device() {
        "a device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(at(
        path,
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what}; the file output needs a regular file"),
        ),
    ))
}

/// Renames `from` to `to`, replacing `to`; a missing `from` (not rotated that far yet) is fine.
fn rename(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io::Error::new(
            e.kind(),
            format!("renaming {} to {}: {e}", from.display(), to.display()),
        )),
        _ => Ok(()),
    }
}

/// `e` with the path it happened on.
fn at(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
