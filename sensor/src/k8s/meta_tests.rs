//! How a Pod object becomes index entries: ids, image split, privileged, hostPath mounts.

use k8s_openapi::api::core::v1::Pod;
use lanner_tests::{FAKE_STARTED_AT_NS, FakeContainer, hex_id, pod_json};
use serde_json::{Value, json};

use super::{
    error::ContainerIdError,
    meta::{HostPathMount, PodMeta, parse_container_id, pod_containers, pod_key, split_image},
};

fn pod(v: Value) -> Pod {
    serde_json::from_value(v).expect("a Pod")
}

fn by_name<'a>(list: &'a [(String, PodMeta)], name: &str) -> &'a (String, PodMeta) {
    list.iter()
        .find(|(_, m)| m.container_name == name)
        .unwrap_or_else(|| panic!("no container {name} in {list:#?}"))
}

#[test]
fn image_split_follows_falco_repository_and_tag() {
    let cases = [
        ("nginx", ("nginx", "")),
        ("nginx:1.25", ("nginx", "1.25")),
        (
            "docker.io/library/nginx:1.25",
            ("docker.io/library/nginx", "1.25"),
        ),
        (
            "registry.k8s.io/kube-proxy:v1.33.1",
            ("registry.k8s.io/kube-proxy", "v1.33.1"),
        ),
        ("localhost:5000/app", ("localhost:5000/app", "")),
        (
            "localhost:5000/team/app:1.0",
            ("localhost:5000/team/app", "1.0"),
        ),
        ("nginx@sha256:abcd", ("nginx", "")),
        ("quay.io/x/y:2@sha256:abcd", ("quay.io/x/y", "2")),
        ("", ("", "")),
    ];
    for (image, want) in cases {
        assert_eq!(split_image(image), want, "{image}");
    }
}

#[test]
fn container_ids_lose_their_runtime_prefix() {
    let id = hex_id(0xabc);
    for runtime in ["containerd", "cri-o", "docker"] {
        assert_eq!(
            parse_container_id(&format!("{runtime}://{id}")),
            Ok(id.as_str())
        );
    }
}

