//! PodCache against the fake API server of `lanner-tests` (real HTTP, kube's real client and
//! watcher): sync, live changes, outages, 410 Gone, the node field selector.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client, api::ListParams};
use lanner_tests::{FakeApiServer, FakeContainer, Flood, TempDir, hex_id, pod_json};
use serde_json::Value;

use super::{K8sOptions, PodCache, connect::load_config};

const NODE: &str = "node-a";
const WAIT: Duration = Duration::from_secs(10);

struct Fixture {
    server: FakeApiServer,
    _dir: TempDir,
    opts: K8sOptions,
}

async fn fixture() -> Fixture {
    let server = FakeApiServer::start().await.expect("fake API server");
    let dir = TempDir::new("k8s");
    let kubeconfig = server.write_kubeconfig(dir.path()).expect("kubeconfig");
    let opts = K8sOptions {
        node_name: Some(NODE.into()),
        kubeconfig: Some(kubeconfig),
        retry_min: Duration::from_millis(50),
        retry_max: Duration::from_millis(400),
        ..K8sOptions::default()
    };
    Fixture {
        server,
        _dir: dir,
        opts,
    }
}

fn cid(n: u64) -> String {
    format!("containerd://{}", hex_id(n))
}

/// A one-container pod `name` on `node` whose container has id `hex_id(id)`.
fn pod(name: &str, node: &str, id: u64) -> Value {
    let c = FakeContainer::new("app", "nginx:1.25", &cid(id));
    pod_json(
        "default",
        name,
        &format!("uid-{name}"),
        node,
        &[c],
        &[("app", name)],
        "10.0.0.5",
    )
}

async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn synced(opts: &K8sOptions) -> PodCache {
    let cache = PodCache::start(opts.clone()).await;
    assert!(cache.enabled());
    wait_until("synced", || cache.synced() && !cache.stale()).await;
    cache
}

#[tokio::test]
async fn pod_listed_before_start_is_found_after_sync() {
    let f = fixture().await;
    f.server.add_pod(pod("web", NODE, 1));
    let cache = PodCache::start(f.opts.clone()).await;
    assert!(cache.stale() && !cache.synced(), "nothing listed yet");
    wait_until("synced", || cache.synced()).await;
    assert!(!cache.stale());
    let meta = cache.lookup(&hex_id(1)).expect("indexed");
    assert_eq!(
        (meta.namespace.as_str(), meta.pod_name.as_str()),
        ("default", "web")
    );
    assert_eq!(meta.pod_uid, "uid-web");
    assert_eq!(meta.container_name, "app");
    assert_eq!(meta.image_repository, "docker.io/library/nginx");
    assert_eq!(cache.lookup(&cid(1)), None, "keys are bare ids");
    let stats = cache.stats();
    assert_eq!((stats.pods, stats.containers, stats.relists), (1, 1, 1));
}

#[tokio::test]
async fn pod_added_later_fires_changed_and_is_found() {
    let f = fixture().await;
    let cache = synced(&f.opts).await;
    assert_eq!(cache.lookup(&hex_id(2)), None);
    let changed = cache.changed();
    f.server.add_pod(pod("api", NODE, 2));
    tokio::time::timeout(WAIT, changed)
        .await
        .expect("changed() resolved");
    assert_eq!(cache.lookup(&hex_id(2)).expect("indexed").pod_name, "api");
}

#[tokio::test]
async fn restarted_container_is_found_under_its_new_id_only() {
    let f = fixture().await;
    f.server.add_pod(pod("web", NODE, 1));
    let cache = synced(&f.opts).await;
    assert!(cache.lookup(&hex_id(1)).is_some());
    f.server.modify_pod(pod("web", NODE, 11));
    wait_until("new id indexed", || cache.lookup(&hex_id(11)).is_some()).await;
    assert_eq!(cache.lookup(&hex_id(1)), None, "the old id is gone");
    assert_eq!(cache.stats().containers, 1);
}

#[tokio::test]
async fn deleted_pod_leaves_the_index() {
    let f = fixture().await;
    f.server.add_pod(pod("web", NODE, 1));
    f.server.add_pod(pod("db", NODE, 2));
    let cache = synced(&f.opts).await;
    f.server.delete_pod("default", "web");
    wait_until("web gone", || cache.lookup(&hex_id(1)).is_none()).await;
    assert!(cache.lookup(&hex_id(2)).is_some());
    assert_eq!(cache.stats().pods, 1);
}

