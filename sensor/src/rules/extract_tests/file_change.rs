//! `evt.arg.*` and `fs.path.*` of the file-tree changes, as Falco fills them, from the records
//! the kernel sends (the fuzz samples, decoded).

use lanner_rules::{EventSource, EvtType, Value};

use super::{EPOCH, enriched, get, in_container, st};
use crate::{
    enrich::{Enriched, PodContext},
    fuzz::samples,
    reader::decode::decode,
    rules::extract::EventView,
};

/// The sample record `name`, decoded and enriched in a container.
pub(super) fn change(name: &str) -> Enriched {
    let bytes = samples::records()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no sample {name}"))
        .1;
    let ev = decode(&bytes, false).unwrap();
    enriched(ev.body, in_container(), PodContext::Off)
}

/// Every file-change sample, for tests across event kinds.
pub(super) fn samples() -> Vec<Enriched> {
    [
        "unlink_history",
        "unlinkat_dir_in_dirfd",
        "rmdir_failed",
        "rename_into_bin",
        "renameat_in_dirfd",
        "renameat2_exchange",
        "mkdir_in_bin",
        "mkdirat_hidden",
        "symlink_over_shadow",
        "symlinkat_relative_target",
        "link_failed",
        "linkat_shadow",
        "chmod_setuid",
        "fchmod_walked",
        "fchmod_bad_fd",
        "fchmodat_exec_in_container",
    ]
    .into_iter()
    .map(change)
    .collect()
}

#[test]
fn unlink_paths_resolved_and_fs_path_name() {
    let e = change("unlink_history");
    assert_eq!(EventView::new(&e, EPOCH).evt_type(), EvtType::Unlink);
    assert_eq!(get(&e, "evt.arg.path"), st("/root/.bash_history"));
    assert_eq!(get(&e, "evt.arg[1]"), st("/root/.bash_history"));
    assert_eq!(get(&e, "evt.res"), st("SUCCESS"));
    assert_eq!(get(&e, "fs.path.name"), st("/root/.bash_history"));
    assert_eq!(get(&e, "fs.path.nameraw"), st(".bash_history"));
    assert_eq!(get(&e, "fs.path.source"), None);
    assert_eq!(get(&e, "fd.name"), None, "no fd");
    let e = change("unlinkat_dir_in_dirfd");
    assert_eq!(get(&e, "evt.arg.name"), st("/usr/bin/sub"));
    assert_eq!(get(&e, "evt.arg.dirfd"), st("5"));
    assert_eq!(get(&e, "evt.arg.flags"), st("AT_REMOVEDIR"));
    assert_eq!(get(&e, "evt.rawarg.flags"), Some(Value::Int(0x200)));
    assert_eq!(get(&e, "evt.arg.path"), None, "unlinkat names it `name`");
}

#[test]
fn a_failed_call_has_its_arguments_but_no_fs_path() {
    let e = change("rmdir_failed");
    assert_eq!(get(&e, "evt.res"), st("ENOTEMPTY"));
    assert_eq!(get(&e, "evt.arg.path"), st("/tmp/full"));
    assert_eq!(get(&e, "fs.path.name"), None);
    assert_eq!(get(&e, "fs.path.nameraw"), None);
}

