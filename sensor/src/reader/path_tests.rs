//! Walked paths as the kernel lays them out (leaf side, head ring, flags), and user-memory
//! paths: whole ones exact, cut ones marked and flagged, garbage lengths an error.

use lanner_common::{PATH_ARRAY, PATH_HEAD_AT, PathField, StrField, field_flags};

use super::*;

/// A path buffer with `leaf_side` at its start and `ring` at the head ring.
fn buffer(leaf_side: &[u8], ring: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; PATH_ARRAY];
    b[..leaf_side.len()].copy_from_slice(leaf_side);
    b[PATH_HEAD_AT..PATH_HEAD_AT + ring.len()].copy_from_slice(ring);
    b
}

fn field(len: usize, flags: u16) -> PathField {
    PathField {
        len: len as u16,
        flags,
        ..PathField::default()
    }
}

fn value(t: &Text) -> &str {
    t.value.as_deref().expect("a value")
}

#[test]
fn a_whole_path_is_exact_and_not_flagged() {
    let leaf = b"ls\0bin\0usr\0";
    let t = walked(field(leaf.len(), 0), &buffer(leaf, b""), "exepath", false).unwrap();
    assert_eq!(
        t,
        Text {
            value: Some("/usr/bin/ls".into()),
            truncated: false
        }
    );
    let root = walked(field(0, 0), &buffer(b"", b""), "cwd", true).unwrap();
    assert_eq!(value(&root), "/");
    assert!(!root.truncated);
    let cwd = walked(field(4, 0), &buffer(b"tmp\0", b""), "cwd", true).unwrap();
    assert_eq!(value(&cwd), "/tmp/");
}

#[test]
fn a_cut_path_keeps_its_root_side_and_leaf_around_the_marker() {
    let leaf = b"payload\0e\0";
    let ring = b"e\0x\0shm\0dev\0";
    let f = PathField {
        head_len: ring.len() as u16,
        ..field(leaf.len(), field_flags::TRUNCATED)
    };
    let buf = buffer(leaf, ring);
    let t = walked(f, &buf, "exepath", false).unwrap();
    assert_eq!(value(&t), "/dev/shm/x/e//…//e/payload");
    assert!(t.truncated);
    // What rules on the directory test still holds; nothing passes it off as whole.
    assert!(value(&t).starts_with("/dev/shm/"));
    assert!(value(&t).ends_with("/payload"));
    let cwd = walked(f, &buf, "cwd", true).unwrap();
    assert_eq!(value(&cwd), "/dev/shm/x/e//…//e/payload/");
}

#[test]
fn a_head_ring_that_started_over_joins_its_two_runs_in_walk_order() {
    // The older run held e1 e2 e3 x (leaf to root); the newest run (shm dev) overwrote its
    // first 8 bytes, which cuts e3: the bytes after the newest run are "\0x\0".
    let mut ring = b"e1\0e2\0e3\0x\0".to_vec();
    ring[..8].copy_from_slice(b"shm\0dev\0");
    let f = PathField {
        head_len: 8,
        head_wrap: 11,
        ..field(8, field_flags::TRUNCATED)
    };
    let t = walked(f, &buffer(b"payload\0", &ring), "exepath", false).unwrap();
    assert_eq!(value(&t), "/dev/shm/x//…//payload");
    // Where the newest run ends on a component boundary, that whole component goes too.
    let mut ring = b"e1\0e2\0e3\0x\0".to_vec();
    ring[..6].copy_from_slice(b"dev\0y\0");
    let f = PathField {
        head_len: 6,
        head_wrap: 11,
        ..field(8, field_flags::TRUNCATED)
    };
    let t = walked(f, &buffer(b"payload\0", &ring), "exepath", false).unwrap();
    assert_eq!(value(&t), "/y/dev/x//…//payload");
}

#[test]
fn a_walk_that_did_not_reach_the_root_never_looks_like_a_path_from_it() {
    let leaf = b"payload\0e\0e\0";
    for flags in [
        field_flags::DEPTH_LIMIT,
        field_flags::READ_FAILED,
        field_flags::DEPTH_LIMIT | field_flags::TRUNCATED,
    ] {
        // A head ring there is the middle of the path, not its top: it is not shown.
        let f = PathField {
            head_len: 4,
            ..field(leaf.len(), flags)
        };
        let buf = buffer(leaf, b"mid\0");
        let t = walked(f, &buf, "exepath", false).unwrap();
        assert_eq!(value(&t), "…//e/e/payload", "flags {flags}");
        assert!(t.truncated);
        let cwd = walked(f, &buf, "cwd", true).unwrap();
        assert_eq!(value(&cwd), "…//e/e/payload/");
    }
    // Unreadable from the first step: no value, and nothing was cut.
    let none = walked(
        field(0, field_flags::READ_FAILED),
        &buffer(b"", b""),
        "cwd",
        true,
    );
    assert_eq!(none.unwrap(), Text::default());
    let absent = walked(
        field(0, field_flags::ABSENT),
        &buffer(b"", b""),
        "exepath",
        false,
    );
    assert_eq!(absent.unwrap(), Text::default());
}

#[test]
fn lengths_past_the_buffer_are_errors_not_panics() {
    let buf = buffer(b"", b"");
    let long = field(PATH_ARRAY + 1, 0);
    assert!(matches!(
        walked(long, &buf, "cwd", true),
        Err(DecodeError::FieldLength { field: "cwd", .. })
    ));
    for (head_len, head_wrap) in [(u16::MAX, 0), (4, u16::MAX)] {
        let f = PathField {
            head_len,
            head_wrap,
            ..field(2, field_flags::TRUNCATED)
        };
        assert!(walked(f, &buf, "exepath", false).is_err());
    }
    // A cut record whose ring is empty (no walk writes one) still says its root is unknown.
    let t = walked(
        field(2, field_flags::TRUNCATED),
        &buffer(b"a\0", b""),
        "exepath",
        false,
    );
    assert_eq!(value(&t.unwrap()), "…//a");
}

#[test]
fn a_cut_user_path_keeps_its_start_and_is_marked() {
    let mut buf = vec![b'a'; 64];
    buf[..5].copy_from_slice(b"/mnt/");
    let cut = StrField {
        len: 64,
        flags: field_flags::TRUNCATED,
    };
    let t = user_path(cut, &buf, "target").unwrap();
    assert!(t.truncated);
    let v = value(&t);
    assert!(v.starts_with("/mnt/aaa") && v.ends_with("a//…"), "{v}");
    let whole = StrField { len: 8, flags: 0 };
    let t = user_path(whole, b"/mnt/x\0\0", "target").unwrap();
    assert_eq!(
        t,
        Text {
            value: Some("/mnt/x".into()),
            truncated: false
        }
    );
}
