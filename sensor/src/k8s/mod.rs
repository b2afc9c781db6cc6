//! Pod context from the Kubernetes API: which pod (namespace, name, uid, labels, IP) and which
//! container spec (name, image, privileged, hostPath mounts) a container id belongs to.
//!
//! [`PodCache::start`] finds the API server (`--kubeconfig`, else kube's `Config::infer`:
//! `KUBECONFIG` or `~/.kube/config`, else the in-cluster service account, the same order as
//! kubectl), then a task watches the Pods scheduled on this node and keeps an index from the full
//! container id (64 hex, as in the cgroup path) to an `Arc<PodMeta>`. Without any configuration
//! the cache is disabled: one log line, and every lookup misses. A configuration that is there
//! but unusable keeps the cache enabled and not ready, with the reason, while it is retried. The
//! enrichment stage holds a cheap clone.
//!
//! - [`meta`]: [`PodMeta`] and how a Pod object is read (container ids, image split);
//! - [`index`]: the index, its flags and counters, shared by the handles and the watch task;
//! - [`connect`]: configuration, node name, client, and retrying an unusable configuration;
//! - [`budget`]: the byte budgets of the API server's answers (a layer of the client);
//! - [`watch`]: the watch task (kube watcher, relist on failure, backoff);
//! - [`status`]: what is wrong, for `/readyz` and the metrics;
//! - [`error`]: the typed errors.
//!
//! RBAC: the service account needs `list` and `watch` on `pods` (cluster-wide: the field selector
//! restricts what is returned, not what is authorised).

mod budget;
mod connect;
mod error;
// Also reached by the fuzz targets (`crate::fuzz::pod_json`).
pub(crate) mod index;
pub(crate) mod meta;
mod status;
mod watch;

#[cfg(test)]
mod cache_tests;
#[cfg(test)]
mod meta_tests;

use std::{path::PathBuf, sync::Arc, time::Duration};

pub use budget::Budget;
pub use error::K8sError;
pub use index::PodCacheStats;
pub use meta::{HostPathMount, PodMeta};

use index::Shared;
use status::Status;

/// How to reach the API server and which node's pods to index.
#[derive(Debug, Clone)]
pub struct K8sOptions {
    /// The node whose pods are indexed. `None`: the `NODE_NAME` environment variable (set it from
    /// `spec.nodeName` with the downward API), else the hostname, lower-cased as the kubelet does.
    pub node_name: Option<String>,
    /// Use this kubeconfig file instead of discovering the configuration.
    pub kubeconfig: Option<PathBuf>,
    /// Delay after the first failed list/watch, doubled after each further failure.
    pub retry_min: Duration,
    /// Longest delay between attempts.
    pub retry_max: Duration,
    /// Largest answers read from the API server.
    pub budget: Budget,
    /// Longest silence on a connection to the API server before its request fails (and is
    /// retried). kube sets none (for exec sessions' sake): an API server that accepted a
    /// list and then went silent would hold it forever. Nothing of ours is silent longer than
    /// a watch, which the server ends after `connect::WATCH_SECONDS`.
    pub read_timeout: Duration,
}

impl Default for K8sOptions {
    fn default() -> Self {
        let b = watch::Backoff::default();
        K8sOptions {
            node_name: None,
            kubeconfig: None,
            retry_min: b.min,
            retry_max: b.max,
            budget: Budget::default(),
            read_timeout: connect::READ_TIMEOUT,
        }
    }
}

