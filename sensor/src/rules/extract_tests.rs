//! Field extraction over hand-made enriched events: every event kind, host and container,
//! pod found / pending / off, ancestors, and values the event does not have.

use std::{borrow::Cow, collections::BTreeMap, sync::Arc};

use lanner_rules::{EventSource, EvtType, FieldArg, Value, fields::lookup};

use super::extract::EventView;
use crate::{
    container::{ContainerRef, Runtime},
    enrich::{Ancestor, Context, Enriched, PodContext, ProcContext, UserContext},
    event::{Body, Event, Exec, ExecSyscall, Exit, Fork, Mount, MountOp, ProcessGroups, Text},
    k8s::{HostPathMount, PodMeta},
    process::table::Image,
    testutil::task,
};

mod available;
mod file;
mod file_change;
mod net;
mod net_fd;
mod paths;
mod pod;
mod privilege;

const EPOCH: u64 = 1_685_022_245_478_445_995;
const ID: &str = "ee97d9c4186f0123456789abcdef0123456789abcdef0123456789abcdef0123";

fn text(v: &str) -> Text {
    Text {
        value: Some(v.into()),
        truncated: false,
    }
}

fn ancestor(pid: u32, name: &str, args: &str) -> Ancestor {
    Ancestor {
        pid,
        image: Arc::new(Image::new(
            name.into(),
            name.into(),
            Some(format!("/usr/bin/{name}")),
            args.split(' ')
                .filter(|a| !a.is_empty())
                .map(String::from)
                .collect(),
            Some("/root/".into()),
        )),
    }
}

/// `curl -s http://x` (pid 100) run by `sh -c …` (99), from `containerd-shim` (50), from
/// `systemd` (1).
fn context(container: ContainerRef, pod: PodContext) -> Context {
    Context {
        process: ProcContext {
            lineage: vec![
                ancestor(100, "curl", "-s http://x"),
                ancestor(99, "sh", "-c curl -s http://x"),
                ancestor(50, "containerd-shim", ""),
                ancestor(1, "systemd", ""),
            ]
            .into(),
            vpid: Some(7),
            tty: Some(34816),
            sname: Some("bash".into()),
            vpgid: Some(7),
            duration_ns: Some(5_000),
        },
        user: Arc::new(UserContext {
            name: "root".into(),
            group: "root".into(),
            loginname: "alice".into(),
            arg_name: None,
        }),
        container,
        pod,
        skipped: false,
    }
}

pub(super) fn in_container() -> ContainerRef {
    ContainerRef::Container {
        runtime: Some(Runtime::Containerd),
        full_id: ID.into(),
    }
}