#[tokio::test]
async fn server_outage_marks_stale_and_the_relist_catches_up() {
    let f = fixture().await;
    f.server.add_pod(pod("web", NODE, 1));
    let cache = synced(&f.opts).await;

    f.server.stop().await;
    wait_until("stale", || cache.stale()).await;
    assert!(cache.synced(), "synced stays true");
    assert!(
        cache.lookup(&hex_id(1)).is_some(),
        "the last index is kept while stale"
    );
    // Changes made while the sensor cannot see them.
    f.server.delete_pod("default", "web");
    f.server.add_pod(pod("api", NODE, 2));
    tokio::time::sleep(Duration::from_millis(300)).await; // a few failed attempts
    assert!(cache.stale());

    f.server.restart().await.expect("restart");
    wait_until("fresh again", || !cache.stale()).await;
    assert!(
        cache.lookup(&hex_id(2)).is_some(),
        "added during the outage"
    );
    assert_eq!(cache.lookup(&hex_id(1)), None, "deleted during the outage");
    let stats = cache.stats();
    assert!(stats.watch_errors >= 1, "{stats:?}");
    assert!(stats.relists >= 2, "{stats:?}");

    // And the watch after the relist is live.
    f.server.add_pod(pod("late", NODE, 3));
    wait_until("live again", || cache.lookup(&hex_id(3)).is_some()).await;
}

#[tokio::test]
async fn expired_watch_history_410_leads_to_a_relist() {
    let f = fixture().await;
    f.server.add_pod(pod("web", NODE, 1));
    let cache = synced(&f.opts).await;
    let seen = f.server.resource_version();
    // Changes on another node move the server's version on without the node's watch seeing any;
    // then the history is compacted past what the watch has seen and the watch is closed.
    f.server.add_pod(pod("elsewhere", "node-b", 9));
    f.server.expire_history();
    f.server.close_watches();
    wait_until("relisted", || cache.stats().relists >= 2).await;
    wait_until("fresh again", || !cache.stale()).await;
    assert!(cache.stats().watch_errors >= 1);
    assert!(cache.lookup(&hex_id(1)).is_some());
    // kube resumed from the version it had seen, got 410, and listed again.
    let reqs = f.server.requests();
    let old = seen.to_string();
    let from_old: Vec<usize> = (0..reqs.len())
        .filter(|&i| reqs[i].is_watch() && reqs[i].param("resourceVersion") == Some(old.as_str()))
        .collect();
    assert!(
        from_old.len() >= 2,
        "the first watch and the resumed one: {reqs:#?}"
    );
    assert!(
        reqs[from_old[1]..].iter().any(|r| !r.is_watch()),
        "then a list"
    );

    f.server.add_pod(pod("late", NODE, 3));
    wait_until("live again", || cache.lookup(&hex_id(3)).is_some()).await;
}

/// The same compaction, but a BOOKMARK moved the watch's version on first: it resumes without
/// 410 and without a relist (what bookmarks are for on a quiet node).
#[tokio::test]
async fn a_bookmark_keeps_a_quiet_watch_resumable() {
    let f = fixture().await;
    f.server.add_pod(pod("web", NODE, 1));
    let cache = synced(&f.opts).await;
    f.server.add_pod(pod("elsewhere", "node-b", 9));
    f.server.bookmark();
    let marked = f.server.resource_version().to_string();
    f.server.expire_history();
    f.server.close_watches();
    let resumed = || {
        let reqs = f.server.requests();
        reqs.iter()
            .any(|r| r.is_watch() && r.param("resourceVersion") == Some(marked.as_str()))
    };
    wait_until("the watch resumed from the bookmark", resumed).await;
    f.server.add_pod(pod("late", NODE, 3));
    wait_until("live", || cache.lookup(&hex_id(3)).is_some()).await;
    let stats = cache.stats();
    assert_eq!((stats.watch_errors, stats.relists), (0, 1), "{stats:?}");
    assert!(!cache.stale());
}

