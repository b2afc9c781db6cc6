//! Every documented form, the look-alikes that are not containers, and garbage.

use super::*;

const ID: &str = "3f4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d";
const ID2: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const POD_UID: &str = "0b6e6f5a-2c1d-4e8f-9a7b-3c2d1e0f9a8b";
const POD_UID_SYSTEMD: &str = "0b6e6f5a_2c1d_4e8f_9a7b_3c2d1e0f9a8b";

fn container(runtime: Option<Runtime>, id: &str) -> ContainerRef {
    ContainerRef::Container {
        runtime,
        full_id: id.into(),
    }
}

/// `from_cgroup` with the leaf alone and with the leaf plus its full path agree on `want`.
#[track_caller]
fn check(path: &str, want: &ContainerRef) {
    let leaf = path.rsplit('/').next().unwrap();
    assert_eq!(&from_cgroup(leaf, Some(path)), want, "path {path}");
    // Without the path, only the parent-dependent runtime of a bare id may differ.
    let alone = from_cgroup(leaf, None);
    assert_eq!(alone.full_id(), want.full_id(), "leaf {leaf} alone");
}

#[test]
fn containerd_systemd_driver() {
    let leaf = format!("cri-containerd-{ID}.scope");
    let want = container(Some(Runtime::Containerd), ID);
    assert_eq!(from_cgroup(&leaf, None), want);
    check(
        &format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{POD_UID_SYSTEMD}.slice/{leaf}"
        ),
        &want,
    );
    check(
        &format!("/kubepods.slice/kubepods-pod{POD_UID_SYSTEMD}.slice/{leaf}"),
        &want,
    );
}

#[test]
fn containerd_systemd_path_without_systemd() {
    for slice in [
        format!("kubepods-besteffort-pod{POD_UID_SYSTEMD}.slice"),
        format!("kubepods-burstable-pod{POD_UID_SYSTEMD}.slice"),
        "system.slice".to_string(),
    ] {
        let leaf = format!("{slice}:cri-containerd:{ID}");
        let want = container(Some(Runtime::Containerd), ID);
        assert_eq!(from_cgroup(&leaf, None), want, "{leaf}");
        check(&format!("/{leaf}"), &want);
        check(&format!("/kubepods/{leaf}"), &want);
    }
    // The separator with a bad id, or cut short (a leaf truncated by a fixed-size buffer).
    let cut = format!("kubepods-besteffort-pod{POD_UID_SYSTEMD}.slice:cri-containerd:{ID}");
    assert_eq!(from_cgroup(&cut[..127], None), ContainerRef::Host);
    assert_eq!(from_cgroup(":cri-containerd:", None), ContainerRef::Host);
    assert_eq!(
        from_cgroup(&format!("x:cri-containerd:{ID}.scope"), None),
        ContainerRef::Host
    );
}

#[test]
fn crio_systemd_and_cgroupfs_drivers() {
    let want = container(Some(Runtime::CriO), ID);
    assert_eq!(from_cgroup(&format!("crio-{ID}.scope"), None), want);
    assert_eq!(from_cgroup(&format!("crio-{ID}"), None), want);
    check(
        &format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_UID_SYSTEMD}.slice/crio-{ID}.scope"
        ),
        &want,
    );
    check(
        &format!("/kubepods/burstable/pod{POD_UID}/crio-{ID}"),
        &want,
    );
}

#[test]
fn conmon_is_not_the_container() {
    for leaf in [
        format!("crio-conmon-{ID}.scope"),
        format!("crio-conmon-{ID}"),
        format!("libpod-conmon-{ID}.scope"),
        format!("libpod-conmon-{ID}"),
    ] {
        assert_eq!(from_cgroup(&leaf, None), ContainerRef::Host, "{leaf}");
        let path = format!("/kubepods.slice/kubepods-pod{POD_UID_SYSTEMD}.slice/{leaf}");
        assert_eq!(
            from_cgroup(&leaf, Some(&path)),
            ContainerRef::Host,
            "{path}"
        );
    }
}

#[test]
fn docker_systemd_and_cgroupfs_drivers() {
    let systemd = container(Some(Runtime::Docker), ID);
    assert_eq!(from_cgroup(&format!("docker-{ID}.scope"), None), systemd);
    check(&format!("/system.slice/docker-{ID}.scope"), &systemd);
    // cgroupfs: the bare id, attributed to Docker only when the parent says so.
    check(
        &format!("/docker/{ID}"),
        &container(Some(Runtime::Docker), ID),
    );
    assert_eq!(from_cgroup(ID, None), container(None, ID));
}

