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
