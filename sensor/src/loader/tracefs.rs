//! Classic tracepoints are attached through tracefs, which a fresh host may not have mounted.

use std::{io, path::Path};

pub const TRACEFS: &str = "/sys/kernel/tracing";

#[derive(Debug, thiserror::Error)]
#[error(
    "tracefs is not mounted at {TRACEFS} and mounting it failed ({source}); \
     mount it with `mount -t tracefs tracefs {TRACEFS}` (in a pod: mount the host's \
     {TRACEFS} into the container)"
)]
pub struct TracefsError {
    #[source]
    source: io::Error,
}

/// True when tracefs is mounted at [`TRACEFS`]. Read from the mount table, not by looking
/// inside: tracefs is often root-only (mode 0700), and an unprivileged caller must get the
/// loader's capability error, not a misleading "tracefs missing".
fn mounted() -> bool {
    std::fs::read_to_string("/proc/self/mounts").is_ok_and(|m| {
        m.lines().any(|l| {
            let mut f = l.split(' ');
            let (_src, dst, fstype) = (f.next(), f.next(), f.next());
            dst == Some(TRACEFS) && fstype == Some("tracefs")
        })
    })
}

/// Make sure tracefs is there, mounting it when it is missing.
pub fn ensure() -> Result<(), TracefsError> {
    if mounted() || Path::new(TRACEFS).join("events").is_dir() {
        return Ok(());
    }
    let c = |s: &str| {
        std::ffi::CString::new(s).map_err(|e| TracefsError {
            source: io::Error::other(e),
        })
    };
    let (src, dst, fstype) = (c("tracefs")?, c(TRACEFS)?, c("tracefs")?);
    // SAFETY: valid NUL-terminated strings; no data argument.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if r != 0 {
        return Err(TracefsError {
            source: io::Error::last_os_error(),
        });
    }
    log::info!("mounted tracefs at {TRACEFS}");
    Ok(())
}
