//! The documented shape of events (docs/events.md): keys per `evt.type` and their types.

use crate::{field_i64, field_str};
use serde_json::Value;

#[rustfmt::skip]
const EXEC_KEYS: &[&str] = &[
    "proc.vpid", "proc.ppid", "proc.exe", "proc.exepath",
    "proc.cmdline", "proc.args", "proc.cwd", "proc.tty",
    "user.euid", "user.loginuid", "thread.cap_effective", "thread.cap_permitted",
    "proc.is_exe_upper_layer", "proc.is_exe_from_memfd", "evt.arg.filename", "lanner.argv",
    "lanner.args_truncated", "proc.env",
];
const CONNECT_KEYS: &[&str] = &[
    "fd.num",
    "fd.sockfamily",
    "fd.typechar",
    "fd.type",
    "fd.l4proto",
    "fd.name",
];
const CONNECT_IP_KEYS: &[&str] = &["fd.cip", "fd.cport", "fd.sip", "fd.sport"];
/// Every privilege call: the capabilities it was made with.
const CAPS_KEYS: &[&str] = &["thread.cap_effective", "thread.cap_permitted"];
const MODULE_KEYS: &[&str] = &["evt.arg.uargs", "lanner.uargs_truncated"];
/// Every event of the network family (socket, dup*, accept*, listen, send*/recv*) has every
/// `fd.*` key, null where the fd has no such value.
#[rustfmt::skip]
const NET_FD_KEYS: &[&str] = &[
    "fd.num", "fd.name", "fd.type", "fd.typechar", "fd.sockfamily", "fd.l4proto",
    "fd.connected", "fd.name_changed", "fd.cip", "fd.cport", "fd.sip", "fd.sport", "fd.lip",
    "fd.lport", "fd.rip", "fd.rport",
];
#[rustfmt::skip]
const OPEN_KEYS: &[&str] = &[
    "fd.num", "fd.name", "fd.nameraw", "fd.directory", "fd.filename", "fd.typechar", "fd.type",
    "evt.arg.fd", "evt.rawarg.fd", "evt.arg.name", "evt.arg.mode", "evt.rawarg.mode",
    "evt.is_open_read", "evt.is_open_write", "evt.is_open_exec", "thread.cap_effective",
    "lanner.path_read_at_exit",
];
const OPEN_FLAGS_KEYS: &[&str] = &["evt.arg.flags", "evt.rawarg.flags"];
/// The path one file call operates on (null when the call failed).
const FS_PATH_KEYS: &[&str] = &["fs.path.name", "fs.path.nameraw"];
/// The two paths of a rename, link or symlink (null when the call failed).
#[rustfmt::skip]
const FS_PATHS_KEYS: &[&str] = &[
    "fs.path.source", "fs.path.sourceraw", "fs.path.target", "fs.path.targetraw",
];
/// Every file-tree change.
const CHANGE_KEYS: &[&str] = &["lanner.path_read_at_exit"];
/// A chmod's mode, by Falco's names.
const MODE_KEYS: &[&str] = &["evt.arg.mode", "evt.rawarg.mode"];
const DIRFD_KEYS: &[&str] = &["evt.arg.dirfd", "evt.rawarg.dirfd"];

