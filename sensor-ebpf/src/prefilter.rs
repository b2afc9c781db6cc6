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
    helpers::{
        bpf_get_current_comm, bpf_get_current_uid_gid,
        generated::{bpf_loop, bpf_probe_read_kernel},
    },
    macros::map,
    maps::{Array, HashMap, LpmTrie, PerCpuArray, lpm_trie::Key},
};
use lanner_common::{
    evttype::EvtType,
    prefilter::{
        ALL_KINDS, COMM_MAP_ENTRIES, CommKey, DIR_MAP_ENTRIES, KNeedle, KTerm, LPM_DATA,
        LPM_TYPE_BYTES, MAX_NEEDLE_SLOTS, MAX_NEEDLES_PER_TYPE, MAX_RANGES, MAX_TERM_SLOTS,
        MAX_TERMS_PER_TYPE, MAX_TYPES, MODE_DROP, MODE_FILTER, NET_DIMS, PAIR_WORDS,
        PATH_MAX_DECIDABLE, PATH_MAX_WHOLE, PREFIX_MAP_ENTRIES, PairTable, SUFFIX_MAP_ENTRIES,
        TypeHeader, USES_COMM, USES_DIRS, USES_EXIT_FACTS, USES_FAILURES, USES_NEEDLES, USES_PATH,
        USES_SUFFIX, in_gate, l4, net_dim,
    },
};

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
        let bits = path_bits(ty, h, facts.path, sc);
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

/// The path clauses that hold (step 2 of the algorithm).
///
/// The path is read once, straight into the prefix trie's key (after its type bytes), and
/// only its own bytes: the pass reads it there, the prefix lookup uses it as it is, and the
/// directory lookup the same key cut after the last `/`. (Copying 256 bytes to a buffer, then
/// to the key, then hashing a 256-byte directory key cost an official-rules open ~200 ns.)
#[inline(always)]
fn path_bits(ty: u32, h: &TypeHeader, path: Option<PathRef>, sc: *mut Scratch) -> u64 {
    let Some(p) = path.filter(|p| p.whole && p.len <= PATH_MAX_WHOLE) else {
        // Not read whole: neither `fd.name` nor the raw path is decidable.
        return h.abs_clauses | h.raw_clauses;
    };
    // SAFETY: per-CPU scratch, exclusively ours while this program runs on this CPU.
    let s = unsafe { &mut *sc };
    let len = p.len & 0xff;
    let n = len.min(PATH_MAX_WHOLE);
    let dst = s.prefix.data.as_mut_ptr().wrapping_add(LPM_TYPE_BYTES);
    // SAFETY: n <= PATH_MAX_WHOLE bytes after the type bytes of a 256-byte key; the helper
    // checks the source (the caller gives 256 readable bytes).
    if unsafe { bpf_probe_read_kernel(dst.cast(), n as u32, p.ptr.cast()) } < 0 {
        return h.abs_clauses | h.raw_clauses;
    }
    s.len = n as u64;
    let tyb = (ty as u16).to_be_bytes();
    s.prefix.data[..LPM_TYPE_BYTES].copy_from_slice(&tyb);
    s.suffix.data[..LPM_TYPE_BYTES].copy_from_slice(&tyb);
    if !fast_pass(sc, n) {
        exact_pass(h, sc, n);
    }
    // SAFETY: as above; the loop is over.
    let s = unsafe { &mut *sc };
    // The end of `is_absolute_normalized`: "/" alone, or a last component that is not empty,
    // `.` or `..`.
    let normalized =
        s.normalized != 0 && (n == 1 || (s.comp_len > 0 && !(s.dots != 0 && s.comp_len <= 2)));
    let abs = normalized && n <= PATH_MAX_DECIDABLE;
    let mut bits = s.raw_found;
    if !abs {
        return bits | h.abs_clauses;
    }
    bits |= s.abs_found;
    // "path\0": prefixes and exact names in one longest-prefix lookup.
    // Each lookup behind its gate (`TypeHeader::prefix_gate`): a key whose pair of bytes is
    // not in it matches no entry.
    s.prefix.data[(LPM_TYPE_BYTES + n) & (LPM_DATA - 1)] = 0;
    s.prefix.prefix_len = ((LPM_TYPE_BYTES + n + 1) * 8) as u32;
    if in_gate(
        &h.prefix_gate,
        s.prefix.data[LPM_TYPE_BYTES + 1],
        s.prefix.data[LPM_TYPE_BYTES + 2],
    ) && let Some(v) = PREFILTER_PREFIX.get(&s.prefix)
    {
        bits |= *v;
    }
    if h.uses & USES_SUFFIX != 0
        && in_gate(
            &h.suffix_gate,
            s.suffix.data[LPM_TYPE_BYTES],
            s.suffix.data[LPM_TYPE_BYTES + 1],
        )
    {
        s.suffix.prefix_len = ((LPM_TYPE_BYTES + n) * 8) as u32;
        if let Some(v) = PREFILTER_SUFFIX.get(&s.suffix) {
            bits |= *v;
        }
    }
    if h.uses & USES_DIRS != 0 && n >= 2 {
        // `dirname`: up to the last `/`, or `/` itself for a file in the root; "dir\0" is
        // the key, cut from the one above (the path's bytes are not needed after this).
        let dlen = (s.last_slash as usize).clamp(1, PATH_MAX_DECIDABLE);
        s.prefix.data[(LPM_TYPE_BYTES + dlen) & (LPM_DATA - 1)] = 0;
        s.prefix.prefix_len = ((LPM_TYPE_BYTES + dlen + 1) * 8) as u32;
        if in_gate(
            &h.dir_gate,
            s.prefix.data[LPM_TYPE_BYTES + 1],
            s.prefix.data[LPM_TYPE_BYTES + 2],
        ) && let Some(v) = PREFILTER_DIRS.get(&s.prefix)
        {
            bits |= *v;
        }
    }
    bits
}