#[tokio::test]
async fn pods_of_other_nodes_are_never_indexed() {
    let f = fixture().await;
    f.server.add_pod(pod("here", NODE, 1));
    f.server.add_pod(pod("there", "node-b", 2));
    let cache = synced(&f.opts).await;
    f.server.add_pod(pod("there-2", "node-b", 3));
    f.server.add_pod(pod("here-2", NODE, 4));
    wait_until("here-2 indexed", || cache.lookup(&hex_id(4)).is_some()).await;
    assert!(cache.lookup(&hex_id(1)).is_some());
    assert_eq!(cache.lookup(&hex_id(2)), None);
    assert_eq!(cache.lookup(&hex_id(3)), None);
    assert_eq!(cache.stats().pods, 2);

    let reqs = f.server.requests();
    let pods: Vec<_> = reqs.iter().filter(|r| r.path == "/api/v1/pods").collect();
    assert!(pods.iter().any(|r| r.is_watch()) && pods.iter().any(|r| !r.is_watch()));
    for r in pods {
        assert_eq!(
            r.param("fieldSelector"),
            Some("spec.nodeName=node-a"),
            "{r:?}"
        );
        if !r.is_watch() {
            // Served from the API server's watch cache, not a quorum read of every pod in etcd.
            assert_eq!(r.param("resourceVersion"), Some("0"), "{r:?}");
            assert_eq!(r.param("limit"), None, "{r:?}");
        }
    }
}

#[tokio::test]
async fn unreachable_server_leaves_the_cache_stale_not_failed() {
    let f = fixture().await;
    f.server.stop().await;
    let cache = PodCache::start(f.opts.clone()).await;
    assert!(cache.enabled());
    wait_until("two failed attempts", || cache.stats().watch_errors >= 2).await;
    assert!(cache.stale() && !cache.synced());
    f.server.restart().await.expect("restart");
    wait_until("synced", || cache.synced() && !cache.stale()).await;
}

/// A configured kubeconfig that cannot be used keeps the cache enabled and not ready, with the
/// reason, and is retried: once the file is fixed, the cache syncs.
#[tokio::test]
async fn a_broken_kubeconfig_is_reported_and_retried_until_it_works() {
    let f = fixture().await;
    f.server.add_pod(pod("web", NODE, 1));
    let path = f.opts.kubeconfig.clone().unwrap();
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, "apiVersion: v1\nkind: Config\nclusters: [").unwrap();
    let cache = PodCache::start(f.opts.clone()).await;
    assert!(cache.enabled());
    let why = cache.not_ready().expect("not ready");
    assert!(
        why.contains("configured but unusable") && why.contains(&path.display().to_string()),
        "{why}"
    );
    assert_eq!(cache.lookup(&hex_id(1)), None);
    std::fs::write(&path, good).unwrap();
    wait_until("synced after the fix", || cache.synced()).await;
    assert_eq!(cache.not_ready(), None);
    assert!(cache.lookup(&hex_id(1)).is_some());
}

/// With nothing configured at all, pod context is off. Only checkable where the environment
/// configures nothing (no KUBECONFIG, no in-cluster account, no ~/.kube/config).
#[tokio::test]
async fn nothing_configured_means_disabled() {
    let opts = K8sOptions {
        node_name: Some(NODE.into()),
        ..K8sOptions::default()
    };
    let home_config = std::env::var_os("HOME")
        .map(|h| std::path::Path::new(&h).join(".kube/config"))
        .is_some_and(|p| p.exists());
    if super::connect::configured(&opts) || home_config {
        eprintln!(
            "SKIPPED nothing_configured_means_disabled: this environment configures Kubernetes"
        );
        return;
    }
    let cache = PodCache::start(opts).await;
    assert!(!cache.enabled());
    assert!(!cache.stale() && !cache.synced());
    assert_eq!(cache.not_ready(), None);
    assert_eq!(cache.lookup(&hex_id(1)), None);
    let never = tokio::time::timeout(Duration::from_millis(50), cache.changed()).await;
    assert!(never.is_err(), "a disabled cache never changes");
    assert!(!PodCache::disabled().enabled());
}

/// An API server whose list never ends: each list fails at its byte budget (counted), the cache
/// stays unsynced with the reason, and the attempts repeat with backoff instead of buffering.
#[tokio::test]
async fn an_endless_list_fails_at_its_budget_counted_and_retried() {
    let f = fixture().await;
    f.server.add_pod(pod("web", NODE, 1));
    f.server.flood(Flood::EndlessList);
    let mut opts = f.opts.clone();
    opts.budget.list_bytes = 1 << 20;
    let cache = PodCache::start(opts).await;
    wait_until("two lists over budget", || {
        cache.stats().oversized_answers >= 2
    })
    .await;
    assert!(!cache.synced() && cache.stale());
    let why = cache.not_ready().expect("not ready");
    assert!(why.contains("over its budget of 1048576 bytes"), "{why}");
    let sent = f.server.flooded_bytes();
    assert!(sent >= 2 << 20, "the fake sent {sent} bytes");
    // The flood ends: the next attempt lists for real.
    f.server.flood(Flood::Off);
    wait_until("synced", || cache.synced()).await;
    assert!(cache.lookup(&hex_id(1)).is_some());
}

