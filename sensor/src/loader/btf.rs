//! Minimal, bounds-checked reader for the kernel's raw BTF format.
//!
//! rustc emits no CO-RE relocations for BPF targets, so the sensor resolves
//! kernel struct layouts itself: it reads the running kernel's BTF
//! (`/sys/kernel/btf/vmlinux`, plus split module BTF such as
//! `/sys/kernel/btf/overlay`) at load time and hands the offsets to the eBPF
//! programs as globals.
//!
//! This file is the parser: header, layers (base and split BTF), type
//! records and the string table, plus the raw accessors the lookups build on.
//! The error type lives in `btf/error.rs`; the queries (member paths, sizes,
//! enum values) in `btf/query.rs`.
//!
//! The input is treated as untrusted: every read is bounds checked, nesting is
//! bounded, and malformed data yields a [`BtfError`] instead of a panic. Only
//! little-endian BTF (magic `0xeb9f` read as LE) is accepted, which covers
//! every host the sensor runs on.

mod error;
mod query;

pub use error::BtfError;
use error::{Result, bad_header, truncated};

use std::collections::HashMap;
use std::path::Path;
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

    // Raw accessors the lookups in `btf/query.rs` walk the records with.

    /// Ids of the indexed types called `name`, base layer first.
    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = u32> + 'a {
        let ids = move |l: &'a Arc<Layer>| l.by_name.get(name.as_bytes());
        self.layers.iter().filter_map(ids).flatten().copied()
    }

    /// The NUL-free string at `offset` in the combined string table.
    fn name(&self, offset: u32) -> Result<&[u8]> {
        let (top, base) = self
            .layers
            .split_last()
            .ok_or(BtfError::BadString { offset })?;
        str_in(base, top, offset)
    }

    /// Type `id` with its trailing data, from whichever layer holds it.
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
}

#[cfg(test)]
#[path = "btf_tests.rs"]
mod tests;
