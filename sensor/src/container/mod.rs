//! Container identity from a cgroup name: which container (if any) a task runs in.
//!
//! Pure string work, no I/O: the kernel reports the leaf name of the task's cgroup
//! (`lanner.cgroup`), the process table may add the full path (from `/proc/<pid>/cgroup`), and
//! [`from_cgroup`] turns them into a [`ContainerRef`]. The output stage prints
//! [`ContainerRef::short_id`] as Falco's `container.id` (12 characters, or `host`) and
//! [`ContainerRef::full_id`] as `container.full_id`.
//!
//! # Recognised cgroup names
//!
//! A container id is exactly 64 lowercase hex digits (what containerd, CRI-O, Docker and Podman
//! generate). The cgroup that holds a container's processes is named after it, in one of these
//! forms, the same on cgroup v1 (per controller hierarchy) and v2:
//!
//! | cgroup name (one path component) | who makes it | example full path |
//! |---|---|---|
//! | `cri-containerd-<id>.scope` | kubelet + containerd, systemd driver (`SystemdCgroup = true`) | `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope` |
//! | `<slice>:cri-containerd:<id>` | containerd given a systemd-style `cgroupsPath` while runc uses cgroupfs (`SystemdCgroup = false`, kubelet on the systemd driver) | `/kubepods-besteffort-pod<uid>.slice:cri-containerd:<id>` |
//! | `crio-<id>.scope` | kubelet + CRI-O, systemd driver (CRI-O's default) | `/kubepods.slice/…/kubepods-burstable-pod<uid>.slice/crio-<id>.scope` |
//! | `crio-<id>` | kubelet + CRI-O, cgroupfs driver | `/kubepods/burstable/pod<uid>/crio-<id>` |
//! | `docker-<id>.scope` | Docker, systemd driver | `/system.slice/docker-<id>.scope` |
//! | `libpod-<id>.scope` | Podman, systemd driver | `/machine.slice/libpod-<id>.scope` (v2: `…/libpod-<id>.scope/container`) |
//! | `libpod-<id>` | Podman, cgroupfs driver | `/libpod_parent/libpod-<id>` |
//! | `<id>` | kubelet + containerd, cgroupfs driver; Docker, cgroupfs driver (also under kubelet via dockershim/cri-dockerd) | `/kubepods/besteffort/pod<uid>/<id>`, `/docker/<id>` |
//!
//! The `<slice>:cri-containerd:<id>` name is 134 to 145 bytes long for a kubelet pod slice, more
//! than the 127 bytes the kernel side keeps of a leaf (`CGROUP_NAME_LEN`): cut, its id is not
//! 64 digits and the leaf reads as the host; only the path (from `/proc/<pid>/cgroup`) names it.
//!
//! The bare `<id>` form names no runtime: it is reported as [`Runtime::Docker`] only under a
//! parent named `docker` (seen when a path is given), otherwise the runtime is `None`.
//!
//! Not containers, so [`ContainerRef::Host`]:
//! - `crio-conmon-<id>.scope` / `crio-conmon-<id>` and `libpod-conmon-<id>.scope`: the runtime's
//!   monitor process (conmon), which runs on the host side of the container;
//! - pod cgroups (`kubepods-besteffort-pod<uid>.slice`, `pod<uid>`), slices, `session-3.scope`,
//!   `init.scope`, `user-0.slice`, services: host processes;
//! - ids that are not 64 lowercase hex digits: uppercase or other lengths. In particular a
//!   32-hex leaf (e.g. `b7ee1403d2b383bf8db12f05f520cea2`, the form of systemd machine ids and of
//!   some sandboxes' per-process cgroups) is no container id format of the runtimes above;
//!   reading it as one would invent a container, so it is the host.
//!
//! # Nested cgroups
//!
//! A container may create cgroups below its own (systemd inside a container:
//! `/system.slice/docker-<id>.scope/init.scope`; Podman on v2: `libpod-<id>.scope/container`).
//! The leaf alone (`init.scope`) does not tell: with only the leaf such a task is the host.
//! When `path` is given, its components are searched from the leaf up, and the deepest one in
//! a recognised form names the container (for a container in a container, the inner one).
//! `path` must be the path in the hierarchy the leaf came from (on a hybrid host whose tasks sit
//! in the v2 root, the v1 `memory` controller's path, as the kernel side does).

use std::sync::Arc;

use crate::idhash::IdHash;

#[cfg(test)]
mod tests;

/// The container runtime that made a cgroup name, when the name says so (Falco's
/// `container.type`: `containerd`, `cri-o`, `docker`, `podman`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Runtime {
    Containerd,
    CriO,
    Docker,
    Podman,
}