/// Handle on the pod index. Cloning is one `Arc` clone; the watch task stops when the last
/// handle is dropped.
#[derive(Clone)]
pub struct PodCache {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    shared: Arc<Shared>,
    status: Arc<Status>,
    task: tokio::task::AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PodCache {
    /// Discovers the API server and starts watching this node's pods. Never fails: with nothing
    /// configured it logs one line and returns a disabled cache; with a configuration it cannot
    /// use, it logs why and returns an enabled cache that retries and reports the reason
    /// ([`not_ready`](Self::not_ready)). Returns before the first list completes
    /// ([`synced`](Self::synced) tells when it has).
    pub async fn start(opts: K8sOptions) -> PodCache {
        let status = Arc::new(Status::default());
        let first = connect::connect(&opts, &status).await;
        match &first {
            Err(e @ K8sError::NoConfig { .. }) if !connect::configured(&opts) => {
                log::info!("pod context off: {e}");
                return Self::disabled();
            }
            Err(e) => {
                log::warn!(
                    "pod context configured but unusable: {e}; retrying, /readyz fails until it works"
                );
                status.set_unusable(Some(e.to_string()));
            }
            Ok(_) => {}
        }
        let shared = Arc::new(Shared::new());
        let task = tokio::spawn(connect::run(first, opts, shared.clone(), status.clone()));
        PodCache {
            inner: Some(Arc::new(Inner {
                shared,
                status,
                task: task.abort_handle(),
            })),
        }
    }

    /// A cache that is off: every lookup misses and it never changes.
    pub fn disabled() -> PodCache {
        PodCache { inner: None }
    }

    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The node whose pods are indexed (`None` when disabled or not yet connected).
    pub fn node(&self) -> Option<&str> {
        self.inner.as_ref().and_then(|i| i.status.node())
    }

    /// Why the cache cannot serve yet: its configuration is unusable, or it has not completed a
    /// first list (with the last failure). `None` when disabled or synced.
    pub fn not_ready(&self) -> Option<String> {
        let i = self.inner.as_ref()?;
        if let Some(why) = i.status.unusable() {
            return Some(format!("pod context configured but unusable: {why}"));
        }
        if i.shared.synced() {
            return None;
        }
        Some(match i.status.last_error() {
            Some(e) => format!("pod cache not synced: {e}"),
            None => "pod cache not synced".into(),
        })
    }

    /// Synced once, but the watch is failing now: lookups are served from what was listed
    /// last and may miss newer pods. The reason, with the last failure.
    pub fn degraded(&self) -> Option<String> {
        let i = self.inner.as_ref()?;
        if !i.shared.synced() || !i.shared.stale() {
            return None;
        }
        Some(match i.status.last_error() {
            Some(e) => format!("pod cache stale: {e}"),
            None => "pod cache stale".into(),
        })
    }

    /// The context of a container by its full id (64 hex digits, no runtime prefix).
    pub fn lookup(&self, container_full_id: &str) -> Option<Arc<PodMeta>> {
        self.inner.as_ref()?.shared.lookup(container_full_id)
    }

    /// (namespace, name) of the pods with a container in the index (none when disabled).
    pub fn pods(&self) -> Vec<(String, String)> {
        self.inner
            .as_ref()
            .map(|i| i.shared.pods())
            .unwrap_or_default()
    }

    /// Resolves at the next change of the index after this call (an ADDED, MODIFIED or DELETED
    /// pod, or a completed relist). Call it *before* the lookup it is meant to retry, so a change
    /// in between is not missed; bound the wait with a timeout. Never resolves when disabled.
    pub fn changed(&self) -> impl Future<Output = ()> + Send + 'static {
        let rx = self.inner.as_ref().map(|i| i.shared.subscribe());
        async move {
            let Some(mut rx) = rx else {
                return std::future::pending().await;
            };
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// True until the first full list, and from a failed list/watch until the next full list:
    /// the index may then miss pods. Always false when disabled.
    pub fn stale(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.shared.stale())
    }

    /// True once the first full list has been indexed (stays true).
    pub fn synced(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.shared.synced())
    }

    pub fn stats(&self) -> PodCacheStats {
        let Some(i) = self.inner.as_ref() else {
            return PodCacheStats::default();
        };
        let (answers, events) = i.status.oversized();
        PodCacheStats {
            oversized_answers: answers,
            oversized_events: events,
            ..i.shared.stats()
        }
    }
}