fn pod_meta() -> Arc<PodMeta> {
    let labels: BTreeMap<String, String> = [
        ("app", "web"),
        ("app.kubernetes.io/name", "nginx"),
        ("canary", ""),
        ("io.kubernetes.pod.namespace", "prod"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mount = |host: &str, dest: &str, ro| HostPathMount {
        host_path: host.into(),
        container_path: dest.into(),
        read_only: ro,
    };
    Arc::new(PodMeta {
        namespace: "prod".into(),
        pod_name: "web-1".into(),
        pod_uid: "uid-1".into(),
        labels,
        pod_ip: Some("10.1.2.3".into()),
        container_name: "nginx".into(),
        image: "nginx:1.25".into(),
        runtime_image: "docker.io/library/nginx:1.25".into(),
        image_repository: "docker.io/library/nginx".into(),
        image_tag: "1.25".into(),
        privileged: true,
        host_path_mounts: vec![
            mount("/var/run/docker.sock", "/var/run/docker.sock", false),
            mount("/proc", "/host/proc", true),
            mount("/etc", "/host/etc", true),
        ],
        started_at_ns: Some(EPOCH - 1_000),
    })
}

pub(super) fn exec_body(ret: i64) -> Exec {
    Exec {
        syscall: ExecSyscall::Execve,
        ret,
        ppid: 99,
        vpid: Some(7),
        groups: Some(ProcessGroups {
            pgid: 100,
            sid: 40,
            vpgid: 7,
        }),
        euid: 0,
        loginuid: Some(1000),
        cap_effective: (1 << 21) | 1,
        cap_permitted: 1 << 21,
        tty: Some(34816),
        upper_layer: Some(true),
        from_memfd: false,
        filename: text("/usr/bin/curl"),
        image: Image::of(
            "curl",
            &["curl", "-s", "http://x"],
            Some("/usr/bin/curl"),
            Some("/root/"),
        ),
        argv_empty: false,
        args_truncated: false,
        env: Some(vec!["HOME=/root".into(), "PATH=/bin".into()]),
        dirfd: -100,
        at_flags: 0,
    }
}

fn event(comm: &str, body: Body) -> Event {
    Event {
        boot_ns: 1,
        task: task(100, comm),
        body,
    }
}

fn enriched(body: Body, container: ContainerRef, pod: PodContext) -> Enriched {
    Enriched {
        event: event("curl", body),
        ctx: context(container, pod),
    }
}

pub(super) fn exec_in_pod() -> Enriched {
    enriched(
        Body::Exec(exec_body(0)),
        in_container(),
        PodContext::Found(pod_meta()),
    )
}

/// The value of a field as written in a rule (`proc.aname[2]`, `evt.arg.flags`).
fn get(e: &Enriched, written: &str) -> Option<Value<'static>> {
    let (name, arg) = match written.split_once('[') {
        Some((n, rest)) => (n, Some(rest.strip_suffix(']').unwrap())),
        None => (written, None),
    };
    let (field, arg) = lookup(name, arg).unwrap_or_else(|e| panic!("{written}: {e}"));
    EventView::new(e, EPOCH)
        .extract(field, &arg)
        .map(Value::into_owned)
}

fn str_of(e: &Enriched, written: &str) -> Option<String> {
    match get(e, written)? {
        Value::Str(s) => Some(s.into_owned()),
        other => panic!("{written}: not a string: {other:?}"),
    }
}

fn st(v: &str) -> Option<Value<'static>> {
    Some(Value::Str(Cow::Owned(v.into())))
}