#[test]
fn malformed_container_ids_are_rejected() {
    let id = hex_id(1);
    assert!(matches!(
        parse_container_id(&id),
        Err(ContainerIdError::NoRuntimePrefix { .. })
    ));
    for bad in [
        "containerd://abc".to_owned(),
        format!("containerd://{}", id.to_uppercase().replace('0', "A")),
        format!("containerd://{id}0"),
        format!("containerd://{}", &id[1..]),
        "containerd://".to_owned(),
    ] {
        assert!(
            matches!(
                parse_container_id(&bad),
                Err(ContainerIdError::NotFullId { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn every_started_container_of_a_pod_gets_its_context() {
    let p = pod(pod_json(
        "shop",
        "web-0",
        "uid-web-0",
        "node-a",
        &[
            FakeContainer::new("app", "nginx:1.25", &format!("containerd://{}", hex_id(1)))
                .privileged(true)
                .host_mount("/var/log", "/host/log", true)
                .host_mount(
                    "/run/containerd/containerd.sock",
                    "/run/containerd.sock",
                    false,
                ),
            FakeContainer::new(
                "sidecar",
                "ghcr.io/acme/proxy",
                &format!("cri-o://{}", hex_id(2)),
            )
            .privileged(false),
            FakeContainer::new("setup", "busybox", &format!("docker://{}", hex_id(3))).init(),
            FakeContainer::new(
                "debug",
                "busybox:1.36",
                &format!("containerd://{}", hex_id(4)),
            )
            .ephemeral(),
            FakeContainer::new("late", "nginx", ""), // not created yet: no id
        ],
        &[("app", "web"), ("app.kubernetes.io/name", "shop")],
        "10.1.2.3",
    ));
    let read = pod_containers(&p);
    assert!(read.bad_ids.is_empty());
    assert_eq!(read.containers.len(), 4, "{:#?}", read.containers);

    let (id, app) = by_name(&read.containers, "app");
    assert_eq!(id, &hex_id(1));
    assert_eq!(app.namespace, "shop");
    assert_eq!(app.pod_name, "web-0");
    assert_eq!(app.pod_uid, "uid-web-0");
    assert_eq!(
        app.labels.get("app.kubernetes.io/name").map(String::as_str),
        Some("shop")
    );
    assert_eq!(app.labels.len(), 2);
    assert_eq!(app.pod_ip.as_deref(), Some("10.1.2.3"));
    assert_eq!(app.image, "nginx:1.25");
    assert_eq!(app.runtime_image, "docker.io/library/nginx:1.25");
    assert_eq!(app.image_repository, "docker.io/library/nginx");
    assert_eq!(app.image_tag, "1.25");
    assert!(app.privileged);
    assert_eq!(app.started_at_ns, Some(FAKE_STARTED_AT_NS));
    // The service-account token (a projected volume) is not a hostPath mount.
    assert_eq!(
        app.host_path_mounts,
        vec![
            HostPathMount {
                host_path: "/var/log".into(),
                container_path: "/host/log".into(),
                read_only: true,
            },
            HostPathMount {
                host_path: "/run/containerd/containerd.sock".into(),
                container_path: "/run/containerd.sock".into(),
                read_only: false,
            },
        ]
    );

    let (id, sidecar) = by_name(&read.containers, "sidecar");
    assert_eq!(id, &hex_id(2));
    assert!(!sidecar.privileged);
    assert_eq!(sidecar.image_repository, "ghcr.io/acme/proxy");
    assert_eq!(sidecar.image_tag, "latest"); // the runtime's name carries it
    assert!(sidecar.host_path_mounts.is_empty());

    let (id, setup) = by_name(&read.containers, "setup");
    assert_eq!(id, &hex_id(3));
    assert!(!setup.privileged, "no securityContext: not privileged");
    assert_eq!(setup.image_repository, "docker.io/library/busybox");

    let (id, debug) = by_name(&read.containers, "debug");
    assert_eq!(id, &hex_id(4));
    assert_eq!(debug.image, "busybox:1.36");
}

#[test]
fn sub_path_is_joined_and_spec_image_is_the_fallback() {
    let mut v = pod_json(
        "ns",
        "p",
        "uid-p",
        "node-a",
        &[FakeContainer::new(
            "c",
            "registry:5000/app:2.1",
            &format!("containerd://{}", hex_id(9)),
        )
        .host_mount("/srv/data/", "/data", false)],
        &[],
        "",
    );
    v["spec"]["containers"][0]["volumeMounts"][0]["subPath"] = json!("/tenant-a");
    // Some runtimes report only an image id; then the spec's name is split.
    v["status"]["containerStatuses"][0]["image"] = json!(format!("sha256:{}", hex_id(5)));
    let read = pod_containers(&pod(v));
    let (_, c) = by_name(&read.containers, "c");
    assert_eq!(c.host_path_mounts[0].host_path, "/srv/data/tenant-a");
    assert_eq!(c.runtime_image, "");
    assert_eq!(c.image_repository, "registry:5000/app");
    assert_eq!(c.image_tag, "2.1");
    assert_eq!(c.pod_ip, None);
}

#[test]
fn bad_ids_are_reported_and_the_rest_indexed() {
    let mut v = pod_json(
        "ns",
        "p",
        "uid-p",
        "node-a",
        &[
            FakeContainer::new("ok", "nginx", &format!("containerd://{}", hex_id(1))),
            FakeContainer::new("bad", "nginx", "containerd://deadbeef"),
        ],
        &[],
        "10.0.0.9",
    );
    let read = pod_containers(&pod(v.clone()));
    assert_eq!(read.containers.len(), 1);
    assert_eq!(read.bad_ids.len(), 1);

    // A pod without status (just created) has nothing to index.
    v.as_object_mut().expect("object").remove("status");
    assert!(pod_containers(&pod(v)).containers.is_empty());
}

#[test]
fn pods_are_keyed_by_uid() {
    let v = pod_json("ns", "p", "uid-1", "n", &[], &[], "");
    assert_eq!(pod_key(&pod(v.clone())), "uid-1");
    let mut no_uid = v;
    no_uid["metadata"]
        .as_object_mut()
        .expect("object")
        .remove("uid");
    assert_eq!(pod_key(&pod(no_uid)), "ns/p");
}
