//! File-change records as the kernel sends them (the fuzz samples: the head, the first path's
//! used bytes, the second's right after), and lengths that do not fit refused.

use lanner_common::file_change::{CHANGE_HEAD_SIZE, ChangeHead, ChangeOp};

use super::super::decode::{DecodeError, decode};
use crate::{
    event::{Body, EventPath, FileChange},
    fuzz::samples,
};

fn sample(name: &str) -> Vec<u8> {
    samples::records()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no sample {name}"))
        .1
}

fn change_of(bytes: &[u8]) -> FileChange {
    match decode(bytes, false).expect("decodes").body {
        Body::FileChange(c) => c,
        other => panic!("not a file change: {other:?}"),
    }
}

#[test]
fn one_path_sent_short_and_resolved_against_the_cwd() {
    let bytes = sample("unlink_history");
    assert_eq!(
        bytes.len(),
        CHANGE_HEAD_SIZE + "root\0".len() + ".bash_history".len()
    );
    let c = change_of(&bytes);
    assert_eq!(c.op, ChangeOp::Unlink);
    assert_eq!(c.path.raw.as_deref(), Some(".bash_history"));
    assert_eq!(c.path.name.as_deref(), Some("/root/.bash_history"));
    assert_eq!(c.second, None);
    assert!(!c.cut());
}

#[test]
fn the_second_path_follows_the_first_and_has_its_own_directory() {
    let c = change_of(&sample("renameat2_exchange"));
    assert_eq!((c.fd1, c.fd2, c.flags), (3, 4, 2));
    assert_eq!(c.path.name.as_deref(), Some("/srv/a/a"));
    let second = c.second.expect("a second path");
    assert_eq!(second.raw.as_deref(), Some("../.b"));
    assert_eq!(second.name.as_deref(), Some("/srv/.b"));
    let c = change_of(&sample("symlink_over_shadow"));
    assert_eq!(c.path.raw.as_deref(), Some("/etc/shadow"));
    assert_eq!(c.second.unwrap().name.as_deref(), Some("/tmp/s"));
}

#[test]
fn fchmod_names_its_fd_as_walked_or_nothing() {
    let c = change_of(&sample("fchmod_walked"));
    assert_eq!(c.path.raw, None);
    assert_eq!(c.path.name.as_deref(), Some("/tmp/payload"));
    assert_eq!(c.mode, 0o2755);
    let c = change_of(&sample("fchmod_bad_fd"));
    assert_eq!((c.path.raw.as_ref(), c.path.name.as_ref()), (None, None));
    assert_eq!(c.ret, -9);
}

#[test]
fn a_cut_second_path_flags_the_event() {
    let mut bytes = sample("rename_into_bin");
    // The second path's name as passed filled its buffer: cut, its end unknown.
    let head = std::mem::offset_of!(ChangeHead, path2);
    let flags_at = head + std::mem::offset_of!(lanner_common::file::PathArg, name_f) + 2;
    bytes[flags_at] |= lanner_common::field_flags::TRUNCATED as u8;
    let ev = decode(&bytes, false).unwrap();
    let Body::FileChange(c) = &ev.body else {
        panic!("not a file change")
    };
    assert!(c.second.as_ref().unwrap().cut && c.cut());
    assert_eq!(
        c.second.as_ref().unwrap().name.as_deref(),
        Some("/usr/bin/tool//…")
    );
    assert_eq!(
        ev.body.cut_paths().iter().collect::<Vec<_>>(),
        [EventPath::FilePath]
    );
}

#[test]
fn lengths_past_the_record_and_unknown_calls_are_refused() {
    let mut bytes = sample("rename_into_bin");
    let at = std::mem::offset_of!(ChangeHead, second_at);
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
    assert!(matches!(
        decode(&bytes, false),
        Err(DecodeError::FieldLength { .. })
    ));
    let mut bytes = sample("chmod_setuid");
    let at = std::mem::offset_of!(lanner_common::Header, variant);
    bytes[at..at + 4].copy_from_slice(&99u32.to_ne_bytes());
    assert!(matches!(
        decode(&bytes, false),
        Err(DecodeError::UnknownVariant { .. })
    ));
    // Every record of the family decodes whatever it is cut to, without a panic.
    for (_, bytes) in samples::records() {
        for n in 0..bytes.len().min(CHANGE_HEAD_SIZE + 64) {
            let _ = decode(&bytes[..n], false);
        }
    }
}
