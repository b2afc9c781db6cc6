//! Files the operator points the sensor at (its config, rules files), read as hostile input:
//! only a regular file — a FIFO would block a reload forever, a device may never end — opened
//! without blocking, of at most a given size, and UTF-8 (an error names the line and column of
//! the first invalid byte). A leading byte order mark is dropped.

use std::{
    fs::File,
    io::Read as _,
    os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _},
    path::Path,
    sync::Arc,
};

/// Why a file could not be read. Each displays as `path: error: …` (or `path:line:col: error: …`),
/// the form rules diagnostics take.
#[derive(Debug, thiserror::Error)]
pub enum TextFileError {
    #[error("{path}: error: cannot read it: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: error: not a regular file (it is {kind}); a {what} must be a regular file")]
    NotRegular {
        path: String,
        kind: &'static str,
        what: &'static str,
    },
    #[error("{path}: error: {size} bytes, more than the {cap} a {what} may have")]
    TooLarge {
        path: String,
        size: u64,
        cap: u64,
        what: &'static str,
    },
    #[error("{0}")]
    Text(lanner_rules::Diagnostic),
}

/// The text of `path`, a `what` ("rules file", "config file") of at most `cap` bytes.
pub fn read(path: &Path, what: &'static str, cap: u64) -> Result<String, TextFileError> {
    let name = path.display().to_string();
    let io = |error| TextFileError::Io {
        path: name.clone(),
        error,
    };
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. Symbolic links
    // are followed: a ConfigMap's files are links.
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let ty = meta.file_type();
    if !ty.is_file() {
        let kind = if ty.is_fifo() {
            "a FIFO"
        } else if ty.is_dir() {
            "a directory"
        } else if ty.is_char_device() {
            "a character device"
        } else if ty.is_block_device() {
            "a block device"
        } else if ty.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(TextFileError::NotRegular {
            path: name,
            kind,
            what,
        });
    }
    let too_large = |size| TextFileError::TooLarge {
        path: name.clone(),
        size,
        cap,
        what,
    };
    if meta.len() > cap {
        return Err(too_large(meta.len()));
    }
    // The file may grow between the check and the read: never read more than the cap.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > cap {
        return Err(too_large(bytes.len() as u64));
    }
    lanner_rules::text::decode(Arc::from(name.as_str()), bytes).map_err(TextFileError::Text)
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;

    use lanner_tests::TempDir;

    use super::*;

    #[test]
    fn a_regular_file_is_read_without_its_byte_order_mark() {
        let dir = TempDir::new("textfile-ok");
        let f = dir.path().join("a.yaml");
        std::fs::write(&f, "\u{feff}a: 1\n").unwrap();
        assert_eq!(read(&f, "rules file", 100).unwrap(), "a: 1\n");
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = TempDir::new("textfile-fifo");
        let f = dir.path().join("rules.yaml");
        let c = CString::new(f.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read(&f, "rules file", 100).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: error: not a regular file (it is a FIFO); a rules file must be a regular file",
                f.display()
            )
        );
        let e = read(Path::new("/dev/zero"), "config file", 100).unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
    }

    #[test]
    fn a_file_over_the_cap_is_refused() {
        let dir = TempDir::new("textfile-big");
        let f = dir.path().join("big.yaml");
        std::fs::write(&f, "x".repeat(101)).unwrap();
        let e = read(&f, "rules file", 100).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: error: 101 bytes, more than the 100 a rules file may have",
                f.display()
            )
        );
        std::fs::write(&f, "x".repeat(100)).unwrap();
        assert_eq!(read(&f, "rules file", 100).unwrap().len(), 100);
    }

    #[test]
    fn invalid_utf8_is_placed() {
        let dir = TempDir::new("textfile-utf8");
        let f = dir.path().join("bad.yaml");
        std::fs::write(&f, b"a: 1\nb: \xc3\xa9\xff\n").unwrap();
        let e = read(&f, "config file", 100).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{}:2:5: error: invalid UTF-8 (byte 0xff)", f.display())
        );
    }
}
