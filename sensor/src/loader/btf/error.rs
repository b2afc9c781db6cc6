//! Errors of the BTF reader ([`BtfError`]) and the small constructors the
//! parser and the lookups share to build them.
//!
//! Kept apart from the parser so the error vocabulary reads in one place:
//! every way untrusted BTF can be malformed, and every way a member path or
//! type name can fail to resolve, is a variant here rather than a panic.

use std::path::PathBuf;

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

pub(super) type Result<T> = std::result::Result<T, BtfError>;

pub(super) fn truncated(what: &'static str, offset: usize, need: usize, len: usize) -> BtfError {
    BtfError::Truncated {
        what,
        offset,
        need,
        len,
    }
}

pub(super) fn bad_header(reason: &'static str) -> BtfError {
    BtfError::BadHeader { reason }
}

/// What went wrong with a member path; see [`path_error`].
pub(super) enum Fault {
    BadPath,
    NotComposite,
    MemberNotFound,
    Bitfield,
    Overflow,
}

pub(super) fn path_error(fault: Fault, strukt: &str, path: &str) -> BtfError {
    let (strukt, path) = (strukt.to_owned(), path.to_owned());
    match fault {
        Fault::BadPath => BtfError::BadPath { strukt, path },
        Fault::NotComposite => BtfError::NotComposite { strukt, path },
        Fault::MemberNotFound => BtfError::MemberNotFound { strukt, path },
        Fault::Bitfield => BtfError::Bitfield { strukt, path },
        Fault::Overflow => BtfError::OffsetOverflow { strukt, path },
    }
}
