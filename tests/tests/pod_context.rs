//! Pod context (docs/events.md, "Pod context (Kubernetes)"): the sensor lists/watches the pods of
//! its node on a fake API server and gives events in a container (a cgroup named like
//! containerd's systemd scope) the keys of the pod whose status holds that container id.

use lanner_tests::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use lanner_tests::kube_fixture::KubeFixture as Api;

/// A running pod on `node` with one container `app` (image `nginx:1.25`) of id `id`.
fn simple_pod(node: &str, ns: &str, name: &str, id: &str) -> Value {
    let c = FakeContainer::new("app", "nginx:1.25", &format!("containerd://{id}"));
    pod_json(
        ns,
        name,
        &random_pod_uid(),
        node,
        &[c],
        &[("app", name)],
        "10.1.2.3",
    )
}

/// Execs `busybox echo <marker>` in `jail` (waiting for it) and returns (pid, marker).
#[track_caller]
fn exec_in(jail: &CgroupJail) -> (i64, String) {
    let marker = unique("pod");
    let (pid, status) = jail.run(&["/bin/busybox", "echo", &marker]);
    assert_eq!(status, 0, "busybox echo in {} failed", jail.path());
    (i64::from(pid), marker)
}

fn is_exec_of(e: &Value, pid: i64, marker: &str) -> bool {
    is_type(e, "execve") && e["proc.pid"] == pid && has_arg(e, marker)
}

#[track_caller]
fn wait_exec(sensor: &Sensor, (pid, marker): &(i64, String), timeout: Duration) -> Value {
    sensor.wait_for(|e| is_exec_of(e, *pid, marker), timeout)
}

/// The keys a `found` event carries, null otherwise (docs/events.md).
const POD_KEYS: [&str; 12] = [
    "k8s.pod.uid",
    "k8s.pod.labels",
    "k8s.pod.ip",
    "container.name",
    "container.image",
    "container.image.repository",
    "container.image.tag",
    "container.privileged",
    "container.mounts",
    "container.start_ts",
    "k8s.ns.name",
    "k8s.pod.name",
];

#[track_caller]
fn assert_pending(ev: &Value) {
    assert_field(ev, "lanner.pod_context", "pending");
    assert_field(ev, "k8s.ns.name", "<pending>");
    assert_field(ev, "k8s.pod.name", "<pending>");
    for k in &POD_KEYS[..10] {
        assert_field(ev, k, Value::Null);
    }
}

/// No pod: in a container without Kubernetes (`off`) every pod key is null; on the host the
/// container plugin's host values (Falco's: `host`, empty strings, not privileged) and no pod.
#[track_caller]
fn assert_no_pod(ev: &Value, context: &str) {
    assert_field(ev, "lanner.pod_context", context);
    for k in POD_KEYS {
        let on_host = match k {
            "container.name" => json!("host"),
            "container.privileged" => json!(false),
            "k8s.pod.labels"
            | "k8s.pod.ip"
            | "container.image"
            | "container.image.repository"
            | "container.image.tag"
            | "container.mounts" => json!(""),
            _ => Value::Null,
        };
        let want = if context == "host" {
            on_host
        } else {
            Value::Null
        };
        assert_field(ev, k, want);
    }
}

#[track_caller]
fn pod_cache(stats: &Stats, key: &str) -> u64 {
    let v = &stats.raw["pod_cache"][key];
    v.as_u64()
        .unwrap_or_else(|| panic!("pod_cache.{key} is not a count: {}", stats.raw))
}