fn keys_of(evt_type: &str) -> Option<Vec<&'static str>> {
    let k: Vec<&str> = match evt_type {
        "execve" => EXEC_KEYS.to_vec(),
        "execveat" => [
            EXEC_KEYS,
            &["evt.arg.dirfd", "evt.rawarg.dirfd", "lanner.at_flags"],
        ]
        .concat(),
        "mount" => {
            vec![
                "evt.arg.dev",
                "evt.arg.dir",
                "evt.arg.type",
                "evt.arg.flags",
                "evt.rawarg.flags",
                "lanner.mount_flags",
            ]
        }
        "umount2" => vec!["evt.arg.name", "evt.arg.flags", "evt.rawarg.flags"],
        "fsopen" => vec!["evt.arg.fsname", "evt.arg.flags", "evt.rawarg.flags"],
        "fsmount" => vec![
            "evt.arg.fd",
            "evt.rawarg.fd",
            "evt.arg.flags",
            "evt.rawarg.flags",
            "evt.arg.attr_flags",
            "evt.rawarg.attr_flags",
        ],
        "move_mount" => vec![
            "evt.arg.from_dfd",
            "evt.rawarg.from_dfd",
            "evt.arg.from_pathname",
            "evt.arg.to_dfd",
            "evt.rawarg.to_dfd",
            "evt.arg.to_pathname",
            "evt.arg.flags",
            "evt.rawarg.flags",
        ],
        "open_tree" => vec![
            "evt.arg.dfd",
            "evt.rawarg.dfd",
            "evt.arg.filename",
            "evt.arg.flags",
            "evt.rawarg.flags",
        ],
        "connect" => CONNECT_KEYS.to_vec(),
        "socket" => [
            NET_FD_KEYS,
            &["evt.arg.domain", "evt.arg.type", "evt.arg.proto"],
        ]
        .concat(),
        "dup" => [NET_FD_KEYS, &["evt.arg.oldfd"]].concat(),
        "dup2" => [NET_FD_KEYS, &["evt.arg.oldfd", "evt.arg.newfd"]].concat(),
        "dup3" => [
            NET_FD_KEYS,
            &["evt.arg.oldfd", "evt.arg.newfd", "evt.arg.flags"],
        ]
        .concat(),
        "accept" | "accept4" => [NET_FD_KEYS, &["evt.arg.fd", "evt.arg.tuple"]].concat(),
        "listen" => [NET_FD_KEYS, &["evt.arg.fd", "evt.arg.backlog"]].concat(),
        "sendto" | "recvfrom" => [
            NET_FD_KEYS,
            &["evt.arg.fd", "evt.arg.size", "evt.arg.tuple"],
        ]
        .concat(),
        "sendmsg" | "recvmsg" => [NET_FD_KEYS, &["evt.arg.fd", "evt.arg.tuple"]].concat(),
        "clone" => vec!["lanner.child_pid", "lanner.child_tid", "lanner.is_thread"],
        "procexit" => vec!["evt.arg.status", "evt.rawarg.status"],
        "ptrace" => [
            &[
                "evt.arg.request",
                "evt.rawarg.request",
                "evt.arg.pid",
                "evt.rawarg.pid",
            ],
            CAPS_KEYS,
        ]
        .concat(),
        "setuid" => [&["evt.arg.uid", "evt.rawarg.uid"], CAPS_KEYS].concat(),
        "setns" => [
            &[
                "evt.arg.fd",
                "evt.rawarg.fd",
                "evt.arg.nstype",
                "evt.rawarg.nstype",
            ],
            CAPS_KEYS,
        ]
        .concat(),
        "unshare" | "userfaultfd" => [&["evt.arg.flags", "evt.rawarg.flags"], CAPS_KEYS].concat(),
        "bpf" => [
            &[
                "evt.arg.fd",
                "evt.rawarg.fd",
                "evt.arg.cmd",
                "evt.rawarg.cmd",
            ],
            CAPS_KEYS,
        ]
        .concat(),
        "init_module" => [
            &["evt.arg.length", "evt.rawarg.length"],
            MODULE_KEYS,
            CAPS_KEYS,
        ]
        .concat(),
        "finit_module" => [
            &[
                "evt.arg.fd",
                "evt.rawarg.fd",
                "evt.arg.flags",
                "evt.rawarg.flags",
            ],
            MODULE_KEYS,
            CAPS_KEYS,
        ]
        .concat(),
        "open" => [OPEN_KEYS, OPEN_FLAGS_KEYS, FS_PATH_KEYS].concat(),
        "openat" => [OPEN_KEYS, OPEN_FLAGS_KEYS, DIRFD_KEYS, FS_PATH_KEYS].concat(),
        "openat2" => [
            OPEN_KEYS,
            OPEN_FLAGS_KEYS,
            DIRFD_KEYS,
            FS_PATH_KEYS,
            &["evt.arg.resolve", "evt.rawarg.resolve"],
        ]
        .concat(),
        "creat" => OPEN_KEYS.to_vec(),
        "unlink" | "rmdir" => [CHANGE_KEYS, FS_PATH_KEYS, &["evt.arg.path"]].concat(),
        "unlinkat" => [
            CHANGE_KEYS,
            FS_PATH_KEYS,
            DIRFD_KEYS,
            &["evt.arg.name", "evt.arg.flags", "evt.rawarg.flags"],
        ]
        .concat(),
        "mkdir" => [CHANGE_KEYS, FS_PATH_KEYS, &["evt.arg.path"], MODE_KEYS].concat(),
        "mkdirat" => [
            CHANGE_KEYS,
            FS_PATH_KEYS,
            DIRFD_KEYS,
            &["evt.arg.path"],
            MODE_KEYS,
        ]
        .concat(),
        "chmod" => [CHANGE_KEYS, FS_PATH_KEYS, &["evt.arg.filename"], MODE_KEYS].concat(),
        "fchmod" => [CHANGE_KEYS, FS_PATH_KEYS, &["evt.arg.fd"], MODE_KEYS].concat(),
        "fchmodat" => [
            CHANGE_KEYS,
            FS_PATH_KEYS,
            DIRFD_KEYS,
            &["evt.arg.filename"],
            MODE_KEYS,
        ]
        .concat(),
        "rename" | "link" => [
            CHANGE_KEYS,
            FS_PATHS_KEYS,
            &["evt.arg.oldpath", "evt.arg.newpath"],
        ]
        .concat(),
        "renameat" | "renameat2" => [
            CHANGE_KEYS,
            FS_PATHS_KEYS,
            &[
                "evt.arg.olddirfd",
                "evt.arg.oldpath",
                "evt.arg.newdirfd",
                "evt.arg.newpath",
            ],
            if evt_type == "renameat2" {
                &["evt.arg.flags", "evt.rawarg.flags"]
            } else {
                &[]
            },
        ]
        .concat(),
        "linkat" => [
            CHANGE_KEYS,
            FS_PATHS_KEYS,
            &[
                "evt.arg.olddir",
                "evt.arg.oldpath",
                "evt.arg.newdir",
                "evt.arg.newpath",
                "evt.arg.flags",
            ],
        ]
        .concat(),
        "symlink" => [
            CHANGE_KEYS,
            FS_PATHS_KEYS,
            &["evt.arg.target", "evt.arg.linkpath"],
        ]
        .concat(),
        "symlinkat" => [
            CHANGE_KEYS,
            FS_PATHS_KEYS,
            &["evt.arg.target", "evt.arg.linkdirfd", "evt.arg.linkpath"],
        ]
        .concat(),
        _ => return None,
    };
    Some(k)
}

