//! Minimal, bounds-checked reader for the kernel's raw BTF format.
//!
//! rustc emits no CO-RE relocations for BPF targets, so the sensor resolves
//! kernel struct layouts itself: it reads the running kernel's BTF
//! (`/sys/kernel/btf/vmlinux`, plus split module BTF such as
//! `/sys/kernel/btf/overlay`) at load time and hands the offsets to the eBPF
//! programs as globals.
//!
//! The input is treated as untrusted: every read is bounds checked, nesting is
//! bounded, and malformed data yields a [`BtfError`] instead of a panic. Only
//! little-endian BTF (magic `0xeb9f` read as LE) is accepted, which covers
//! every host the sensor runs on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
const TYPE_HDR_LEN: usize = 12;

// BTF_KIND_* values from include/uapi/linux/btf.h.
const KIND_INT: u8 = 1;
const KIND_PTR: u8 = 2;
const KIND_ARRAY: u8 = 3;
const KIND_STRUCT: u8 = 4;
const KIND_UNION: u8 = 5;
const KIND_ENUM: u8 = 6;
const KIND_FWD: u8 = 7;
const KIND_TYPEDEF: u8 = 8;
const KIND_VOLATILE: u8 = 9;
const KIND_CONST: u8 = 10;
const KIND_RESTRICT: u8 = 11;
const KIND_FUNC: u8 = 12;
const KIND_FUNC_PROTO: u8 = 13;
const KIND_VAR: u8 = 14;
const KIND_DATASEC: u8 = 15;
const KIND_FLOAT: u8 = 16;
const KIND_DECL_TAG: u8 = 17;
const KIND_TYPE_TAG: u8 = 18;
const KIND_ENUM64: u8 = 19;

/// Bound on typedef/modifier chains, array nesting and anonymous-member
/// nesting. Real kernel types stay far below it; it keeps cyclic (corrupt)
/// BTF from recursing forever.
const MAX_DEPTH: u32 = 32;
/// Bound on members examined by one lookup, so crafted BTF whose anonymous
/// members share sub-types cannot make a lookup take exponential time.
const MAX_MEMBER_VISITS: u32 = 1 << 20;

