//! Open records as the kernel sends them (the fuzz samples: only up to the end of their path's
//! bytes), and garbage lengths refused.

use lanner_common::file::{OPEN_HEAD_SIZE, OpenHead};

use super::super::decode::{DecodeError, decode};
use crate::{
    event::{Body, EventPath, Open, OpenSyscall},
    fuzz::samples,
};

fn sample(name: &str) -> Vec<u8> {
    samples::records()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no sample {name}"))
        .1
}

fn open_of(bytes: &[u8]) -> Open {
    match decode(bytes, false).expect("decodes").body {
        Body::Open(o) => o,
        other => panic!("not an open: {other:?}"),
    }
}

#[test]
fn an_absolute_open_is_sent_short_and_read_whole() {
    let bytes = sample("openat_sensitive_read");
    assert_eq!(bytes.len(), OPEN_HEAD_SIZE + "/etc/shadow".len());
    let o = open_of(&bytes);
    assert_eq!(o.syscall, OpenSyscall::Openat);
    assert_eq!(o.ret, 3);
    assert_eq!(o.path.raw.as_deref(), Some("/etc/shadow"));
    assert_eq!(o.path.name.as_deref(), Some("/etc/shadow"));
    assert!(!o.path.cut);
    assert_eq!(o.flags, Some(0o2000000));
    assert_eq!(o.resolve, None);
    assert_eq!(o.cap_effective, Some(1 << 21));
}

#[test]
fn relative_paths_join_the_walked_directory() {
    let o = open_of(&sample("openat_traversal_from_cwd"));
    assert_eq!(o.path.raw.as_deref(), Some("../../../etc/passwd"));
    assert_eq!(o.path.name.as_deref(), Some("/etc/passwd"));
    let o = open_of(&sample("openat_write_in_dirfd"));
    assert_eq!(o.dirfd, 7);
    assert_eq!(o.path.name.as_deref(), Some("/tmp/cgrp/release_agent"));
}

#[test]
fn a_directory_not_found_or_walked_short_is_flagged() {
    let short = decode(&sample("openat_dirfd_walk_stopped"), false).unwrap();
    let Body::Open(o) = &short.body else {
        panic!("not an open")
    };
    assert_eq!(o.path.name.as_deref(), Some("…//deep/dir/y"));
    assert!(o.path.cut);
    assert_eq!(
        short.body.cut_paths().iter().collect::<Vec<_>>(),
        [EventPath::FilePath]
    );
    let o = open_of(&sample("open_failed"));
    assert_eq!((o.syscall, o.ret), (OpenSyscall::Open, -13));
    let o = open_of(&sample("openat_unknown_dirfd"));
    assert_eq!(o.path.name.as_deref(), Some("…//rel"));
    assert!(o.path.cut);
}

#[test]
fn openat2_and_creat_carry_what_their_calls_take() {
    let o = open_of(&sample("openat2_directory"));
    assert_eq!(o.syscall, OpenSyscall::Openat2);
    assert_eq!(o.resolve, Some(0x10));
    let o = open_of(&sample("creat_exec"));
    assert_eq!(o.syscall, OpenSyscall::Creat);
    assert_eq!((o.flags, o.mode), (None, Some(0o755)));
}

#[test]
fn garbage_lengths_and_kinds_are_errors_not_panics() {
    let good = sample("openat_traversal_from_cwd");
    let head = |b: &mut Vec<u8>| -> *mut OpenHead { b.as_mut_ptr().cast() };
    // The name said to start past the bytes sent.
    let mut b = good.clone();
    // SAFETY: the bytes hold a whole head (the sample is longer); unaligned writes.
    unsafe {
        let h = head(&mut b);
        std::ptr::addr_of_mut!((*h).path.name_at).write_unaligned(60_000);
    }
    assert!(matches!(
        decode(&b, false),
        Err(DecodeError::FieldLength { .. })
    ));
    // A name longer than what was sent.
    let mut b = good.clone();
    // SAFETY: as above.
    unsafe {
        let h = head(&mut b);
        std::ptr::addr_of_mut!((*h).path.name_f.len).write_unaligned(9_000);
    }
    assert!(matches!(
        decode(&b, false),
        Err(DecodeError::FieldLength { .. })
    ));
    // A base kind no kernel writes.
    let mut b = good.clone();
    // SAFETY: as above.
    unsafe {
        let h = head(&mut b);
        std::ptr::addr_of_mut!((*h).path.base).write_unaligned(77);
    }
    assert!(matches!(
        decode(&b, false),
        Err(DecodeError::UnknownVariant { .. })
    ));
    // A record cut inside its head.
    assert!(matches!(
        decode(&good[..OPEN_HEAD_SIZE - 1], false),
        Err(DecodeError::Short { .. })
    ));
    // Every shorter cut decodes or fails cleanly.
    for n in OPEN_HEAD_SIZE..good.len() {
        let _ = decode(&good[..n], false);
    }
}

/// A directory cut by the walk (its head ring in use): the whole path buffer is sent before the
/// name, and the name keeps the directory's root side and leaf around the marker.
#[test]
fn a_cut_directory_is_sent_whole_and_joined_around_the_marker() {
    use lanner_common::{
        PATH_ARRAY, PATH_HEAD_AT, PathField, StrField, field_flags,
        file::{Base, OpenRecord},
    };

    use crate::reader::decode::{bytes_of, zeroed};
    let mut r = zeroed::<OpenRecord>();
    r.head.header.kind = lanner_common::EventKind::Open as u32;
    r.head.header.variant = 1;
    r.head.dirfd = 5;
    let leaf = b"e\0d\0";
    let ring = b"x\0shm\0dev\0";
    r.data[..leaf.len()].copy_from_slice(leaf);
    r.data[PATH_HEAD_AT..PATH_HEAD_AT + ring.len()].copy_from_slice(ring);
    r.data[PATH_ARRAY..PATH_ARRAY + 7].copy_from_slice(b"payload");
    r.head.path.base = Base::Dirfd as u16;
    r.head.path.base_f = PathField {
        len: leaf.len() as u16,
        flags: field_flags::TRUNCATED,
        head_len: ring.len() as u16,
        head_wrap: 0,
    };
    r.head.path.name_at = PATH_ARRAY as u16;
    r.head.path.name_f = StrField { len: 7, flags: 0 };
    let bytes = &bytes_of(&*r)[..OPEN_HEAD_SIZE + PATH_ARRAY + 7];
    let o = open_of(bytes);
    assert_eq!(o.path.name.as_deref(), Some("/dev/shm/x//…//d/e/payload"));
    assert!(o.path.cut);
    // Sent shorter than the head ring says: refused, not read past.
    assert!(decode(&bytes[..OPEN_HEAD_SIZE + 100], false).is_err());
}
