//! Helpers for tests that mount things: C strings and a cleanup guard.

use std::ffi::CString;

/// A C string from a test literal or path (never contains NUL).
pub fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// Detaches whatever is still mounted on `0` when dropped, so a failing assertion does not
/// leave mounts behind. Guards drop in reverse declaration order: declare them in mount order.
pub struct Unmount(pub String);

impl Drop for Unmount {
    fn drop(&mut self) {
        let p = c(&self.0);
        // SAFETY: valid C string; failure (nothing mounted) is fine.
        while unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) } == 0 {}
    }
}

/// mount(2) of `fstype` from `src` on `dir` with the option string `data`; panics with the
/// errno on failure.
#[track_caller]
pub fn mount_fs(src: &str, dir: &str, fstype: &str, data: &str) {
    let (src, cdir, fstype, data) = (c(src), c(dir), c(fstype), c(data));
    // SAFETY: valid C strings; `data` is the NUL-terminated option string of the fs.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            cdir.as_ptr(),
            fstype.as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    };
    assert_eq!(r, 0, "mount {dir}: errno {}", crate::last_errno());
}

/// A real tmpfs of `size` bytes on a fresh directory, unmounted (and the directory removed)
/// when dropped: a small disk that fills up for the tests of writes on a full volume.
pub struct Tmpfs {
    // Fields drop in order: unmounted first, then the directory removed.
    _mounted: Unmount,
    dir: crate::TempDir,
}

impl Tmpfs {
    /// Mounts it (needs root); panics with the errno on failure.
    #[track_caller]
    pub fn mount(tag: &str, size: u64) -> Tmpfs {
        let dir = crate::TempDir::new(tag);
        let path = dir.path_str();
        mount_fs("tmpfs", &path, "tmpfs", &format!("size={size},mode=0755"));
        Tmpfs {
            _mounted: Unmount(path),
            dir,
        }
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}
