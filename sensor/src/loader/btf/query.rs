//! Lookups over parsed BTF: member offsets and sizes along dotted paths,
//! type sizes, and enum values — what `offsets` asks to lay out the kernel
//! structs for the eBPF programs.
//!
//! Separate from the parser in `btf.rs`, which only decodes and indexes the
//! blobs: everything here walks the already-validated records through the
//! parser's accessors (`ty`, `name`, `named`). The walks follow type chains
//! that corrupt BTF could make cyclic or exponentially wide, so they are
//! bounded by [`MAX_DEPTH`] and [`MAX_MEMBER_VISITS`].

use super::error::{Fault, Result, path_error};
use super::{
    Btf, BtfError, KIND_ARRAY, KIND_CONST, KIND_DATASEC, KIND_ENUM, KIND_ENUM64, KIND_FLOAT,
    KIND_INT, KIND_PTR, KIND_RESTRICT, KIND_STRUCT, KIND_TYPE_TAG, KIND_TYPEDEF, KIND_UNION,
    KIND_VOLATILE, Ty, kind_name, read_u32,
};

/// Bound on typedef/modifier chains, array nesting and anonymous-member
/// nesting. Real kernel types stay far below it; it keeps cyclic (corrupt)
/// BTF from recursing forever.
const MAX_DEPTH: u32 = 32;
/// Bound on members examined by one lookup, so crafted BTF whose anonymous
/// members share sub-types cannot make a lookup take exponential time.
const MAX_MEMBER_VISITS: u32 = 1 << 20;

struct Member {
    name_off: u32,
    type_id: u32,
    bit_offset: u32,
    bitfield_size: u32,
}

impl Btf {
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
    pub(super) fn find_named(&self, name: &str) -> Result<Option<u32>> {
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