#[test]
fn exec_process_fields_come_from_the_record() {
    let e = exec_in_pod();
    assert_eq!(str_of(&e, "proc.name").as_deref(), Some("curl"));
    assert_eq!(str_of(&e, "proc.exe").as_deref(), Some("curl"));
    assert_eq!(str_of(&e, "proc.exepath").as_deref(), Some("/usr/bin/curl"));
    assert_eq!(get(&e, "proc.args"), st("-s http://x"));
    assert_eq!(get(&e, "proc.args[0]"), st("-s"));
    assert_eq!(
        get(&e, "proc.args[5]"),
        st(""),
        "past the end: present, empty"
    );
    assert_eq!(get(&e, "proc.cmdline"), st("curl -s http://x"));
    assert_eq!(get(&e, "proc.exeline"), st("curl -s http://x"));
    assert_eq!(get(&e, "proc.cmdnargs"), Some(Value::Uint(2)));
    assert_eq!(get(&e, "proc.env"), st("HOME=/root PATH=/bin"));
    assert_eq!(get(&e, "proc.env[HOME]"), st("/root"));
    assert_eq!(get(&e, "proc.env[NOPE]"), st(""), "unset: present, empty");
    assert_eq!(get(&e, "proc.cwd"), st("/root/"));
    assert_eq!(get(&e, "proc.tty"), Some(Value::Uint(34816)));
    assert_eq!(get(&e, "proc.pid"), Some(Value::Int(100)));
    assert_eq!(get(&e, "proc.ppid"), Some(Value::Int(99)));
    assert_eq!(get(&e, "proc.vpid"), Some(Value::Int(7)));
    assert_eq!(get(&e, "proc.sid"), Some(Value::Int(40)));
    assert_eq!(get(&e, "proc.pgid"), Some(Value::Int(100)));
    assert_eq!(get(&e, "proc.vpgid"), Some(Value::Int(7)));
    assert_eq!(get(&e, "proc.is_vpgid_leader"), Some(Value::Bool(true)));
    assert_eq!(get(&e, "proc.sname"), st("bash"));
    assert_eq!(get(&e, "proc.duration"), Some(Value::Uint(5_000)));
    assert_eq!(get(&e, "proc.is_exe_upper_layer"), Some(Value::Bool(true)));
    assert_eq!(get(&e, "proc.is_exe_from_memfd"), Some(Value::Bool(false)));
    assert_eq!(get(&e, "thread.tid"), Some(Value::Int(100)));
    assert_eq!(get(&e, "thread.vtid"), Some(Value::Int(7)));
    assert_eq!(
        get(&e, "thread.cap_effective"),
        st("CAP_CHOWN CAP_SYS_ADMIN")
    );
    assert_eq!(get(&e, "thread.cap_permitted"), st("CAP_SYS_ADMIN"));
    assert_eq!(get(&e, "user.uid"), Some(Value::Uint(0)));
    assert_eq!(get(&e, "user.euid"), Some(Value::Uint(0)));
    assert_eq!(get(&e, "user.name"), st("root"));
    assert_eq!(get(&e, "user.loginuid"), Some(Value::Int(1000)));
    assert_eq!(get(&e, "user.loginname"), st("alice"));
    assert_eq!(get(&e, "group.gid"), Some(Value::Uint(0)));
    assert_eq!(get(&e, "group.name"), st("root"));
}

#[test]
fn exec_event_fields() {
    let e = exec_in_pod();
    let view = EventView::new(&e, EPOCH);
    assert_eq!(view.evt_type(), EvtType::Execve);
    assert_eq!(get(&e, "evt.type"), st("execve"));
    assert_eq!(get(&e, "evt.res"), st("SUCCESS"));
    assert_eq!(get(&e, "evt.rawres"), Some(Value::Int(0)));
    assert_eq!(get(&e, "evt.failed"), Some(Value::Bool(false)));
    for t in [
        "evt.time",
        "evt.time.s",
        "evt.time.iso8601",
        "evt.datetime",
        "evt.rawtime",
    ] {
        assert_eq!(get(&e, t), Some(Value::Uint(EPOCH)), "{t}");
    }
    assert_eq!(get(&e, "evt.dir"), st("<"));
    assert_eq!(get(&e, "evt.source"), st("syscall"));
    assert_eq!(get(&e, "evt.is_open_read"), Some(Value::Bool(false)));
    assert_eq!(get(&e, "evt.arg.filename"), st("/usr/bin/curl"));
    assert_eq!(get(&e, "evt.arg.flags"), st("EXE_UPPER_LAYER"));
    assert_eq!(get(&e, "evt.rawarg.flags"), Some(Value::Int(2)));
    assert_eq!(get(&e, "evt.arg.res"), st("0"));
    assert_eq!(get(&e, "evt.arg[0]"), st("0"));
    assert_eq!(get(&e, "evt.arg[1]"), st("curl"));
    assert_eq!(get(&e, "evt.arg.loginuid"), st("alice"));
    assert_eq!(get(&e, "evt.arg.dirfd"), None, "execve has no dirfd");
    assert_eq!(get(&e, "evt.arg.dev"), None, "not a mount");
    let args = str_of(&e, "evt.args").unwrap();
    assert!(args.starts_with("res=0 exe=curl args=-s http://x tid=100 pid=100 ptid=99 cwd=/root/"));
    assert!(args.ends_with("filename=/usr/bin/curl"), "{args}");
    // Never known to Lanner.
    for f in [
        "evt.num",
        "evt.buffer",
        "evt.hostname",
        "proc.exe_ino",
        "proc.is_exe_writable",
    ] {
        assert_eq!(get(&e, f), None, "{f}");
    }
    for f in [
        "fd.num",
        "fd.name",
        "fd.type",
        "fd.cip",
        "fd.nameraw",
        "fd.connected",
    ] {
        assert_eq!(get(&e, f), None, "{f}: not an fd event");
    }
    let named = EventView::new(&e, EPOCH).with_hostname("node-1");
    let (f, a) = lookup("evt.hostname", None).unwrap();
    assert_eq!(named.extract(f, &a), st("node-1"));
}

