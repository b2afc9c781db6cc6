//! What the index keeps per container, and how it is read from a Pod object.
//!
//! One entry per container that has a runtime id: regular, init and ephemeral containers alike
//! (`status.{,init,ephemeral}ContainerStatuses[].containerID`). A container that has not been
//! created yet (no id) has no entry; a restarted container is found under its new id only (the
//! previous id moves to `lastState`, which is not indexed).

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, EphemeralContainer, Pod, SecurityContext, VolumeMount,
};

use super::error::ContainerIdError;

/// Pod context of one container, as the enrichment stage attaches it to events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodMeta {
    /// `k8s.ns.name`.
    pub namespace: String,
    /// `k8s.pod.name`.
    pub pod_name: String,
    /// `k8s.pod.uid`.
    pub pod_uid: String,
    /// `k8s.pod.labels` / `k8s.pod.label[KEY]`.
    pub labels: BTreeMap<String, String>,
    /// `k8s.pod.ip`: `status.podIP`; `None` while the pod has none (pending, or host-network pods
    /// before the kubelet reports it).
    pub pod_ip: Option<String>,
    /// `container.name`: the container's name in the pod spec.
    pub container_name: String,
    /// The image as written in the pod spec (e.g. `nginx:1.25`).
    pub image: String,
    /// The image the runtime reports for the running container (`containerStatuses[].image`,
    /// normalised by containerd/CRI-O, e.g. `docker.io/library/nginx:1.25`). `""` when the runtime
    /// reported nothing usable (empty, or only an image id `sha256:...`). This is what Falco's
    /// container plugin reports as `container.image`.
    pub runtime_image: String,
    /// `container.image.repository`: [`split_image`] of `runtime_image`, else of `image`.
    pub image_repository: String,
    /// `container.image.tag`: [`split_image`] of `runtime_image`, else of `image`; `""` if none.
    pub image_tag: String,
    /// `container.privileged`: the container's `securityContext.privileged`, default false.
    pub privileged: bool,
    /// The container's mounts of `hostPath` volumes, in spec order.
    pub host_path_mounts: Vec<HostPathMount>,
    /// When the current instance of the container started (`state.running.startedAt`, else
    /// `state.terminated.startedAt`), ns since the Unix epoch; `None` if not reported.
    pub started_at_ns: Option<u64>,
}

/// A mount of a `hostPath` volume into one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPathMount {
    /// Path on the node: the volume's `hostPath.path`, joined with the mount's `subPath` if any
    /// (a `subPathExpr` is not expanded: the volume's path is reported).
    pub host_path: String,
    /// `volumeMounts[].mountPath`.
    pub container_path: String,
    /// `volumeMounts[].readOnly` (default false).
    pub read_only: bool,
}

/// The containers of one pod that have a runtime id, keyed by the full id, plus the ids that
/// were present but malformed (the caller counts and logs them).
#[derive(Debug, Default)]
pub struct PodContainers {
    pub containers: Vec<(String, PodMeta)>,
    pub bad_ids: Vec<ContainerIdError>,
}

/// The key the index files a pod under: its uid, or `namespace/name` for an object without one
/// (never the case for objects from a real API server).
pub fn pod_key(pod: &Pod) -> String {
    match pod.metadata.uid.as_deref() {
        Some(uid) if !uid.is_empty() => uid.to_owned(),
        _ => format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            pod.metadata.name.as_deref().unwrap_or_default()
        ),
    }
}

/// Reads every container of `pod` that has a runtime id.
pub fn pod_containers(pod: &Pod) -> PodContainers {
    let mut out = PodContainers::default();
    let (Some(spec), Some(status)) = (pod.spec.as_ref(), pod.status.as_ref()) else {
        return out;
    };
    let host_paths: HashMap<&str, &str> = spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| Some((v.name.as_str(), v.host_path.as_ref()?.path.as_str())))
        .collect();

    let regular = status.container_statuses.iter().flatten().map(|st| {
        let spec = spec.containers.iter().find(|c| c.name == st.name);
        (st, spec.map(SpecView::from))
    });
    let init = status.init_container_statuses.iter().flatten().map(|st| {
        let spec = spec
            .init_containers
            .iter()
            .flatten()
            .find(|c| c.name == st.name);
        (st, spec.map(SpecView::from))
    });
    let ephemeral = status
        .ephemeral_container_statuses
        .iter()
        .flatten()
        .map(|st| {
            let spec = spec
                .ephemeral_containers
                .iter()
                .flatten()
                .find(|c| c.name == st.name);
            (st, spec.map(SpecView::from))
        });

    for (st, view) in regular.chain(init).chain(ephemeral) {
        let Some(raw) = st.container_id.as_deref().filter(|s| !s.is_empty()) else {
            continue; // not created yet
        };
        match parse_container_id(raw) {
            Ok(id) => {
                let meta = container_meta(pod, st, view.as_ref(), &host_paths);
                out.containers.push((id.to_owned(), meta));
            }
            Err(e) => out.bad_ids.push(e),
        }
    }
    out
}