/// Checks the parts of docs/events.md that hold for every event: common keys and their
/// types, and presence (possibly null, never omitted) of every key documented for its type.
#[track_caller]
pub fn assert_schema(ev: &Value) {
    let obj = ev
        .as_object()
        .unwrap_or_else(|| panic!("event is not an object: {ev}"));
    let is_int = |k: &str| ev[k].is_i64() || ev[k].is_u64();
    let missing = |k: &str| !obj.contains_key(k);
    for k in [
        "evt.time",
        "proc.pid",
        "thread.tid",
        "user.uid",
        "group.gid",
        "lanner.cgroup_id",
    ] {
        assert!(is_int(k), "`{k}` must be an integer\nevent: {ev:#}");
    }
    for k in ["evt.type", "proc.name"] {
        assert!(
            ev[k].as_str().is_some_and(|s| !s.is_empty()),
            "`{k}` must be a non-empty string\nevent: {ev:#}"
        );
    }
    assert!(
        !missing("lanner.cgroup"),
        "key `lanner.cgroup` missing\nevent: {ev:#}"
    );
    // A process exit has no return value: the keys are not there (the dump shows the fields an
    // event of its type can have); every other event has them.
    let has_result = ev["evt.type"] != "procexit";
    for k in ["evt.res", "evt.rawres"] {
        assert_eq!(
            missing(k),
            !has_result,
            "key `{k}` {}\nevent: {ev:#}",
            if has_result { "missing" } else { "on procexit" }
        );
    }
    assert!(
        ev["evt.res"].is_null() || ev["evt.res"].is_string(),
        "evt.res type\nevent: {ev:#}"
    );
    assert!(
        ev["evt.rawres"].is_null() || is_int("evt.rawres"),
        "evt.rawres type\nevent: {ev:#}"
    );
    assert!(
        ev["lanner.path_truncated"].is_boolean(),
        "`lanner.path_truncated` must be a bool\nevent: {ev:#}"
    );
    assert!(
        ev["lanner.cgroup"] != "",
        "lanner.cgroup must be null, not \"\"\nevent: {ev:#}"
    );
    assert!(
        field_i64(ev, "evt.time") > 1_500_000_000_000_000_000,
        "evt.time is not ns since epoch\nevent: {ev:#}"
    );
    if let Some(raw) = ev["evt.rawres"].as_i64() {
        let res = field_str(ev, "evt.res");
        assert_eq!(
            res == "SUCCESS",
            raw >= 0,
            "evt.res/evt.rawres disagree\nevent: {ev:#}"
        );
    } else {
        assert!(
            ev["evt.res"].is_null(),
            "evt.res set without evt.rawres\nevent: {ev:#}"
        );
    }
    let t = field_str(ev, "evt.type");
    let keys = keys_of(t).unwrap_or_else(|| panic!("unknown evt.type `{t}`\nevent: {ev:#}"));
    for k in keys {
        assert!(
            !missing(k),
            "key `{k}` missing from a `{t}` event\nevent: {ev:#}"
        );
    }
    match t {
        "execve" | "execveat" => {
            assert!(
                ev["lanner.args_truncated"].is_boolean(),
                "`lanner.args_truncated` must be a bool\nevent: {ev:#}"
            );
            // A failed exec leaves the process as it was: whether its executable is a memfd
            // is not in its record.
            let memfd = &ev["proc.is_exe_from_memfd"];
            assert!(
                if ev["evt.res"] == "SUCCESS" {
                    memfd.is_boolean()
                } else {
                    memfd.is_null()
                },
                "`proc.is_exe_from_memfd` must be a bool after a successful exec, else null\nevent: {ev:#}"
            );
            let argv = &ev["lanner.argv"];
            assert!(
                argv.is_null()
                    || argv
                        .as_array()
                        .is_some_and(|a| a.iter().all(Value::is_string)),
                "lanner.argv must be an array of strings\nevent: {ev:#}"
            );
        }
        "connect" if ev["fd.sockfamily"] == "ip" => {
            for k in CONNECT_IP_KEYS {
                assert!(
                    !missing(k),
                    "key `{k}` missing from an IP connect event\nevent: {ev:#}"
                );
            }
        }
        "open" | "openat" | "openat2" | "creat" => {
            let num = field_i64(ev, "fd.num");
            assert_eq!(
                num,
                field_i64(ev, "evt.rawres").max(-1),
                "fd.num is the new fd, -1 for a failed open\nevent: {ev:#}"
            );
            // A failed open made no fd: no type, no file name (as in Falco).
            if num < 0 {
                assert!(
                    ev["fd.type"].is_null() && ev["fd.filename"].is_null(),
                    "a failed open has no fd.type nor fd.filename\nevent: {ev:#}"
                );
            }
        }
        "unlink" | "unlinkat" | "rmdir" | "mkdir" | "mkdirat" | "chmod" | "fchmod" | "fchmodat"
        | "rename" | "renameat" | "renameat2" | "link" | "linkat" | "symlink" | "symlinkat" => {
            // fs.path.* exist only when the call succeeded (as in Falco).
            let ok = ev["evt.res"] == "SUCCESS";
            for k in FS_PATH_KEYS.iter().chain(FS_PATHS_KEYS) {
                if !missing(k) && !ok {
                    assert!(
                        ev[*k].is_null(),
                        "`{k}` set on a failed call\nevent: {ev:#}"
                    );
                }
            }
        }
        "clone" => {
            assert!(
                ev["evt.rawres"] == ev["lanner.child_tid"],
                "`clone` returns the child's tid in the parent\nevent: {ev:#}"
            );
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn clone_event() -> Value {
        json!({"evt.type": "clone", "evt.time": 1_700_000_000_000_000_000i64, "evt.res": "SUCCESS",
               "evt.rawres": 11, "proc.pid": 10, "thread.tid": 10, "proc.name": "x",
               "user.uid": 0, "group.gid": 0, "lanner.cgroup_id": 1, "lanner.cgroup": null,
               "lanner.path_truncated": false,
               "lanner.child_pid": 11, "lanner.child_tid": 11, "lanner.is_thread": false})
    }

    #[test]
    fn schema_accepts_a_documented_event() {
        assert_schema(&clone_event());
    }

    #[test]
    #[should_panic(expected = "key `lanner.child_tid` missing")]
    fn schema_rejects_an_omitted_key() {
        let mut ev = clone_event();
        ev.as_object_mut().unwrap().remove("lanner.child_tid");
        assert_schema(&ev);
    }
}
