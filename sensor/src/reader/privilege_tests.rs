//! Privilege records as the kernel sends them (head only, or whole for the module loaders),
//! then cut short, mislabelled and with what the kernel could not read.

use lanner_common::{
    EventKind, Header, PRIV_HEAD_SIZE, PRIV_RECORD_SIZE, PrivOp, PrivRecord, StrField, field_flags,
    priv_flags,
};

use super::super::decode::{DecodeError, bytes_of, decode, zeroed};
use crate::event::{Body, Caps, PrivCall, Privilege};

fn record(op: PrivOp, ret: i64, args: [u64; 4]) -> Box<PrivRecord> {
    let mut r = zeroed::<PrivRecord>();
    r.header = Header {
        kind: EventKind::Privilege as u32,
        variant: op as u32,
        pid: 300,
        tid: 301,
        uid: 1000,
        ..*zeroed::<Header>()
    };
    r.header.comm[..3].copy_from_slice(b"gdb");
    r.header.cgroup_flags = field_flags::ABSENT;
    (r.ret, r.args) = (ret, args);
    (r.cap_effective, r.cap_permitted) = (1 << 19, (1 << 19) | (1 << 21));
    r.priv_flags = priv_flags::CAPS_KNOWN;
    r.head.text_f = StrField {
        len: 0,
        flags: field_flags::ABSENT,
    };
    r
}

/// What the kernel sends: the head, or the whole record for the module loaders.
fn sent(r: &PrivRecord) -> Vec<u8> {
    let bytes = bytes_of(r);
    let op = PrivOp::from_u32(r.header.variant).unwrap();
    let n = if op.has_text() {
        PRIV_RECORD_SIZE
    } else {
        PRIV_HEAD_SIZE
    };
    bytes[..n].to_vec()
}

fn privilege(bytes: &[u8]) -> Privilege {
    match decode(bytes, false).unwrap().body {
        Body::Privilege(p) => p,
        other => panic!("not a privilege event: {other:?}"),
    }
}

#[test]
fn each_call_decodes_its_arguments_from_the_head() {
    let cases = [
        (
            PrivOp::Ptrace,
            [16, 4242, 0x7fff_0000, 0],
            PrivCall::Ptrace {
                request: 16,
                pid: 4242,
            },
        ),
        (
            PrivOp::Setuid,
            [65534, 0, 0, 0],
            PrivCall::Setuid { uid: 65534 },
        ),
        // A C int in a 64-bit slot: the low half (-1 passed as an int).
        (
            PrivOp::Setuid,
            [u64::MAX, 0, 0, 0],
            PrivCall::Setuid { uid: u32::MAX },
        ),
        (
            PrivOp::Setns,
            [3, 0x4000_0000, 0, 0],
            PrivCall::Setns {
                fd: 3,
                nstype: 0x4000_0000,
            },
        ),
        (
            PrivOp::Unshare,
            [0x1002_0000, 0, 0, 0],
            PrivCall::Unshare { flags: 0x1002_0000 },
        ),
        (PrivOp::Bpf, [5, 0xdead, 144, 0], PrivCall::Bpf { cmd: 5 }),
        (
            PrivOp::Userfaultfd,
            [0x80801, 0, 0, 0],
            PrivCall::Userfaultfd { flags: 0x80801 },
        ),
    ];
    for (op, args, call) in cases {
        let bytes = sent(&record(op, 0, args));
        assert_eq!(
            bytes.len(),
            PRIV_HEAD_SIZE,
            "{op:?} is sent without its string"
        );
        let p = privilege(&bytes);
        assert_eq!(p.call, call, "{op:?}");
        assert_eq!(p.ret, 0);
        assert_eq!(
            p.caps,
            Some(Caps {
                effective: 1 << 19,
                permitted: (1 << 19) | (1 << 21)
            })
        );
        assert_eq!(p.uargs(), None);
    }
}

#[test]
fn module_loads_carry_their_parameters_flagged_when_cut() {
    let mut r = record(PrivOp::InitModule, -8, [0x5000, 4096, 0x6000, 0]);
    r.text[..7].copy_from_slice(b"debug=1");
    r.head.text_f = StrField { len: 7, flags: 0 };
    let p = privilege(&sent(&r));
    let PrivCall::InitModule { length, uargs } = &p.call else {
        panic!("{p:?}")
    };
    assert_eq!((*length, uargs.value.as_deref()), (4096, Some("debug=1")));
    assert!(!uargs.truncated);

    let mut r = record(PrivOp::FinitModule, 0, [5, 0x6000, 3, 0]);
    r.text.fill(b'a');
    r.head.text_f = StrField {
        len: (r.text.len() - 1) as u16,
        flags: field_flags::TRUNCATED,
    };
    let p = privilege(&sent(&r));
    let PrivCall::FinitModule { fd, uargs, flags } = &p.call else {
        panic!("{p:?}")
    };
    assert_eq!((*fd, *flags), (5, 3));
    assert!(uargs.truncated, "a cut string is flagged");
    assert_eq!(
        uargs.value.as_ref().map(String::len),
        Some(r.text.len() - 1)
    );

    // Unreadable parameters: no value, never an empty string passed off as read.
    let mut r = record(PrivOp::FinitModule, -1, [5, 0x6000, 0, 0]);
    r.head.text_f = StrField {
        len: 0,
        flags: field_flags::READ_FAILED,
    };
    assert_eq!(privilege(&sent(&r)).uargs().unwrap().value, None);
}

#[test]
fn unreadable_capabilities_are_none_not_zero() {
    let mut r = record(PrivOp::Unshare, 0, [0x1000_0000, 0, 0, 0]);
    r.priv_flags = 0;
    assert_eq!(privilege(&sent(&r)).caps, None);
}

#[test]
fn short_mislabelled_and_overlong_records_are_errors() {
    let r = record(PrivOp::Ptrace, 0, [16, 1, 0, 0]);
    let bytes = sent(&r);
    assert!(matches!(
        decode(&bytes[..PRIV_HEAD_SIZE - 1], false),
        Err(DecodeError::Short { .. })
    ));
    // A module load sent without its string.
    let mut m = record(PrivOp::InitModule, 0, [0, 1, 0, 0]);
    m.head.text_f = StrField { len: 3, flags: 0 };
    let whole = sent(&m);
    assert!(matches!(
        decode(&whole[..PRIV_HEAD_SIZE], false),
        Err(DecodeError::Short { .. })
    ));
    // A string length past its buffer.
    m.head.text_f.len = u16::MAX;
    assert!(matches!(
        decode(&sent(&m), false),
        Err(DecodeError::FieldLength { .. })
    ));
    let mut bad = record(PrivOp::Ptrace, 0, [0; 4]);
    bad.header.variant = 99;
    assert_eq!(
        decode(&sent_as_head(&bad), false).unwrap_err(),
        DecodeError::UnknownVariant {
            what: "privilege",
            variant: 99
        }
    );
}

fn sent_as_head(r: &PrivRecord) -> Vec<u8> {
    bytes_of(r)[..PRIV_HEAD_SIZE].to_vec()
}
