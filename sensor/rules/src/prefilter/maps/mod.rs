//! The maps the probes consult, as plain data (`#[repr(C)]`, sizes asserted: the kernel side
//! declares the same layout), how they are built from the filters (`build`), and the
//! kernel's decision over them (`kernel`: `Maps::admits`), which must agree with the
//! reference `facts::admits`.
//!
//! Every key carries the event type, so one set of maps serves every type:
//! - `PREFILTER_TYPES`: array, `MAX_TYPES` × `TypeHeader`, indexed by type id. A zeroed
//!   header is `MODE_PASS`: a type the loader has not written passes (sound by default).
//! - `PREFILTER_TERMS`: array, `MAX_TERM_SLOTS` × `KTerm`; a type's terms are
//!   `first..first + n_terms` (at most `MAX_TERMS_PER_TYPE`: the probe's bounded loop).
//! - `PREFILTER_COMM`: hash, `CommKey` (type, comm zero-padded after its NUL, as
//!   `bpf_get_current_comm` gives it) → u64: bit i set iff the comm is in the type's name
//!   set i. A term tests `(bits ^ comm_neg) & comm_need == comm_need`, so one
//!   lookup answers every `in` and `not in` of the type.
//! - `PREFILTER_PREFIX`: LPM trie, `LpmKey` (type, path bytes) → u64 path-clause bits; an
//!   exact name is the path with its NUL, so one longest-prefix lookup of "path\0" serves
//!   prefixes and names. LPM returns only the longest match, so each entry's value already
//!   holds the bits of every shorter entry that is a prefix of it.
//! - `PREFILTER_SUFFIX`: LPM trie on reversed paths, same value scheme.
//! - `PREFILTER_DIRS`: hash, `DirKey` (type, parent directory) → u64 path-clause bits
//!   (`fd.directory = d` of a file).
//! - `PREFILTER_NEEDLES`: array, `MAX_NEEDLE_SLOTS` × `KNeedle`; a type's needles are
//!   `first_needle..first_needle + n_needles` (at most `MAX_NEEDLES_PER_TYPE`).
//!
//! Per event of a `MODE_FILTER` type:
//! 1. comm bits: one hash lookup (if `USES_COMM`);
//! 2. if `USES_PATH`: one pass over the path bytes read (at most 255) that decides `raw`
//!    (read whole) and `abs` (also absolute, normalized, at most `PATH_MAX_DECIDABLE`), and
//!    keeps the last 8 bytes in a shift register to match the needles (`USES_NEEDLES`) and
//!    to reverse the path for the suffix trie (`USES_SUFFIX`), and notes the last `/` (the
//!    parent directory, `USES_DIRS`). Path bits = `abs_clauses` unless `abs`, | `raw_clauses`
//!    unless `raw`; if `abs`, | the prefix lookup of "path\0", | the suffix lookup, | the
//!    directory lookup, | the bits of the fd.name needles found; if `raw`, | the bits of the
//!    raw needles found;
//! 3. the first term whose every test holds admits the event; none: drop, and count it.
//!
//! Reload without detaching: per type, write its header `MODE_PASS`, delete its old entries,
//! write the new entries, needles and terms, then its real header. A stale bit could make a
//! `not in` drop what the new rules want; in between, the type passes whole.

mod build;
mod kernel;

pub const MAX_TYPES: usize = 128;
/// The official rules take 26 on the open family; the loop runs only for events no earlier
/// test settled, and stops at the first term that admits.
pub const MAX_TERMS_PER_TYPE: usize = 64;
pub const MAX_TERM_SLOTS: usize = 2048;
pub const MAX_NEEDLES_PER_TYPE: usize = 8;
pub const MAX_NEEDLE_SLOTS: usize = 256;
pub const MAX_RANGES: usize = 4;
pub const COMM_MAP_ENTRIES: usize = 8192;
pub const PREFIX_MAP_ENTRIES: usize = 16384;
pub const SUFFIX_MAP_ENTRIES: usize = 8192;
pub const DIR_MAP_ENTRIES: usize = 4096;
/// Bytes of a directory key: longer directories never hold a decidable path's file.
pub const DIR_KEY_BYTES: usize = 252;
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

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TypeHeader {
    pub mode: u8,
    pub uses: u8,
    pub n_terms: u8,
    pub n_needles: u8,
    pub first: u32,
    pub first_needle: u32,
    pub _pad: u32,
    /// Clauses with a pattern on `fd.name`: all hold when the path is not decidable.
    pub abs_clauses: u64,
    /// Clauses with a pattern on the raw path: all hold when it was not read whole.
    pub raw_clauses: u64,
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
pub struct DirKey {
    pub ty: u32,
    /// NUL-padded.
    pub dir: [u8; DIR_KEY_BYTES],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LpmKey {
    /// In bits, type bytes included.
    pub prefixlen: u32,
    pub data: [u8; LPM_DATA],
}

const _: () = assert!(std::mem::size_of::<TypeHeader>() == 32);
const _: () = assert!(std::mem::size_of::<KTerm>() == 136);
const _: () = assert!(std::mem::size_of::<KNeedle>() == 24);
const _: () = assert!(std::mem::size_of::<CommKey>() == 20);
const _: () = assert!(std::mem::size_of::<LpmKey>() == 260);
const _: () = assert!(std::mem::size_of::<DirKey>() == 256);

impl DirKey {
    /// `None` if `dir` does not fit.
    pub fn new(ty: u16, dir: &[u8]) -> Option<DirKey> {
        let mut key = DirKey {
            ty: u32::from(ty),
            dir: [0; DIR_KEY_BYTES],
        };
        key.dir.get_mut(..dir.len())?.copy_from_slice(dir);
        Some(key)
    }
}

impl LpmKey {
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

/// Everything the loader writes.
#[derive(Clone, Debug, Default)]
pub struct Maps {
    pub headers: Vec<(u16, TypeHeader)>,
    pub terms: Vec<KTerm>,
    pub needles: Vec<KNeedle>,
    pub comm: Vec<(CommKey, u64)>,
    pub prefix: Vec<(LpmKey, u64)>,
    pub suffix: Vec<(LpmKey, u64)>,
    pub dirs: Vec<(DirKey, u64)>,
}