/// Errors from parsing BTF or resolving a lookup. In the member-path
/// variants, `path` is the part of the requested path up to the element at
/// fault (e.g. `__sk_common.skc_nmu` for a misspelt last element).
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("cannot read BTF file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid BTF file {path}: {source}")]
    File {
        path: PathBuf,
        source: Box<BtfError>,
    },
    #[error("BTF truncated: {what} needs {need} bytes at offset {offset} of {len}")]
    Truncated {
        what: &'static str,
        offset: usize,
        need: usize,
        len: usize,
    },
    #[error("bad BTF magic {magic:#06x} (only little-endian BTF, 0xeb9f, is supported)")]
    BadMagic { magic: u16 },
    #[error("unsupported BTF version {version}")]
    BadVersion { version: u8 },
    #[error("invalid BTF header: {reason}")]
    BadHeader { reason: &'static str },
    #[error("BTF type {id} has unknown kind {kind}")]
    UnknownKind { id: u32, kind: u8 },
    #[error("BTF type id {id} does not exist")]
    BadTypeId { id: u32 },
    #[error("BTF string offset {offset} is out of range or unterminated")]
    BadString { offset: u32 },
    #[error("no struct/union (or, for sizes, typedef/enum) `{name}` in BTF")]
    TypeNotFound { name: String },
    #[error("invalid member path `{path}` for `{strukt}`")]
    BadPath { strukt: String, path: String },
    #[error("no member `{strukt}.{path}` in BTF")]
    MemberNotFound { strukt: String, path: String },
    #[error("`{strukt}.{path}` is not a struct/union, cannot look up members in it")]
    NotComposite { strukt: String, path: String },
    #[error("`{strukt}.{path}` is a bitfield and has no byte offset")]
    Bitfield { strukt: String, path: String },
    #[error("`{strukt}.{path}` is at bit {bit_offset}, not on a byte boundary")]
    NotByteAligned {
        strukt: String,
        path: String,
        bit_offset: u64,
    },
    #[error("offset of `{strukt}.{path}` overflows")]
    OffsetOverflow { strukt: String, path: String },
    #[error("BTF type {id} nests too deeply or too widely (cyclic BTF?)")]
    TooDeep { id: u32 },
    #[error("BTF type {id} ({kind}) has no size")]
    NoSize { id: u32, kind: &'static str },
    #[error("size of BTF type {id} overflows u32")]
    SizeOverflow { id: u32 },
}

type Result<T> = std::result::Result<T, BtfError>;

fn truncated(what: &'static str, offset: usize, need: usize, len: usize) -> BtfError {
    BtfError::Truncated {
        what,
        offset,
        need,
        len,
    }
}

fn bad_header(reason: &'static str) -> BtfError {
    BtfError::BadHeader { reason }
}

/// Decoded `struct btf_type` header; trailing data stays in `Layer::types`.
#[derive(Debug, Clone, Copy, Default)]
struct TypeRec {
    name_off: u32,
    info: u32,
    size_or_type: u32,
    data_off: u32,
}

impl TypeRec {
    fn kind(&self) -> u8 {
        ((self.info >> 24) & 0x1f) as u8
    }
    fn vlen(&self) -> usize {
        (self.info & 0xffff) as usize
    }
    fn kflag(&self) -> bool {
        self.info >> 31 == 1
    }
}

/// One BTF blob: vmlinux, or a split (module) blob stacked on top of it.
/// Split blobs number their types and strings after those of the layers below.
#[derive(Debug)]
struct Layer {
    first_id: u32,
    str_base: u32,
    recs: Vec<TypeRec>,
    types: Vec<u8>,
    strings: Vec<u8>,
    /// Named STRUCT/UNION/TYPEDEF/ENUM/ENUM64 ids in id order: the only kinds
    /// looked up by name, and indexing only them keeps start-up cheap.
    by_name: HashMap<Box<[u8]>, Vec<u32>>,
}

/// Parsed BTF. Cloning is cheap (layers are shared), which lets split BTF
/// reference its base without copying vmlinux's data.
#[derive(Debug, Clone)]
pub struct Btf {
    layers: Vec<Arc<Layer>>,
}

/// A type with its trailing data; the default (kind 0) is id 0, `void`.
#[derive(Default)]
struct Ty<'a> {
    rec: TypeRec,
    data: &'a [u8],
}

struct Member {
    name_off: u32,
    type_id: u32,
    bit_offset: u32,
    bitfield_size: u32,
}

/// What went wrong with a member path; see [`path_error`].
enum Fault {
    BadPath,
    NotComposite,
    MemberNotFound,
    Bitfield,
    Overflow,
}

fn path_error(fault: Fault, strukt: &str, path: &str) -> BtfError {
    let (strukt, path) = (strukt.to_owned(), path.to_owned());
    match fault {
        Fault::BadPath => BtfError::BadPath { strukt, path },
        Fault::NotComposite => BtfError::NotComposite { strukt, path },
        Fault::MemberNotFound => BtfError::MemberNotFound { strukt, path },
        Fault::Bitfield => BtfError::Bitfield { strukt, path },
        Fault::Overflow => BtfError::OffsetOverflow { strukt, path },
    }
}

fn read_u32(buf: &[u8], offset: usize, what: &'static str) -> Result<u32> {
    offset
        .checked_add(4)
        .and_then(|end| buf.get(offset..end))
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .ok_or(truncated(what, offset, 4, buf.len()))
}

/// Size of the kind-specific data following a `btf_type`; None for unknown kinds.
fn trailing_len(kind: u8, vlen: usize) -> Option<usize> {
    Some(match kind {
        KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
        KIND_ARRAY => 12,
        KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * vlen,
        KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen,
        KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
        | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => 0,
        _ => return None,
    })
}

fn kind_name(kind: u8) -> &'static str {
    "void int ptr array struct union enum fwd typedef volatile const restrict func func_proto \
     var datasec float decl_tag type_tag enum64"
        .split_whitespace()
        .nth(usize::from(kind))
        .unwrap_or("unknown")
}

