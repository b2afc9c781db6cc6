//! Sample records of the file-tree changes, as the kernel programs send them (the head, the
//! first path's used bytes, the second's right after): each call, paths absolute, relative to
//! the cwd and to a dirfd, a failed call, an fchmod whose fd was walked and one whose fd was
//! not open.

use lanner_common::{
    EventKind, PATH_ARRAY, PathField, field_flags,
    file::{AT_FDCWD, Base, PathArg},
    file_change::{CHANGE_FD_PATH, CHANGE_HEAD_SIZE, ChangeOp, ChangeRecord},
};

use super::samples::{CONTAINER_CGROUP, header, put, put_path};
use crate::reader::decode::{bytes_of, zeroed};

/// One path argument of a sample: as passed, and the directory walked for it (`None`: no
/// directory was needed).
struct P<'a>(&'a str, Option<(Base, &'a str)>);

struct Spec<'a> {
    name: &'static str,
    op: ChangeOp,
    comm: &'a str,
    ret: i64,
    fd1: i32,
    fd2: i32,
    flags: u32,
    mode: u32,
    first: Option<P<'a>>,
    second: Option<P<'a>>,
    /// fchmod: the fd's path as walked (`None`: the fd was not open).
    fd_path: Option<&'a str>,
}

/// Writes one path argument at the start of `data`; its used bytes.
fn put_arg(arg: &mut PathArg, data: &mut [u8], p: Option<&P<'_>>) -> usize {
    let absent = PathField {
        flags: field_flags::ABSENT,
        ..PathField::default()
    };
    let Some(P(raw, dir)) = p else {
        *arg = PathArg::default();
        arg.name_f.flags = field_flags::ABSENT;
        arg.base_f = absent;
        return 0;
    };
    let (base, base_f) = match dir {
        None => (Base::None, absent),
        Some((base, d)) => (*base, put_path(&mut data[..PATH_ARRAY], d)),
    };
    let at = usize::from(base_f.len);
    arg.base = base as u16;
    arg.base_f = base_f;
    arg.name_at = at as u16;
    arg.name_f = put(&mut data[at..], raw.as_bytes());
    at + raw.len()
}

fn record(s: &Spec<'_>) -> (&'static str, Vec<u8>) {
    let mut r = zeroed::<ChangeRecord>();
    let cgroup = CONTAINER_CGROUP.as_str();
    r.head.header = header(EventKind::FileChange, s.op as u32, 5150, s.comm, cgroup);
    r.head.ret = s.ret;
    r.head.fd1 = s.fd1;
    r.head.fd2 = s.fd2;
    r.head.flags = s.flags;
    r.head.mode = s.mode;
    let mut arg = PathArg::default();
    let used1 = match s.fd_path {
        Some(path) => {
            let walked = put_path(&mut r.data[..PATH_ARRAY], path);
            r.head.change_flags |= CHANGE_FD_PATH;
            arg.base = Base::Dirfd as u16;
            arg.base_f = walked;
            arg.name_at = walked.len;
            arg.name_f.flags = field_flags::ABSENT;
            usize::from(walked.len)
        }
        None => put_arg(&mut arg, &mut r.data, s.first.as_ref()),
    };
    r.head.path1 = arg;
    let mut arg = PathArg::default();
    let used2 = put_arg(&mut arg, &mut r.data[used1..], s.second.as_ref());
    r.head.path2 = arg;
    r.head.second_at = used1 as u32;
    let end = CHANGE_HEAD_SIZE + used1 + used2;
    (s.name, bytes_of(&*r)[..end].to_vec())
}

/// A spec of nothing but an unlink by `rm`, to fill the rest of each sample from.
fn none() -> Spec<'static> {
    Spec {
        name: "",
        op: ChangeOp::Unlink,
        comm: "rm",
        ret: 0,
        fd1: AT_FDCWD,
        fd2: AT_FDCWD,
        flags: 0,
        mode: 0,
        first: None,
        second: None,
        fd_path: None,
    }
}