#[test]
fn podman_systemd_and_cgroupfs_drivers() {
    let want = container(Some(Runtime::Podman), ID);
    assert_eq!(from_cgroup(&format!("libpod-{ID}.scope"), None), want);
    assert_eq!(from_cgroup(&format!("libpod-{ID}"), None), want);
    check(&format!("/machine.slice/libpod-{ID}.scope"), &want);
    check(&format!("/libpod_parent/libpod-{ID}"), &want);
}

#[test]
fn cgroupfs_bare_id_under_kubepods() {
    let want = container(None, ID);
    for qos in ["besteffort/", "burstable/", ""] {
        check(&format!("/kubepods/{qos}pod{POD_UID}/{ID}"), &want);
    }
    // Trailing slash, doubled slashes: components are what counts.
    assert_eq!(
        from_cgroup(ID, Some(&format!("//kubepods//pod{POD_UID}/{ID}/"))),
        want
    );
}

#[test]
fn nested_cgroups_need_the_path() {
    let cases = [
        (
            format!("/system.slice/docker-{ID}.scope/init.scope"),
            container(Some(Runtime::Docker), ID),
        ),
        (
            format!("/system.slice/docker-{ID}.scope/system.slice/cron.service"),
            container(Some(Runtime::Docker), ID),
        ),
        (
            format!("/machine.slice/libpod-{ID}.scope/container"),
            container(Some(Runtime::Podman), ID),
        ),
        (
            format!(
                "/kubepods.slice/kubepods-pod{POD_UID_SYSTEMD}.slice/cri-containerd-{ID}.scope/init.scope"
            ),
            container(Some(Runtime::Containerd), ID),
        ),
        (
            format!("/docker/{ID}/init.scope"),
            container(Some(Runtime::Docker), ID),
        ),
        (
            format!("/kubepods/besteffort/pod{POD_UID}/{ID}/sub"),
            container(None, ID),
        ),
        // A container in a container: the inner one.
        (
            format!("/docker/{ID}/docker/{ID2}"),
            container(Some(Runtime::Docker), ID2),
        ),
        (
            format!("/system.slice/docker-{ID}.scope/docker/{ID2}/init.scope"),
            container(Some(Runtime::Docker), ID2),
        ),
    ];
    for (path, want) in cases {
        let leaf = path.rsplit('/').next().unwrap();
        assert_eq!(from_cgroup(leaf, Some(&path)), want, "{path}");
        if !leaf.contains(ID2) {
            assert_eq!(from_cgroup(leaf, None), ContainerRef::Host, "{leaf} alone");
        }
    }
}

#[test]
fn host_cgroups() {
    for leaf in [
        "user-0.slice",
        "session-3.scope",
        "init.scope",
        "system.slice",
        "cron.service",
        "kubepods.slice",
        "kubepods-besteffort.slice",
        "besteffort",
        "docker",
        "/",
        "",
        // A 32-hex leaf (this kind of sandbox's own per-process cgroups): not a container id.
        "b7ee1403d2b383bf8db12f05f520cea2",
        "3e990b1896984330ebda67afdc1427d4",
    ] {
        assert_eq!(from_cgroup(leaf, None), ContainerRef::Host, "{leaf:?}");
    }
    for path in [
        "/user.slice/user-0.slice/session-3.scope",
        "/process_api/b7ee1403d2b383bf8db12f05f520cea2",
        &format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{POD_UID_SYSTEMD}.slice"
        ),
        &format!("/kubepods/besteffort/pod{POD_UID}"),
        "/",
        "",
    ] {
        let leaf = path.rsplit('/').next().unwrap();
        assert_eq!(from_cgroup(leaf, Some(path)), ContainerRef::Host, "{path}");
    }
}

