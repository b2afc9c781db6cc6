//! From the configuration to a running watch: find the node name and the API server, build the
//! client (with the byte budgets of `budget.rs`), and keep trying while that fails.
//!
//! A configuration that is there but cannot be used (a `--kubeconfig` that does not parse or
//! names missing certificates, `KUBECONFIG` pointing at a broken file, an in-cluster account
//! without its token) is not a reason to run without pod context in silence: the task retries
//! with the watch's backoff, and until it succeeds the handles report why (`/readyz` fails with
//! it). Only when nothing at all is configured is pod context off.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, Config,
    client::ClientBuilder,
    config::{KubeConfigOptions, Kubeconfig},
    runtime::watcher,
};

use super::{
    K8sOptions,
    budget::BudgetLayer,
    error::K8sError,
    index::Shared,
    status::Status,
    watch::{self, Backoff},
};

/// A client for this node's pods.
pub struct Connected {
    api: Api<Pod>,
    node: String,
    url: String,
}

/// Whether the environment says where the API server is: `--kubeconfig`, `KUBECONFIG`, or the
/// in-cluster service account's `KUBERNETES_SERVICE_HOST`. When it does, failing to use it is
/// a fault to report, not "Kubernetes off".
pub fn configured(opts: &K8sOptions) -> bool {
    let set = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    opts.kubeconfig.is_some() || set("KUBECONFIG") || set("KUBERNETES_SERVICE_HOST")
}

/// The server ends each watch after this long (kube's default is 290 s).
pub const WATCH_SECONDS: u32 = 240;
/// The default of `K8sOptions::read_timeout`: a minute past the end of a watch.
pub const READ_TIMEOUT: std::time::Duration =
    std::time::Duration::from_secs(WATCH_SECONDS as u64 + 60);

pub async fn connect(opts: &K8sOptions, status: &Arc<Status>) -> Result<Connected, K8sError> {
    let node = node_name(opts)?;
    let mut config = load_config(opts).await?;
    config.read_timeout = Some(opts.read_timeout);
    config.reset_reader_on_write = true;
    let url = config.cluster_url.to_string();
    let client = ClientBuilder::try_from(config)
        .map_err(|source| K8sError::Client { source })?
        .with_layer(&BudgetLayer::new(opts.budget, status.clone()))
        .build();
    Ok(Connected {
        api: Api::all(client),
        node,
        url,
    })
}

/// Runs until the last handle is dropped (the task is aborted): connect (retrying `first`'s
/// failure with backoff), then watch.
pub async fn run(
    first: Result<Connected, K8sError>,
    opts: K8sOptions,
    shared: Arc<Shared>,
    status: Arc<Status>,
) {
    let backoff = Backoff {
        min: opts.retry_min,
        max: opts.retry_max.max(opts.retry_min),
    };
    let mut attempt = first;
    let mut delay = backoff.min;
    let connected = loop {
        match attempt {
            Ok(c) => break c,
            Err(e) => {
                log::debug!("pod context: {e}; retrying in {delay:?}");
                status.set_unusable(Some(e.to_string()));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(backoff.max);
                attempt = connect(&opts, &status).await;
            }
        }
    };
    if status.unusable().is_some() {
        log::info!("pod context: the configuration is usable now");
        status.set_unusable(None);
    }
    let Connected { api, node, url } = connected;
    let mut wc = watcher::Config::default()
        .fields(&format!("spec.nodeName={node}"))
        .timeout(WATCH_SECONDS)
        .any_semantic();
    // Lists with `resourceVersion=0` come from the API server's watch cache (indexed by node),
    // not from etcd: what the kubelet does, and cheap for a DaemonSet to repeat on every node.
    // kube omits `resourceVersion=0` when a page size is set, so one node's pods come unpaged
    // (the list's byte budget bounds the answer).
    wc.page_size = None;
    log::info!("pod context: watching the pods of node {node} at {url}");
    status.set_node(node);
    watch::run(api, wc, shared, status, backoff).await;
}

pub(super) async fn load_config(opts: &K8sOptions) -> Result<Config, K8sError> {
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
