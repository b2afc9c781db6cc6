//! What a probe sees before it copies anything (`KernelFacts`), and the reference of what the
//! kernel computes from it (`admits`): the kernel programs must decide exactly as this does,
//! and `maps::Maps::admits` runs the same decision over the map layout they will read.

use super::{Filter, TypeFilter, term::Term};

/// The longest path, in bytes without its NUL, the kernel decides on. The kernel reads the
/// path with `bpf_probe_read_user_str` into 256 bytes: a return of 256 cannot tell a
/// 255-byte path from a longer one cut there, and an LPM key holds 256 data bytes of which 2
/// name the event type and one is the NUL of an exact match. Longer paths pass.
pub use lanner_common::prefilter::PATH_MAX_DECIDABLE;

/// The kernel's comm: 16 bytes, NUL-terminated, at most 15 visible.
pub const COMM_LEN: usize = 16;

/// The path argument as the probe read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathArg {
    /// This probe reads no path (the path dimension is unknown: every path clause holds).
    Absent,
    /// The read faulted (unmapped memory): undecidable.
    Fault,
    /// The bytes read, and whether the NUL was found within the buffer.
    Read { bytes: Vec<u8>, complete: bool },
}

/// The kernel's buffer for the path: `bpf_probe_read_user_str` copies at most 255 bytes and
/// a NUL, and returns 256 both for a 255-byte path and for a longer one cut there.
pub const PATH_BUF: usize = 256;
const _: () = assert!(lanner_common::prefilter::PATH_MAX_WHOLE == PATH_BUF - 2);

impl PathArg {
    /// What the kernel reads of the string `path` passed by user space.
    pub fn from_user(path: &[u8]) -> PathArg {
        let path = &path[..path.iter().position(|&b| b == 0).unwrap_or(path.len())];
        let n = path.len().min(PATH_BUF - 1);
        PathArg::Read {
            bytes: path[..n].to_vec(),
            complete: path.len() < PATH_BUF - 1,
        }
    }

    /// The bytes the kernel may decide on: read whole, at most `PATH_MAX_DECIDABLE` long,
    /// absolute and already normalized. Only then is Falco's `fd.name` (the absolute,
    /// normalized path) the very bytes passed; a relative path depends on the cwd or the
    /// dirfd, `.`/`..`/`//`/a trailing `/` on normalization, neither of which the probe does.
    pub fn decidable(&self) -> Option<&[u8]> {
        match self {
            PathArg::Read { bytes, complete } if *complete => (bytes.len() <= PATH_MAX_DECIDABLE
                && is_absolute_normalized(bytes))
            .then_some(bytes.as_slice()),
            _ => None,
        }
    }

    /// The bytes the kernel may decide `fd.nameraw` substrings on: the path read whole.
    /// (`fd.nameraw` is it with duplicate `/` collapsed, which keeps every substring without
    /// an inner `/`.)
    pub fn raw_decidable(&self) -> Option<&[u8]> {
        match self {
            PathArg::Read { bytes, complete } if *complete => Some(bytes),
            _ => None,
        }
    }
}

/// Starts with `/`; no empty, `.` or `..` component; no trailing `/` unless it is `/`; no NUL.
/// One pass over the bytes with three bits of state: what the kernel loop does.
pub fn is_absolute_normalized(p: &[u8]) -> bool {
    if p.first() != Some(&b'/') {
        return false;
    }
    if p == b"/" {
        return true;
    }
    // Length of the current component so far, and whether it is all dots.
    let (mut len, mut dots) = (0usize, true);
    for &b in &p[1..] {
        match b {
            0 => return false,
            b'/' => {
                if len == 0 || (dots && len <= 2) {
                    return false;
                }
                (len, dots) = (0, true);
            }
            _ => {
                len += 1;
                dots &= b == b'.';
            }
        }
    }
    len > 0 && !(dots && len <= 2)
}

/// A bitmask over `KINDS`.
pub type KindMask = u32;

