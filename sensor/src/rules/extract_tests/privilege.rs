//! The privilege calls' fields: `evt.arg.*` under Falco's names and renderings, the result,
//! and the capabilities the call was made with.

use std::sync::Arc;

use lanner_rules::{EventSource, EvtType, Value};

use super::{EPOCH, enriched, get, in_container, st};
use crate::{
    container::ContainerRef,
    enrich::{Enriched, PodContext, UserContext},
    event::{Body, Caps, PrivCall, Privilege, Text},
    rules::extract::EventView,
};

fn call(ret: i64, call: PrivCall) -> Enriched {
    enriched(
        Body::Privilege(Privilege {
            ret,
            caps: Some(Caps {
                effective: (1 << 16) | (1 << 21),
                permitted: 1 << 21,
            }),
            call,
        }),
        in_container(),
        PodContext::Off,
    )
}

/// One of each call (for tests across event kinds).
pub(super) fn samples() -> Vec<Enriched> {
    let uargs = || Text {
        value: Some("debug=1".into()),
        truncated: false,
    };
    vec![
        call(
            0,
            PrivCall::Ptrace {
                request: 16,
                pid: 42,
            },
        ),
        call(-1, PrivCall::Setuid { uid: 0 }),
        call(
            0,
            PrivCall::Setns {
                fd: 3,
                nstype: 0x4000_0000,
            },
        ),
        call(0, PrivCall::Unshare { flags: 0x1002_0000 }),
        call(
            -38,
            PrivCall::InitModule {
                length: 4096,
                uargs: uargs(),
            },
        ),
        call(
            -8,
            PrivCall::FinitModule {
                fd: 4,
                uargs: uargs(),
                flags: 2,
            },
        ),
        call(7, PrivCall::Bpf { cmd: 5 }),
        call(5, PrivCall::Userfaultfd { flags: 1 }),
    ]
}

fn int(v: i64) -> Option<Value<'static>> {
    Some(Value::Int(v))
}

#[test]
fn ptrace_request_and_pid_as_falco_shows_them() {
    let e = call(
        0,
        PrivCall::Ptrace {
            request: 16,
            pid: 42,
        },
    );
    assert_eq!(EventView::new(&e, EPOCH).evt_type(), EvtType::Ptrace);
    assert_eq!(get(&e, "evt.arg.request"), st("PTRACE_ATTACH"));
    assert_eq!(
        get(&e, "evt.rawarg.request"),
        int(11),
        "Falco's PPM_PTRACE_ATTACH"
    );
    assert_eq!(get(&e, "evt.arg.pid"), st("42"));
    assert_eq!(
        get(&e, "evt.arg[3]"),
        st("PTRACE_ATTACH"),
        "Falco's parameter order"
    );
    assert_eq!(get(&e, "evt.arg.addr"), None, "not captured");
    assert_eq!(get(&e, "evt.res"), st("SUCCESS"));
    assert_eq!(
        get(&e, "evt.args"),
        st("res=0 request=PTRACE_ATTACH pid=42")
    );
    let traceme = call(-1, PrivCall::Ptrace { request: 0, pid: 0 });
    assert_eq!(get(&traceme, "evt.arg.request"), st("PTRACE_TRACEME"));
    assert_eq!(get(&traceme, "evt.res"), st("EPERM"));
    assert_eq!(get(&traceme, "evt.arg.res"), st("EPERM"));
}

#[test]
fn setuid_names_its_uid_in_the_processes_root() {
    let mut e = call(0, PrivCall::Setuid { uid: 65534 });
    let user = |arg_name: Option<&str>| {
        Arc::new(UserContext {
            name: "nobody".into(),
            group: "nogroup".into(),
            loginname: "<NA>".into(),
            arg_name: arg_name.map(Arc::from),
        })
    };
    e.ctx.user = user(Some("nobody"));
    assert_eq!(get(&e, "evt.arg.uid"), st("nobody"));
    assert_eq!(get(&e, "evt.rawarg.uid"), int(65534));
    e.ctx.user = user(Some("<NA>"));
    assert_eq!(get(&e, "evt.arg.uid"), st("<NA>"), "an id the tables lack");
    // Not looked up (context skipped): the number, never a made-up name.
    e.ctx.user = user(None);
    assert_eq!(get(&e, "evt.arg.uid"), st("65534"));
}