/// A watch event that never ends fails that watch at the event budget; the lists still work, so
/// the cache is synced but stale, and says why.
#[tokio::test]
async fn an_endless_watch_event_fails_at_its_budget() {
    let f = fixture().await;
    f.server.add_pod(pod("web", NODE, 1));
    f.server.flood(Flood::EndlessWatchEvent);
    let mut opts = f.opts.clone();
    opts.budget.event_bytes = 256 << 10;
    let cache = PodCache::start(opts).await;
    wait_until("two events over budget", || {
        cache.stats().oversized_events >= 2
    })
    .await;
    assert!(cache.synced(), "the lists are fine");
    assert!(cache.lookup(&hex_id(1)).is_some());
    wait_until("stale", || cache.stale()).await;
    let why = cache.degraded().expect("degraded");
    assert!(
        why.contains("watch event is over its budget of 262144 bytes"),
        "{why}"
    );
}

/// The fake pages lists the way the API server does, as kube's own client sees it.
#[tokio::test]
async fn fake_server_pages_lists_and_refuses_unknown_fields() {
    let f = fixture().await;
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        f.server.add_pod(pod(name, NODE, i as u64 + 1));
    }
    let config = load_config(&f.opts).await.expect("config");
    let api: Api<Pod> = Api::all(Client::try_from(config).expect("client"));
    let first = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("page 1");
    assert_eq!(first.items.len(), 2);
    let token = first.metadata.continue_.clone().expect("continue token");
    let rest = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .expect("page 2");
    assert_eq!(rest.items.len(), 1);
    assert_eq!(
        rest.metadata.resource_version,
        first.metadata.resource_version
    );
    assert!(rest.metadata.continue_.is_none());
    let bad = api
        .list(&ListParams::default().fields("spec.bogus=x"))
        .await;
    assert!(matches!(bad, Err(kube::Error::Api(s)) if s.code == 400));
}

#[test]
fn the_handle_is_cheap_to_share_across_tasks() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<PodCache>();
    shareable::<std::sync::Arc<super::PodMeta>>();
}

/// An API server listing more pods than a node can run fills the index to its cap and no
/// further: the rest are counted, and the cache says it may miss pods.
#[tokio::test]
async fn more_pods_than_the_index_holds_are_refused_and_counted() {
    use super::index::MAX_PODS;
    let f = fixture().await;
    let extra = 5;
    for i in 0..(MAX_PODS + extra) as u64 {
        f.server.add_pod(pod(&format!("p{i}"), NODE, 1_000 + i));
    }
    let cache = PodCache::start(f.opts.clone()).await;
    wait_until("synced", || cache.synced()).await;
    let stats = cache.stats();
    assert_eq!(stats.pods, MAX_PODS as u64);
    assert_eq!(stats.pods_refused, extra as u64);
    assert!(cache.stale(), "a cache that refused pods is not in sync");
    // One more through the watch: refused too.
    f.server.add_pod(pod("late", NODE, 99));
    wait_until("refused", || cache.stats().pods_refused == extra as u64 + 1).await;
    assert_eq!(cache.lookup(&hex_id(99)), None);
    assert_eq!(cache.stats().pods, MAX_PODS as u64);
}

/// An API server that starts a list answer and then goes silent: the request fails at the
/// read timeout and is retried (counted), and the cache syncs once answers come again.
#[tokio::test]
async fn a_silent_list_times_out_and_is_retried() {
    let f = fixture().await;
    f.server.add_pod(pod("web", NODE, 7));
    f.server.flood(Flood::SilentList);
    let opts = K8sOptions {
        read_timeout: Duration::from_millis(300),
        ..f.opts.clone()
    };
    let cache = PodCache::start(opts).await;
    wait_until("a timed-out list counted", || {
        cache.stats().watch_errors >= 2
    })
    .await;
    assert!(!cache.synced() && cache.stale());
    f.server.flood(Flood::Off);
    wait_until("synced", || cache.synced() && !cache.stale()).await;
    assert!(cache.lookup(&hex_id(7)).is_some());
}