/// The part of `body` (the data after the header) whose offset and length
/// sit at `field` in the header.
fn section<'a>(hdr: &[u8], body: &'a [u8], field: usize, what: &'static str) -> Result<&'a [u8]> {
    let off = read_u32(hdr, field, what)? as usize;
    let len = read_u32(hdr, field + 4, what)? as usize;
    let end = off.checked_add(len);
    (end.and_then(|end| body.get(off..end))).ok_or(truncated(what, off, len, body.len()))
}

/// Looks a string up in `top` or, for smaller offsets, in the layers below.
fn str_in<'a>(base: &'a [Arc<Layer>], top: &'a Layer, offset: u32) -> Result<&'a [u8]> {
    let mut layers = std::iter::once(top).chain(base.iter().rev().map(|l| &**l));
    (layers.find(|l| offset >= l.str_base))
        .and_then(|l| l.strings.get((offset - l.str_base) as usize..))
        .and_then(|tail| tail.get(..tail.iter().position(|&b| b == 0)?))
        .ok_or(BtfError::BadString { offset })
}

fn parse_layer(data: &[u8], base: &[Arc<Layer>], first_id: u32, str_base: u32) -> Result<Layer> {
    let hdr = data
        .get(..HEADER_LEN)
        .ok_or(truncated("header", 0, HEADER_LEN, data.len()))?;
    let magic = u16::from_le_bytes([hdr[0], hdr[1]]);
    if magic != MAGIC {
        return Err(BtfError::BadMagic { magic });
    }
    if hdr[2] != 1 {
        return Err(BtfError::BadVersion { version: hdr[2] });
    }
    // Newer kernels may grow the header; hdr_len tells where the sections start.
    let hdr_len = read_u32(hdr, 4, "hdr_len")? as usize;
    let body = (data.get(hdr_len..))
        .filter(|_| hdr_len >= HEADER_LEN)
        .ok_or(bad_header("hdr_len out of range"))?;
    let types = section(hdr, body, 8, "type section")?;
    let strings = section(hdr, body, 16, "string section")?;
    if strings.last().is_some_and(|&b| b != 0) {
        return Err(bad_header("string section not NUL terminated"));
    }
    // Offset 0 must be the empty name; split BTF inherits it from its base.
    if base.is_empty() && strings.first() != Some(&0) {
        return Err(bad_header("string section must start with NUL"));
    }
    if str_base.checked_add(strings.len() as u32).is_none() {
        return Err(bad_header("string offsets overflow"));
    }
    let mut recs = Vec::with_capacity(types.len() / 16);
    let mut off = 0;
    while off < types.len() {
        let id = first_id
            .checked_add(recs.len() as u32)
            .ok_or(bad_header("type ids overflow"))?;
        let rec = TypeRec {
            name_off: read_u32(types, off, "btf_type")?,
            info: read_u32(types, off + 4, "btf_type")?,
            size_or_type: read_u32(types, off + 8, "btf_type")?,
            data_off: (off + TYPE_HDR_LEN) as u32,
        };
        let kind = rec.kind();
        let need = trailing_len(kind, rec.vlen()).ok_or(BtfError::UnknownKind { id, kind })?;
        let end = off + TYPE_HDR_LEN + need;
        if end > types.len() {
            return Err(truncated("type data", off, end - off, types.len()));
        }
        recs.push(rec);
        off = end;
    }
    let strings = strings.to_vec();
    let mut layer = Layer {
        first_id,
        str_base,
        recs,
        types: types.to_vec(),
        strings,
        by_name: HashMap::new(),
    };
    let mut by_name: HashMap<Box<[u8]>, Vec<u32>> = HashMap::new();
    for (id, rec) in (first_id..).zip(&layer.recs) {
        let indexed = matches!(
            rec.kind(),
            KIND_STRUCT | KIND_UNION | KIND_TYPEDEF | KIND_ENUM | KIND_ENUM64
        );
        if rec.name_off == 0 || !indexed {
            continue;
        }
        let name = str_in(base, &layer, rec.name_off)?;
        by_name.entry(Box::from(name)).or_default().push(id);
    }
    layer.by_name = by_name;
    Ok(layer)
}

