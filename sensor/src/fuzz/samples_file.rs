//! Sample records of the file syscalls, as the kernel programs send them (only up to the end
//! of the path's bytes): absolute, relative to the cwd, relative to a dirfd whose walk stopped
//! short, relative to an unknown dirfd, failed, and each open call.

use lanner_common::{
    EventKind, PATH_ARRAY, PathField, field_flags,
    file::{AT_FDCWD, Base, OPEN_HEAD_SIZE, OpenRecord, open},
};

use super::samples::{CONTAINER_CGROUP, header, put, put_path};
use crate::reader::decode::{bytes_of, zeroed};

/// The directory a sample path is relative to.
enum Dir<'a> {
    None,
    /// Walked whole.
    Whole(Base, &'a str),
    /// A walk that stopped short (the step limit) with this leaf side.
    Short(&'a str),
    Unknown,
}

struct Spec<'a> {
    name: &'static str,
    variant: u32,
    comm: &'a str,
    ret: i64,
    dirfd: i32,
    flags: u32,
    mode: u32,
    path: &'a str,
    dir: Dir<'a>,
}

fn record(s: &Spec<'_>) -> (&'static str, Vec<u8>) {
    let mut r = zeroed::<OpenRecord>();
    let cgroup = CONTAINER_CGROUP.as_str();
    r.head.header = header(EventKind::Open, s.variant, 5150, s.comm, cgroup);
    let h = &mut r.head;
    h.ret = s.ret;
    h.cap_effective = 1 << 21;
    h.flags = s.flags;
    h.mode = s.mode;
    h.resolve = if s.variant == 2 { 0x10 } else { 0 };
    h.dirfd = s.dirfd;
    let creat = s.variant == 3;
    h.classes = open::classes(
        open::ppm_flags(s.flags),
        open::ppm_mode(s.flags, s.mode, creat),
        creat,
    );
    let (base, base_f) = match s.dir {
        Dir::None => (
            Base::None,
            PathField {
                flags: field_flags::ABSENT,
                ..PathField::default()
            },
        ),
        Dir::Whole(base, d) => (base, put_path(&mut r.data[..PATH_ARRAY], d)),
        Dir::Short(leaf) => (
            Base::Dirfd,
            PathField {
                flags: field_flags::DEPTH_LIMIT,
                ..put_path(&mut r.data[..PATH_ARRAY], leaf)
            },
        ),
        Dir::Unknown => (
            Base::Unknown,
            PathField {
                flags: field_flags::ABSENT,
                ..PathField::default()
            },
        ),
    };
    let at = usize::from(base_f.len);
    r.head.path.base = base as u16;
    r.head.path.base_f = base_f;
    r.head.path.name_at = at as u16;
    r.head.path.name_f = put(&mut r.data[at..], s.path.as_bytes());
    let end = OPEN_HEAD_SIZE + at + s.path.len();
    (s.name, bytes_of(&*r)[..end].to_vec())
}

pub fn records() -> Vec<(&'static str, Vec<u8>)> {
    use open::kernel::*;
    [
        Spec {
            name: "openat_sensitive_read",
            variant: 1,
            comm: "cat",
            ret: 3,
            dirfd: AT_FDCWD,
            flags: O_CLOEXEC,
            mode: 0,
            path: "/etc/shadow",
            dir: Dir::None,
        },
        Spec {
            name: "openat_traversal_from_cwd",
            variant: 1,
            comm: "php-fpm",
            ret: 4,
            dirfd: AT_FDCWD,
            flags: 0,
            mode: 0,
            path: "../../../etc/passwd",
            dir: Dir::Whole(Base::Cwd, "/var/www/html"),
        },
        Spec {
            name: "openat_write_in_dirfd",
            variant: 1,
            comm: "sh",
            ret: 5,
            dirfd: 7,
            flags: O_WRONLY | O_CREAT | O_TRUNC,
            mode: 0o755,
            path: "release_agent",
            dir: Dir::Whole(Base::Dirfd, "/tmp/cgrp"),
        },
        Spec {
            name: "openat_dirfd_walk_stopped",
            variant: 1,
            comm: "find",
            ret: -2,
            dirfd: 9,
            flags: O_DIRECTORY,
            mode: 0,
            path: "x/../y",
            dir: Dir::Short("deep/dir"),
        },
        Spec {
            name: "openat_unknown_dirfd",
            variant: 1,
            comm: "ls",
            ret: -9,
            dirfd: 42,
            flags: 0,
            mode: 0,
            path: "rel",
            dir: Dir::Unknown,
        },
        Spec {
            name: "open_failed",
            variant: 0,
            comm: "cat",
            ret: -13,
            dirfd: AT_FDCWD,
            flags: 0,
            mode: 0,
            path: "/root/.ssh/id_rsa",
            dir: Dir::None,
        },
        Spec {
            name: "openat2_directory",
            variant: 2,
            comm: "runc",
            ret: 6,
            dirfd: AT_FDCWD,
            flags: O_DIRECTORY | O_CLOEXEC,
            mode: 0,
            path: "/proc/self/fd",
            dir: Dir::None,
        },
        Spec {
            name: "creat_exec",
            variant: 3,
            comm: "dropper",
            ret: 7,
            dirfd: AT_FDCWD,
            flags: 0,
            mode: 0o755,
            path: "/dev/shm/payload",
            dir: Dir::None,
        },
    ]
    .iter()
    .map(record)
    .collect()
}