pub fn records() -> Vec<(&'static str, Vec<u8>)> {
    [
        Spec {
            name: "unlink_history",
            first: Some(P(".bash_history", Some((Base::Cwd, "/root")))),
            ..none()
        },
        Spec {
            name: "unlinkat_dir_in_dirfd",
            op: ChangeOp::Unlinkat,
            fd1: 5,
            flags: 0x200,
            first: Some(P("sub", Some((Base::Dirfd, "/usr/bin")))),
            ..none()
        },
        Spec {
            name: "rmdir_failed",
            op: ChangeOp::Rmdir,
            ret: -39,
            first: Some(P("/tmp/full", None)),
            ..none()
        },
        Spec {
            name: "rename_into_bin",
            op: ChangeOp::Rename,
            comm: "mv",
            first: Some(P("tool", Some((Base::Cwd, "/tmp")))),
            second: Some(P("/usr/bin/tool", None)),
            ..none()
        },
        Spec {
            name: "renameat2_exchange",
            op: ChangeOp::Renameat2,
            comm: "mv",
            fd1: 3,
            fd2: 4,
            flags: 2,
            first: Some(P("a", Some((Base::Dirfd, "/srv/a")))),
            second: Some(P("../.b", Some((Base::Dirfd, "/srv/b")))),
            ..none()
        },
        Spec {
            name: "renameat_in_dirfd",
            op: ChangeOp::Renameat,
            comm: "mv",
            fd1: 3,
            fd2: AT_FDCWD,
            first: Some(P(".bash_history", Some((Base::Dirfd, "/home/u")))),
            second: Some(P("/dev/null", None)),
            ..none()
        },
        Spec {
            name: "mkdir_in_bin",
            op: ChangeOp::Mkdir,
            comm: "mkdir",
            mode: 0o700,
            first: Some(P("x", Some((Base::Cwd, "/usr/bin")))),
            ..none()
        },
        Spec {
            name: "mkdirat_hidden",
            op: ChangeOp::Mkdirat,
            comm: "mkdir",
            mode: 0o755,
            first: Some(P("/usr/sbin/.x", None)),
            ..none()
        },
        Spec {
            name: "symlink_over_shadow",
            op: ChangeOp::Symlink,
            comm: "ln",
            first: Some(P("/etc/shadow", None)),
            second: Some(P("s", Some((Base::Cwd, "/tmp")))),
            ..none()
        },
        Spec {
            name: "symlinkat_relative_target",
            op: ChangeOp::Symlinkat,
            comm: "ln",
            fd2: 8,
            first: Some(P("../etc/passwd", Some((Base::Cwd, "/root")))),
            second: Some(P("p", Some((Base::Dirfd, "/var/tmp")))),
            ..none()
        },
        Spec {
            name: "link_failed",
            op: ChangeOp::Link,
            comm: "ln",
            ret: -17,
            first: Some(P("/etc/passwd", None)),
            second: Some(P("/tmp/p", None)),
            ..none()
        },
        Spec {
            name: "linkat_shadow",
            op: ChangeOp::Linkat,
            comm: "ln",
            fd2: 6,
            flags: 0x400,
            first: Some(P("/etc/shadow", None)),
            second: Some(P("h", Some((Base::Dirfd, "/tmp")))),
            ..none()
        },
        Spec {
            name: "chmod_setuid",
            op: ChangeOp::Chmod,
            comm: "chmod",
            mode: 0o4755,
            first: Some(P("/tmp/sh", None)),
            ..none()
        },
        Spec {
            name: "fchmod_walked",
            op: ChangeOp::Fchmod,
            comm: "chmod",
            fd1: 3,
            mode: 0o2755,
            fd_path: Some("/tmp/payload"),
            ..none()
        },
        Spec {
            name: "fchmod_bad_fd",
            op: ChangeOp::Fchmod,
            comm: "chmod",
            ret: -9,
            fd1: 99,
            mode: 0o755,
            ..none()
        },
        Spec {
            name: "fchmodat_exec_in_container",
            op: ChangeOp::Fchmodat,
            comm: "chmod",
            mode: 0o755,
            first: Some(P("payload", Some((Base::Cwd, "/tmp")))),
            ..none()
        },
    ]
    .iter()
    .map(record)
    .collect()
}
