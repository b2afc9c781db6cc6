//! The dump against the rules' extraction, over a sample of every event type and variant (the
//! fuzz targets' samples in a host, pod and pending context, and the odd cases below); then the
//! values where the two used to disagree, each as Falco has it.

use std::sync::Arc;

use serde_json::{Value as Json, json};

use crate::{
    enrich::{Enriched, PodContext},
    event::{Body, Exec, ExecSyscall, Fork, L4, Peer},
    fuzz::{check::dump_agrees, samples},
};

/// The first sample event matching `pick`, changed by `change`.
fn variant(pick: impl Fn(&Enriched) -> bool, change: impl FnOnce(&mut Enriched)) -> Enriched {
    let mut e = samples::events()
        .iter()
        .find(|e| pick(e))
        .expect("a sample event to start from")
        .clone();
    change(&mut e);
    e
}

fn is_exec(e: &Enriched) -> bool {
    matches!(&e.event.body, Body::Exec(x) if x.syscall == ExecSyscall::Execve)
}

fn exec_mut(e: &mut Enriched) -> &mut Exec {
    match &mut e.event.body {
        Body::Exec(x) => x,
        _ => unreachable!("an exec sample"),
    }
}

fn is_connect(e: &Enriched) -> bool {
    matches!(e.event.body, Body::Connect(_))
}

fn with_peer(peer: Peer) -> Enriched {
    variant(is_connect, |e| {
        if let Body::Connect(c) = &mut e.event.body {
            c.peer = peer;
            c.local = None;
            c.l4 = Some(L4::Other);
        }
    })
}

/// Cases the samples do not have: a thread's creation, sockets of other families or unread, an
/// exec with no argv and no namespace data, a process the table does not know.
fn odd_cases() -> Vec<Enriched> {
    vec![
        variant(
            |e| matches!(e.event.body, Body::Fork(_)),
            |e| {
                let pid = e.event.task.pid;
                e.event.body = Body::Fork(Fork {
                    child_pid: pid,
                    child_tid: pid + 1,
                });
            },
        ),
        with_peer(Peer::Other(17)),
        with_peer(Peer::Unknown),
        variant(is_exec, |e| {
            let x = exec_mut(e);
            x.argv_empty = true;
            x.vpid = None;
            x.groups = None;
            x.loginuid = Some(u32::MAX);
            x.tty = None;
            x.upper_layer = None;
        }),
        variant(is_exec, |e| {
            e.ctx.process.lineage = Arc::new([]);
            e.ctx.process.vpid = None;
            e.ctx.process.duration_ns = None;
        }),
    ]
}

#[test]
fn every_key_of_the_dump_is_what_the_rules_see() {
    for e in samples::events().iter().chain(&odd_cases()) {
        dump_agrees(e);
    }
}

fn dump_of(pick: impl Fn(&Enriched) -> bool) -> Json {
    dump_agrees(
        samples::events()
            .iter()
            .find(|e| pick(e))
            .expect("a sample"),
    )
}

#[track_caller]
fn assert_keys(line: &Json, want: &[(&str, Json)]) {
    for (k, v) in want {
        assert_eq!(&line[*k], v, "{k} in {line:#}");
    }
}

/// Falco's clone returns the child's tid in the parent: `SUCCESS`, the tid.
#[test]
fn a_fork_has_the_result_of_clone() {
    let line = dump_of(|e| matches!(e.event.body, Body::Fork(_)));
    assert_keys(
        &line,
        &[
            ("evt.res", json!("SUCCESS")),
            ("evt.rawres", json!(4242)),
            ("lanner.child_tid", json!(4242)),
        ],
    );
    let exit = dump_of(|e| matches!(e.event.body, Body::Exit(_)));
    assert_keys(
        &exit,
        &[("evt.res", Json::Null), ("evt.rawres", Json::Null)],
    );
}