/// The fast pass (see `PairTable`): the pairs, the last `/` and the reversed copy, 8 bytes a
/// step. True when it met no pair of the table: then no needle is in the path, and it is
/// normalized iff it starts with `/` and is `/` or does not end with one; the state is left as
/// the exact pass would leave it. False: the exact pass must decide.
#[inline(always)]
fn fast_pass(sc: *mut Scratch, n: usize) -> bool {
    let Some(pairs) = PREFILTER_PAIRS.get_ptr(0) else {
        return false;
    };
    // SAFETY: per-CPU scratch, exclusively ours while this program runs on this CPU.
    let s = unsafe { &mut *sc };
    (s.window, s.cand, s.last_slash) = (0, 0, 0);
    run(n.div_ceil(8) as u32, fast_step, sc, pairs);
    // SAFETY: as above; the loop is over.
    let s = unsafe { &mut *sc };
    if s.cand & 1 != 0 {
        return false;
    }
    let first = s.prefix.data[LPM_TYPE_BYTES];
    let last = s.prefix.data[(LPM_TYPE_BYTES + n.wrapping_sub(1)) & (LPM_DATA - 1)];
    s.normalized = u64::from(n > 0 && first == b'/');
    s.comp_len = u64::from(last != b'/');
    s.dots = 0;
    (s.raw_found, s.abs_found) = (0, 0);
    true
}

/// Bytes `8 * index ..` of the fast pass; stops the loop at the first pair of the table.
extern "C" fn fast_step(index: u64, ctx: *mut core::ffi::c_void) -> i64 {
    // SAFETY: ctx is the `Ctx` `fast_pass` passed in: the scratch and the table.
    let (s, t) = unsafe {
        let c = &*ctx.cast::<Ctx>();
        (&mut *c.sc, &*c.pairs)
    };
    let len = (s.len as usize) & 0xff;
    let base = (index as usize & 31) * 8;
    let (mut window, mut cand, mut last) = (s.window, 0u64, s.last_slash);
    for k in 0..8 {
        let i = base + k;
        if i >= len {
            break;
        }
        let b = s.prefix.data[(LPM_TYPE_BYTES + i) & (LPM_DATA - 1)];
        window = (window << 8) | u64::from(b);
        let p = (window & 0xffff) as usize;
        // Bit 0 only is read: the pair's bit, shifted down.
        cand |= t[(p >> 6) & (PAIR_WORDS - 1)] >> (p & 63);
        if b == b'/' && i > 0 {
            last = i as u64;
        }
        // Unconditional (a store, no branch): used only when the type has suffixes.
        s.suffix.data[(LPM_TYPE_BYTES + len.wrapping_sub(1 + i)) & (LPM_DATA - 1)] = b;
    }
    (s.window, s.last_slash) = (window, last);
    if cand & 1 != 0 {
        s.cand = 1;
        return 1;
    }
    0
}

/// The exact pass, byte by byte: normalization, the needles, the last `/`, the reversed copy.
#[inline(always)]
fn exact_pass(h: &TypeHeader, sc: *mut Scratch, n: usize) {
    // SAFETY: per-CPU scratch, exclusively ours while this program runs on this CPU.
    let s = unsafe { &mut *sc };
    s.n_needles = 0;
    if h.uses & USES_NEEDLES != 0 {
        load_needles(h, s);
    }
    s.suffix_on = u64::from(h.uses & USES_SUFFIX != 0);
    (s.window, s.raw_found, s.abs_found) = (0, 0, 0);
    (s.normalized, s.comp_len, s.dots, s.last_slash) = (0, 0, 1, 0);
    let Some(pairs) = PREFILTER_PAIRS.get_ptr(0) else {
        // Never (the map has its one entry): every clause holds, as for a path not read.
        s.raw_found = h.raw_clauses;
        return;
    };
    run(n as u32, path_step, sc, pairs);
}