impl Btf {
    /// Parses base (vmlinux-style) BTF.
    pub fn from_bytes(data: &[u8]) -> Result<Btf> {
        let layer = parse_layer(data, &[], 1, 0)?;
        Ok(Btf {
            layers: vec![Arc::new(layer)],
        })
    }

    /// Reads and parses base BTF from `path`; errors name the path.
    pub fn from_file(path: &Path) -> Result<Btf> {
        let data = std::fs::read(path).map_err(|source| BtfError::Io {
            path: path.into(),
            source,
        })?;
        Self::from_bytes(&data).map_err(|e| BtfError::File {
            path: path.into(),
            source: Box::new(e),
        })
    }

    /// Parses split BTF (e.g. a module's) whose type ids and string offsets
    /// continue after those of `base`.
    pub fn from_split_bytes(base: &Btf, data: &[u8]) -> Result<Btf> {
        let next = |top: &Arc<Layer>| {
            let id = top.first_id.checked_add(top.recs.len() as u32)?;
            Some((id, top.str_base.checked_add(top.strings.len() as u32)?))
        };
        let (first_id, str_base) = match base.layers.last() {
            Some(top) => next(top).ok_or(bad_header("split BTF ids or strings overflow"))?,
            None => (1, 0),
        };
        let layer = parse_layer(data, &base.layers, first_id, str_base)?;
        let mut layers = base.layers.clone();
        layers.push(Arc::new(layer));
        Ok(Btf { layers })
    }

    /// Byte offset of a dotted member path (e.g. `"__sk_common.skc_num"`)
    /// from the start of struct/union `strukt` (or a typedef of one). Members
    /// of anonymous structs/unions are found as if they were direct members.
    pub fn member_offset(&self, strukt: &str, path: &str) -> Result<u32> {
        let (bit_offset, _) = self.resolve(strukt, path)?;
        let (strukt, path) = (strukt.to_owned(), path.to_owned());
        if bit_offset % 8 != 0 {
            return Err(BtfError::NotByteAligned {
                strukt,
                path,
                bit_offset,
            });
        }
        u32::try_from(bit_offset / 8).map_err(|_| BtfError::OffsetOverflow { strukt, path })
    }

