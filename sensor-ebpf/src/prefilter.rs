//! The in-kernel prefilter: what the probes consult before they copy an event, so that an
//! event no loaded rule can match never leaves the kernel. The maps and the decision are the
//! ones `lanner_rules::prefilter::maps` specifies (its module doc: what each map holds, the
//! per-event algorithm, the reload order) and emulates (`Maps::admits`): this module must
//! decide exactly as that does. The layout is `lanner_common::prefilter`.
//!
//! Every loop runs under `bpf_loop`, so that the verifier checks one step, not each
//! iteration: the fast pass over the path, 8 bytes a step; the exact pass, a byte a step (at
//! most 254), only for a path the fast one met a listed pair in, with the needles loaded and
//! compared in loops of their own; and the terms (at most `MAX_TERMS_PER_TYPE`). Their state
//! lives in a per-CPU map value, not on the stack: the verifier knows nothing of its contents,
//! so every step starts from the same state. What a step's body branches on multiplies the
//! verifier's work by the paths that reach the loop (an unrolled needle loop in the byte step
//! made the sensor's start take 12 s on this 2-core host, 2.8 s without), hence the small
//! steps; `probes::file*` inline the decision once per program for the same reason.

use core::sync::atomic::{Ordering, compiler_fence};

use aya_ebpf::{
    helpers::{bpf_get_current_comm, bpf_get_current_uid_gid, generated::bpf_loop},
    macros::map,
    maps::{Array, HashMap, LpmTrie, PerCpuArray, lpm_trie::Key},
};
use lanner_common::{
    evttype::EvtType,
    prefilter::{
        ALL_KINDS, COMM_MAP_ENTRIES, CommKey, DIR_MAP_ENTRIES, KNeedle, KTerm, LPM_DATA,
        MAX_NEEDLE_SLOTS, MAX_NEEDLES_PER_TYPE, MAX_RANGES, MAX_TERM_SLOTS, MAX_TERMS_PER_TYPE,
        MAX_TYPES, MODE_DROP, MODE_FILTER, NET_DIMS, PREFIX_MAP_ENTRIES, PairTable,
        SUFFIX_MAP_ENTRIES, TypeHeader, USES_COMM, USES_EXIT_FACTS, USES_FAILURES, USES_PATH, l4,
        net_dim,
    },
};

mod path;

/// Per type; a zeroed header (`MODE_PASS`) passes: a type the loader has not written.
#[map]
pub static PREFILTER_TYPES: Array<TypeHeader> = Array::with_max_entries(MAX_TYPES as u32, 0);
#[map]
pub static PREFILTER_TERMS: Array<KTerm> = Array::with_max_entries(MAX_TERM_SLOTS as u32, 0);
#[map]
pub static PREFILTER_NEEDLES: Array<KNeedle> = Array::with_max_entries(MAX_NEEDLE_SLOTS as u32, 0);
/// The pairs that send a path to the exact pass (`lanner_common::prefilter::PairTable`).
#[map]
pub static PREFILTER_PAIRS: Array<PairTable> = Array::with_max_entries(1, 0);
#[map]
pub static PREFILTER_COMM: HashMap<CommKey, u64> =
    HashMap::with_max_entries(COMM_MAP_ENTRIES as u32, 0);
#[map]
pub static PREFILTER_PREFIX: LpmTrie<[u8; LPM_DATA], u64> =
    LpmTrie::with_max_entries(PREFIX_MAP_ENTRIES as u32, 0);
#[map]
pub static PREFILTER_SUFFIX: LpmTrie<[u8; LPM_DATA], u64> =
    LpmTrie::with_max_entries(SUFFIX_MAP_ENTRIES as u32, 0);
#[map]
pub static PREFILTER_DIRS: LpmTrie<[u8; LPM_DATA], u64> =
    LpmTrie::with_max_entries(DIR_MAP_ENTRIES as u32, 0);
/// Events the kernel dropped, per type (per CPU; the agent sums them for `/metrics`).
#[map]
pub static PREFILTER_DROPPED: PerCpuArray<u64> = PerCpuArray::with_max_entries(MAX_TYPES as u32, 0);

/// The path as a probe read it: `ptr` points at 256 readable bytes of kernel memory (a map
/// value) that start with the path's `len` bytes; `whole`: read whole (no fault, not cut) —
/// `len` then is its length.
#[derive(Clone, Copy)]
pub struct PathRef {
    pub ptr: *const u8,
    pub len: usize,
    pub whole: bool,
}