/// The type's needles into the scratch, as the pass compares them: one a step, under
/// `bpf_loop` (unrolled, each needle's branches multiplied the verifier's paths to the pass).
#[inline(always)]
fn load_needles(h: &TypeHeader, s: &mut Scratch) {
    s.last = [0; 4];
    s.first = u64::from(h.first_needle);
    let n = u32::from(h.n_needles).min(MAX_NEEDLES_PER_TYPE as u32);
    run(n, load_step, s, core::ptr::null());
}

/// Needle `index` of the type into the scratch.
extern "C" fn load_step(index: u64, ctx: *mut core::ffi::c_void) -> i64 {
    // SAFETY: ctx is the `Ctx` the caller passed in, its scratch the per-CPU map value.
    let s = unsafe { &mut *(*ctx.cast::<Ctx>()).sc };
    let j = index as usize & (MAX_NEEDLES_PER_TYPE - 1);
    let Some(k) = PREFILTER_NEEDLES.get((s.first + index) as u32) else {
        return 1;
    };
    s.n_needles = j as u64 + 1;
    let len = u64::from(k.len).min(8);
    s.nlen[j] = len;
    if len == 0 {
        return 0;
    }
    // `bytes` holds the first byte lowest; the window the last byte read lowest.
    s.want[j] = u64::from_le_bytes(k.bytes).swap_bytes() >> (64 - 8 * len);
    s.mask[j] = if len == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * len)) - 1
    };
    let last = (s.want[j] & 0xff) as usize;
    s.last[(last >> 6) & 3] |= 1 << (last & 63);
    s.raw[j] = u64::from(k.raw != 0);
    s.clauses[j] = k.clauses;
    0
}

/// One byte of the pass: normalization, the shift register and the needles, the reversed
/// copy for the suffix trie, the copy for the prefix trie and the directory key.
extern "C" fn path_step(index: u64, ctx: *mut core::ffi::c_void) -> i64 {
    // SAFETY: ctx is the `Ctx` `exact_pass` passed in: the scratch and the pair table.
    let (s, t) = unsafe {
        let c = &*ctx.cast::<Ctx>();
        (&mut *c.sc, &*c.pairs)
    };
    let i = (index as usize) & 0xff;
    let b = s.prefix.data[(LPM_TYPE_BYTES + i) & (LPM_DATA - 1)];
    if i == 0 {
        s.normalized = u64::from(b == b'/');
    } else if b == b'/' {
        if s.comp_len == 0 || (s.dots != 0 && s.comp_len <= 2) {
            s.normalized = 0;
        }
        s.comp_len = 0;
        s.dots = 1;
        s.last_slash = i as u64;
    } else if b == 0 {
        s.normalized = 0;
    } else {
        s.comp_len += 1;
        if b != b'.' {
            s.dots = 0;
        }
    }
    s.window = (s.window << 8) | u64::from(b);
    let bi = usize::from(b);
    // A needle ends here only if its last byte is this one and its last two bytes are the
    // pair read (the pair table's claim, which the fast pass relies on too): the needle loop
    // is a `bpf_loop` call, not run for every byte.
    let p = (s.window & 0xffff) as usize;
    if (s.last[bi >> 6] >> (bi & 63)) & (t[(p >> 6) & (PAIR_WORDS - 1)] >> (p & 63)) & 1 != 0 {
        // The needles, in a loop of their own: unrolled here, their branches multiplied the
        // verifier's paths through every byte's step.
        s.at = i as u64;
        run(s.n_needles as u32, needle_step, s, core::ptr::null());
    }
    let len = s.len as usize;
    if s.suffix_on != 0 && len <= PATH_MAX_DECIDABLE {
        s.suffix.data[(LPM_TYPE_BYTES + len - 1 - i) & (LPM_DATA - 1)] = b;
    }
    0
}

/// Needle `index` against the window, at byte `at` of the pass.
extern "C" fn needle_step(index: u64, ctx: *mut core::ffi::c_void) -> i64 {
    // SAFETY: ctx is the `Ctx` the caller passed in, its scratch the per-CPU map value.
    let s = unsafe { &mut *(*ctx.cast::<Ctx>()).sc };
    let j = index as usize & (MAX_NEEDLES_PER_TYPE - 1);
    if s.nlen[j] != 0 && s.nlen[j] <= s.at + 1 && s.window & s.mask[j] == s.want[j] {
        if s.raw[j] != 0 {
            s.raw_found |= s.clauses[j];
        } else {
            s.abs_found |= s.clauses[j];
        }
    }
    0
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
