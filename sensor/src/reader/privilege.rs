//! Privilege records (`lanner_common::PrivRecord`) to [`Privilege`] events.

use lanner_common::{PRIV_HEAD_SIZE, PRIV_RECORD_SIZE, PrivHead, PrivOp, PrivRecord, priv_flags};

use super::decode::{DecodeError, read, text};
use crate::event::{Caps, PrivCall, Privilege};

/// A privilege record of header variant `variant`: the module loaders send their string, the
/// others only the head.
pub(super) fn decode(variant: u32, bytes: &[u8]) -> Result<Privilege, DecodeError> {
    let op = PrivOp::from_u32(variant).ok_or(DecodeError::UnknownVariant {
        what: "privilege",
        variant,
    })?;
    let (min, what) = if op.has_text() {
        (PRIV_RECORD_SIZE, "module record")
    } else {
        (PRIV_HEAD_SIZE, "privilege record")
    };
    let r = read::<PrivRecord>(bytes, min, what)?;
    let text_buf: &[u8] = if op.has_text() { &r.text } else { &[] };
    privilege(&r, op, text_buf)
}

/// `text_buf` is the record's string buffer: the whole one for the ops that send it, else
/// empty.
fn privilege(r: &PrivHead, op: PrivOp, text_buf: &[u8]) -> Result<Privilege, DecodeError> {
    let [a0, a1, a2, _] = r.args;
    // Arguments are C ints and unsigned ints in 64-bit slots: the low half is the value.
    let (int, uint) = (|a: u64| a as i32, |a: u64| a as u32);
    let uargs = || text(r.text_f, text_buf, "uargs");
    let call = match op {
        PrivOp::Ptrace => PrivCall::Ptrace {
            request: a0,
            pid: int(a1),
        },
        PrivOp::Setuid => PrivCall::Setuid { uid: uint(a0) },
        PrivOp::Setns => PrivCall::Setns {
            fd: int(a0),
            nstype: uint(a1),
        },
        PrivOp::Unshare => PrivCall::Unshare { flags: uint(a0) },
        PrivOp::InitModule => PrivCall::InitModule {
            length: a1,
            uargs: uargs()?,
        },
        PrivOp::FinitModule => PrivCall::FinitModule {
            fd: int(a0),
            uargs: uargs()?,
            flags: uint(a2),
        },
        PrivOp::Bpf => PrivCall::Bpf { cmd: int(a0) },
        PrivOp::Userfaultfd => PrivCall::Userfaultfd { flags: uint(a0) },
    };
    Ok(Privilege {
        ret: r.ret,
        caps: (r.priv_flags & priv_flags::CAPS_KNOWN != 0).then_some(Caps {
            effective: r.cap_effective,
            permitted: r.cap_permitted,
        }),
        call,
    })
}

#[cfg(test)]
#[path = "privilege_tests.rs"]
mod tests;