/// What a probe knows of an event (`lanner_rules::prefilter::KernelFacts`). `None`: not
/// known (yet): the dimension does not constrain.
pub struct Facts<'a> {
    pub comm: &'a [u8; 16],
    pub uid: u32,
    /// `None`: the probe has no path, or could not read it (every path clause holds).
    pub path: Option<PathRef>,
    pub flags: Option<u32>,
    pub ret: Option<i64>,
    /// `lanner_common::prefilter::kind_mask` of the fd's kind (every bit while unknown).
    pub kind: u32,
    pub net: NetFacts,
}

/// What a probe knows of a connection: `fd.l4proto` as a mask of `l4` indices (every bit
/// while unknown), and the IPv4 ends (address as a host-order number, port) it read.
#[derive(Clone, Copy)]
pub struct NetFacts {
    pub l4: u32,
    pub server: Option<(u32, u16)>,
    pub client: Option<(u32, u16)>,
}

impl NetFacts {
    pub const UNKNOWN: NetFacts = NetFacts {
        l4: l4::ALL,
        server: None,
        client: None,
    };
}

/// The per-CPU state of one decision.
#[repr(C)]
pub struct Scratch {
    /// The prefix trie's key: the type, then the path as read (the pass reads it here).
    prefix: Key<[u8; LPM_DATA]>,
    suffix: Key<[u8; LPM_DATA]>,
    /// The type's needles as the pass compares them: the bytes as they sit in the window
    /// (first byte highest), their mask, the clauses, raw or not, the length.
    want: [u64; MAX_NEEDLES_PER_TYPE],
    mask: [u64; MAX_NEEDLES_PER_TYPE],
    clauses: [u64; MAX_NEEDLES_PER_TYPE],
    nlen: [u64; MAX_NEEDLES_PER_TYPE],
    raw: [u64; MAX_NEEDLES_PER_TYPE],
    /// The last bytes of the needles, as a 256-bit set: a byte that ends none skips them.
    last: [u64; 4],
    n_needles: u64,
    /// The byte of the exact pass the needles are compared at.
    at: u64,
    len: u64,
    suffix_on: u64,
    // The pass: the shift register, what it found, the normalization state.
    window: u64,
    /// The fast pass met a pair of the table (bit 0).
    cand: u64,
    raw_found: u64,
    abs_found: u64,
    normalized: u64,
    comp_len: u64,
    dots: u64,
    last_slash: u64,
    // The term loop.
    /// The first slot the loop reads: a term's (`run_terms`), or a needle's (`load_needles`,
    /// which runs before the terms that need the path and is done with it by then).
    first: u64,
    comm_bits: u64,
    path_bits: u64,
    uid: u64,
    ret: i64,
    has_ret: u64,
    flags: u64,
    has_flags: u64,
    kind: u64,
    l4: u64,
    /// Per network dimension (`net_dim`): the value, and whether the probe knows it.
    net: [u32; NET_DIMS],
    net_known: [u32; NET_DIMS],
    admitted: u64,
}

#[map]
static PREFILTER_SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

/// What the `bpf_loop` callbacks are handed (on the stack, as `bpf_loop` requires).
#[repr(C)]
struct Ctx {
    sc: *mut Scratch,
    /// The pair table (the fast pass only; null elsewhere).
    pairs: *const PairTable,
}

/// Whether the event goes on; a drop is counted under its type.
#[inline(always)]
pub fn keep(ty: EvtType, facts: &Facts) -> bool {
    let ty = ty as u32;
    if admits(ty, facts) {
        return true;
    }
    if let Some(n) = PREFILTER_DROPPED.get_ptr_mut(ty) {
        // SAFETY: per-CPU slot, no concurrent writer on this CPU while we run.
        unsafe { *n += 1 };
    }
    false
}

/// [`keep`] at exit, for an event [`keep`] kept at entry: on the same facts but the result
/// and the fd's kind (`path_seen`), the answer is the same when no term of the type tests
/// them, and not computed again; on a path read only now, computed. (One inlined [`keep`]
/// for both: each copy of the passes costs the verifier as much as the rest of the program.)
#[inline(always)]
pub fn keep_at_exit(ty: EvtType, facts: &Facts, path_seen: bool) -> bool {
    if path_seen
        && let Some((h, mode)) = header(ty as u32)
        && mode == MODE_FILTER
        && h.uses & USES_EXIT_FACTS == 0
    {
        return true;
    }
    keep(ty, facts)
}

