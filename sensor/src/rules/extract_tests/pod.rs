//! `container.*` and `k8s.*`: pod found, pending, off, and the host.

use lanner_rules::Value;

use super::{EPOCH, ID, enriched, exec_body, exec_in_pod, get, in_container, st};
use crate::{container::ContainerRef, enrich::PodContext, event::Body};

#[test]
fn container_and_pod_fields_with_the_pod_found() {
    let e = exec_in_pod();
    assert_eq!(get(&e, "container.id"), st("ee97d9c4186f"));
    assert_eq!(get(&e, "container.full_id"), st(ID));
    assert_eq!(get(&e, "container.type"), st("containerd"));
    assert_eq!(get(&e, "container.name"), st("nginx"));
    assert_eq!(
        get(&e, "container.image"),
        st("docker.io/library/nginx:1.25")
    );
    assert_eq!(
        get(&e, "container.image.repository"),
        st("docker.io/library/nginx")
    );
    assert_eq!(get(&e, "container.image.tag"), st("1.25"));
    assert_eq!(get(&e, "container.privileged"), Some(Value::Bool(true)));
    assert_eq!(
        get(&e, "container.start_ts"),
        Some(Value::Uint(EPOCH - 1_000))
    );
    assert_eq!(get(&e, "container.duration"), Some(Value::Uint(1_000)));
    assert_eq!(
        get(&e, "container.mounts"),
        st(
            "/var/run/docker.sock:/var/run/docker.sock::true:private,/proc:/host/proc::false:private,/etc:/host/etc::false:private"
        )
    );
    assert_eq!(get(&e, "k8s.ns.name"), st("prod"));
    assert_eq!(get(&e, "k8s.pod.name"), st("web-1"));
    assert_eq!(get(&e, "k8s.pod.uid"), st("uid-1"));
    assert_eq!(get(&e, "k8s.pod.id"), st("uid-1"));
    assert_eq!(get(&e, "k8s.pod.ip"), st("10.1.2.3"));
    assert_eq!(get(&e, "k8s.pod.label[app]"), st("web"));
    assert_eq!(
        get(&e, "k8s.pod.label[app.kubernetes.io/name]"),
        st("nginx")
    );
    assert_eq!(get(&e, "k8s.pod.label[nope]"), None);
    assert_eq!(
        get(&e, "k8s.pod.labels"),
        st("app:web, app.kubernetes.io/name:nginx, canary")
    );
}

#[test]
fn mount_dest_by_index_or_regex_on_the_source() {
    let e = exec_in_pod();
    assert_eq!(
        get(&e, "container.mount.dest[0]"),
        st("/var/run/docker.sock")
    );
    assert_eq!(get(&e, "container.mount.dest[2]"), st("/host/etc"));
    assert_eq!(get(&e, "container.mount.dest[3]"), None);
    assert_eq!(
        get(&e, "container.mount.dest[/var/run/docker.sock]"),
        st("/var/run/docker.sock")
    );
    // Unanchored regex, not a glob: `/proc*` is `/pro` then any number of `c`.
    assert_eq!(get(&e, "container.mount.dest[/proc*]"), st("/host/proc"));
    assert_eq!(get(&e, "container.mount.dest[/etc]"), st("/host/etc"));
    assert_eq!(
        get(&e, "container.mount.dest[/]"),
        st("/var/run/docker.sock"),
        "any mount"
    );
    assert_eq!(get(&e, "container.mount.dest[/etc/kubernetes]"), None);
    assert_eq!(
        get(&e, "container.mount.dest[(]"),
        None,
        "an invalid regex matches nothing"
    );
    assert_eq!(get(&e, "container.mount.source[/host/proc]"), st("/proc"));
    // Asked twice: the compiled key is reused.
    assert_eq!(get(&e, "container.mount.dest[/proc*]"), st("/host/proc"));
}

#[test]
fn host_processes() {
    let e = enriched(
        Body::Exec(exec_body(0)),
        ContainerRef::Host,
        PodContext::Host,
    );
    assert_eq!(get(&e, "container.id"), st("host"));
    assert_eq!(get(&e, "container.full_id"), st("host"));
    assert_eq!(get(&e, "container.name"), st("host"));
    assert_eq!(get(&e, "container.type"), st("host"));
    for f in [
        "container.image",
        "container.image.repository",
        "container.image.tag",
        "container.mounts",
    ] {
        assert_eq!(get(&e, f), st(""), "{f}");
    }
    assert_eq!(get(&e, "container.privileged"), Some(Value::Bool(false)));
    assert_eq!(get(&e, "container.mount.dest[/]"), None);
    assert_eq!(get(&e, "container.start_ts"), None);
    assert_eq!(get(&e, "k8s.pod.labels"), st(""));
    assert_eq!(get(&e, "k8s.pod.ip"), st(""));
    for f in [
        "k8s.ns.name",
        "k8s.pod.name",
        "k8s.pod.uid",
        "k8s.pod.label[app]",
    ] {
        assert_eq!(get(&e, f), None, "{f}");
    }
}

#[test]
fn a_pending_pod_shows_the_marker_and_nothing_else() {
    let e = enriched(
        Body::Exec(exec_body(0)),
        in_container(),
        PodContext::Pending,
    );
    assert_eq!(get(&e, "k8s.ns.name"), st("<pending>"));
    assert_eq!(get(&e, "k8s.pod.name"), st("<pending>"));
    for f in [
        "k8s.pod.uid",
        "k8s.pod.labels",
        "k8s.pod.ip",
        "container.name",
        "container.image",
        "container.privileged",
        "container.mounts",
    ] {
        assert_eq!(get(&e, f), None, "{f}");
    }
    assert_eq!(get(&e, "container.id"), st("ee97d9c4186f"));
}

#[test]
fn without_kubernetes_only_the_cgroup_identity_is_known() {
    let bare = ContainerRef::Container {
        runtime: None,
        full_id: ID.into(),
    };
    let e = enriched(Body::Exec(exec_body(0)), bare, PodContext::Off);
    assert_eq!(get(&e, "container.id"), st("ee97d9c4186f"));
    assert_eq!(
        get(&e, "container.type"),
        None,
        "a bare id names no runtime"
    );
    for f in [
        "k8s.ns.name",
        "k8s.pod.name",
        "k8s.pod.labels",
        "k8s.pod.ip",
        "container.name",
        "container.image.repository",
    ] {
        assert_eq!(get(&e, f), None, "{f}");
    }
}
