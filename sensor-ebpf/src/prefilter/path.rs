//! Step 2 of the decision: the path clauses that hold, from one read of the path and one
//! pass over its bytes (fast, then exact where the fast one met a listed pair), and the trie
//! lookups behind their gates.

use aya_ebpf::helpers::generated::bpf_probe_read_kernel;
use lanner_common::prefilter::{
    LPM_DATA, LPM_TYPE_BYTES, MAX_NEEDLES_PER_TYPE, PAIR_WORDS, PATH_MAX_DECIDABLE, PATH_MAX_WHOLE,
    TypeHeader, USES_DIRS, USES_NEEDLES, USES_SUFFIX, in_gate,
};

use super::{
    Ctx, PREFILTER_DIRS, PREFILTER_NEEDLES, PREFILTER_PAIRS, PREFILTER_PREFIX, PREFILTER_SUFFIX,
    PathRef, Scratch, run,
};

/// The path clauses that hold (step 2 of the algorithm).
///
/// The path is read once, straight into the prefix trie's key (after its type bytes), and
/// only its own bytes: the pass reads it there, the prefix lookup uses it as it is, and the
/// directory lookup the same key cut after the last `/`. (Copying 256 bytes to a buffer, then
/// to the key, then hashing a 256-byte directory key cost an official-rules open ~200 ns.)
#[inline(always)]
pub(super) fn path_bits(ty: u32, h: &TypeHeader, path: Option<PathRef>, sc: *mut Scratch) -> u64 {
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
