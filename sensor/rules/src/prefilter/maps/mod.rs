//! The maps the probes consult, as plain data (`#[repr(C)]`, sizes asserted, defined once in
//! `lanner_common::prefilter` for the kernel programs and this crate), how they are built from the filters (`build`), and the
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
//! - `PREFILTER_DIRS`: LPM trie, `LpmKey::dir` (type, parent directory, NUL) → u64
//!   path-clause bits (`fd.directory = d` of a file). No entry prefixes another, so the
//!   longest match is the exact one; a trie, not a hash, because the probe looks up the key
//!   it already holds for the prefix trie, cut after the last `/` (hashing a 256-byte key
//!   cost an open ~130 ns).
//! - `PREFILTER_NEEDLES`: array, `MAX_NEEDLE_SLOTS` × `KNeedle`; a type's needles are
//!   `first_needle..first_needle + n_needles` (at most `MAX_NEEDLES_PER_TYPE`).
//! - `PREFILTER_PAIRS`: array, one `PairTable` (`lanner_common::prefilter::pair_table` of
//!   every type's needles): the byte pairs that send a path from the fast pass to the exact
//!   one (step 2).
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
//!    raw needles found. The pass runs fast first, 8 bytes a step: only the byte pairs
//!    (`PREFILTER_PAIRS`), the last `/` and the reversed copy; a path with no pair of the
//!    table has no needle and is normalized iff its ends say so, and only one with a pair is
//!    passed over byte by byte (it decides the same: the property test in `kernel`). Each
//!    lookup sits behind its header's gate of byte pairs (`TypeHeader::prefix_gate`);
//!    no clause holding drops the event at once (every term left needs one);
//! 3. the first term whose every test holds admits the event; none: drop, and count it.
//!    The terms that test no path clause come first (`n_free` of them) and are tried before
//!    step 2: one of them admitting spares the path pass (a rename by any comm but a package
//!    manager's, with the official rules); without terms that need the path, none admitting
//!    drops the event before it.
//!
//! A probe that decides at entry and again at exit with the result skips the second look
//! when no term tests the result or the fd's kind (`USES_EXIT_FACTS` unset): it would see
//! the same facts. A call whose result on success is known at entry (dup2, dup3: `newfd`) is
//! decided there on that result when no term admits a failure (`USES_FAILURES` unset): it
//! then matches a rule only by succeeding.
//!
//! Reload without detaching: per type, write its header `MODE_PASS`, delete its old entries,
//! write the new entries, needles and terms, then its real header. A stale bit could make a
//! `not in` drop what the new rules want; in between, the type passes whole.

mod build;
mod kernel;

/// The layout itself is shared with the kernel programs (`lanner_common::prefilter`).
pub use lanner_common::prefilter::{
    COMM_MAP_ENTRIES, CommKey, DIR_MAP_ENTRIES, KNeedle, KTerm, LPM_DATA, LPM_TYPE_BYTES, LpmKey,
    MAX_NEEDLE_SLOTS, MAX_NEEDLES_PER_TYPE, MAX_NET_RANGES, MAX_RANGES, MAX_TERM_SLOTS,
    MAX_TERMS_PER_TYPE, MAX_TYPES, MODE_DROP, MODE_FILTER, MODE_PASS, PREFIX_MAP_ENTRIES,
    SUFFIX_MAP_ENTRIES, TypeHeader, USES_COMM, USES_DIRS, USES_EXIT_FACTS, USES_FAILURES,
    USES_NEEDLES, USES_PATH, USES_SUFFIX,
};

/// Everything the loader writes.
#[derive(Clone, Debug, Default)]
pub struct Maps {
    pub headers: Vec<(u16, TypeHeader)>,
    pub terms: Vec<KTerm>,
    pub needles: Vec<KNeedle>,
    pub comm: Vec<(CommKey, u64)>,
    pub prefix: Vec<(LpmKey, u64)>,
    pub suffix: Vec<(LpmKey, u64)>,
    pub dirs: Vec<(LpmKey, u64)>,
}
