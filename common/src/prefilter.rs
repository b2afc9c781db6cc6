//! The in-kernel prefilter's maps, as plain data: the one layout the kernel programs
//! (`sensor-ebpf/src/prefilter.rs`) read and the agent writes (`lanner-rules`,
//! `prefilter/maps`, which documents what each map holds and the per-event algorithm, and
//! builds them from the loaded rules). Every key carries the event type
//! ([`EvtType`](crate::evttype::EvtType) `as u16`), so one set of maps serves every type.
//! `#[repr(C)]`, sizes asserted, so the two sides cannot disagree silently.

/// Names of the maps, shared so the loader cannot misspell them.
pub const MAP_TYPES: &str = "PREFILTER_TYPES";
pub const MAP_TERMS: &str = "PREFILTER_TERMS";
pub const MAP_COMM: &str = "PREFILTER_COMM";
pub const MAP_PREFIX: &str = "PREFILTER_PREFIX";
pub const MAP_SUFFIX: &str = "PREFILTER_SUFFIX";
pub const MAP_DIRS: &str = "PREFILTER_DIRS";
pub const MAP_NEEDLES: &str = "PREFILTER_NEEDLES";
/// Array, one [`PairTable`]: the byte pairs that send a path to the exact pass.
pub const MAP_PAIRS: &str = "PREFILTER_PAIRS";
/// Per-CPU array, `MAX_TYPES` × u64: events the kernel dropped, by type.
pub const MAP_DROPPED: &str = "PREFILTER_DROPPED";

/// The longest path, in bytes without its NUL, the kernel decides `fd.name` on (see
/// `lanner_rules::prefilter::facts::PathArg`): a 256-byte read cannot tell a 255-byte path
/// from a longer one cut there, and an LPM key holds 256 data bytes of which 2 name the event
/// type and one is the NUL of an exact match.
pub const PATH_MAX_DECIDABLE: usize = 253;
/// The longest path the kernel counts as read whole (raw needles): what a 256-byte read
/// returns with its NUL inside.
pub const PATH_MAX_WHOLE: usize = 254;

/// The kind of a failed open: the sensor shows a `fd.typechar` guessed from the event type
/// and no `fd.type`, no one kind of `KINDS`. The probe reports it as "any kind": every kind
/// constraint holds (a mask of every kind bit).
pub const KIND_ANY: u8 = crate::fd_kind::NONE + 1;
/// Every kind bit: the kinds of `KINDS` and "no kind" (`fd_kind::NONE`).
pub const ALL_KINDS: u32 = (1 << (crate::fd_kind::NONE as u32 + 1)) - 1;

/// The mask of a kind index: its bit, or every bit for [`KIND_ANY`].
#[inline(always)]
pub const fn kind_mask(kind: u8) -> u32 {
    if kind >= KIND_ANY {
        ALL_KINDS
    } else {
        1 << kind
    }
}

pub const MAX_TYPES: usize = 128;
/// The official rules take 26 on the open family; the loop runs only for events no earlier
/// test settled, and stops at the first term that admits.
pub const MAX_TERMS_PER_TYPE: usize = 64;
pub const MAX_TERM_SLOTS: usize = 2048;
/// The official rules take 9 on the unlink and rename types (shell histories, `fish_read_history` …).
pub const MAX_NEEDLES_PER_TYPE: usize = 16;
pub const MAX_NEEDLE_SLOTS: usize = 256;
pub const MAX_RANGES: usize = 4;
/// Ranges per address or port dimension: the official `outbound` macro leaves five pieces of
/// the IPv4 space to the server address (neither 0.0.0.0, loopback nor RFC 1918), its SSH
/// rule seven server ports.
pub const MAX_NET_RANGES: usize = 8;
pub const COMM_MAP_ENTRIES: usize = 8192;
pub const PREFIX_MAP_ENTRIES: usize = 16384;
pub const SUFFIX_MAP_ENTRIES: usize = 8192;
pub const DIR_MAP_ENTRIES: usize = 4096;
/// LPM trie data bytes: the kernel's maximum (`LPM_DATA_SIZE_MAX`).
pub const LPM_DATA: usize = 256;
/// Bytes of an LPM key's data that name the event type (big-endian).
pub const LPM_TYPE_BYTES: usize = 2;

