//! Decoder tests: real record layouts built here, then truncated, corrupted and garbage input.

use lanner_common::{
    ConnectRecord, EventKind, ExecRecord, Header, MountRecord, PathField, field_flags,
};

use super::*;

fn header(kind: EventKind, variant: u32) -> Header {
    let mut comm = [0u8; 16];
    comm[..4].copy_from_slice(b"bash");
    let mut cgroup = [0u8; lanner_common::CGROUP_NAME_LEN];
    cgroup[..10].copy_from_slice(b"test.scope");
    Header {
        kind: kind as u32,
        variant,
        ktime_ns: 42,
        pid: 100,
        tid: 101,
        uid: 1000,
        gid: 1000,
        cgroup_id: 7,
        comm,
        cgroup,
        cgroup_flags: 0,
        _pad: [0; 6],
    }
}

fn bytes_of<T: Plain>(v: &T) -> Vec<u8> {
    // SAFETY: T is Plain (no padding holes with undefined bytes matter for a byte copy here:
    // every wire struct has explicit padding fields).
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
}

fn exec_record() -> Box<ExecRecord> {
    // SAFETY: ExecRecord is Plain, all-zero is valid.
    let mut r: Box<ExecRecord> = unsafe { Box::new_zeroed().assume_init() };
    r.header = header(EventKind::Exec, 0);
    let put = |buf: &mut [u8], s: &[u8]| -> StrField {
        buf[..s.len()].copy_from_slice(s);
        StrField {
            len: s.len() as u16,
            flags: 0,
        }
    };
    r.filename_f = put(&mut r.filename, b"/bin/ls");
    let walked = |f: StrField| PathField {
        len: f.len,
        ..PathField::default()
    };
    // Leaf first, as the kernel walk writes it.
    r.exepath_f = walked(put(&mut r.exepath, b"ls\0bin\0usr\0"));
    r.cwd_f = walked(put(&mut r.cwd, b""));
    r.argv_f = put(&mut r.argv, b"ls\0-la\0/tmp\0");
    r.env_f = StrField {
        len: 0,
        flags: field_flags::ABSENT,
    };
    r.exec_flags = lanner_common::EXEC_VPID_KNOWN | lanner_common::EXEC_TTY_KNOWN;
    r.vpid = 1;
    r
}

#[test]
fn exec_record_decodes_paths_argv_and_identity() {
    let ev = decode(&bytes_of(&*exec_record()), false).unwrap();
    assert_eq!(&*ev.task.comm, "bash");
    assert_eq!(ev.task.cgroup.as_deref(), Some("test.scope"));
    let Body::Exec(e) = ev.body else {
        panic!("not exec")
    };
    assert_eq!(e.image.exepath.as_deref(), Some("/usr/bin/ls"));
    assert_eq!(e.image.cwd.as_deref(), Some("/"));
    assert_eq!(e.argv(), ["ls", "-la", "/tmp"]);
    assert_eq!(e.image.cmdline, "bash -la /tmp");
    assert_eq!(e.vpid, Some(1));
    assert_eq!(e.loginuid, None);
    assert_eq!(e.env, None);
    assert!(!e.from_memfd);
}

#[test]
fn exec_record_without_env_block_is_accepted() {
    let bytes = bytes_of(&*exec_record());
    let ev = decode(&bytes[..lanner_common::EXEC_RECORD_NO_ENV], false).unwrap();
    assert!(matches!(ev.body, Body::Exec(_)));
    // With env capture on, the short record is an error, not a silent zero env.
    assert!(matches!(
        decode(&bytes[..lanner_common::EXEC_RECORD_NO_ENV], true),
        Err(DecodeError::Short { .. })
    ));
}

#[test]
fn memfd_exe_is_recognised_from_a_disconnected_walk() {
    let mut r = exec_record();
    r.exepath[..13].copy_from_slice(b"memfd:x\0\0\0\0\0\0");
    r.exepath_f = PathField {
        len: 8,
        flags: field_flags::DISCONNECTED,
        ..PathField::default()
    };
    let Body::Exec(e) = decode(&bytes_of(&*r), false).unwrap().body else {
        panic!()
    };
    assert!(e.from_memfd);
    assert_eq!(e.image.exepath.as_deref(), Some("/memfd:x"));
}

#[test]
fn oversized_field_length_is_an_error_not_a_panic() {
    let mut r = exec_record();
    r.argv_f.len = u16::MAX;
    assert!(matches!(
        decode(&bytes_of(&*r), false),
        Err(DecodeError::FieldLength { field: "argv", .. })
    ));
}