#[test]
fn exec_in_a_known_pod_carries_its_context() {
    require_root!();
    let api = Api::start();
    let (id, jail) = containerd_jail();
    let uid = random_pod_uid();
    let c = FakeContainer::new("web", "nginx:1.25", &format!("containerd://{id}"))
        .privileged(true)
        .host_mount("/etc", "/host-etc", true);
    let labels = [("app", "web"), ("tier", "front")];
    let pod = pod_json(
        "shop",
        "web-0",
        &uid,
        &api.node,
        &[c],
        &labels,
        "10.244.1.7",
    );
    api.fake().add_pod(pod);
    // A wait longer than the default so a cache still syncing right after ready cannot flake.
    let mut sensor = api.sensor(5000);
    let ev = wait_exec(&sensor, &exec_in(&jail), EVENT_TIMEOUT);
    assert_field(&ev, "container.full_id", id.as_str());
    assert_field(&ev, "lanner.pod_context", "found");
    assert_field(&ev, "k8s.ns.name", "shop");
    assert_field(&ev, "k8s.pod.name", "web-0");
    assert_field(&ev, "k8s.pod.uid", uid.as_str());
    // As Falco's container plugin gives them: `key:value` joined with ", ".
    assert_field(&ev, "k8s.pod.labels", "app:web, tier:front");
    assert_field(&ev, "k8s.pod.ip", "10.244.1.7");
    assert_field(&ev, "container.name", "web");
    assert_field(&ev, "container.image", "docker.io/library/nginx:1.25");
    assert_field(&ev, "container.image.repository", "docker.io/library/nginx");
    assert_field(&ev, "container.image.tag", "1.25");
    assert_field(&ev, "container.privileged", true);
    // source:dest:mode:rdwr:propagation (the pod spec gives no mode; read-only is rdwr false).
    assert_field(&ev, "container.mounts", "/etc:/host-etc::false:private");
    assert_field(&ev, "container.start_ts", FAKE_STARTED_AT_NS);
    let stats = sensor.stop();
    assert_eq!(stats.raw["pod_cache"]["enabled"], true, "{}", stats.raw);
    assert_eq!(stats.raw["pod_cache"]["node"], api.node.as_str());
    assert!(pod_cache(&stats, "pods") >= 1, "{}", stats.raw);
}

#[test]
fn pod_arriving_after_the_first_exec_resolves_the_waiting_event() {
    require_root!();
    let api = Api::start();
    let (id, jail) = containerd_jail();
    let mut sensor = api.sensor(5000);
    let exec = exec_in(&jail);
    std::thread::sleep(Duration::from_millis(500));
    let early = sensor.events_where(|e| is_exec_of(e, exec.0, &exec.1));
    assert!(
        early.is_empty(),
        "the event did not wait for its pod: {early:#?}"
    );
    api.fake()
        .add_pod(simple_pod(&api.node, "late", "late-0", &id));
    let ev = wait_exec(&sensor, &exec, EVENT_TIMEOUT);
    assert_field(&ev, "lanner.pod_context", "found");
    assert_field(&ev, "k8s.ns.name", "late");
    assert_field(&ev, "k8s.pod.name", "late-0");
    assert_field(&ev, "container.name", "app");
    let stats = sensor.stop();
    assert!(
        pod_cache(&stats, "resolved_after_wait") >= 1,
        "{}",
        stats.raw
    );
}

#[test]
fn pod_that_never_arrives_gives_the_pending_marker_and_counts() {
    require_root!();
    let api = Api::start();
    let (_id, jail) = containerd_jail();
    let mut sensor = api.sensor(300);
    let ev = wait_exec(&sensor, &exec_in(&jail), EVENT_TIMEOUT);
    assert_pending(&ev);
    let stats = sensor.stop();
    assert!(pod_cache(&stats, "sent_pending") >= 1, "{}", stats.raw);
}

