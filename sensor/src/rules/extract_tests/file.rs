//! `fd.*`, `evt.is_open_*` and the `evt.arg.*` of opens, as Falco fills them.

use lanner_common::file::open::{self, kernel as k};
use lanner_rules::{EventSource, EvtType, Value};

use super::{EPOCH, enriched, get, st};
use crate::{
    container::ContainerRef,
    enrich::{Enriched, PodContext},
    event::{Body, Open, OpenSyscall},
    fspath::{Base, Dir, FilePath},
    rules::extract::EventView,
};

fn cwd(path: &str) -> Base {
    Base::Dir(Dir {
        parts: path
            .split('/')
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect(),
        gap: None,
    })
}

/// `syscall` of `raw` (relative to `base`) with the kernel's `flags` and `mode`, returning `ret`.
pub(super) fn open_body(
    syscall: OpenSyscall,
    raw: &str,
    base: &Base,
    flags: u32,
    mode: u32,
    ret: i64,
) -> Body {
    let creat = syscall == OpenSyscall::Creat;
    let flags = (!creat).then_some(flags);
    let pf = flags.unwrap_or(0);
    Body::Open(Open {
        syscall,
        ret,
        path: FilePath::new(Some(raw.into()), false, base),
        dirfd: -100,
        flags,
        mode: Some(mode),
        resolve: (syscall == OpenSyscall::Openat2).then_some(0),
        classes: open::classes(open::ppm_flags(pf), open::ppm_mode(pf, mode, creat), creat),
        cap_effective: Some((1 << 21) | (1 << 1)),
    })
}

fn opened(body: Body) -> Enriched {
    enriched(body, ContainerRef::Host, PodContext::Host)
}

/// A successful read-only openat of `/etc/shadow` (for tests across event kinds).
pub(super) fn sample_open() -> Enriched {
    opened(open_body(
        OpenSyscall::Openat,
        "/etc/shadow",
        &Base::None,
        k::O_CLOEXEC,
        0,
        3,
    ))
}

fn yes(b: bool) -> Option<Value<'static>> {
    Some(Value::Bool(b))
}

#[test]
fn a_read_of_a_sensitive_file() {
    let e = sample_open();
    assert_eq!(EventView::new(&e, EPOCH).evt_type(), EvtType::Openat);
    assert_eq!(get(&e, "fd.name"), st("/etc/shadow"));
    assert_eq!(get(&e, "fd.nameraw"), st("/etc/shadow"));
    assert_eq!(get(&e, "fd.directory"), st("/etc"));
    assert_eq!(get(&e, "fd.filename"), st("shadow"));
    assert_eq!(get(&e, "fd.num"), Some(Value::Int(3)));
    assert_eq!(get(&e, "fd.typechar"), st("f"));
    assert_eq!(get(&e, "fd.type"), st("file"));
    assert_eq!(get(&e, "evt.is_open_read"), yes(true));
    assert_eq!(get(&e, "evt.is_open_write"), yes(false));
    assert_eq!(get(&e, "evt.is_open_exec"), yes(false));
    assert_eq!(get(&e, "evt.res"), st("SUCCESS"));
    assert_eq!(get(&e, "evt.rawres"), Some(Value::Int(3)));
    assert_eq!(get(&e, "evt.arg.flags"), st("O_RDONLY|O_CLOEXEC"));
    assert_eq!(get(&e, "evt.rawarg.flags"), Some(Value::Int(0x1001)));
    assert_eq!(get(&e, "evt.arg.mode"), st("0"));
    assert_eq!(get(&e, "evt.arg.name"), st("/etc/shadow"));
    assert_eq!(get(&e, "evt.arg.dirfd"), st("AT_FDCWD"));
    assert_eq!(get(&e, "evt.arg.fd"), st("<f>/etc/shadow"));
    assert_eq!(get(&e, "evt.arg[0]"), st("<f>/etc/shadow"));
    assert_eq!(
        get(&e, "thread.cap_effective"),
        st("CAP_DAC_OVERRIDE CAP_SYS_ADMIN")
    );
    assert_eq!(get(&e, "lanner.path_truncated"), yes(false));
}

#[test]
fn a_relative_path_is_resolved_against_its_directory() {
    let e = opened(open_body(
        OpenSyscall::Openat,
        "../../..//etc/./passwd",
        &cwd("/var/www/html"),
        0,
        0,
        4,
    ));
    assert_eq!(get(&e, "fd.name"), st("/etc/passwd"));
    assert_eq!(get(&e, "fd.nameraw"), st("../../../etc/./passwd"));
    assert_eq!(get(&e, "evt.arg.name"), st("/etc/passwd"));
    assert_eq!(get(&e, "fd.directory"), st("/etc"));
}

#[test]
fn a_failed_open_has_a_name_but_no_fd() {
    let failed = |syscall| {
        opened(open_body(
            syscall,
            "/root/.ssh/id_rsa",
            &Base::None,
            0,
            0,
            -13,
        ))
    };
    let e = failed(OpenSyscall::Openat);
    assert_eq!(get(&e, "evt.res"), st("EACCES"));
    assert_eq!(get(&e, "fd.num"), Some(Value::Int(-1)));
    assert_eq!(get(&e, "fd.name"), st("/root/.ssh/id_rsa"));
    assert_eq!(get(&e, "fd.directory"), st("/root/.ssh"));
    assert_eq!(get(&e, "fd.filename"), None);
    assert_eq!(get(&e, "fd.type"), None);
    assert_eq!(get(&e, "fd.typechar"), st("f"), "guessed from the type");
    assert_eq!(get(&e, "evt.arg.fd"), st("EACCES"));
    assert_eq!(get(&e, "evt.rawarg.fd"), Some(Value::Int(-13)));
    // Falco guesses `o` for the legacy open.
    assert_eq!(get(&failed(OpenSyscall::Open), "fd.typechar"), st("o"));
}

