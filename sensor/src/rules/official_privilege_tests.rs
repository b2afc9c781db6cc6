//! The official rules over the privilege calls, decoded from records laid out as the kernel
//! writes them: which rules each call fires, and which near misses stay quiet. This covers
//! the module loaders too, which the end-to-end tests cannot make on a kernel built without
//! module support (no such syscall, no tracepoint: tests/tests/privilege.rs checks that the
//! sensor says so).

use std::sync::LazyLock;

use lanner_common::{
    CGROUP_NAME_LEN, EventKind, PRIV_HEAD_SIZE, PrivOp, PrivRecord, StrField, field_flags,
    priv_flags,
};
use lanner_rules::{Matching, Options, Ruleset, testing::official_sources};

use crate::{
    config::Config,
    enrich::Enriched,
    fuzz::samples,
    reader::decode::{bytes_of, decode, zeroed},
    rules::extract::EventView,
};

fn official() -> &'static Ruleset {
    static RULES: LazyLock<Ruleset> = LazyLock::new(|| {
        let options = Options {
            matching: Matching::All,
            ..Config::default().engine_options()
        };
        match lanner_rules::load(&official_sources(), &options) {
            Ok(l) => l.ruleset,
            Err(e) => panic!("the official rules do not load: {e:?}"),
        }
    });
    &RULES
}

const CAP_SYS_MODULE: u64 = 1 << 16;
const CAP_SYS_ADMIN: u64 = 1 << 21;

/// One call, as its record: made by `comm` with `caps` (effective and permitted; `None`:
/// unreadable), in the sample container or on the host.
struct Call {
    op: PrivOp,
    ret: i64,
    args: [u64; 4],
    comm: &'static str,
    uid: u32,
    caps: Option<u64>,
    in_container: bool,
}

impl Call {
    fn new(op: PrivOp, args: [u64; 4]) -> Call {
        Call {
            op,
            ret: 0,
            args,
            comm: "attack",
            uid: 1000,
            caps: Some(0),
            in_container: true,
        }
    }

    fn event(&self) -> Enriched {
        let mut r = zeroed::<PrivRecord>();
        r.header.kind = EventKind::Privilege as u32;
        r.header.variant = self.op as u32;
        (r.header.pid, r.header.tid, r.header.uid) = (4600, 4600, self.uid);
        r.header.comm[..self.comm.len()].copy_from_slice(self.comm.as_bytes());
        let cgroup = if self.in_container {
            format!("cri-containerd-{}.scope", samples::CONTAINER_ID)
        } else {
            "session-3.scope".into()
        };
        let mut leaf = [0u8; CGROUP_NAME_LEN];
        leaf[..cgroup.len()].copy_from_slice(cgroup.as_bytes());
        r.header.cgroup = leaf;
        (r.ret, r.args) = (self.ret, self.args);
        if let Some(caps) = self.caps {
            (r.cap_effective, r.cap_permitted) = (caps, caps);
            r.priv_flags = priv_flags::CAPS_KNOWN;
        }
        r.head.text_f = StrField {
            len: 0,
            flags: field_flags::ABSENT,
        };
        let bytes = bytes_of(&*r);
        let n = if self.op.has_text() {
            bytes.len()
        } else {
            PRIV_HEAD_SIZE
        };
        let ev = decode(&bytes[..n], false).expect("the record decodes");
        samples::enrich(ev, None)
    }
}

/// The rules `call` fires.
fn fired(call: &Call) -> Vec<String> {
    let ev = call.event();
    let view = EventView::new(&ev, samples::epoch_ns(&ev.event));
    let mut names = Vec::new();
    official().evaluate(&view, |r| names.push(r.name.to_string()));
    names
}

#[track_caller]
fn fires(call: &Call, rule: &str) {
    let got = fired(call);
    assert!(got.iter().any(|n| n == rule), "{rule} should fire: {got:?}");
}

#[track_caller]
fn quiet(call: &Call, rule: &str) {
    let got = fired(call);
    assert!(
        !got.iter().any(|n| n == rule),
        "{rule} should not fire: {got:?}"
    );
}

#[test]
fn a_module_load_in_a_container_with_cap_sys_module_fires() {
    const RULE: &str = "Linux Kernel Module Injection Detected";
    for op in [PrivOp::InitModule, PrivOp::FinitModule] {
        // A bogus image fails; the rule does not ask for success.
        let load = Call {
            ret: -8,
            caps: Some(CAP_SYS_MODULE),
            uid: 0,
            ..Call::new(op, [3, 64, 0, 0])
        };
        fires(&load, RULE);
        quiet(
            &Call {
                caps: Some(CAP_SYS_ADMIN),
                ..load
            },
            RULE,
        );
    }
    let load = |caps, in_container| Call {
        caps,
        in_container,
        uid: 0,
        ..Call::new(PrivOp::InitModule, [0, 64, 0, 0])
    };
    quiet(&load(Some(CAP_SYS_MODULE), false), RULE);
    // Capabilities that could not be read are not taken for CAP_SYS_MODULE.
    quiet(&load(None, true), RULE);
}

#[test]
fn ptrace_attach_and_traceme_fire_their_rules_only() {
    let (attach, traceme) = ("PTRACE attached to process", "PTRACE anti-debug attempt");
    let call = |request| Call::new(PrivOp::Ptrace, [request, 4242, 0, 0]);
    for request in [16, 0x4206, 4, 5, 13] {
        // ATTACH, SEIZE, POKETEXT, POKEDATA, SETREGS
        fires(&call(request), attach);
        quiet(&call(request), traceme);
    }
    fires(&call(0), traceme);
    quiet(&call(0), attach);
    // Reading the tracee's memory is no injection.
    quiet(&call(2), attach);
}

#[test]
fn namespace_and_bpf_and_userfaultfd_rules() {
    let unshare = |caps, in_container| Call {
        caps: Some(caps),
        in_container,
        ..Call::new(PrivOp::Unshare, [0x1000_0000, 0, 0, 0])
    };
    const UNSHARE: &str = "Change namespace privileges via unshare";
    fires(&unshare(0, true), UNSHARE);
    quiet(&unshare(CAP_SYS_ADMIN, true), UNSHARE);
    quiet(&unshare(0, false), UNSHARE);

    let setns = |comm| Call {
        comm,
        ..Call::new(PrivOp::Setns, [3, 0x4000_0000, 0, 0])
    };
    fires(&setns("attack"), "Change thread namespace");
    quiet(&setns("calico"), "Change thread namespace");

    let bpf = |cmd, comm| Call {
        comm,
        ret: 5,
        ..Call::new(PrivOp::Bpf, [cmd, 0, 0, 0])
    };
    fires(&bpf(5, "attack"), "BPF Program Not Profiled");
    quiet(&bpf(0, "attack"), "BPF Program Not Profiled");
    quiet(&bpf(5, "bpftool"), "BPF Program Not Profiled");

    const UFFD: &str = "Unprivileged Delegation of Page Faults Handling to a Userspace Process";
    let uffd = |uid| Call {
        uid,
        ret: 4,
        ..Call::new(PrivOp::Userfaultfd, [1, 0, 0, 0])
    };
    fires(&uffd(1000), UFFD);
    quiet(&uffd(0), UFFD);
}