/// Parameters are text, as rules compare them (`AT_FDCWD`, flag names); their numbers are
/// `evt.rawarg.*`.
#[test]
fn parameters_are_text_and_their_numbers_raw() {
    let umount = dump_of(|e| e.event.body.evt_type().name() == "umount2");
    assert_keys(
        &umount,
        &[
            ("evt.arg.flags", json!("0")),
            ("evt.rawarg.flags", json!(0)),
        ],
    );
    let mv = dump_of(|e| e.event.body.evt_type().name() == "move_mount");
    assert_keys(
        &mv,
        &[
            ("evt.arg.to_dfd", json!("AT_FDCWD")),
            ("evt.rawarg.to_dfd", json!(-100)),
            ("evt.arg.from_dfd", json!("3")),
        ],
    );
    // A text parameter has no raw number.
    assert!(mv.get("evt.rawarg.to_pathname").is_none(), "{mv:#}");
    // execveat's `flags` is the exec's (as execve's); the syscall's AT_* flags are Lanner's.
    let at = dump_of(|e| e.event.body.evt_type().name() == "execveat");
    assert_keys(
        &at,
        &[
            ("evt.arg.flags", json!("EXE_UPPER_LAYER|EXE_FROM_MEMFD")),
            ("evt.rawarg.dirfd", json!(3)),
            ("lanner.at_flags", json!(0x1000)),
        ],
    );
    let exit = dump_of(|e| matches!(e.event.body, Body::Exit(_)));
    assert_keys(
        &exit,
        &[
            ("evt.arg.status", json!("256")),
            ("evt.rawarg.status", json!(256)),
        ],
    );
}

/// A failed exec leaves the process as it was (Falco does not update its thread either): its
/// `proc.*` are the caller's, from the table; what it tried is in `evt.arg.*` and `lanner.argv`.
#[test]
fn a_failed_exec_shows_the_caller() {
    let line = dump_of(|e| matches!(&e.event.body, Body::Exec(x) if x.ret < 0));
    assert_keys(
        &line,
        &[
            ("evt.res", json!("ENOENT")),
            ("evt.arg.filename", json!("/nonexistent")),
            ("lanner.argv", json!(["/nonexistent", "--flag"])),
            ("proc.cmdline", json!("bash")),
            ("proc.is_exe_from_memfd", Json::Null),
        ],
    );
}

/// A socket the kernel never bound has the unspecified address and port 0 (what Falco's driver
/// reads from it), not a missing value.
#[test]
fn an_unbound_socket_shows_the_unspecified_address() {
    let line = dump_of(|e| matches!(&e.event.body, Body::Connect(c) if c.local.is_none()));
    assert_keys(
        &line,
        &[
            ("fd.cip", json!("::")),
            ("fd.cport", json!(0)),
            ("fd.name", json!(":::0->fd00::1:8080")),
            ("evt.res", json!("EINPROGRESS")),
        ],
    );
}

/// Container fields as Falco's container plugin has them: `host` and empty values on the host,
/// labels and mounts as strings in a pod.
#[test]
fn container_fields_as_the_container_plugin_has_them() {
    let host = dump_of(|e| matches!(e.ctx.pod, PodContext::Host));
    assert_keys(
        &host,
        &[
            ("container.id", json!("host")),
            ("container.full_id", json!("host")),
            ("container.name", json!("host")),
            ("container.image", json!("")),
            ("container.mounts", json!("")),
            ("container.privileged", json!(false)),
            ("k8s.pod.labels", json!("")),
            ("k8s.pod.name", Json::Null),
            ("lanner.pod_context", json!("host")),
        ],
    );
    let pod = dump_of(|e| matches!(e.ctx.pod, PodContext::Found(_)));
    assert_keys(
        &pod,
        &[
            (
                "k8s.pod.labels",
                json!("app:web, app.kubernetes.io/name:nginx, tier"),
            ),
            (
                "container.mounts",
                json!(
                    "/var/run/docker.sock:/var/run/docker.sock::true:private,\
                     /etc/ssl:/host/etc::false:private"
                ),
            ),
            (
                "proc.aname",
                json!(["sh", "sh", "containerd-shim", "systemd"]),
            ),
        ],
    );
    let pending = dump_of(|e| matches!(e.ctx.pod, PodContext::Pending));
    assert_keys(
        &pending,
        &[
            ("k8s.pod.name", json!("<pending>")),
            ("container.name", Json::Null),
            ("lanner.pod_context", json!("pending")),
        ],
    );
}