#[test]
fn a_directory_open_is_a_directory_fd() {
    let e = opened(open_body(
        OpenSyscall::Openat2,
        "/proc/self/",
        &Base::None,
        k::O_DIRECTORY,
        0,
        5,
    ));
    assert_eq!(get(&e, "fd.typechar"), st("d"));
    assert_eq!(get(&e, "fd.type"), st("directory"));
    assert_eq!(get(&e, "fd.name"), st("/proc/self"));
    assert_eq!(get(&e, "fd.directory"), st("/proc/self"));
    assert_eq!(get(&e, "fd.filename"), None);
    assert_eq!(get(&e, "evt.arg.name"), st("/proc/self/"), "as passed");
    assert_eq!(get(&e, "evt.arg.fd"), st("<d>/proc/self"));
    assert_eq!(get(&e, "evt.arg.resolve"), st("0"));
    assert_eq!(get(&e, "evt.is_open_read"), yes(true));
}

#[test]
fn creating_with_exec_bits_is_an_open_exec() {
    let write = k::O_WRONLY | k::O_CREAT | k::O_TRUNC;
    let e = opened(open_body(
        OpenSyscall::Openat,
        "/tmp/x",
        &Base::None,
        write,
        0o755,
        3,
    ));
    assert_eq!(get(&e, "evt.is_open_exec"), yes(true));
    assert_eq!(get(&e, "evt.is_open_write"), yes(true));
    assert_eq!(get(&e, "evt.is_open_read"), yes(false));
    assert_eq!(get(&e, "evt.arg.flags"), st("O_TRUNC|O_CREAT|O_WRONLY"));
    assert_eq!(get(&e, "evt.arg.mode"), st("0755"));
    assert_eq!(get(&e, "evt.rawarg.mode"), Some(Value::Int(0o755)));
    // The mode counts only when the call creates.
    let plain = opened(open_body(
        OpenSyscall::Openat,
        "/tmp/x",
        &Base::None,
        k::O_WRONLY,
        0o755,
        3,
    ));
    assert_eq!(get(&plain, "evt.is_open_exec"), yes(false));
    assert_eq!(get(&plain, "evt.arg.mode"), st("0"));
    // creat: no flags, no read or write class (as Falco), exec from its mode.
    let c = opened(open_body(
        OpenSyscall::Creat,
        "/tmp/x",
        &Base::None,
        0,
        0o700,
        3,
    ));
    assert_eq!(get(&c, "evt.arg.flags"), None);
    assert_eq!(get(&c, "evt.arg.mode"), st("0700"));
    assert_eq!(get(&c, "evt.is_open_exec"), yes(true));
    assert_eq!(get(&c, "evt.is_open_write"), yes(false));
    assert_eq!(get(&c, "fd.typechar"), st("f"));
}

#[test]
fn an_unknown_directory_is_marked_and_flagged() {
    let e = opened(open_body(
        OpenSyscall::Openat,
        "rel",
        &Base::Unknown,
        0,
        0,
        -9,
    ));
    assert_eq!(get(&e, "fd.name"), st("…//rel"));
    assert_eq!(get(&e, "lanner.path_truncated"), yes(true));
}

#[test]
fn the_open_flag_names_keep_the_prefilters_contract() {
    use lanner_rules::prefilter::probe::OPEN_FLAG_NAMES;
    // Every name the rendering shows is in the prefilter's vocabulary, and one with a class
    // bit appears exactly when the bit is set, over every combination of the flags that matter.
    let rendered = crate::rules::extract::render::open_flag_names();
    for n in rendered {
        assert!(OPEN_FLAG_NAMES.iter().any(|(v, _)| *v == n), "{n}");
    }
    let bits = [
        k::O_WRONLY,
        k::O_RDWR,
        k::O_CREAT,
        k::O_EXCL,
        k::O_TRUNC,
        k::O_APPEND,
        k::O_NONBLOCK,
        k::O_DSYNC,
        k::O_DIRECT,
        k::O_LARGEFILE,
        k::O_DIRECTORY,
        k::O_CLOEXEC,
        k::O_SYNC,
        k::O_TMPFILE,
        0o400,      // O_NOCTTY
        0o400000,   // O_NOFOLLOW
        0o10000000, // O_PATH
        0o1000000,  // O_NOATIME
    ];
    for combo in 0u32..(1 << bits.len()) {
        let kflags = bits
            .iter()
            .enumerate()
            .filter(|(i, _)| combo & (1 << i) != 0)
            .fold(0, |a, (_, b)| a | b);
        let ppm = open::ppm_flags(kflags);
        let classes = open::classes(ppm, 0, false);
        let text = crate::rules::extract::render::open_flags(ppm);
        let names: Vec<&str> = text.split('|').collect();
        for (name, bit) in OPEN_FLAG_NAMES {
            if let Some(bit) = bit {
                assert_eq!(
                    names.contains(name),
                    classes & bit != 0,
                    "{name} in {text} (flags {kflags:#o})"
                );
            }
        }
    }
}
