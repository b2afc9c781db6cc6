//! The capabilities check at start-up: before loading anything, say exactly which capability
//! is missing and what it is for, instead of a bare EPERM from the kernel later.
//!
//! Needed: CAP_BPF (load programs, create maps) and CAP_PERFMON (attach tracepoints), or
//! CAP_SYS_ADMIN, which implies both. On kernels with `kernel.perf_event_paranoid` above 2
//! (Debian's and Ubuntu's patch), attaching tracepoints needs CAP_SYS_ADMIN itself. Kernels
//! before 5.11 charge BPF memory to RLIMIT_MEMLOCK, which only CAP_SYS_RESOURCE may raise.
//! CAP_SYS_PTRACE is what lets the sensor read `/proc/<pid>/exe`, `root` and `environ` of
//! processes of other users; without it events still flow, with less context (warned).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap(u32, &'static str);

pub const SYS_PTRACE: Cap = Cap(19, "CAP_SYS_PTRACE");
pub const SYS_ADMIN: Cap = Cap(21, "CAP_SYS_ADMIN");
pub const SYS_RESOURCE: Cap = Cap(24, "CAP_SYS_RESOURCE");
pub const PERFMON: Cap = Cap(38, "CAP_PERFMON");
pub const BPF: Cap = Cap(39, "CAP_BPF");

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }
}

/// What the process has and the kernel settings that change what it needs.
#[derive(Clone, Copy, Debug)]
pub struct Context {
    /// The effective set (`CapEff` of /proc/self/status).
    pub effective: u64,
    pub perf_event_paranoid: Option<i64>,
    /// (major, minor) of the running kernel.
    pub kernel: Option<(u32, u32)>,
}

impl Context {
    pub fn current() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let effective = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0);
        let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
            .ok()
            .and_then(|s| s.trim().parse().ok());
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut parts = release
            .trim()
            .split(['.', '-'])
            .map(|p| p.parse::<u32>().ok());
        let kernel = match (parts.next().flatten(), parts.next().flatten()) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        };
        Self {
            effective,
            perf_event_paranoid: paranoid,
            kernel,
        }
    }

    pub fn has(&self, c: Cap) -> bool {
        self.effective & (1 << c.0) != 0
    }
}

/// A missing capability the sensor cannot start without, with what it is for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "missing capability {cap}: {why}. Grant it (the least-privileged profile adds CAP_BPF, \
     CAP_PERFMON, CAP_SYS_RESOURCE and CAP_SYS_PTRACE; see deploy/) or run privileged"
)]
pub struct Missing {
    pub cap: Cap,
    pub why: String,
}

/// Check `ctx`; `Ok` carries warnings about capabilities whose absence only degrades.
pub fn check(ctx: &Context) -> Result<Vec<String>, Missing> {
    let admin = ctx.has(SYS_ADMIN);
    for (cap, why) in [
        (
            BPF,
            "needed to load the eBPF programs and create their maps",
        ),
        (PERFMON, "needed to attach the tracepoints"),
    ] {
        if !admin && !ctx.has(cap) {
            return Err(Missing {
                cap,
                why: why.into(),
            });
        }
    }
    if let Some(p) = ctx.perf_event_paranoid
        && p > 2
        && !admin
    {
        return Err(Missing {
            cap: SYS_ADMIN,
            why: format!(
                "kernel.perf_event_paranoid is {p} (above 2, a Debian/Ubuntu kernel patch): \
                 attaching tracepoints then needs CAP_SYS_ADMIN; or set it to 2"
            ),
        });
    }
    if ctx.kernel.is_some_and(|k| k < (5, 11)) && !ctx.has(SYS_RESOURCE) && !admin {
        return Err(Missing {
            cap: SYS_RESOURCE,
            why: "kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK, which only it may raise"
                .into(),
        });
    }
    let mut warnings = Vec::new();
    if !ctx.has(SYS_PTRACE) {
        warnings.push(format!(
            "no {SYS_PTRACE}: executable paths, container roots and environments of other \
             users' processes cannot be read (events still flow, with less context)"
        ));
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(caps: &[Cap], paranoid: i64, kernel: (u32, u32)) -> Context {
        Context {
            effective: caps.iter().fold(0, |m, c| m | (1 << c.0)),
            perf_event_paranoid: Some(paranoid),
            kernel: Some(kernel),
        }
    }

    #[test]
    fn names_the_missing_capability() {
        let least = [BPF, PERFMON, SYS_RESOURCE, SYS_PTRACE];
        assert_eq!(check(&ctx(&least, 2, (6, 18))), Ok(vec![]));
        for (i, cap) in least.iter().enumerate().take(2) {
            let mut fewer = least.to_vec();
            fewer.remove(i);
            let e = check(&ctx(&fewer, 2, (6, 18))).unwrap_err();
            assert_eq!(e.cap, *cap);
            assert!(
                e.to_string()
                    .starts_with(&format!("missing capability {cap}:")),
                "{e}"
            );
        }
        assert!(
            check(&ctx(&[SYS_ADMIN], 2, (6, 18))).is_ok(),
            "SYS_ADMIN implies both"
        );
    }

    #[test]
    fn kernel_settings_change_what_is_needed() {
        let least = [BPF, PERFMON, SYS_RESOURCE, SYS_PTRACE];
        let e = check(&ctx(&least, 3, (6, 8))).unwrap_err();
        assert_eq!(e.cap, SYS_ADMIN);
        assert!(e.why.contains("perf_event_paranoid is 3"), "{e}");
        let e = check(&ctx(&[BPF, PERFMON, SYS_PTRACE], 2, (5, 10))).unwrap_err();
        assert_eq!(e.cap, SYS_RESOURCE);
        assert!(check(&ctx(&[BPF, PERFMON, SYS_PTRACE], 2, (5, 11))).is_ok());
        let w = check(&ctx(&[BPF, PERFMON], 2, (6, 18))).unwrap();
        assert!(w[0].contains("CAP_SYS_PTRACE"), "{w:?}");
    }
}
