//! Privilege records (ptrace, setuid, …) as the kernel sends them: one of each call.

use lanner_common::{EventKind, PRIV_HEAD_SIZE, PrivOp, PrivRecord, priv_flags};

use super::{CONTAINER_CGROUP, bytes_of, header, put, zeroed};

/// A privilege call with its arguments (and module parameters), made by a task with every
/// capability; only the module loaders send their string.
fn privilege(
    name: &'static str,
    op: PrivOp,
    ret: i64,
    args: [u64; 4],
    uargs: &str,
) -> (&'static str, Vec<u8>) {
    let mut r = zeroed::<PrivRecord>();
    let cgroup = CONTAINER_CGROUP.as_str();
    r.header = header(EventKind::Privilege, op as u32, 4500, "gdb", cgroup);
    (r.ret, r.args) = (ret, args);
    (r.cap_effective, r.cap_permitted) = (u64::MAX >> 23, u64::MAX >> 23);
    r.priv_flags = priv_flags::CAPS_KNOWN;
    r.head.text_f = put(&mut r.text, uargs.as_bytes());
    let bytes = bytes_of(&*r);
    let len = if op.has_text() {
        bytes.len()
    } else {
        PRIV_HEAD_SIZE
    };
    (name, bytes[..len].to_vec())
}

/// One record of every call, `long` as a module's parameters too long for their buffer.
pub(super) fn records(long: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        privilege("ptrace_attach", PrivOp::Ptrace, 0, [16, 4242, 0, 0], ""),
        privilege("setuid_denied", PrivOp::Setuid, -1, [0, 0, 0, 0], ""),
        privilege("setns_net", PrivOp::Setns, 0, [3, 0x4000_0000, 0, 0], ""),
        privilege(
            "unshare_user",
            PrivOp::Unshare,
            0,
            [0x1002_0000, 0, 0, 0],
            "",
        ),
        privilege(
            "init_module",
            PrivOp::InitModule,
            -8,
            [0, 4096, 1, 0],
            "debug=1",
        ),
        privilege(
            "finit_module_long",
            PrivOp::FinitModule,
            0,
            [5, 1, 3, 0],
            long,
        ),
        privilege("bpf_prog_load", PrivOp::Bpf, 7, [5, 0, 0, 0], ""),
        privilege(
            "userfaultfd",
            PrivOp::Userfaultfd,
            4,
            [0x80801, 0, 0, 0],
            "",
        ),
    ]
}