#[test]
fn renames_and_links_source_and_target_as_falco_assigns_them() {
    let e = change("rename_into_bin");
    assert_eq!(get(&e, "evt.arg.oldpath"), st("/tmp/tool"));
    assert_eq!(get(&e, "evt.arg.newpath"), st("/usr/bin/tool"));
    assert_eq!(get(&e, "fs.path.source"), st("/tmp/tool"));
    assert_eq!(get(&e, "fs.path.sourceraw"), st("tool"));
    assert_eq!(get(&e, "fs.path.target"), st("/usr/bin/tool"));
    assert_eq!(get(&e, "fs.path.name"), None);
    let e = change("renameat2_exchange");
    assert_eq!(get(&e, "evt.arg.flags"), st("RENAME_EXCHANGE"));
    assert_eq!(get(&e, "evt.arg.olddirfd"), st("3"));
    assert_eq!(get(&e, "evt.arg.newpath"), st("/srv/.b"));
    // A link's source is the new link, its target the existing file.
    let e = change("linkat_shadow");
    assert_eq!(get(&e, "evt.arg.oldpath"), st("/etc/shadow"));
    assert_eq!(get(&e, "evt.arg.newpath"), st("/tmp/h"));
    assert_eq!(get(&e, "evt.arg.olddir"), st("AT_FDCWD"));
    assert_eq!(get(&e, "evt.arg.flags"), st("AT_SYMLINK_FOLLOW"));
    assert_eq!(get(&e, "fs.path.source"), st("/tmp/h"));
    assert_eq!(get(&e, "fs.path.target"), st("/etc/shadow"));
    // A symlink's target is its content, as passed.
    let e = change("symlink_over_shadow");
    assert_eq!(get(&e, "evt.arg.target"), st("/etc/shadow"));
    assert_eq!(get(&e, "evt.arg.linkpath"), st("/tmp/s"));
    assert_eq!(get(&e, "fs.path.source"), st("/tmp/s"));
    assert_eq!(get(&e, "fs.path.target"), st("/etc/shadow"));
    // A relative content stays as passed in the argument; fs.path.target joins it to the
    // working directory, as Falco does.
    let e = change("symlinkat_relative_target");
    assert_eq!(get(&e, "evt.arg.target"), st("../etc/passwd"));
    assert_eq!(get(&e, "evt.arg.linkdirfd"), st("8"));
    assert_eq!(get(&e, "evt.arg.linkpath"), st("/var/tmp/p"));
    assert_eq!(get(&e, "fs.path.target"), st("/etc/passwd"));
    assert_eq!(get(&e, "fs.path.targetraw"), st("../etc/passwd"));
    let e = change("link_failed");
    assert_eq!(get(&e, "evt.res"), st("EEXIST"));
    assert_eq!(get(&e, "evt.arg.newpath"), st("/tmp/p"));
    assert_eq!(get(&e, "fs.path.source"), None);
}

#[test]
fn modes_by_falco_names_and_fchmods_fd() {
    let e = change("chmod_setuid");
    assert_eq!(
        get(&e, "evt.arg.mode"),
        st("S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID")
    );
    assert_eq!(get(&e, "evt.rawarg.mode"), Some(Value::Int(0o4755)));
    assert_eq!(get(&e, "evt.arg.filename"), st("/tmp/sh"));
    let e = change("fchmod_walked");
    assert_eq!(get(&e, "evt.arg.fd"), st("3"));
    assert_eq!(get(&e, "fs.path.name"), st("/tmp/payload"));
    assert_eq!(get(&e, "fs.path.nameraw"), st("/tmp/payload"));
    assert!(matches!(get(&e, "evt.arg.mode"), Some(Value::Str(m)) if m.ends_with("S_ISGID")));
    let e = change("fchmod_bad_fd");
    assert_eq!(get(&e, "fs.path.name"), None);
    let e = change("mkdirat_hidden");
    assert_eq!(get(&e, "evt.arg.mode"), st("1ED"));
    assert_eq!(get(&e, "evt.arg.path"), st("/usr/sbin/.x"));
    assert_eq!(get(&e, "evt.arg.dirfd"), st("AT_FDCWD"));
    let e = change("fchmodat_exec_in_container");
    assert_eq!(get(&e, "evt.arg.filename"), st("/tmp/payload"));
    assert_eq!(get(&e, "container.id"), st("ee97d9c4186f"));
}

#[test]
fn opens_have_fs_path_name_as_falco_tests_them() {
    let e = super::file::sample_open();
    assert_eq!(get(&e, "fs.path.name"), st("/etc/shadow"));
    assert_eq!(get(&e, "fs.path.source"), None);
}