#[test]
fn exec_flags_and_execveat() {
    let mut body = exec_body(0);
    body.syscall = ExecSyscall::Execveat;
    body.from_memfd = true;
    let e = enriched(Body::Exec(body), in_container(), PodContext::Off);
    assert_eq!(EventView::new(&e, EPOCH).evt_type(), EvtType::Execveat);
    assert_eq!(
        get(&e, "evt.arg.flags"),
        st("EXE_UPPER_LAYER|EXE_FROM_MEMFD")
    );
    assert_eq!(get(&e, "evt.arg.dirfd"), st("AT_FDCWD"));
    let mut body = exec_body(0);
    body.upper_layer = Some(false);
    let e = enriched(Body::Exec(body), in_container(), PodContext::Off);
    assert_eq!(get(&e, "evt.arg.flags"), st("0"));
}

#[test]
fn a_failed_exec_leaves_the_process_as_it_was() {
    let mut body = exec_body(-2);
    body.filename = text("/nope");
    body.image = Image::of("nope", &["nope"], None, Some("/root/"));
    let mut e = enriched(Body::Exec(body), in_container(), PodContext::Off);
    e.event.task.comm = "sh".into();
    let mut lineage = e.ctx.process.lineage.to_vec();
    lineage[0] = ancestor(100, "sh", "-c nope");
    e.ctx.process.lineage = lineage.into();
    assert_eq!(get(&e, "evt.res"), st("ENOENT"));
    assert_eq!(get(&e, "evt.rawres"), Some(Value::Int(-2)));
    assert_eq!(get(&e, "evt.failed"), Some(Value::Bool(true)));
    assert_eq!(get(&e, "evt.arg.res"), st("ENOENT"));
    assert_eq!(get(&e, "evt.arg.filename"), st("/nope"));
    assert_eq!(get(&e, "evt.arg.args"), st(""));
    assert_eq!(get(&e, "proc.name"), st("sh"));
    assert_eq!(get(&e, "proc.exe"), st("sh"));
    assert_eq!(get(&e, "proc.exepath"), st("/usr/bin/sh"));
    assert_eq!(get(&e, "proc.cmdline"), st("sh -c nope"));
    assert_eq!(get(&e, "proc.args"), st("-c nope"));
    assert_eq!(
        get(&e, "proc.env"),
        None,
        "the attempted env is not the process's"
    );
    assert_eq!(get(&e, "proc.is_exe_upper_layer"), None);
}

#[test]
fn ancestors_by_index_and_without() {
    let e = exec_in_pod();
    assert_eq!(get(&e, "proc.aname[0]"), st("curl"));
    assert_eq!(get(&e, "proc.aname[1]"), st("sh"));
    assert_eq!(get(&e, "proc.aname[3]"), st("systemd"));
    assert_eq!(get(&e, "proc.aname[4]"), None, "past the top of the tree");
    assert_eq!(get(&e, "proc.pname"), st("sh"));
    assert_eq!(get(&e, "proc.pexe"), st("sh"));
    assert_eq!(get(&e, "proc.pexepath"), st("/usr/bin/sh"));
    assert_eq!(get(&e, "proc.pcmdline"), st("sh -c curl -s http://x"));
    assert_eq!(get(&e, "proc.aexe[2]"), st("containerd-shim"));
    assert_eq!(get(&e, "proc.aexepath[2]"), st("/usr/bin/containerd-shim"));
    assert_eq!(get(&e, "proc.acmdline[1]"), st("sh -c curl -s http://x"));
    assert_eq!(get(&e, "proc.apid[2]"), Some(Value::Int(50)));
    assert_eq!(get(&e, "proc.apid[9]"), None);
    // The output form: ancestors from the parent up.
    assert_eq!(get(&e, "proc.aname"), st("sh containerd-shim systemd"));
    let mut orphan = exec_in_pod();
    orphan.ctx.process.lineage = orphan.ctx.process.lineage[..1].into();
    assert_eq!(get(&orphan, "proc.pname"), None);
    assert_eq!(get(&orphan, "proc.aname"), None);
    assert_eq!(
        get(&orphan, "proc.ppid"),
        Some(Value::Int(99)),
        "the exec record knows it"
    );
}

