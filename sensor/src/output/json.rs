//! `--dump-events`: one JSON object per event, keys named as Falco fields (`lanner.*` for
//! what Falco has no name for). A value the sensor could not obtain is `null`, never omitted.

use serde_json::{Map, Value, json};

use crate::rules::extract::render::{caps, mount_flags, res};
use crate::{
    enrich::Enriched,
    event::{Body, Connect, Event, Exec, ExecSyscall, L4, Mount, MountOp, Peer, Text},
};

/// The event with the context the enricher attached.
pub fn enriched_json(e: &Enriched, epoch_ns: u64) -> Value {
    let mut v = event_json(&e.event, epoch_ns);
    if let Value::Object(m) = &mut v {
        super::context::add(m, &e.event.body, &e.ctx);
        // With the process's paths from the table (the rules' `lanner.path_truncated` too).
        let process = e.ctx.process.lineage.first().map(|me| &*me.image);
        let cut = e.event.body.path_truncated(process);
        m.insert("lanner.path_truncated".into(), json!(cut));
    }
    v
}

pub fn event_json(ev: &Event, epoch_ns: u64) -> Value {
    let mut m = Map::new();
    let t = &ev.task;
    m.insert("evt.type".into(), json!(evt_type(ev)));
    m.insert("evt.time".into(), json!(epoch_ns));
    let ret = match &ev.body {
        Body::Exec(e) => Some(e.ret),
        Body::Mount(e) => Some(e.ret),
        Body::Connect(e) => Some(e.ret),
        Body::Fork(_) | Body::Exit(_) => None,
    };
    m.insert("evt.res".into(), json!(ret.map(res)));
    m.insert("evt.rawres".into(), json!(ret));
    m.insert("proc.pid".into(), json!(t.pid));
    m.insert("thread.tid".into(), json!(t.tid));
    m.insert("proc.name".into(), json!(&*t.comm));
    m.insert("user.uid".into(), json!(t.uid));
    m.insert("group.gid".into(), json!(t.gid));
    m.insert("lanner.cgroup_id".into(), json!(t.cgroup_id));
    m.insert("lanner.cgroup".into(), json!(t.cgroup.as_deref()));
    m.insert(
        "lanner.path_truncated".into(),
        json!(ev.body.path_truncated(None)),
    );
    match &ev.body {
        Body::Exec(e) => exec(&mut m, e),
        Body::Mount(e) => mount(&mut m, e),
        Body::Connect(e) => connect(&mut m, e),
        Body::Fork(f) => {
            m.insert("lanner.child_pid".into(), json!(f.child_pid));
            m.insert("lanner.child_tid".into(), json!(f.child_tid));
            m.insert("lanner.is_thread".into(), json!(f.child_pid == t.pid));
        }
        Body::Exit(x) => {
            m.insert("evt.arg.status".into(), json!(x.exit_code));
        }
    }
    Value::Object(m)
}

pub fn evt_type(ev: &Event) -> &'static str {
    match &ev.body {
        Body::Exec(e) => match e.syscall {
            ExecSyscall::Execve => "execve",
            ExecSyscall::Execveat => "execveat",
        },
        Body::Mount(m) => match m.op {
            MountOp::Mount => "mount",
            MountOp::Umount2 => "umount2",
            MountOp::Fsopen => "fsopen",
            MountOp::Fsmount => "fsmount",
            MountOp::MoveMount => "move_mount",
            MountOp::OpenTree => "open_tree",
        },
        Body::Connect(_) => "connect",
        Body::Fork(_) => "clone",
        Body::Exit(_) => "procexit",
    }
}

fn text(t: &Text) -> Value {
    json!(t.value)
}

fn exec(m: &mut Map<String, Value>, e: &Exec) {
    let ok = e.ret >= 0;
    let image = &e.image;
    m.insert("proc.vpid".into(), json!(e.vpid));
    m.insert("proc.ppid".into(), json!(e.ppid));
    m.insert(
        "proc.exe".into(),
        json!((!e.argv_empty).then_some(&image.exe)),
    );
    m.insert(
        "proc.exepath".into(),
        json!(image.exepath.as_ref().filter(|_| ok)),
    );
    m.insert("proc.cmdline".into(), json!(image.cmdline));
    m.insert("proc.args".into(), json!(image.args_line()));
    m.insert("proc.cwd".into(), json!(image.cwd));
    m.insert("proc.tty".into(), json!(e.tty));
    m.insert("user.euid".into(), json!(e.euid));
    // Falco: -1 when the audit login uid is unset.
    let loginuid = e
        .loginuid
        .map(|u| if u == u32::MAX { -1 } else { i64::from(u) });
    m.insert("user.loginuid".into(), json!(loginuid));
    m.insert("thread.cap_effective".into(), json!(caps(e.cap_effective)));
    m.insert("thread.cap_permitted".into(), json!(caps(e.cap_permitted)));
    m.insert("proc.is_exe_upper_layer".into(), json!(e.upper_layer));
    m.insert("proc.is_exe_from_memfd".into(), json!(e.from_memfd));
    m.insert("evt.arg.filename".into(), text(&e.filename));
    m.insert("lanner.argv".into(), json!(e.argv()));
    m.insert("lanner.args_truncated".into(), json!(e.args_truncated));
    m.insert(
        "proc.env".into(),
        json!(e.env.as_ref().map(|v| v.join(" "))),
    );
    if e.syscall == ExecSyscall::Execveat {
        m.insert("evt.arg.dirfd".into(), json!(e.dirfd));
        m.insert("evt.arg.flags".into(), json!(e.at_flags));
    }
}