#[test]
fn ids_must_be_64_lowercase_hex() {
    let upper = ID.to_ascii_uppercase();
    let short = &ID[..63];
    let long = format!("{ID}0");
    let non_hex = format!("{}g", &ID[..63]);
    for id in [upper.as_str(), short, long.as_str(), non_hex.as_str()] {
        for leaf in [
            id.to_string(),
            format!("cri-containerd-{id}.scope"),
            format!("crio-{id}.scope"),
            format!("crio-{id}"),
            format!("docker-{id}.scope"),
            format!("libpod-{id}.scope"),
            format!("pod.slice:cri-containerd:{id}"),
        ] {
            assert_eq!(from_cgroup(&leaf, None), ContainerRef::Host, "{leaf}");
            let path = format!("/kubepods/besteffort/pod{POD_UID}/{leaf}");
            assert_eq!(
                from_cgroup(&leaf, Some(&path)),
                ContainerRef::Host,
                "{path}"
            );
        }
    }
    // Wrong prefix or suffix around a good id.
    for leaf in [
        format!("containerd-{ID}.scope"),
        format!("cri-containerd-{ID}"),
        format!("docker-{ID}"),
        format!("docker-{ID}.service"),
        format!("crio-{ID}.slice"),
        format!("{ID}.scope"),
        format!(" {ID}"),
        format!("crio--{ID}.scope"),
    ] {
        assert_eq!(from_cgroup(&leaf, None), ContainerRef::Host, "{leaf}");
    }
}

#[test]
fn short_and_full_ids() {
    let c = from_cgroup(&format!("cri-containerd-{ID}.scope"), None);
    assert_eq!(c.short_id(), &ID[..12]);
    assert_eq!(c.short_id().len(), SHORT_ID_LEN);
    assert_eq!(c.full_id(), Some(ID));
    let h = ContainerRef::Host;
    assert_eq!(h.short_id(), "host");
    assert_eq!(h.full_id(), None);
    // Hand-built values with odd ids do not panic.
    for id in ["", "abc", "é", "0123456789éa", "0123456789aé"] {
        let c = container(None, id);
        assert!(id.starts_with(c.short_id()), "{id:?} -> {:?}", c.short_id());
        assert_eq!(c.full_id(), Some(id));
    }
}

#[test]
fn the_leaf_wins_over_a_path_that_disagrees() {
    // The leaf is the kernel's; a stale or other-hierarchy path must not override a match.
    let leaf = format!("crio-{ID}.scope");
    let path = format!("/system.slice/docker-{ID2}.scope");
    assert_eq!(
        from_cgroup(&leaf, Some(&path)),
        container(Some(Runtime::CriO), ID)
    );
    // A host leaf with a container path: the path's container (a nested cgroup).
    assert_eq!(
        from_cgroup("init.scope", Some(&path)),
        container(Some(Runtime::Docker), ID2)
    );
}

#[test]
fn garbage_never_panics() {
    let mut next = crate::testutil::xorshift();
    let alphabet: Vec<char> = "0123456789abcdefABCDEF-_.:/ scopecrio\u{0}\u{fffd}é日"
        .chars()
        .collect();
    let pieces = [
        "cri-containerd-",
        "crio-",
        "docker-",
        "libpod-",
        "conmon-",
        ".scope",
        ":cri-containerd:",
        "/",
        ID,
        &ID[..32],
    ];
    for _ in 0..20_000 {
        let mut s = String::new();
        for _ in 0..(next() % 12) {
            if next().is_multiple_of(3) {
                s.push_str(pieces[(next() % pieces.len() as u64) as usize]);
            } else {
                s.push(alphabet[(next() % alphabet.len() as u64) as usize]);
            }
        }
        let leaf = s.rsplit('/').next().unwrap();
        for c in [
            from_cgroup(&s, None),
            from_cgroup(leaf, Some(&s)),
            from_cgroup(&s, Some(&s)),
        ] {
            match &c {
                ContainerRef::Host => assert_eq!(c.short_id(), "host"),
                ContainerRef::Container { full_id, .. } => {
                    assert!(is_id(full_id), "{s:?} gave {c:?}");
                    assert_eq!(c.short_id(), &full_id[..12]);
                }
            }
        }
    }
    let huge = "a/".repeat(100_000);
    assert_eq!(from_cgroup("a", Some(&huge)), ContainerRef::Host);
}

#[test]
fn the_leaf_cache_answers_by_the_shared_name_and_equal_names_agree() {
    let id = "a".repeat(64);
    let leaf: std::sync::Arc<str> = format!("cri-containerd-{id}.scope").into();
    let mut cache = super::LeafCache::default();
    let first = cache.of(&leaf);
    assert_eq!(first.full_id(), Some(id.as_str()));
    assert_eq!(cache.of(&leaf.clone()), first);
    // The same name in another allocation is looked up on its own and agrees.
    let again: std::sync::Arc<str> = leaf.to_string().into();
    assert_eq!(cache.of(&again), first);
    let host: std::sync::Arc<str> = "session-3.scope".into();
    assert_eq!(cache.of(&host), ContainerRef::Host);
}
