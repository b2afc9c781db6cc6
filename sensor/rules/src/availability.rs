//! Which fields Lanner's sensor can ever fill, per event type. The ruleset uses it to settle
//! checks at load time (`specialize`): a check on a field the sensor never has for an event
//! type is false on every such event, so it costs nothing per event. The sensor's extraction
//! is tested against this table (a field it fills must be claimed here), so a claim that is
//! too narrow — which would silently drop alerts — fails the tests.

use crate::{evttype::EvtType, fields::Field};

/// `fd.*` fields the sensor fills on connect (the socket's tuple); every other `fd.*` (files,
/// DNS names) is never filled.
const CONNECT_FD: &[&str] = &[
    "fd.num",
    "fd.name",
    "fd.type",
    "fd.typechar",
    "fd.sockfamily",
    "fd.l4proto",
    "fd.connected",
    "fd.name_changed",
    "fd.cip",
    "fd.sip",
    "fd.lip",
    "fd.rip",
    "fd.cport",
    "fd.sport",
    "fd.lport",
    "fd.rport",
];

/// Fields only the exec record carries (`proc.tty` is not one: the process table keeps it).
const EXEC_ONLY: &[&str] = &[
    "proc.env",
    "proc.sid",
    "proc.pgid",
    "proc.is_exe_upper_layer",
    "proc.is_exe_from_memfd",
    "thread.cap_effective",
    "thread.cap_permitted",
    "user.euid",
    "user.loginuid",
];

/// Fields Lanner never fills: they belong to events it does not capture (file opens, I/O
/// buffers) or to data it does not read (exe inode times, DNS names).
const NEVER: &[&str] = &[
    "evt.num",
    "evt.buffer",
    "proc.is_exe_writable",
    "proc.exe_ino",
    "proc.exe_ino.ctime",
    "proc.exe_ino.mtime",
    "proc.exe_ino.ctime_duration_proc_start",
    "thread.cap_inheritable",
];

/// Can Lanner's sensor have a value for `field` on an event of type `ty`?
pub fn lanner(ty: EvtType, field: Field) -> bool {
    let name = crate::fields::def(field).name;
    if NEVER.contains(&name) {
        return false;
    }
    if name.starts_with("fd.") {
        return ty == EvtType::Connect && CONNECT_FD.contains(&name);
    }
    if EXEC_ONLY.contains(&name) {
        return matches!(ty, EvtType::Execve | EvtType::Execveat);
    }
    match name {
        // A process exit has no return value.
        "evt.res" | "evt.rawres" => ty != EvtType::Procexit,
        _ => true,
    }
}