/// The fields a regular, init or ephemeral container spec share that the index needs.
struct SpecView<'a> {
    image: Option<&'a str>,
    security: Option<&'a SecurityContext>,
    mounts: &'a [VolumeMount],
}

impl<'a> From<&'a Container> for SpecView<'a> {
    fn from(c: &'a Container) -> Self {
        SpecView {
            image: c.image.as_deref(),
            security: c.security_context.as_ref(),
            mounts: c.volume_mounts.as_deref().unwrap_or_default(),
        }
    }
}

impl<'a> From<&'a EphemeralContainer> for SpecView<'a> {
    fn from(c: &'a EphemeralContainer) -> Self {
        SpecView {
            image: c.image.as_deref(),
            security: c.security_context.as_ref(),
            mounts: c.volume_mounts.as_deref().unwrap_or_default(),
        }
    }
}

fn container_meta(
    pod: &Pod,
    st: &ContainerStatus,
    spec: Option<&SpecView<'_>>,
    host_paths: &HashMap<&str, &str>,
) -> PodMeta {
    let md = &pod.metadata;
    let runtime_image = if st.image.is_empty() || st.image.starts_with("sha256:") {
        String::new()
    } else {
        st.image.clone()
    };
    let image = spec
        .and_then(|s| s.image)
        .map_or_else(|| runtime_image.clone(), str::to_owned);
    let (repo, tag) = split_image(if runtime_image.is_empty() {
        &image
    } else {
        &runtime_image
    });
    let host_path_mounts = spec
        .map(|s| host_path_mounts(s.mounts, host_paths))
        .unwrap_or_default();
    PodMeta {
        namespace: md.namespace.clone().unwrap_or_default(),
        pod_name: md.name.clone().unwrap_or_default(),
        pod_uid: md.uid.clone().unwrap_or_default(),
        labels: md.labels.clone().unwrap_or_default(),
        pod_ip: pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .filter(|ip| !ip.is_empty()),
        container_name: st.name.clone(),
        image_repository: repo.to_owned(),
        image_tag: tag.to_owned(),
        image,
        runtime_image,
        privileged: spec
            .and_then(|s| s.security)
            .and_then(|sc| sc.privileged)
            .unwrap_or(false),
        host_path_mounts,
        started_at_ns: started_at_ns(st),
    }
}

fn host_path_mounts(
    mounts: &[VolumeMount],
    host_paths: &HashMap<&str, &str>,
) -> Vec<HostPathMount> {
    mounts
        .iter()
        .filter_map(|m| {
            let base = *host_paths.get(m.name.as_str())?;
            let host_path = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                Some(sub) => format!(
                    "{}/{}",
                    base.trim_end_matches('/'),
                    sub.trim_start_matches('/')
                ),
                None => base.to_owned(),
            };
            Some(HostPathMount {
                host_path,
                container_path: m.mount_path.clone(),
                read_only: m.read_only.unwrap_or(false),
            })
        })
        .collect()
}

fn started_at_ns(st: &ContainerStatus) -> Option<u64> {
    let state = st.state.as_ref()?;
    let time = state
        .running
        .as_ref()
        .and_then(|r| r.started_at.as_ref())
        .or_else(|| {
            state
                .terminated
                .as_ref()
                .and_then(|t| t.started_at.as_ref())
        })?;
    u64::try_from(time.0.as_nanosecond()).ok()
}

/// `<runtime>://<64 hex>` → the id. The runtimes Kubernetes reports are `containerd://`,
/// `cri-o://` and `docker://` (cri-dockerd); any other prefix is accepted as long as the id is a
/// full one, since the id is what the cgroup path carries and what events are matched on.
pub fn parse_container_id(raw: &str) -> Result<&str, ContainerIdError> {
    let Some((_runtime, id)) = raw.split_once("://") else {
        return Err(ContainerIdError::NoRuntimePrefix {
            raw: raw.to_owned(),
        });
    };
    let full = id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if full {
        Ok(id)
    } else {
        Err(ContainerIdError::NotFullId {
            raw: raw.to_owned(),
        })
    }
}

/// Splits an image reference into Falco's `container.image.repository` and `container.image.tag`.
///
/// The repository is the reference without its digest (`@...`) and without its tag; the tag is
/// what follows the last `:` when that `:` comes after the last `/` (so a registry port is not
/// mistaken for a tag), else `""`. Falco's container plugin also reports an empty tag when the
/// reference has none (no `latest` is made up); in practice the runtime-reported image
/// (containerd, CRI-O) always carries one. Unlike the plugin's plain split on `:`,
/// `registry:5000/app:1.0` gives `registry:5000/app` and `1.0`.
pub fn split_image(image: &str) -> (&str, &str) {
    let name = image.split_once('@').map_or(image, |(name, _digest)| name);
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], &name[slash + i + 1..]),
        None => (name, ""),
    }
}