/// At the entry of a call that returns `on_success` or fails: true when [`keep`] would drop
/// it at exit whatever it returns — no term admits a failure (`USES_FAILURES`) and none
/// admits `on_success`. The drop is counted; false: decide at exit.
#[inline(always)]
pub fn drop_at_entry(ty: EvtType, on_success: i64) -> bool {
    let Some((h, mode)) = header(ty as u32) else {
        return false;
    };
    if mode != MODE_DROP && (mode != MODE_FILTER || h.uses & USES_FAILURES != 0) {
        return false;
    }
    let Ok(comm) = bpf_get_current_comm() else {
        return false;
    };
    let facts = Facts {
        comm: &comm,
        uid: bpf_get_current_uid_gid() as u32,
        path: None,
        flags: None,
        ret: Some(on_success),
        kind: ALL_KINDS,
        net: NetFacts::UNKNOWN,
    };
    !keep(ty, &facts)
}

/// Type `ty`'s header and its mode, read first: the loader changes the header's other bytes
/// only while the mode reads `MODE_PASS` (`sensor/src/loader/prefilter.rs`), so nothing else
/// of it may be read before.
#[inline(always)]
fn header(ty: u32) -> Option<(&'static TypeHeader, u8)> {
    let h = PREFILTER_TYPES.get(ty)?;
    // SAFETY: a byte of a map value.
    let mode = unsafe { core::ptr::read_volatile(&h.mode) };
    compiler_fence(Ordering::Acquire);
    Some((h, mode))
}

/// `Maps::admits`, over the maps.
#[inline(always)]
fn admits(ty: u32, facts: &Facts) -> bool {
    let Some((h, mode)) = header(ty) else {
        return true;
    };
    match mode {
        MODE_DROP => return false,
        MODE_FILTER => {}
        _ => return true,
    }
    let Some(sc) = PREFILTER_SCRATCH.get_ptr_mut(0) else {
        return true;
    };
    // SAFETY: per-CPU scratch, exclusively ours while this program runs on this CPU.
    let s = unsafe { &mut *sc };
    s.comm_bits = 0;
    if h.uses & USES_COMM != 0 {
        let key = CommKey {
            ty,
            comm: *facts.comm,
        };
        // SAFETY: a plain u64 value, copied out at once.
        s.comm_bits = unsafe { PREFILTER_COMM.get(key) }.copied().unwrap_or(0);
    }
    s.path_bits = 0;
    if h.n_terms == 0 {
        return false;
    }
    s.uid = u64::from(facts.uid);
    (s.has_ret, s.ret) = match facts.ret {
        Some(r) => (1, r),
        None => (0, 0),
    };
    (s.has_flags, s.flags) = match facts.flags {
        Some(f) => (1, u64::from(f)),
        None => (0, 0),
    };
    s.kind = u64::from(facts.kind);
    s.l4 = u64::from(facts.net.l4);
    // The network tests are in a term loop of their own, for the probes that know an end: the
    // others' programs do not carry them (inlined into every program that tests terms, their
    // 32 range tests took the verifier's work for all programs from 2.1 M instructions to 3.1
    // M, and the sensor's start from 2.6 s to 6.7 s). Constant where the probe knows none.
    let step: Step = if facts.net.server.is_some() || facts.net.client.is_some() {
        term_net_step
    } else {
        term_step
    };
    for (ip_dim, port_dim, end) in [
        (net_dim::SIP, net_dim::SPORT, facts.net.server),
        (net_dim::CIP, net_dim::CPORT, facts.net.client),
    ] {
        let (known, ip, port) = match end {
            Some((ip, port)) => (1, ip, u32::from(port)),
            None => (0, 0, 0),
        };
        (s.net[ip_dim], s.net[port_dim]) = (ip, port);
        (s.net_known[ip_dim], s.net_known[port_dim]) = (known, known);
    }
    s.admitted = 0;
    let n = u32::from(h.n_terms).min(MAX_TERMS_PER_TYPE as u32);
    // The terms that need no path, before the path is read: one admitting spares the pass.
    let free = u32::from(h.n_free).min(n);
    if free > 0 && run_terms(sc, h.first, free, step) {
        return true;
    }
    if free == n {
        return false;
    }
    if h.uses & USES_PATH != 0 {
        let bits = path::path_bits(ty, h, facts.path, sc);
        // Every term left needs a clause (the terms without one came first): none holds,
        // none admits.
        if bits == 0 {
            return false;
        }
        // SAFETY: as above.
        unsafe { (*sc).path_bits = bits };
    }
    run_terms(sc, h.first.wrapping_add(free), n - free, step)
}