/// The kinds of fd, as Falco names them (`fd.typechar`, `fd.type`). The probe reports an
/// index into this table; the sensor renders `fd.typechar`/`fd.type` from the same index.
/// (`u` is both unix sockets and userfaultfd, as in Falco.)
pub const KINDS: [(&str, &str); 19] = [
    ("f", "file"),
    ("d", "directory"),
    ("4", "ipv4"),
    ("6", "ipv6"),
    ("u", "unix"),
    ("u", "userfaultfd"),
    ("p", "pipe"),
    ("e", "event"),
    ("s", "signalfd"),
    ("l", "eventpoll"),
    ("i", "inotify"),
    ("t", "timerfd"),
    ("n", "netlink"),
    ("b", "bpf"),
    ("r", "io_uring"),
    ("m", "memfd"),
    ("P", "pidfd"),
    ("o", "<NA>"),
    ("X", "<NA>"),
];

/// The bit of "no kind": the event has no `fd.typechar`/`fd.type` (the probe reports
/// `KIND_NONE` and the sensor leaves both fields out). A domain value of its own, so that a
/// check on a missing kind is decided as the engine decides it.
pub const KIND_NONE: u8 = KINDS.len() as u8;
pub const ALL_KINDS: KindMask = (1 << (KINDS.len() + 1)) - 1;
const _: () = assert!(KIND_NONE == lanner_common::fd_kind::NONE);
const _: () = assert!(ALL_KINDS == lanner_common::prefilter::ALL_KINDS);

/// A kind the probe cannot name (a failed open, whose `fd.typechar` the sensor guesses from
/// the event type, without `fd.type`): every kind constraint holds.
pub use lanner_common::prefilter::KIND_ANY;

/// The bit of a kind fact (`None`: no kind; `KIND_ANY`: every bit).
pub fn kind_bit(kind: Option<u8>) -> KindMask {
    lanner_common::prefilter::kind_mask(kind.unwrap_or(KIND_NONE))
}

/// The index of a kind in `KINDS`.
pub fn kind_index(typechar: &str, ty: &str) -> Option<u8> {
    KINDS
        .iter()
        .position(|&(c, t)| c == typechar && t == ty)
        .map(|i| i as u8)
}

/// `fd.l4proto` indices (`lanner_common::prefilter::l4`): `L4_NAMES`, then `l4::NONE` for an
/// event without the field.
pub use lanner_common::prefilter::l4;
pub const L4_NAMES: [&str; 5] = l4::NAMES;

/// An IPv4 endpoint as the probe read it: the address as a number (`u32::from(Ipv4Addr)`) and
/// the port.
pub type Endpoint = (u32, u16);

/// What the probe knows of an event before copying it. `None`: this probe does not know it
/// (the dimension does not constrain).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelFacts {
    /// The thread's comm, NUL-padded.
    pub comm: [u8; COMM_LEN],
    pub uid: u32,
    pub path: PathArg,
    /// Flag class bits (`probe::flag`).
    pub flags: Option<u32>,
    /// The syscall's return value.
    pub ret: Option<i64>,
    /// An index into `KINDS`, or `KIND_ANY`; `None`: the event has no fd kind (or the probe
    /// does not know it, when its type's probe has no kind dimension).
    pub kind: Option<u8>,
    /// An `l4` index (`l4::NONE`: the event has no `fd.l4proto`).
    pub l4: Option<u8>,
    /// The IPv4 server and client ends (`fd.sip`/`fd.sport`, `fd.cip`/`fd.cport`), when the
    /// event's are IPv4 and the probe read them.
    pub server: Option<Endpoint>,
    pub client: Option<Endpoint>,
}

impl KernelFacts {
    /// The task's facts and nothing else: every other dimension unknown.
    pub fn task(comm: [u8; COMM_LEN], uid: u32) -> KernelFacts {
        KernelFacts {
            comm,
            uid,
            path: PathArg::Absent,
            flags: None,
            ret: None,
            kind: None,
            l4: None,
            server: None,
            client: None,
        }
    }

    /// The comm up to its NUL: the bytes the sets hold.
    pub fn comm_bytes(&self) -> &[u8] {
        let end = self.comm.iter().position(|&b| b == 0).unwrap_or(COMM_LEN);
        &self.comm[..end]
    }