pub const MODE_PASS: u8 = 0;
pub const MODE_DROP: u8 = 1;
pub const MODE_FILTER: u8 = 2;

pub const USES_COMM: u8 = 1;
pub const USES_PATH: u8 = 2;
pub const USES_SUFFIX: u8 = 4;
pub const USES_NEEDLES: u8 = 8;
pub const USES_DIRS: u8 = 16;
/// A term tests what a probe learns only at exit: the result or the fd's kind. Without it,
/// the decision at exit is the one at entry on the same facts, and a probe that kept the
/// event at entry need not decide again.
pub const USES_EXIT_FACTS: u8 = 32;
/// A term admits a failed call: one without a result test, or with a range below 0. Without
/// it, a call that fails matches no rule, and a call whose result on success is known at
/// entry (dup2 and dup3 return `newfd`) is decided there, on that result.
pub const USES_FAILURES: u8 = 64;

/// A flag class bit of the send and receive calls (beside the open classes,
/// `crate::file::open::class`): Falco's `fd.connected`, which for them is "the call succeeded
/// on an IP socket, or the socket is established" — computed by the probe at exit from what its
/// record carries, as the sensor computes the field from the same record.
pub const FLAG_CONNECTED: u32 = 1 << 16;

/// A send's or receive's `fd.connected`, from its result, the kind of its fd (an
/// [`fd_kind`](crate::fd_kind) index) and, when the fd is a socket, its `sk_state`: the one
/// definition the probe ([`FLAG_CONNECTED`]) and the sensor's field share.
#[inline(always)]
pub const fn io_connected(ret: i64, kind: u8, socket_state: Option<u8>) -> bool {
    use crate::fd_kind;
    const TCP_ESTABLISHED: u8 = 1;
    let ip = kind == fd_kind::IPV4 || kind == fd_kind::IPV6;
    let established = matches!(socket_state, Some(TCP_ESTABLISHED));
    (ret >= 0 && ip) || established
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TypeHeader {
    pub mode: u8,
    pub uses: u8,
    pub n_terms: u8,
    pub n_needles: u8,
    pub first: u32,
    pub first_needle: u32,
    /// The type's first `n_free` terms test no path clause (they come first): the probe
    /// tries them before it reads the path, and the others only if none admits.
    pub n_free: u8,
    pub _pad: [u8; 3],
    /// Clauses with a pattern on `fd.name`: all hold when the path is not decidable.
    pub abs_clauses: u64,
    /// Clauses with a pattern on the raw path: all hold when it was not read whole.
    pub raw_clauses: u64,
    /// Gates in front of the tries, 256-bit sets of byte pairs ([`in_gate`]): a lookup whose
    /// key's pair is not in its gate can match no entry, and is not made (a trie walk is the
    /// costliest step of an open the rules do not want). The prefix trie's: bytes 1 and 2 of
    /// each key's path bytes (after the leading `/`; the NUL of "/\0"), every second byte if a
    /// key ends after byte 1, every pair if before; the suffix trie's: its keys' bytes 0 and
    /// 1, the path's last two; the directory trie's: as the prefix trie's.
    pub prefix_gate: [u64; 4],
    pub suffix_gate: [u64; 4],
    pub dir_gate: [u64; 4],
}

/// A set of byte pairs, one bit per (previous byte, byte): 65,536 bits.
///
/// The probe's path pass first runs fast: per byte only the pair it ends, looked up here, the
/// last `/` and the reversed copy. A path in which no pair is in the table has no needle of any
/// type in it (every needle ends with one of its pairs; a one-byte needle's byte after any
/// byte), and no `//` or `/.`, so whether it is normalized follows from its first and last
/// bytes; any pair in the table sends the path to the exact pass, which decides byte by byte.
/// One table for every type: the union of their needles, written by the loader while every
/// header passes. The position before the first byte reads as byte 0.
pub type PairTable = [u64; PAIR_WORDS];
pub const PAIR_WORDS: usize = 65_536 / 64;

/// The pairs no path the fast pass decides has: `//` and `/.` (a component `.` or `..`, or
/// one that starts with a dot, which the exact pass tells apart).
pub const NORMALIZATION_PAIRS: [[u8; 2]; 2] = [*b"//", *b"/."];

/// The pair table of `needles` ([`PairTable`]): theirs, the normalization pairs, and a NUL
/// after any byte.
pub fn pair_table(needles: &[KNeedle]) -> PairTable {
    let mut t = [0u64; PAIR_WORDS];
    for p in NORMALIZATION_PAIRS {
        pair_add(&mut t, p[0], p[1]);
    }
    for b in 0..=255u8 {
        pair_add(&mut t, b, 0);
    }
    for n in needles {
        let len = usize::from(n.len).min(8);
        match len {
            0 => {}
            1 => {
                for b in 0..=255u8 {
                    pair_add(&mut t, b, n.bytes[0]);
                }
            }
            _ => pair_add(&mut t, n.bytes[len - 2], n.bytes[len - 1]),
        }
    }
    t
}

/// Whether pair (`prev`, `b`) is in `t`. Its index, `prev << 8 | b`, is the low 16 bits of
/// the probe's shift register.
#[inline(always)]
pub fn pair_in(t: &PairTable, prev: u8, b: u8) -> bool {
    let i = (usize::from(prev) << 8) | usize::from(b);
    (t[(i >> 6) & (PAIR_WORDS - 1)] >> (i & 63)) & 1 != 0
}

fn pair_add(t: &mut PairTable, prev: u8, b: u8) {
    let i = (usize::from(prev) << 8) | usize::from(b);
    t[i >> 6] |= 1 << (i & 63);
}

/// Whether the pair of bytes (`a`, `b`) is in `gate` (see [`TypeHeader::prefix_gate`]): a
/// 256-bit set of the pairs' slots ([`gate_slot`]).
#[inline(always)]
pub fn in_gate(gate: &[u64; 4], a: u8, b: u8) -> bool {
    let i = gate_slot(a, b);
    (gate[usize::from(i >> 6) & 3] >> (i & 63)) & 1 != 0
}

/// `gate` with the pair (`a`, `b`) in it.
#[inline(always)]
pub fn gate_add(gate: &mut [u64; 4], a: u8, b: u8) {
    let i = gate_slot(a, b);
    gate[usize::from(i >> 6) & 3] |= 1 << (i & 63);
}

/// Where a pair of bytes falls in a gate: four bits of each (its nibbles folded), so that a
/// gate tells apart paths whose first component (or last two bytes) differ, not only their
/// first byte, and a key that ends after its first byte fills 16 slots, not all.
#[inline(always)]
pub const fn gate_slot(a: u8, b: u8) -> u8 {
    (((a ^ (a >> 4)) & 15) << 4) | ((b ^ (b >> 4)) & 15)
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KTerm {
    pub comm_need: u64,
    pub comm_neg: u64,
    pub path_need: u64,
    pub flags_set: u32,
    pub flags_clear: u32,
    /// Bits of `facts::KINDS`, and `KIND_NONE`'s.
    pub kind: u32,
    /// 0: any uid / any return value.
    pub n_uid: u8,
    pub n_ret: u8,
    pub _pad: [u8; 2],
    pub uid: [[u32; 2]; MAX_RANGES],
    pub ret: [[i64; 2]; MAX_RANGES],
    /// Bits of [`l4`] indices: the `fd.l4proto` values the term admits.
    pub l4: u32,
    /// Ranges in use per network dimension ([`net_dim`]; 0: any).
    pub n_net: [u8; NET_DIMS],
    /// Per network dimension, its ranges: the server's and the client's IPv4 address (as a
    /// host-order number) and port.
    pub net: [[[u32; 2]; MAX_NET_RANGES]; NET_DIMS],
}

/// The network dimensions of a term ([`KTerm::net`]), in this order.
pub const NET_DIMS: usize = 4;
pub mod net_dim {
    pub const SIP: usize = 0;
    pub const SPORT: usize = 1;
    pub const CIP: usize = 2;
    pub const CPORT: usize = 3;
}

/// `fd.l4proto` as an index, as the prefilter and the sensor share it: the values Falco shows,
/// and `NONE` for an event without the field.
pub mod l4 {
    pub const TCP: u8 = 0;
    pub const UDP: u8 = 1;
    pub const RAW: u8 = 2;
    pub const ICMP: u8 = 3;
    /// Falco's `<NA>`.
    pub const NA: u8 = 4;
    pub const NONE: u8 = 5;
    /// Every bit: the value is not known (yet).
    pub const ALL: u32 = (1 << (NONE as u32 + 1)) - 1;
    /// The text of each index but `NONE`.
    pub const NAMES: [&str; 5] = ["tcp", "udp", "raw", "icmp", "<NA>"];

    /// A connect's `fd.l4proto` when it names an IP peer, from the socket's family and type
    /// as its record carries them (0: not read).
    pub const fn of_connect(sock_family: u16, sock_type: u16) -> u8 {
        const AF_UNIX: u16 = 1;
        match (sock_family, sock_type) {
            (0, _) | (AF_UNIX, _) => NA,
            (_, 1) => TCP,
            (_, 2) => UDP,
            (_, 3) => RAW,
            _ => NA,
        }
    }
}

/// A substring to find in the path: its bytes (little-endian in `bytes`, the first byte
/// lowest), its length, whether it is on the raw path or on `fd.name`, and the clauses it
/// satisfies.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KNeedle {
    pub bytes: [u8; 8],
    pub len: u8,
    pub raw: u8,
    pub _pad: [u8; 6],
    pub clauses: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CommKey {
    pub ty: u32,
    pub comm: [u8; 16],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LpmKey {
    /// In bits, type bytes included.
    pub prefixlen: u32,
    pub data: [u8; LPM_DATA],
}

const _: () = assert!(core::mem::size_of::<TypeHeader>() == 128);
const _: () = assert!(core::mem::size_of::<KTerm>() == 136 + 8 + NET_DIMS * 8 * MAX_NET_RANGES);
const _: () = assert!(core::mem::size_of::<KNeedle>() == 24);
const _: () = assert!(core::mem::size_of::<CommKey>() == 20);
const _: () = assert!(core::mem::size_of::<LpmKey>() == 260);

impl LpmKey {
    /// The directory trie's key of `dir`: its bytes and a NUL, so that an entry matches only
    /// the very directory (no entry prefixes another: a NUL is in no path). A probe looks up
    /// the key it built for the prefix trie, the NUL written after the path's last `/`: one
    /// longest-prefix walk instead of hashing a 256-byte key. `None` if it does not fit.
    pub fn dir(ty: u16, dir: &[u8]) -> Option<LpmKey> {
        let mut bytes = [0u8; LPM_DATA];
        bytes.get_mut(..dir.len())?.copy_from_slice(dir);
        LpmKey::new(ty, bytes.get(..dir.len() + 1)?)
    }

    /// `None` if `bytes` do not fit (`LPM_DATA - LPM_TYPE_BYTES`).
    pub fn new(ty: u16, bytes: &[u8]) -> Option<LpmKey> {
        let mut data = [0u8; LPM_DATA];
        data[..LPM_TYPE_BYTES].copy_from_slice(&ty.to_be_bytes());
        data.get_mut(LPM_TYPE_BYTES..LPM_TYPE_BYTES + bytes.len())?
            .copy_from_slice(bytes);
        Some(LpmKey {
            prefixlen: ((LPM_TYPE_BYTES + bytes.len()) * 8) as u32,
            data,
        })
    }

    /// The key's bytes after the type.
    pub fn bytes(&self) -> &[u8] {
        &self.data[LPM_TYPE_BYTES..self.prefixlen as usize / 8]
    }
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all of these are repr(C), Copy, with explicit padding and no pointers.
    unsafe impl aya::Pod for super::TypeHeader {}
    unsafe impl aya::Pod for super::KTerm {}
    unsafe impl aya::Pod for super::KNeedle {}
    unsafe impl aya::Pod for super::CommKey {}
}