pub(super) fn mount_body(op: MountOp, flags: u64) -> Body {
    Body::Mount(Mount {
        op,
        ret: -1,
        flags,
        flags2: 0,
        fd1: 3,
        fd2: -100,
        source: text("/dev/sda1"),
        target: text("/mnt"),
        fstype: text("ext4"),
    })
}

#[test]
fn mount_events_and_table_context() {
    let e = enriched(
        mount_body(MountOp::Mount, (1 << 12) | (1 << 14)),
        in_container(),
        PodContext::Found(pod_meta()),
    );
    assert_eq!(EventView::new(&e, EPOCH).evt_type(), EvtType::Mount);
    assert_eq!(get(&e, "evt.res"), st("EPERM"));
    assert_eq!(get(&e, "evt.arg.dev"), st("/dev/sda1"));
    assert_eq!(get(&e, "evt.arg.dir"), st("/mnt"));
    assert_eq!(get(&e, "evt.arg.type"), st("ext4"));
    assert_eq!(get(&e, "evt.arg.flags"), st("BIND|REC"));
    assert_eq!(get(&e, "evt.rawarg.flags"), Some(Value::Int(0x5000)));
    assert_eq!(get(&e, "evt.rawarg.dev"), None, "text has no raw number");
    assert_eq!(
        get(&e, "evt.args"),
        st("res=EPERM dev=/dev/sda1 dir=/mnt type=ext4 flags=BIND|REC")
    );
    // Not an exec: the process comes from the table.
    assert_eq!(get(&e, "proc.cmdline"), st("curl -s http://x"));
    assert_eq!(get(&e, "proc.exe"), st("curl"));
    assert_eq!(get(&e, "proc.args"), st("-s http://x"));
    assert_eq!(get(&e, "proc.ppid"), Some(Value::Int(99)));
    assert_eq!(get(&e, "proc.cwd"), st("/root/"));
    assert_eq!(get(&e, "proc.vpid"), Some(Value::Int(7)));
    assert_eq!(get(&e, "proc.is_vpgid_leader"), Some(Value::Bool(true)));
    // The controlling tty is the process's, from the table, on every event (as Falco's).
    assert_eq!(get(&e, "proc.tty"), Some(Value::Uint(34816)));
    for f in [
        "proc.env",
        "user.loginuid",
        "thread.cap_effective",
        "proc.is_exe_upper_layer",
    ] {
        assert_eq!(get(&e, f), None, "{f}: exec events only");
    }

    let e = enriched(
        mount_body(MountOp::Umount2, 2),
        in_container(),
        PodContext::Off,
    );
    assert_eq!(get(&e, "evt.type"), st("umount2"));
    assert_eq!(get(&e, "evt.arg.name"), st("/mnt"));
    assert_eq!(get(&e, "evt.arg.flags"), st("DETACH"));
    assert_eq!(get(&e, "evt.arg.dev"), None);

    let e = enriched(
        mount_body(MountOp::MoveMount, 0),
        in_container(),
        PodContext::Off,
    );
    assert_eq!(EventView::new(&e, EPOCH).evt_type(), EvtType::MoveMount);
    assert_eq!(get(&e, "evt.arg.from_dfd"), st("3"));
    assert_eq!(get(&e, "evt.arg.to_dfd"), st("AT_FDCWD"));
    assert_eq!(get(&e, "evt.arg.to_pathname"), st("/mnt"));
    assert_eq!(get(&e, "evt.arg.flags"), st("0"));
}

