//! Errors of the pod-context stage. None of them stops the sensor: with nothing configured pod
//! context is off (one log line); a configuration that is there but unusable is retried and
//! keeps `/readyz` failing with the reason; watch errors (an answer over its byte budget among
//! them) mark the index stale until a relist succeeds; and a malformed container id only drops
//! that one container from the index.

use std::path::PathBuf;

/// Why pod context could not be switched on.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    /// Neither a kubeconfig (`KUBECONFIG`, `~/.kube/config`) nor an in-cluster service account.
    #[error("no Kubernetes API configuration found: {source}")]
    NoConfig {
        #[source]
        source: kube::config::InferConfigError,
    },
    /// An explicitly given kubeconfig file could not be read or parsed.
    #[error("kubeconfig {}: {source}", path.display())]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The configuration was found but no client could be built from it (bad TLS material...).
    #[error("cannot build a Kubernetes client: {source}")]
    Client {
        #[source]
        source: kube::Error,
    },
    /// No node name: `NODE_NAME` unset and the hostname unreadable or empty.
    #[error("cannot tell this node's name (set NODE_NAME): {reason}")]
    NodeName { reason: String },
}

/// A `containerID` of a pod's container status that does not name a full container id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerIdError {
    /// Not of the form `<runtime>://<id>`.
    #[error("container id {raw:?} has no runtime prefix (<runtime>://)")]
    NoRuntimePrefix { raw: String },
    /// The part after the prefix is not 64 lower-case hex digits.
    #[error("container id {raw:?} is not a full 64-hex-digit id")]
    NotFullId { raw: String },
}

/// One failed attempt of the pod watch (list or watch request, or a watch event of type ERROR).
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("pod watch failed: {source}")]
    Watcher {
        #[source]
        source: kube::runtime::watcher::Error,
    },
    /// The watcher's stream ended, which kube's watcher never does by contract.
    #[error("pod watch stream ended")]
    Ended,
}

/// An answer of the API server larger than its byte budget (`budget.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OverBudget {
    #[error("the API server's answer is over its budget of {limit} bytes (--pod-list-max-bytes)")]
    Answer { limit: u64 },
    #[error("a pod watch event is over its budget of {limit} bytes (--pod-event-max-bytes)")]
    WatchEvent { limit: u64 },
}
