//! Pod context from the Kubernetes API: which pod (namespace, name, uid, labels, IP) and which
//! container spec (name, image, privileged, hostPath mounts) a container id belongs to.
//!
//! [`PodCache::start`] finds the API server (kubeconfig from `KUBECONFIG` or `~/.kube/config`,
//! else the in-cluster service account: kube's `Config::infer`, the same order as kubectl), then
//! a task watches the Pods scheduled on this node and keeps an index from the full container id
//! (64 hex, as in the cgroup path) to an `Arc<PodMeta>`. Without any configuration the cache is
//! disabled: one log line, and every lookup misses. The enrichment stage holds a cheap clone.
//!
//! - [`meta`]: [`PodMeta`] and how a Pod object is read (container ids, image split);
//! - [`index`]: the index, its flags and counters, shared by the handles and the watch task;
//! - [`watch`]: the watch task (kube watcher, relist on failure, backoff);
//! - [`error`]: the typed errors.
//!
//! RBAC: the service account needs `list` and `watch` on `pods` (cluster-wide: the field selector
//! restricts what is returned, not what is authorised).

mod error;
// Also reached by the fuzz targets (`crate::fuzz::pod_json`).
pub(crate) mod index;
pub(crate) mod meta;
mod watch;

#[cfg(test)]
mod cache_tests;
#[cfg(test)]
mod meta_tests;

use std::{path::PathBuf, sync::Arc, time::Duration};

use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
    runtime::watcher,
};

pub use error::K8sError;
pub use index::PodCacheStats;
pub use meta::{HostPathMount, PodMeta};

use index::Shared;

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
}

impl Default for K8sOptions {
    fn default() -> Self {
        let b = watch::Backoff::default();
        K8sOptions {
            node_name: None,
            kubeconfig: None,
            retry_min: b.min,
            retry_max: b.max,
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
    node: String,
    task: tokio::task::AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PodCache {
    /// Discovers the API server and starts watching this node's pods. Never fails: without a
    /// usable configuration or node name it logs one line and returns a disabled cache. Returns
    /// before the first list completes ([`synced`](Self::synced) tells when it has).
    pub async fn start(opts: K8sOptions) -> PodCache {
        match Self::try_start(&opts).await {
            Ok(cache) => cache,
            Err(e) => {
                // Expected off Kubernetes; anything else is a misconfiguration.
                if matches!(e, K8sError::NoConfig { .. }) {
                    log::info!("pod context off: {e}");
                } else {
                    log::warn!("pod context off: {e}");
                }
                Self::disabled()
            }
        }
    }

    async fn try_start(opts: &K8sOptions) -> Result<PodCache, K8sError> {
        let config = load_config(opts).await?;
        let node = node_name(opts)?;
        let url = config.cluster_url.clone();
        let client = Client::try_from(config).map_err(|source| K8sError::Client { source })?;
        let api: Api<Pod> = Api::all(client);
        let mut wc = watcher::Config::default()
            .fields(&format!("spec.nodeName={node}"))
            .any_semantic();
        // Lists with `resourceVersion=0` come from the API server's watch cache (indexed by node),
        // not from etcd: what the kubelet does, and cheap for a DaemonSet to repeat on every node.
        // kube omits `resourceVersion=0` when a page size is set, so one node's pods come unpaged.
        wc.page_size = None;
        let shared = Arc::new(Shared::new());
        let backoff = watch::Backoff {
            min: opts.retry_min,
            max: opts.retry_max.max(opts.retry_min),
        };
        let task = tokio::spawn(watch::run(api, wc, shared.clone(), backoff));
        log::info!("pod context: watching the pods of node {node} at {url}");
        Ok(PodCache {
            inner: Some(Arc::new(Inner {
                shared,
                node,
                task: task.abort_handle(),
            })),
        })
    }

    /// A cache that is off: every lookup misses and it never changes.
    pub fn disabled() -> PodCache {
        PodCache { inner: None }
    }

    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The node whose pods are indexed (`None` when disabled).
    pub fn node(&self) -> Option<&str> {
        self.inner.as_ref().map(|i| i.node.as_str())
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
        self.inner
            .as_ref()
            .map(|i| i.shared.stats())
            .unwrap_or_default()
    }
}

async fn load_config(opts: &K8sOptions) -> Result<Config, K8sError> {
    match &opts.kubeconfig {
        Some(path) => {
            let err = |source| K8sError::Kubeconfig {
                path: path.clone(),
                source,
            };
            let kc = Kubeconfig::read_from(path).map_err(err)?;
            Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(err)
        }
        None => Config::infer()
            .await
            .map_err(|source| K8sError::NoConfig { source }),
    }
}

fn node_name(opts: &K8sOptions) -> Result<String, K8sError> {
    if let Some(n) = opts.node_name.as_ref().filter(|n| !n.is_empty()) {
        return Ok(n.clone());
    }
    if let Ok(n) = std::env::var("NODE_NAME")
        && !n.trim().is_empty()
    {
        return Ok(n.trim().to_owned());
    }
    // The kubelet registers the node under the lower-cased hostname unless overridden.
    let host =
        std::fs::read_to_string("/proc/sys/kernel/hostname").map_err(|e| K8sError::NodeName {
            reason: format!("NODE_NAME is unset and the hostname is unreadable: {e}"),
        })?;
    let host = host.trim().to_ascii_lowercase();
    if host.is_empty() {
        return Err(K8sError::NodeName {
            reason: "NODE_NAME is unset and the hostname is empty".into(),
        });
    }
    Ok(host)
}