#[test]
fn fork_and_exit() {
    let e = enriched(
        Body::Fork(Fork {
            child_pid: 101,
            child_tid: 101,
        }),
        in_container(),
        PodContext::Off,
    );
    assert_eq!(EventView::new(&e, EPOCH).evt_type(), EvtType::Clone);
    assert_eq!(get(&e, "evt.type"), st("clone"));
    assert_eq!(get(&e, "evt.rawres"), Some(Value::Int(101)));
    assert_eq!(get(&e, "evt.res"), st("SUCCESS"));
    assert_eq!(get(&e, "proc.name"), st("curl"));
    assert_eq!(get(&e, "proc.pname"), st("sh"));

    let e = enriched(
        Body::Exit(Exit { exit_code: 256 }),
        in_container(),
        PodContext::Off,
    );
    assert_eq!(EventView::new(&e, EPOCH).evt_type(), EvtType::Procexit);
    assert_eq!(get(&e, "evt.arg.status"), st("256"));
    assert_eq!(get(&e, "evt.res"), None, "no return value");
    assert_eq!(get(&e, "evt.failed"), Some(Value::Bool(false)));
    assert_eq!(get(&e, "fd.num"), None);
}

#[test]
fn a_thread_has_no_namespace_tid() {
    let mut e = enriched(
        mount_body(MountOp::Mount, 0),
        in_container(),
        PodContext::Off,
    );
    e.event.task.tid = 102;
    assert_eq!(get(&e, "thread.tid"), Some(Value::Int(102)));
    assert_eq!(get(&e, "thread.vtid"), None);
    assert_eq!(get(&e, "proc.pid"), Some(Value::Int(100)));
}

#[test]
fn an_unknown_process_has_only_what_the_event_carries() {
    let mut e = enriched(
        mount_body(MountOp::Mount, 0),
        in_container(),
        PodContext::Off,
    );
    e.ctx.process = ProcContext::default();
    assert_eq!(get(&e, "proc.name"), st("curl"));
    assert_eq!(get(&e, "proc.pid"), Some(Value::Int(100)));
    for f in [
        "proc.exe",
        "proc.exepath",
        "proc.args",
        "proc.cmdline",
        "proc.ppid",
        "proc.pname",
        "proc.aname[0]",
        "proc.duration",
        "proc.cwd",
        "proc.vpid",
        "proc.sname",
    ] {
        assert_eq!(get(&e, f), None, "{f}");
    }
}

#[test]
fn values_are_borrowed_from_the_event() {
    let e = exec_in_pod();
    let view = EventView::new(&e, EPOCH);
    for name in [
        "proc.name",
        "proc.cmdline",
        "proc.args",
        "container.id",
        "k8s.pod.labels",
        "thread.cap_effective",
        "evt.type",
        "evt.res",
    ] {
        let (f, a) = lookup(name, None).unwrap();
        assert!(
            matches!(view.extract(f, &a), Some(Value::Str(Cow::Borrowed(_)))),
            "{name} allocated"
        );
    }
    // The cached joins are built once and then lent out.
    let (f, a) = lookup("proc.cmdline", None).unwrap();
    let first = view.extract(f, &a).unwrap();
    let second = view.extract(f, &a).unwrap();
    match (first, second) {
        (Value::Str(Cow::Borrowed(x)), Value::Str(Cow::Borrowed(y))) => assert!(std::ptr::eq(x, y)),
        other => panic!("{other:?}"),
    }
    let _ = FieldArg::None;
}
