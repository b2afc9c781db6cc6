//! Real-shaped Pod objects for the fake API server: what a kubelet on containerd would have
//! reported for a running pod (spec, volumes, container statuses with ids, state and images).

use serde_json::{Value, json};

/// `startedAt` of every running container [`pod_json`] builds, and the same in ns since the epoch.
pub const FAKE_STARTED_AT: &str = "2026-01-02T03:04:05Z";
pub const FAKE_STARTED_AT_NS: u64 = 1_767_323_045_000_000_000;

/// A full container id (64 hex digits) made from a number.
pub fn hex_id(n: u64) -> String {
    format!("{n:064x}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeContainerKind {
    Regular,
    Init,
    Ephemeral,
}

/// One container of a [`pod_json`] pod.
#[derive(Debug, Clone)]
pub struct FakeContainer {
    pub name: String,
    /// The image as in the spec (the status gets containerd's normalised name).
    pub image: String,
    /// `containerID` as the kubelet reports it (`containerd://<64 hex>`); `""`: not created yet
    /// (state `waiting`, no id).
    pub id: String,
    /// `securityContext.privileged`: `None` leaves `securityContext` out.
    pub privileged: Option<bool>,
    /// hostPath mounts: (host path, mount path, read-only).
    pub host_mounts: Vec<(String, String, bool)>,
    pub kind: FakeContainerKind,
}

impl FakeContainer {
    pub fn new(name: &str, image: &str, id: &str) -> Self {
        FakeContainer {
            name: name.into(),
            image: image.into(),
            id: id.into(),
            privileged: None,
            host_mounts: Vec::new(),
            kind: FakeContainerKind::Regular,
        }
    }
    pub fn privileged(mut self, p: bool) -> Self {
        self.privileged = Some(p);
        self
    }
    pub fn host_mount(mut self, host: &str, path: &str, read_only: bool) -> Self {
        self.host_mounts.push((host.into(), path.into(), read_only));
        self
    }
    pub fn init(mut self) -> Self {
        self.kind = FakeContainerKind::Init;
        self
    }
    pub fn ephemeral(mut self) -> Self {
        self.kind = FakeContainerKind::Ephemeral;
        self
    }
}

/// A Pod as the API server returns it. `ip` `""` leaves `status.podIP` out.
pub fn pod_json(
    namespace: &str,
    name: &str,
    uid: &str,
    node: &str,
    containers: &[FakeContainer],
    labels: &[(&str, &str)],
    ip: &str,
) -> Value {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| ((*k).into(), json!(v)))
        .collect();
    let mut volumes = Vec::new();
    let mut specs: [Vec<Value>; 3] = Default::default();
    let mut statuses: [Vec<Value>; 3] = Default::default();
    for c in containers {
        let mut mounts = Vec::new();
        for (i, (host, path, ro)) in c.host_mounts.iter().enumerate() {
            let vol = format!("host-{}-{i}", c.name);
            volumes.push(json!({"name": vol, "hostPath": {"path": host, "type": ""}}));
            mounts.push(json!({"name": vol, "mountPath": path, "readOnly": ro}));
        }
        // Every real pod also mounts its service account token (a projected volume, not hostPath).
        let token = format!("kube-api-access-{}", c.name);
        volumes.push(json!({"name": token, "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}));
        mounts.push(json!({"name": token, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}));
        let mut spec = json!({"name": c.name, "image": c.image, "imagePullPolicy": "IfNotPresent",
            "volumeMounts": mounts, "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File"});
        if let Some(p) = c.privileged {
            spec["securityContext"] = json!({"privileged": p});
        }
        let status = if c.id.is_empty() {
            json!({"name": c.name, "image": c.image, "imageID": "", "ready": false,
                "restartCount": 0, "started": false,
                "state": {"waiting": {"reason": "ContainerCreating"}}})
        } else {
            let runtime = runtime_image(&c.image);
            let repo = runtime.split(['@']).next().unwrap_or_default();
            let repo = repo
                .rsplit_once(':')
                .filter(|(_, t)| !t.contains('/'))
                .map_or(repo, |(r, _)| r);
            json!({"name": c.name, "image": runtime, "imageID": format!("{repo}@sha256:{}", hex_id(7)),
                "containerID": c.id, "ready": true, "restartCount": 0, "started": true,
                "state": {"running": {"startedAt": FAKE_STARTED_AT}}})
        };
        let slot = c.kind as usize;
        specs[slot].push(spec);
        statuses[slot].push(status);
    }
    let [regular, init, ephemeral] = specs;
    let [regular_st, init_st, ephemeral_st] = statuses;
    let mut spec = json!({"nodeName": node, "containers": regular, "volumes": volumes,
        "restartPolicy": "Always", "schedulerName": "default-scheduler",
        "serviceAccountName": "default", "dnsPolicy": "ClusterFirst"});
    let mut status = json!({"phase": "Running", "hostIP": "10.0.0.1", "startTime": FAKE_STARTED_AT,
        "qosClass": "BestEffort", "containerStatuses": regular_st});
    if !init.is_empty() {
        spec["initContainers"] = json!(init);
        status["initContainerStatuses"] = json!(init_st);
    }
    if !ephemeral.is_empty() {
        spec["ephemeralContainers"] = json!(ephemeral);
        status["ephemeralContainerStatuses"] = json!(ephemeral_st);
    }
    if !ip.is_empty() {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{"ip": ip}]);
    }
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace, "uid": uid, "labels": labels,
            "creationTimestamp": FAKE_STARTED_AT},
        "spec": spec,
        "status": status,
    })
}

/// The image name containerd reports for a spec image: Docker Hub names completed
/// (`nginx` → `docker.io/library/nginx:latest`), `:latest` added when there is no tag or digest.
pub fn runtime_image(image: &str) -> String {
    let (name, digest) = image
        .split_once('@')
        .map_or((image, None), |(n, d)| (n, Some(d)));
    let first = name.split('/').next().unwrap_or_default();
    let has_registry = name.contains('/') && (first.contains(['.', ':']) || first == "localhost");
    let mut full = if has_registry {
        name.to_owned()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    let last = full.rsplit('/').next().unwrap_or_default();
    match digest {
        Some(d) => full = format!("{full}@{d}"),
        None if !last.contains(':') => full.push_str(":latest"),
        None => {}
    }
    full
}