    /// Like [`Btf::member_offset`], but a missing struct or member is
    /// `Ok(None)`, for fields that only some kernels have.
    pub fn try_member_offset(&self, strukt: &str, path: &str) -> Result<Option<u32>> {
        match self.member_offset(strukt, path) {
            Ok(off) => Ok(Some(off)),
            Err(BtfError::TypeNotFound { .. } | BtfError::MemberNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Size in bytes of the named struct/union (or typedef/enum).
    pub fn type_size(&self, name: &str) -> Result<u32> {
        let id = self
            .find_named(name)?
            .ok_or_else(|| BtfError::TypeNotFound { name: name.into() })?;
        self.size_of(id, 0)
    }

    /// Size in bytes of the type of a member path. Pointers are taken to be
    /// host-sized: the BTF always describes the kernel the sensor runs on.
    pub fn member_size(&self, strukt: &str, path: &str) -> Result<u32> {
        let (_, type_id) = self.resolve(strukt, path)?;
        self.size_of(type_id, 0)
    }

    /// Value of `enumerator` in the enum named `enum_name`; Ok(None) if either
    /// is absent. Unsigned 64-bit values above `i64::MAX` wrap, as in C.
    pub fn enum_value(&self, enum_name: &str, enumerator: &str) -> Result<Option<i64>> {
        for id in self.named(enum_name) {
            let t = self.ty(id)?;
            let (kind, stride) = match t.rec.kind() {
                KIND_ENUM => (KIND_ENUM, 8),
                KIND_ENUM64 => (KIND_ENUM64, 12),
                _ => continue,
            };
            for at in (0..t.rec.vlen()).map(|i| i * stride) {
                if self.name(read_u32(t.data, at, "btf_enum")?)? != enumerator.as_bytes() {
                    continue;
                }
                let lo = read_u32(t.data, at + 4, "btf_enum")?;
                // kind_flag marks a signed enum.
                return Ok(Some(match (kind, t.rec.kflag()) {
                    (KIND_ENUM, true) => i64::from(lo as i32),
                    (KIND_ENUM, false) => i64::from(lo),
                    _ => {
                        (u64::from(read_u32(t.data, at + 8, "btf_enum64")?) << 32 | u64::from(lo))
                            as i64
                    }
                }));
            }
        }
        Ok(None)
    }

    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = u32> + 'a {
        let ids = move |l: &'a Arc<Layer>| l.by_name.get(name.as_bytes());
        self.layers.iter().filter_map(ids).flatten().copied()
    }

    fn name(&self, offset: u32) -> Result<&[u8]> {
        let (top, base) = self
            .layers
            .split_last()
            .ok_or(BtfError::BadString { offset })?;
        str_in(base, top, offset)
    }

    fn ty(&self, id: u32) -> Result<Ty<'_>> {
        if id == 0 {
            return Ok(Ty::default());
        }
        let layer = self.layers.iter().rev().find(|l| id >= l.first_id);
        let rec = *layer
            .and_then(|l| l.recs.get((id - l.first_id) as usize))
            .ok_or(BtfError::BadTypeId { id })?;
        let (kind, start) = (rec.kind(), rec.data_off as usize);
        let len = trailing_len(kind, rec.vlen()).ok_or(BtfError::UnknownKind { id, kind })?;
        let types = layer.map_or(&[][..], |l| &l.types[..]);
        let data = start
            .checked_add(len)
            .and_then(|end| types.get(start..end))
            .ok_or(truncated("type data", start, len, types.len()))?;
        Ok(Ty { rec, data })
    }

    fn member(t: &Ty<'_>, i: usize) -> Result<Member> {
        let field = |n| read_u32(t.data, i * 12 + n, "btf_member");
        let (name_off, type_id, raw) = (field(0)?, field(4)?, field(8)?);
        // With kind_flag the offset packs bitfield_size << 24 | bit_offset.
        let (bit_offset, bitfield_size) = match t.rec.kflag() {
            true => (raw & 0xff_ffff, raw >> 24),
            false => (raw, 0),
        };
        Ok(Member {
            name_off,
            type_id,
            bit_offset,
            bitfield_size,
        })
    }

    /// Follows typedef/const/volatile/restrict/type_tag to the real type.
    fn skip_mods(&self, mut id: u32) -> Result<u32> {
        for _ in 0..MAX_DEPTH {
            let rec = self.ty(id)?.rec;
            match rec.kind() {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = rec.size_or_type
                }
                _ => return Ok(id),
            }
        }
        Err(BtfError::TooDeep { id })
    }

    fn is_composite(&self, id: u32) -> Result<bool> {
        Ok(matches!(self.ty(id)?.rec.kind(), KIND_STRUCT | KIND_UNION))
    }

    /// Best type for a name: a struct/union with members (vmlinux can also
    /// hold empty duplicates), else an empty one, else a typedef, else an enum.
    fn find_named(&self, name: &str) -> Result<Option<u32>> {
        let mut best: Option<(u8, u32)> = None;
        for id in self.named(name) {
            let rec = self.ty(id)?.rec;
            let rank = match rec.kind() {
                KIND_STRUCT | KIND_UNION if rec.vlen() > 0 => return Ok(Some(id)),
                KIND_STRUCT | KIND_UNION => 1,
                KIND_TYPEDEF => 2,
                _ => 3,
            };
            if best.is_none_or(|(r, _)| rank < r) {
                best = Some((rank, id));
            }
        }
        Ok(best.map(|(_, id)| id))
    }