/// Where a task runs: on the host, or in the container with this id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ContainerRef {
    Host,
    Container {
        /// `None` for the bare-id form, which several runtimes use.
        runtime: Option<Runtime>,
        /// 64 lowercase hex digits (always, when made by [`from_cgroup`]). Shared: every event
        /// of the container carries it.
        full_id: std::sync::Arc<str>,
    },
}

/// Length of Falco's short container id (`container.id`).
pub const SHORT_ID_LEN: usize = 12;

impl ContainerRef {
    /// Falco's `container.id`: the first 12 characters of the id, or `host`.
    pub fn short_id(&self) -> &str {
        match self {
            ContainerRef::Host => "host",
            ContainerRef::Container { full_id, .. } => {
                full_id.get(..SHORT_ID_LEN).unwrap_or(full_id)
            }
        }
    }

    /// Falco's `container.full_id`: the whole id, `None` on the host.
    pub fn full_id(&self) -> Option<&str> {
        match self {
            ContainerRef::Host => None,
            ContainerRef::Container { full_id, .. } => Some(full_id),
        }
    }

    /// Falco's `container.type`: `host`, the runtime's name, or `None` when the cgroup name
    /// (the bare-id form) does not say which runtime made it.
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            ContainerRef::Host => Some("host"),
            ContainerRef::Container { runtime, .. } => runtime.map(|r| match r {
                Runtime::Containerd => "containerd",
                Runtime::CriO => "cri-o",
                Runtime::Docker => "docker",
                Runtime::Podman => "podman",
            }),
        }
    }
}

/// The container of a task whose cgroup has leaf name `leaf` and, when known, full path `path`
/// (see the module documentation for the forms). Never fails: anything unrecognised is the host.
pub fn from_cgroup(leaf: &str, path: Option<&str>) -> ContainerRef {
    let parts: Vec<&str> = path
        .unwrap_or_default()
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    // The leaf's parent, when the path ends with the leaf.
    let parent = match parts.as_slice() {
        [.., parent, last] if *last == leaf => Some(*parent),
        _ => None,
    };
    if let Some(c) = component(leaf, parent) {
        return c;
    }
    (0..parts.len())
        .rev()
        .find_map(|i| component(parts[i], i.checked_sub(1).map(|p| parts[p])))
        .unwrap_or(ContainerRef::Host)
}

/// Suffixed (systemd driver) and prefixed forms: `(prefix, suffix, runtime)`.
const FORMS: &[(&str, &str, Runtime)] = &[
    ("cri-containerd-", ".scope", Runtime::Containerd),
    ("crio-", ".scope", Runtime::CriO),
    ("crio-", "", Runtime::CriO),
    ("docker-", ".scope", Runtime::Docker),
    ("libpod-", ".scope", Runtime::Podman),
    ("libpod-", "", Runtime::Podman),
];

/// [`from_cgroup`] of leaf names already seen: every event names its cgroup, and a node has
/// few. Keyed by the name's allocation: the decoder hands out one shared `Arc` per cgroup, so
/// a lookup hashes an address instead of the ~80-byte name, and compares pointers. A key holds
/// its `Arc`, so the address cannot be reused for another name while it is in the cache; the
/// same name in another allocation (after the decoder started over) is merely a second entry.
/// Bounded: when full it starts over.
#[derive(Default)]
pub struct LeafCache {
    /// By the name's address: the name (held, so the address stays its own) and its container.
    known: std::collections::HashMap<u64, (Arc<str>, ContainerRef), IdHash>,
}

impl LeafCache {
    const CAP: usize = 8192;

    pub fn of(&mut self, leaf: &Arc<str>) -> ContainerRef {
        let address = Arc::as_ptr(leaf).cast::<u8>() as usize as u64;
        if let Some((_, c)) = self.known.get(&address) {
            return c.clone();
        }
        if self.known.len() >= Self::CAP {
            self.known.clear();
        }
        let c = from_cgroup(leaf, None);
        self.known.insert(address, (leaf.clone(), c.clone()));
        c
    }
}

/// One path component (`parent` is the component above it, if known) as a container.
fn component(name: &str, parent: Option<&str>) -> Option<ContainerRef> {
    let container = |runtime, id: &str| ContainerRef::Container {
        runtime,
        full_id: id.into(),
    };
    if is_id(name) {
        let runtime = (parent == Some("docker")).then_some(Runtime::Docker);
        return Some(container(runtime, name));
    }
    for &(prefix, suffix, runtime) in FORMS {
        if let Some(id) = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            && is_id(id)
        {
            return Some(container(Some(runtime), id));
        }
    }
    if let Some((_, id)) = name.rsplit_once(":cri-containerd:")
        && is_id(id)
    {
        return Some(container(Some(Runtime::Containerd), id));
    }
    None
}

/// 64 lowercase hex digits.
fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