#[test]
fn every_truncation_of_every_kind_is_an_error() {
    let mut recs: Vec<Vec<u8>> = vec![bytes_of(&*exec_record())];
    // SAFETY: Plain types, zero is valid.
    let mut m: Box<MountRecord> = unsafe { Box::new_zeroed().assume_init() };
    m.header = header(EventKind::Mount, 0);
    recs.push(bytes_of(&*m));
    let mut c: Box<ConnectRecord> = unsafe { Box::new_zeroed().assume_init() };
    c.header = header(EventKind::Connect, 0);
    recs.push(bytes_of(&*c));
    for rec in recs {
        assert!(decode(&rec, false).is_ok());
        for cut in [
            0,
            1,
            8,
            size_of::<Header>() - 1,
            size_of::<Header>(),
            rec.len() / 2,
        ] {
            if cut < rec.len() && cut < lanner_common::EXEC_RECORD_NO_ENV.min(rec.len()) {
                assert!(decode(&rec[..cut], false).is_err(), "cut at {cut} decoded");
            }
        }
    }
}

#[test]
fn garbage_never_panics() {
    let mut next = crate::testutil::xorshift();
    let mut x = 0;
    let mut buf = vec![0u8; lanner_common::EXEC_RECORD_SIZE];
    for round in 0..2000 {
        for b in buf.iter_mut() {
            x = next();
            *b = x as u8;
        }
        // Valid kinds half of the time, to get past the header check.
        if round % 2 == 0 {
            let kind = round / 2 % lanner_common::KIND_COUNT + 1;
            buf[..4].copy_from_slice(&(kind as u32).to_ne_bytes());
        }
        let len = (x as usize) % buf.len();
        let _ = decode(&buf[..len], round % 3 == 0);
        let _ = decode(&buf, false);
    }
}

/// A network-family record: sent without its data block but for recvfrom, whose data is
/// `evt.buffer`; a record shorter than its head, a data length past the block and an unknown
/// call are errors.
#[test]
fn net_fd_records_with_and_without_their_data() {
    use lanner_common::{NET_FD_HEAD_SIZE, NetFdRecord, NetOp, fd_flags, fd_kind};
    // SAFETY: Plain type, zero is valid.
    let mut r: Box<NetFdRecord> = unsafe { Box::new_zeroed().assume_init() };
    r.header = header(EventKind::NetFd, NetOp::Dup2 as u32);
    r.ret = 1;
    r.args = [3, 1, 0];
    r.fd.flags = fd_flags::READ;
    r.fd.kind = fd_kind::PIPE;
    r.addr_f.flags = field_flags::ABSENT;
    r.data_f.flags = field_flags::ABSENT;
    let bytes = bytes_of(&*r);
    let ev = decode(&bytes[..NET_FD_HEAD_SIZE], false).unwrap();
    let Body::NetFd(n) = &ev.body else {
        panic!("{ev:?}")
    };
    assert_eq!(
        (n.call, n.ret, n.args),
        (crate::event::NetCall::Dup2, 1, [3, 1, 0])
    );
    assert_eq!(n.fd.kind, Some(fd_kind::PIPE));
    assert!(n.fd.sock.is_none() && n.addr.is_none() && n.data.is_none());
    assert!(decode(&bytes[..NET_FD_HEAD_SIZE - 1], false).is_err());

    r.header.variant = NetOp::Recvfrom as u32;
    r.ret = 4;
    r.data_f = StrField { len: 4, flags: 0 };
    r.data[..4].copy_from_slice(&[0xca, 0xfe, 0xba, 0xbe]);
    let ev = decode(&bytes_of(&*r), false).unwrap();
    let Body::NetFd(n) = &ev.body else {
        panic!("{ev:?}")
    };
    assert_eq!(n.data.as_deref(), Some(&[0xca, 0xfe, 0xba, 0xbe][..]));
    r.data_f.len = 200;
    assert!(matches!(
        decode(&bytes_of(&*r), false),
        Err(DecodeError::FieldLength { field: "data", .. })
    ));
    r.header.variant = 99;
    assert!(matches!(
        decode(&bytes_of(&*r), false),
        Err(DecodeError::UnknownVariant { what: "net_fd", .. })
    ));
}

#[test]
fn unknown_kind_and_variant_are_reported() {
    let mut h = header(EventKind::Exec, 0);
    h.kind = 99;
    let mut r = exec_record();
    r.header = h;
    assert_eq!(
        decode(&bytes_of(&*r), false).unwrap_err(),
        DecodeError::UnknownKind { kind: 99 }
    );
    let mut r = exec_record();
    r.header.variant = 7;
    assert!(matches!(
        decode(&bytes_of(&*r), false),
        Err(DecodeError::UnknownVariant { .. })
    ));
}