#[test]
fn api_server_restart_keeps_events_flowing_and_the_cache_recovers() {
    require_root!();
    let api = Api::start();
    let (id_a, jail_a) = containerd_jail();
    let (id_b, jail_b) = containerd_jail();
    api.fake()
        .add_pod(simple_pod(&api.node, "rs", "pod-a", &id_a));
    let mut sensor = api.sensor(10_000);
    let ev = wait_exec(&sensor, &exec_in(&jail_a), EVENT_TIMEOUT);
    assert_field(&ev, "lanner.pod_context", "found");
    assert_field(&ev, "k8s.pod.name", "pod-a");

    api.block_on(api.fake().stop());
    let ev = wait_exec(&sensor, &exec_in(&jail_a), EVENT_TIMEOUT);
    assert_field(&ev, "lanner.pod_context", "found");
    assert_field(&ev, "k8s.pod.name", "pod-a");
    let ev = wait_exec(&sensor, &echo_on_host("host"), EVENT_TIMEOUT);
    assert_no_pod(&ev, "host");

    api.fake()
        .add_pod(simple_pod(&api.node, "rs", "pod-b", &id_b));
    api.block_on(api.fake().restart()).unwrap();
    // kube's watcher backs off after errors: retry until pod B is in the cache, up to ~30 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    let ev = loop {
        let ev = wait_exec(&sensor, &exec_in(&jail_b), Duration::from_secs(20));
        if ev["lanner.pod_context"] == "found" || Instant::now() > deadline {
            break ev;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_field(&ev, "lanner.pod_context", "found");
    assert_field(&ev, "k8s.ns.name", "rs");
    assert_field(&ev, "k8s.pod.name", "pod-b");
    assert_field(&ev, "container.full_id", id_b.as_str());
    let stats = sensor.stop();
    assert!(pod_cache(&stats, "watch_errors") >= 1, "{}", stats.raw);
}

#[test]
fn deleted_pod_leaves_the_index() {
    require_root!();
    let api = Api::start();
    let (id, jail) = containerd_jail();
    api.fake()
        .add_pod(simple_pod(&api.node, "gone", "gone-0", &id));
    let mut sensor = api.sensor(300);
    // The first exec may come while the cache is still syncing: retry until it is found.
    let deadline = Instant::now() + Duration::from_secs(10);
    let ev = loop {
        let ev = wait_exec(&sensor, &exec_in(&jail), EVENT_TIMEOUT);
        if ev["lanner.pod_context"] == "found" || Instant::now() > deadline {
            break ev;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_field(&ev, "lanner.pod_context", "found");
    assert_field(&ev, "k8s.pod.name", "gone-0");
    api.fake().delete_pod("gone", "gone-0");
    std::thread::sleep(Duration::from_secs(1));
    let ev = wait_exec(&sensor, &exec_in(&jail), EVENT_TIMEOUT);
    assert_pending(&ev);
    sensor.stop();
}

#[test]
fn without_kubernetes_pod_context_is_off() {
    require_root!();
    // Sensor::start_with cannot set the sensor's environment, so this runs only where the
    // inherited one gives kube no configuration to discover (no $KUBECONFIG file, no
    // ~/.kube/config, not in a cluster).
    let home = std::env::var_os("HOME").unwrap_or_default();
    let default_cfg = std::path::Path::new(&home).join(".kube/config");
    let kubeconfig = std::env::var_os("KUBECONFIG");
    if kubeconfig.as_ref().is_some_and(|k| !k.is_empty())
        || default_cfg.exists()
        || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
    {
        skip(
            "without_kubernetes_pod_context_is_off",
            "the environment may hold a Kubernetes configuration",
        );
        return;
    }
    let (id, jail) = containerd_jail();
    let mut sensor = Sensor::start_with(&["--node-name", &unique("node")]);
    let ev = wait_exec(&sensor, &exec_in(&jail), EVENT_TIMEOUT);
    assert_field(&ev, "container.full_id", id.as_str());
    assert_no_pod(&ev, "off");
    let ev = wait_exec(&sensor, &echo_on_host("host"), EVENT_TIMEOUT);
    assert_no_pod(&ev, "host");
    let stats = sensor.stop();
    assert_eq!(stats.raw["pod_cache"]["enabled"], false, "{}", stats.raw);
}