    fn size_of(&self, id: u32, depth: u32) -> Result<u32> {
        if depth > MAX_DEPTH {
            return Err(BtfError::TooDeep { id });
        }
        let id = self.skip_mods(id)?;
        let t = self.ty(id)?;
        match t.rec.kind() {
            KIND_INT | KIND_ENUM | KIND_ENUM64 | KIND_STRUCT | KIND_UNION | KIND_FLOAT
            | KIND_DATASEC => Ok(t.rec.size_or_type),
            KIND_PTR => Ok(size_of::<usize>() as u32),
            KIND_ARRAY => {
                let elem = self.size_of(read_u32(t.data, 0, "btf_array")?, depth + 1)?;
                let n = read_u32(t.data, 8, "btf_array")?;
                elem.checked_mul(n).ok_or(BtfError::SizeOverflow { id })
            }
            kind => Err(BtfError::NoSize {
                id,
                kind: kind_name(kind),
            }),
        }
    }

    /// Legacy (kind_flag = 0) bitfields are INTs whose bit width or bit
    /// offset differs from a whole, aligned integer.
    fn is_int_bitfield(&self, id: u32) -> Result<bool> {
        let t = self.ty(self.skip_mods(id)?)?;
        if t.rec.kind() != KIND_INT {
            return Ok(false);
        }
        let enc = read_u32(t.data, 0, "int encoding")?;
        Ok(enc & 0xff != t.rec.size_or_type.wrapping_mul(8) || (enc >> 16) & 0xff != 0)
    }

    /// Finds `name` among the members of struct/union `id`, searching inside
    /// anonymous struct/union members in declaration order (C semantics).
    /// Returns the member, its bit offset from the start of `id` and whether
    /// it is a bitfield.
    fn find_member(
        &self,
        id: u32,
        name: &[u8],
        depth: u32,
        budget: &mut u32,
    ) -> Result<Option<(Member, u64, bool)>> {
        if depth > MAX_DEPTH {
            return Err(BtfError::TooDeep { id });
        }
        let t = self.ty(id)?;
        for i in 0..t.rec.vlen() {
            *budget = budget.checked_sub(1).ok_or(BtfError::TooDeep { id })?;
            let m = Self::member(&t, i)?;
            let mname = self.name(m.name_off)?;
            let bits = u64::from(m.bit_offset);
            if mname == name {
                // Without kind_flag, bitfields are INTs narrower than their storage.
                let bitfield =
                    m.bitfield_size != 0 || (!t.rec.kflag() && self.is_int_bitfield(m.type_id)?);
                return Ok(Some((m, bits, bitfield)));
            }
            if mname.is_empty()
                && let inner = self.skip_mods(m.type_id)?
                && self.is_composite(inner)?
                && let Some((found, off, bf)) = self.find_member(inner, name, depth + 1, budget)?
            {
                return Ok(Some((found, off + bits, bf)));
            }
        }
        Ok(None)
    }

    /// Walks `path` from `strukt`; returns (bit offset, type id) of the last element.
    fn resolve(&self, strukt: &str, path: &str) -> Result<(u64, u32)> {
        let not_found = || BtfError::TypeNotFound {
            name: strukt.into(),
        };
        let mut id = self.skip_mods(self.find_named(strukt)?.ok_or_else(not_found)?)?;
        if !self.is_composite(id)? {
            return Err(not_found());
        }
        // Path errors name the path up to the offending element.
        let fail = |fault, end| path_error(fault, strukt, path.get(..end).unwrap_or(path));
        if path.split('.').any(str::is_empty) {
            return Err(fail(Fault::BadPath, path.len()));
        }
        let (mut budget, mut bit_offset, mut walked) = (MAX_MEMBER_VISITS, 0u64, 0);
        for elem in path.split('.') {
            if walked > 0 && !self.is_composite(id)? {
                return Err(fail(Fault::NotComposite, walked));
            }
            let found = self.find_member(id, elem.as_bytes(), 0, &mut budget)?;
            walked += elem.len() + usize::from(walked > 0);
            let (m, bits, bitfield) = found.ok_or_else(|| fail(Fault::MemberNotFound, walked))?;
            if bitfield {
                return Err(fail(Fault::Bitfield, walked));
            }
            bit_offset = bit_offset
                .checked_add(bits)
                .ok_or_else(|| fail(Fault::Overflow, walked))?;
            id = self.skip_mods(m.type_id)?;
        }
        Ok((bit_offset, id))
    }
}

#[cfg(test)]
#[path = "btf_tests.rs"]
mod tests;