#[test]
fn sockaddrs_parse_for_each_family() {
    let mut v4 = vec![2, 0, 0x1f, 0x90, 127, 0, 0, 1];
    v4.extend([0; 8]);
    assert_eq!(
        sockaddr(&v4),
        Peer::Inet("127.0.0.1".parse().unwrap(), 8080)
    );
    let mut v6 = vec![10, 0, 0, 80, 0, 0, 0, 0];
    v6.extend(std::net::Ipv6Addr::LOCALHOST.octets());
    v6.extend([0; 4]);
    assert_eq!(sockaddr(&v6), Peer::Inet("::1".parse().unwrap(), 80));
    let mut un = vec![1, 0];
    un.extend(b"/run/x.sock\0");
    assert_eq!(sockaddr(&un), Peer::Unix("/run/x.sock".into()));
    let mut abs = vec![1, 0, 0];
    abs.extend(b"hidden");
    assert_eq!(sockaddr(&abs), Peer::Unix("@hidden".into()));
    assert_eq!(sockaddr(&[2, 0, 1]), Peer::Other(2));
    assert_eq!(sockaddr(&[]), Peer::Unknown);
}

/// Names are shared across records of one task and cgroup, and a changed name (an exec, a
/// renamed cgroup under the same id) is read again, not served from the cache.
#[test]
fn the_decoder_shares_names_and_notices_changes() {
    let mut d = Decoder::new(false);
    let mut h = header(EventKind::Exit, 0);
    let exit = |h: &Header| {
        bytes_of(&ExitRecord {
            header: *h,
            exit_code: 0,
            _pad: [0; 4],
        })
    };
    let a = d.decode(&exit(&h)).unwrap();
    let b = d.decode(&exit(&h)).unwrap();
    assert!(Arc::ptr_eq(&a.task.comm, &b.task.comm));
    let (ca, cb) = (a.task.cgroup.unwrap(), b.task.cgroup.unwrap());
    assert!(Arc::ptr_eq(&ca, &cb));

    h.comm[..6].copy_from_slice(b"bashed");
    h.cgroup[4] = 0;
    let c = d.decode(&exit(&h)).unwrap();
    assert_eq!(&*c.task.comm, "bashed");
    assert_eq!(c.task.cgroup.as_deref(), Some("test"));
    // A longer name that starts with the cached one is not mistaken for it.
    h.cgroup[4] = b'.';
    let e = d.decode(&exit(&h)).unwrap();
    assert_eq!(e.task.cgroup.as_deref(), Some("test.scope"));
}

/// Cut paths come out marked, flagged on the image (which the process table keeps) and listed
/// by the event, so the reader can count each.
#[test]
fn records_with_cut_paths_say_which() {
    use crate::event::EventPath;
    let mut r = exec_record();
    r.exepath[..10].copy_from_slice(b"payload\0e\0");
    let at = lanner_common::PATH_HEAD_AT;
    r.exepath[at..at + 10].copy_from_slice(b"x\0shm\0dev\0");
    r.exepath_f = PathField {
        len: 10,
        flags: field_flags::TRUNCATED,
        head_len: 10,
        head_wrap: 0,
    };
    r.cwd[..4].copy_from_slice(b"e\0e\0");
    r.cwd_f = PathField {
        len: 4,
        flags: field_flags::DEPTH_LIMIT,
        ..PathField::default()
    };
    r.filename_f.flags = field_flags::TRUNCATED;
    let Body::Exec(e) = decode(&bytes_of(&*r), false).unwrap().body else {
        panic!("not exec")
    };
    assert_eq!(e.image.exepath.as_deref(), Some("/dev/shm/x//…//e/payload"));
    assert_eq!(e.image.cwd.as_deref(), Some("…//e/e/"));
    assert!(e.image.exepath_truncated && e.image.cwd_truncated);
    assert_eq!(e.filename.value.as_deref(), Some("/bin/ls//…"));
    let body = Body::Exec(e);
    let cut: Vec<_> = body.cut_paths().iter().collect();
    assert_eq!(
        cut,
        [EventPath::Exepath, EventPath::Cwd, EventPath::ExecFilename]
    );
    assert!(body.path_truncated(None));

    // SAFETY: Plain type, zero is valid.
    let mut m: Box<MountRecord> = unsafe { Box::new_zeroed().assume_init() };
    m.header = header(EventKind::Mount, 0);
    m.target[..4].copy_from_slice(b"/mnt");
    m.target_f = StrField {
        len: 4,
        flags: field_flags::TRUNCATED,
    };
    let body = decode(&bytes_of(&*m), false).unwrap().body;
    let Body::Mount(mount) = &body else {
        panic!("not mount")
    };
    assert_eq!(mount.target.value.as_deref(), Some("/mnt//…"));
    assert_eq!(
        body.cut_paths().iter().collect::<Vec<_>>(),
        [EventPath::MountTarget]
    );
    // The exec record of the sample is whole.
    let whole = decode(&bytes_of(&*exec_record()), false).unwrap().body;
    assert!(!whole.cut_paths().any() && !whole.path_truncated(None));
}