    /// A comm from text, cut to 15 bytes as the kernel does.
    pub fn comm_of(name: &[u8]) -> [u8; COMM_LEN] {
        let mut c = [0u8; COMM_LEN];
        let n = name.len().min(COMM_LEN - 1);
        c[..n].copy_from_slice(&name[..n]);
        c
    }
}

/// The reference: does the kernel let this event through?
pub fn admits(filter: &TypeFilter, facts: &KernelFacts) -> bool {
    match filter {
        TypeFilter::Drop => false,
        TypeFilter::Pass(_) => true,
        TypeFilter::Filter(f) => admits_filter(f, facts),
    }
}

fn admits_filter(f: &Filter, facts: &KernelFacts) -> bool {
    f.terms.iter().any(|t| admits_term(t, facts))
}

/// One term: every dimension the probe knows satisfies its constraint.
pub fn admits_term(t: &Term, facts: &KernelFacts) -> bool {
    let (abs, raw) = (facts.path.decidable(), facts.path.raw_decidable());
    let path_ok = t
        .paths
        .iter()
        .all(|c| c.iter().any(|pat| pat.holds(abs, raw)));
    t.comm.admits(facts.comm_bytes())
        && t.uid.contains(i64::from(facts.uid))
        && facts.ret.is_none_or(|r| t.ret.contains(r))
        && t.kind & kind_bit(facts.kind) != 0
        && facts
            .flags
            .is_none_or(|f| f & t.flags_set == t.flags_set && f & t.flags_clear == 0)
        && facts.l4.is_none_or(|i| t.l4 & (1 << i) != 0)
        && facts.server.is_none_or(|e| t.server.admits(e))
        && facts.client.is_none_or(|e| t.client.admits(e))
        && path_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_absolute_paths() {
        for ok in [
            "/",
            "/etc",
            "/etc/shadow",
            "/a/.b",
            "/a/...",
            "/a/b..c",
            "/.x/y",
        ] {
            assert!(is_absolute_normalized(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "", "etc", "./x", "//", "/etc/", "/etc//x", "/./x", "/a/.", "/a/..", "/a/../b",
            "/a/./b", "/a\0b",
        ] {
            assert!(!is_absolute_normalized(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn only_whole_short_normalized_paths_are_decidable() {
        let read = |s: &str, complete| PathArg::Read {
            bytes: s.as_bytes().to_vec(),
            complete,
        };
        assert_eq!(read("/etc", true).decidable(), Some(&b"/etc"[..]));
        assert_eq!(read("/etc", false).decidable(), None);
        assert_eq!(read("etc", true).decidable(), None);
        let long = format!("/{}", "a".repeat(PATH_MAX_DECIDABLE));
        assert_eq!(read(&long, true).decidable(), None);
        let edge = format!("/{}", "a".repeat(PATH_MAX_DECIDABLE - 1));
        assert!(read(&edge, true).decidable().is_some());
        assert_eq!(PathArg::Fault.decidable(), None);
    }

    #[test]
    fn the_kernel_read_cannot_tell_255_bytes_from_more() {
        let p = |n: usize| format!("/{}", "a".repeat(n - 1));
        assert!(matches!(
            PathArg::from_user(p(254).as_bytes()),
            PathArg::Read { complete: true, .. }
        ));
        for n in [255, 256, 4000] {
            match PathArg::from_user(p(n).as_bytes()) {
                PathArg::Read { bytes, complete } => {
                    assert!(!complete);
                    assert_eq!(bytes.len(), 255);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn comm_is_cut_at_fifteen_bytes() {
        let c = KernelFacts::comm_of(b"a-very-long-process-name");
        assert_eq!(&c[..15], b"a-very-long-pro");
        assert_eq!(c[15], 0);
        assert_eq!(kind_index("u", "userfaultfd"), Some(5));
        assert_eq!(kind_index("f", "directory"), None);
    }

    /// A failed open's kind (`KIND_ANY`) meets every kind constraint; no kind meets only
    /// those that admit a missing kind.
    #[test]
    fn any_kind_meets_every_kind_constraint() {
        assert_eq!(kind_bit(Some(KIND_ANY)), ALL_KINDS);
        assert_eq!(kind_bit(None), 1 << KIND_NONE);
        assert_eq!(kind_bit(Some(0)), 1);
    }
}