/// Terms `first..first + n` (step 3): whether one admits.
#[inline(always)]
fn run_terms(sc: *mut Scratch, first: u32, n: u32, step: Step) -> bool {
    // SAFETY: per-CPU scratch, exclusively ours while this program runs on this CPU.
    unsafe {
        (*sc).first = u64::from(first);
        (*sc).admitted = 0;
    }
    run(n, step, sc, core::ptr::null());
    // SAFETY: as above; the loop is over.
    unsafe { (*sc).admitted != 0 }
}

/// `step` `n` times under `bpf_loop`, handed the scratch and (the fast pass only) the pair
/// table.
#[inline(always)]
fn run(
    n: u32,
    step: extern "C" fn(u64, *mut core::ffi::c_void) -> i64,
    sc: *mut Scratch,
    pairs: *const PairTable,
) {
    let mut ctx = Ctx { sc, pairs };
    // SAFETY: the callback only touches `ctx`, the scratch and the table, which outlive it.
    unsafe {
        bpf_loop(
            n,
            step as *mut core::ffi::c_void,
            (&mut ctx as *mut Ctx).cast(),
            0,
        );
    }
}

/// A `bpf_loop` callback.
type Step = extern "C" fn(u64, *mut core::ffi::c_void) -> i64;

/// One term (step 3): every test holds, or the next term. Stops the loop at the first that
/// admits.
extern "C" fn term_step(index: u64, ctx: *mut core::ffi::c_void) -> i64 {
    term_at(index, ctx, false)
}

/// [`term_step`] with the tests of a connection's ends.
extern "C" fn term_net_step(index: u64, ctx: *mut core::ffi::c_void) -> i64 {
    term_at(index, ctx, true)
}

#[inline(always)]
fn term_at(index: u64, ctx: *mut core::ffi::c_void, net: bool) -> i64 {
    // SAFETY: ctx is the `Ctx` the caller passed in, its scratch the per-CPU map value.
    let s = unsafe { &mut *(*ctx.cast::<Ctx>()).sc };
    let Some(t) = PREFILTER_TERMS.get((s.first + index) as u32) else {
        // A term slot past the map: admit rather than guess.
        s.admitted = 1;
        return 1;
    };
    if s.path_bits & t.path_need == t.path_need && holds_but_path(t, s) && (!net || net_holds(t, s))
    {
        s.admitted = 1;
        return 1;
    }
    0
}

/// Each end's address and port the probe knows in the term's ranges.
#[inline(always)]
fn net_holds(t: &KTerm, s: &Scratch) -> bool {
    if u32::from_ne_bytes(t.n_net) == 0 {
        return true;
    }
    for dim in 0..NET_DIMS {
        if s.net_known[dim] != 0 && !in_net(t, dim, s.net[dim]) {
            return false;
        }
    }
    true
}

#[inline(always)]
fn in_net(t: &KTerm, dim: usize, v: u32) -> bool {
    let n = usize::from(t.n_net[dim]);
    if n == 0 {
        return true;
    }
    for (i, r) in t.net[dim].iter().enumerate() {
        if i < n && r[0] <= v && v <= r[1] {
            return true;
        }
    }
    false
}

/// Every test of `t` but the path's.
#[inline(always)]
fn holds_but_path(t: &KTerm, s: &Scratch) -> bool {
    (s.comm_bits ^ t.comm_neg) & t.comm_need == t.comm_need
        && in_uids(t, s.uid as u32)
        && (s.has_ret == 0 || in_rets(t, s.ret))
        && u64::from(t.kind) & s.kind != 0
        && (s.has_flags == 0 || {
            let f = s.flags as u32;
            f & t.flags_set == t.flags_set && f & t.flags_clear == 0
        })
        && u64::from(t.l4) & s.l4 != 0
}

#[inline(always)]
fn in_uids(t: &KTerm, v: u32) -> bool {
    let n = usize::from(t.n_uid);
    if n == 0 {
        return true;
    }
    for i in 0..MAX_RANGES {
        if i < n && t.uid[i][0] <= v && v <= t.uid[i][1] {
            return true;
        }
    }
    false
}

#[inline(always)]
fn in_rets(t: &KTerm, v: i64) -> bool {
    let n = usize::from(t.n_ret);
    if n == 0 {
        return true;
    }
    for i in 0..MAX_RANGES {
        if i < n && t.ret[i][0] <= v && v <= t.ret[i][1] {
            return true;
        }
    }
    false
}
