//! The file output: one alert per line, appended, with size-based rotation
//! (`path` → `path.1` → … → `path.<keep>`, the oldest dropped).

use std::{
    ffi::OsString,
    fs::{self, File, OpenOptions},
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
};

pub struct FileSink {
    path: PathBuf,
    /// 0: never rotate.
    max_bytes: u64,
    /// Rotated files kept (`path.1` … `path.<keep>`); 0: the full file is deleted.
    keep: usize,
    out: BufWriter<File>,
    /// Bytes in the current file, including what is still buffered.
    size: u64,
}

impl FileSink {
    /// Opens `path` for appending (creating the file, not its directory); an existing file is
    /// continued and its length counts toward `max_bytes`.
    pub fn open(path: PathBuf, max_bytes: u64, keep: usize) -> io::Result<Self> {
        let (file, size) = open_append(&path)?;
        Ok(Self {
            path,
            max_bytes,
            keep,
            out: BufWriter::new(file),
            size,
        })
    }

    /// Appends `line` and a newline. When that would take a non-empty file past `max_bytes`,
    /// rotates first; a line longer than `max_bytes` on its own still goes to a fresh file.
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        let n = line.len() as u64 + 1;
        if self.max_bytes > 0 && self.size > 0 && self.size.saturating_add(n) > self.max_bytes {
            self.rotate()?;
        }
        self.out
            .write_all(line.as_bytes())
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(|e| at(&self.path, e))?;
        self.size += n;
        Ok(())
    }

    /// Hands what is buffered to the kernel (no fsync).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush().map_err(|e| at(&self.path, e))
    }

    /// Flushes, shifts `path.<i>` to `path.<i+1>` from the oldest kept down (the rename onto
    /// `path.<keep>` replaces it), moves `path` to `path.1` (or deletes it when `keep` is 0),
    /// and starts a new `path`. A failure leaves the current file open, so the next write
    /// tries again.
    fn rotate(&mut self) -> io::Result<()> {
        self.flush()?;
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
        let (file, size) = open_append(&self.path)?;
        // The old writer is flushed: dropping it just closes the rotated file.
        self.out = BufWriter::new(file);
        self.size = size;
        Ok(())
    }

    /// `path.<i>`
    fn rotated(&self, i: usize) -> PathBuf {
        let mut s = OsString::from(self.path.as_os_str());
        s.push(format!(".{i}"));
        s.into()
    }
}

fn open_append(path: &Path) -> io::Result<(File, u64)> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| at(path, e))?;
    let size = file.metadata().map_err(|e| at(path, e))?.len();
    Ok((file, size))
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