fn mount(m: &mut Map<String, Value>, e: &Mount) {
    match e.op {
        MountOp::Mount => {
            m.insert("evt.arg.dev".into(), text(&e.source));
            m.insert("evt.arg.dir".into(), text(&e.target));
            m.insert("evt.arg.type".into(), text(&e.fstype));
            m.insert("evt.arg.flags".into(), json!(mount_flags(e.flags)));
            m.insert("lanner.mount_flags".into(), json!(e.flags));
        }
        MountOp::Umount2 => {
            m.insert("evt.arg.name".into(), text(&e.target));
            m.insert("evt.arg.flags".into(), json!(e.flags));
        }
        MountOp::Fsopen => {
            m.insert("evt.arg.fsname".into(), text(&e.fstype));
            m.insert("evt.arg.flags".into(), json!(e.flags));
        }
        MountOp::Fsmount => {
            m.insert("evt.arg.fd".into(), json!(e.fd1));
            m.insert("evt.arg.flags".into(), json!(e.flags));
            m.insert("evt.arg.attr_flags".into(), json!(e.flags2));
        }
        MountOp::MoveMount => {
            m.insert("evt.arg.from_dfd".into(), json!(e.fd1));
            m.insert("evt.arg.from_pathname".into(), text(&e.source));
            m.insert("evt.arg.to_dfd".into(), json!(e.fd2));
            m.insert("evt.arg.to_pathname".into(), text(&e.target));
            m.insert("evt.arg.flags".into(), json!(e.flags));
        }
        MountOp::OpenTree => {
            m.insert("evt.arg.dfd".into(), json!(e.fd1));
            m.insert("evt.arg.filename".into(), text(&e.source));
            m.insert("evt.arg.flags".into(), json!(e.flags));
        }
    }
}

fn connect(m: &mut Map<String, Value>, c: &Connect) {
    m.insert("fd.num".into(), json!(c.fd));
    let null = Value::Null;
    let (family, typechar, kind) = match &c.peer {
        Peer::Inet(ip, _) if ip.is_ipv4() => (json!("ip"), json!("4"), json!("ipv4")),
        Peer::Inet(..) => (json!("ip"), json!("6"), json!("ipv6")),
        Peer::Unix(_) => (json!("unix"), json!("u"), json!("unix")),
        Peer::Other(_) | Peer::Unknown => (null.clone(), null.clone(), null.clone()),
    };
    m.insert("fd.sockfamily".into(), family);
    m.insert("fd.typechar".into(), typechar);
    m.insert("fd.type".into(), kind);
    let l4 = match (&c.peer, c.l4) {
        (Peer::Inet(..), Some(L4::Tcp)) => "tcp",
        (Peer::Inet(..), Some(L4::Udp)) => "udp",
        (Peer::Inet(..), Some(L4::Raw)) => "raw",
        _ => "<NA>",
    };
    m.insert("fd.l4proto".into(), json!(l4));
    match &c.peer {
        Peer::Inet(sip, sport) => {
            let (cip, cport) = match c.local {
                Some((ip, port)) => (json!(ip.to_string()), json!(port)),
                None => (null.clone(), null.clone()),
            };
            let name = c
                .local
                .map(|(ip, port)| format!("{ip}:{port}->{sip}:{sport}"));
            m.insert("fd.name".into(), json!(name));
            m.insert("fd.cip".into(), cip);
            m.insert("fd.cport".into(), cport);
            m.insert("fd.sip".into(), json!(sip.to_string()));
            m.insert("fd.sport".into(), json!(sport));
        }
        Peer::Unix(path) => {
            m.insert("fd.name".into(), json!(path));
        }
        Peer::Other(family) => {
            m.insert("fd.name".into(), null);
            m.insert("lanner.sockaddr_family".into(), json!(family));
        }
        Peer::Unknown => {
            m.insert("fd.name".into(), null);
        }
    }
}
