//! `container.*` and `k8s.*` (falco-fields.md 1.6). Falco's container plugin reads them from
//! the runtime; Lanner has the container id from the cgroup and the rest from the pod's
//! metadata, so without pod context only `container.id`, `container.full_id` and
//! `container.type` have values.
//!
//! On the host: `container.id`/`name` are `host`, the image fields and `container.mounts` are
//! `""`, `container.privileged` is false, `k8s.pod.labels` and `k8s.pod.ip` are `""`, the other
//! `k8s.*` fields are missing. A container whose pod did not arrive in time has the visible
//! marker `<pending>` as `k8s.ns.name` and `k8s.pod.name` (as `--dump-events` shows).

use std::{cell::RefCell, collections::HashMap};

use lanner_rules::{Field, FieldArg, Value};
use regex::Regex;

use super::{EventView, s, uint};
use crate::{
    container::ContainerRef,
    enrich::PodContext,
    k8s::{HostPathMount, PodMeta},
};

const PENDING: &str = "<pending>";

/// Label keys the container plugin leaves out of `k8s.pod.labels`.
const HIDDEN_LABEL_PREFIXES: &[&str] = &["annotation.", "io.kubernetes."];

/// Compiled `container.mount.*[REGEX]` keys. The keys come from the loaded rules (a dozen in
/// the official ones), so the cache stays small; it is bounded anyway against odd rules.
const REGEX_CACHE_MAX: usize = 256;

thread_local! {
    static REGEXES: RefCell<HashMap<String, Option<Regex>>> = RefCell::new(HashMap::new());
}

/// Does the unanchored regular expression `pattern` match `text`? An invalid pattern matches
/// nothing (the plugin's lookup fails the same way).
fn regex_matches(pattern: &str, text: &str) -> bool {
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(re) = cache.get(pattern) {
            return re.as_ref().is_some_and(|re| re.is_match(text));
        }
        if cache.len() >= REGEX_CACHE_MAX {
            cache.clear();
        }
        let re = Regex::new(pattern).ok();
        let hit = re.as_ref().is_some_and(|re| re.is_match(text));
        cache.insert(pattern.to_string(), re);
        hit
    })
}

/// One side of a mount.
type Side = fn(&HostPathMount) -> &str;

fn source(m: &HostPathMount) -> &str {
    &m.host_path
}

fn dest(m: &HostPathMount) -> &str {
    &m.container_path
}

/// `container.mount.dest[KEY]` / `container.mount.source[KEY]`: `[N]` is the Nth mount;
/// otherwise the first mount whose `by` side matches the regex KEY; its `want` side.
fn mount_lookup<'m>(
    mounts: &'m [HostPathMount],
    arg: &FieldArg,
    by: Side,
    want: Side,
) -> Option<&'m str> {
    let m = match arg {
        FieldArg::Index(n) => mounts.get(usize::try_from(*n).ok()?)?,
        FieldArg::Key(k) => mounts.iter().find(|m| regex_matches(k, by(m)))?,
        FieldArg::None => return None,
    };
    Some(want(m))
}

/// `source:dest:mode:rdwr:propagation` joined with `,`. The pod spec gives no mode or
/// propagation: mode is `""`, propagation `private` (the default for hostPath mounts).
fn mounts_text(mounts: &[HostPathMount]) -> String {
    mounts
        .iter()
        .map(|m| {
            format!(
                "{}:{}::{}:private",
                m.host_path, m.container_path, !m.read_only
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `key:value` (just `key` for an empty value) joined with `, `, without the hidden keys.
fn labels_text(p: &PodMeta) -> String {
    p.labels
        .iter()
        .filter(|(k, _)| !HIDDEN_LABEL_PREFIXES.iter().any(|h| k.starts_with(h)))
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}:{v}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl EventView<'_> {
    pub(super) fn pod_field(&self, field: Field, arg: &FieldArg) -> Option<Value<'_>> {
        let ctx = &self.ev.ctx;
        let host = matches!(ctx.container, ContainerRef::Host);
        let meta: Option<&PodMeta> = match &ctx.pod {
            PodContext::Found(m) if !host => Some(m),
            _ => None,
        };
        let host_pod = host || matches!(ctx.pod, PodContext::Host);
        let pending = !host && matches!(ctx.pod, PodContext::Pending);
        Some(match field {
            Field::ContainerId => s(ctx.container.short_id()),
            Field::ContainerFullId => s(ctx.container.full_id().unwrap_or("host")),
            Field::ContainerType => s(ctx.container.kind()?),
            Field::ContainerName if host => s("host"),
            Field::ContainerName => s(&meta?.container_name),
            Field::ContainerImage
            | Field::ContainerImageRepository
            | Field::ContainerImageTag
            | Field::ContainerMounts
                if host =>
            {
                s("")
            }
            Field::ContainerImage => {
                let p = meta?;
                s(if p.runtime_image.is_empty() {
                    &p.image
                } else {
                    &p.runtime_image
                })
            }
            Field::ContainerImageRepository => s(&meta?.image_repository),
            Field::ContainerImageTag => s(&meta?.image_tag),
            Field::ContainerPrivileged if host => Value::Bool(false),
            Field::ContainerPrivileged => Value::Bool(meta?.privileged),
            Field::ContainerStartTs => uint(meta?.started_at_ns?),
            Field::ContainerDuration => uint(self.epoch_ns.saturating_sub(meta?.started_at_ns?)),
            Field::ContainerMounts => {
                let p = meta?;
                s(self.mounts.get_or_init(|| mounts_text(&p.host_path_mounts)))
            }
            Field::ContainerMountDest => {
                s(mount_lookup(&meta?.host_path_mounts, arg, source, dest)?)
            }
            Field::ContainerMountSource => {
                s(mount_lookup(&meta?.host_path_mounts, arg, dest, source)?)
            }
            Field::K8sNsName | Field::K8sPodName if pending => s(PENDING),
            Field::K8sPodLabels | Field::K8sPodIp if host_pod => s(""),
            Field::K8sNsName => s(&meta?.namespace),
            Field::K8sPodName => s(&meta?.pod_name),
            Field::K8sPodUid | Field::K8sPodId => s(&meta?.pod_uid),
            Field::K8sPodLabel => match arg {
                FieldArg::Key(k) => s(meta?.labels.get(k)?),
                _ => return None,
            },
            Field::K8sPodLabels => {
                let p = meta?;
                s(self.labels.get_or_init(|| labels_text(p)))
            }
            Field::K8sPodIp => s(meta?.pod_ip.as_deref().unwrap_or("")),
            _ => return None,
        })
    }
}