#[test]
fn namespace_flags_by_falco_name_and_number() {
    let e = call(0, PrivCall::Unshare { flags: 0x1002_0000 });
    assert_eq!(get(&e, "evt.arg.flags"), st("CLONE_NEWNS|CLONE_NEWUSER"));
    assert_eq!(get(&e, "evt.rawarg.flags"), int((1 << 5) | (1 << 20)));
    let none = call(-22, PrivCall::Unshare { flags: 0 });
    assert_eq!(get(&none, "evt.arg.flags"), st("0"));
    assert_eq!(get(&none, "evt.res"), st("EINVAL"));
    let e = call(
        0,
        PrivCall::Setns {
            fd: 3,
            nstype: 0x4000_0000,
        },
    );
    assert_eq!(get(&e, "evt.arg.fd"), st("3"));
    assert_eq!(get(&e, "evt.arg.nstype"), st("CLONE_NEWNET"));
    assert_eq!(get(&e, "evt.rawarg.nstype"), int(1 << 4));
    let bad = call(-9, PrivCall::Setns { fd: -1, nstype: 0 });
    assert_eq!(
        get(&bad, "evt.arg.fd"),
        st("EPERM"),
        "a negative fd: errno name"
    );
}

#[test]
fn module_loads_bpf_and_userfaultfd() {
    let uargs = Text {
        value: Some("debug=1".into()),
        truncated: false,
    };
    let e = call(
        -38,
        PrivCall::InitModule {
            length: 4096,
            uargs: uargs.clone(),
        },
    );
    assert_eq!(get(&e, "evt.arg.uargs"), st("debug=1"));
    assert_eq!(get(&e, "evt.arg.length"), st("4096"));
    assert_eq!(get(&e, "evt.arg.img"), None, "the image is not copied");
    assert_eq!(get(&e, "evt.res"), st("ENOSYS"));
    let e = call(
        0,
        PrivCall::FinitModule {
            fd: 4,
            uargs,
            flags: 3,
        },
    );
    assert_eq!(get(&e, "evt.arg.fd"), st("4"));
    assert_eq!(
        get(&e, "evt.arg.flags"),
        st("MODULE_INIT_IGNORE_MODVERSIONS|MODULE_INIT_IGNORE_VERMAGIC")
    );
    let e = call(7, PrivCall::Bpf { cmd: 5 });
    assert_eq!(get(&e, "evt.arg.cmd"), st("BPF_PROG_LOAD"));
    assert_eq!(get(&e, "evt.rawarg.cmd"), int(5));
    assert_eq!(
        get(&e, "evt.arg.fd"),
        st("7"),
        "bpf's result is its fd parameter"
    );
    assert_eq!(get(&e, "evt.arg.res"), None, "Falco's bpf event has no res");
    assert_eq!(get(&e, "evt.rawres"), int(7));
    let denied = call(-1, PrivCall::Bpf { cmd: 5 });
    assert_eq!(get(&denied, "evt.arg.fd"), st("EPERM"));
    assert_eq!(get(&denied, "evt.res"), st("EPERM"));
    let e = call(5, PrivCall::Userfaultfd { flags: 0x80800 });
    assert_eq!(
        get(&e, "evt.arg.flags"),
        st("O_LARGEFILE"),
        "as Falco names it"
    );
    assert_eq!(get(&e, "evt.rawarg.flags"), int(0x80800));
}

#[test]
fn capabilities_are_the_callers_and_missing_when_unread() {
    let e = call(
        -1,
        PrivCall::InitModule {
            length: 1,
            uargs: Text::default(),
        },
    );
    assert_eq!(
        get(&e, "thread.cap_effective"),
        st("CAP_SYS_MODULE CAP_SYS_ADMIN")
    );
    assert_eq!(get(&e, "thread.cap_permitted"), st("CAP_SYS_ADMIN"));
    let mut unread = e.clone();
    if let Body::Privilege(p) = &mut unread.event.body {
        p.caps = None;
    }
    assert_eq!(get(&unread, "thread.cap_effective"), None);
    let host = enriched(
        Body::Privilege(Privilege {
            ret: 0,
            caps: None,
            call: PrivCall::Ptrace { request: 0, pid: 0 },
        }),
        ContainerRef::Host,
        PodContext::Host,
    );
    assert_eq!(get(&host, "container.id"), st("host"));
}
