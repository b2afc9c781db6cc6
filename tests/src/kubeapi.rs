//! A fake Kubernetes API server for the pod-context tests: plain HTTP/1.1 on 127.0.0.1, no auth,
//! Pods only, speaking the real protocol so an unmodified kube-rs client and watcher run against it.
//!
//! Served (GET only; anything else is a `Status` 404/405):
//! - `/version`;
//! - `/api/v1/pods` and `/api/v1/namespaces/{ns}/pods`: a `PodList` with
//!   `metadata.resourceVersion`, filtered by `fieldSelector` (`metadata.name`,
//!   `metadata.namespace`, `spec.nodeName`, `status.phase`, `status.podIP`; `=`, `==`, `!=`; any
//!   other field is a 400 as on a real server) and `labelSelector` (`k=v`, `k!=v`, `k`, `!k`),
//!   paged by `limit` with `continue` tokens (an expired token is a 410 `Expired`);
//! - the same with `watch=true|1`: a chunked stream of `{"type","object"}` lines with every change
//!   after `resourceVersion` (`0` or none: the current objects as ADDED first), ADDED/DELETED when
//!   a change moves an object into/out of the selection, BOOKMARKs when
//!   `allowWatchBookmarks=true` and [`FakeApiServer::bookmark`] is called, the stream ending after
//!   `timeoutSeconds`; a `resourceVersion` older than the retained history gets one `ERROR` event
//!   carrying a `Status` 410 Gone, as the real server does, so clients relist;
//! - `/api/v1/namespaces/{ns}/pods/{name}`.
//!
//! Test controls: [`add_pod`](FakeApiServer::add_pod), [`modify_pod`](FakeApiServer::modify_pod),
//! [`delete_pod`](FakeApiServer::delete_pod), [`expire_history`](FakeApiServer::expire_history),
//! [`close_watches`](FakeApiServer::close_watches), [`flood`](FakeApiServer::flood) (answers that
//! never end: an endless pod list, an endless watch event), [`stop`](FakeApiServer::stop) /
//! [`restart`](FakeApiServer::restart) on the same port (the stored objects and history survive,
//! as etcd would), and the [`requests`](FakeApiServer::requests) log. Pod objects come from
//! [`pod_json`].
//!
//! Modules: `serve` (HTTP, routes, lists), `events` (watch streams), `selector` (field and label
//! selectors), `pod` (the Pod builder).

use std::{
    collections::{BTreeMap, HashMap},
    io,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

use serde_json::{Value, json};
use tokio::{
    net::TcpListener,
    sync::watch,
    task::{JoinHandle, JoinSet},
};

mod events;
mod pod;
mod selector;
mod serve;

pub use pod::*;
use selector::Selector;

/// One request as received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
}

impl RecordedRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn is_watch(&self) -> bool {
        matches!(self.param("watch"), Some("true" | "1"))
    }
}

pub struct FakeApiServer {
    port: u16,
    shared: Arc<Shared>,
    running: Mutex<Option<Running>>,
}

struct Running {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Answers that never end, for a client's byte budgets ([`FakeApiServer::flood`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Flood {
    /// Every answer as it should be.
    #[default]
    Off,
    /// Every list answer is a `PodList` whose `items` never end (copies of the selected pods,
    /// or of a made-up one), sent as fast as the client reads.
    EndlessList,
    /// Lists are answered normally; every watch sends its first events, then one event whose
    /// object never ends (no newline ever comes).
    EndlessWatchEvent,
    /// Every list answer starts (status, headers, the first bytes of the body), then nothing
    /// more comes, while the connection stays open.
    SilentList,
}

struct Shared {
    state: Mutex<State>,
    /// Bytes sent in flood answers.
    flooded: AtomicU64,
    /// Bumped at every new history entry; open watches wait on it.
    changes: watch::Sender<u64>,
    /// Bumped by [`FakeApiServer::close_watches`].
    closes: watch::Sender<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Put,
    Delete,
    Bookmark,
}

struct Change {
    seq: u64,
    rv: u64,
    kind: Kind,
    old: Option<Value>,
    new: Value,
}

struct Page {
    rv: u64,
    items: Vec<Value>,
}

struct State {
    rv: u64,
    seq: u64,
    /// Watches from a resourceVersion older than this get 410 Gone.
    oldest: u64,
    pods: BTreeMap<(String, String), Value>,
    history: Vec<Change>,
    pages: HashMap<String, Page>,
    next_page: u64,
    requests: Vec<RecordedRequest>,
    flood: Flood,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn key_of(pod: &Value) -> (String, String) {
    let md = &pod["metadata"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (s(&md["namespace"]), s(&md["name"]))
}

impl FakeApiServer {
    /// Binds 127.0.0.1 on a free port and starts serving.
    pub async fn start() -> io::Result<FakeApiServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                rv: 100,
                seq: 0,
                oldest: 0,
                pods: BTreeMap::new(),
                history: Vec::new(),
                pages: HashMap::new(),
                next_page: 0,
                requests: Vec::new(),
                flood: Flood::Off,
            }),
            flooded: AtomicU64::new(0),
            changes: watch::Sender::new(0),
            closes: watch::Sender::new(0),
        });
        let server = FakeApiServer {
            port,
            shared,
            running: Mutex::new(None),
        };
        server.serve(listener);
        Ok(server)
    }

    fn serve(&self, listener: TcpListener) {
        let (shutdown, mut stop) = watch::channel(false);
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            conns.spawn(serve::serve_conn(stream, shared.clone()));
                        }
                        Err(_) => break,
                    },
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
            drop(listener);
            conns.shutdown().await; // closes every open connection, watches included
        });
        *lock(&self.running) = Some(Running { shutdown, task });
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Closes the listener and every open connection; returns once the port is free.
    pub async fn stop(&self) {
        let running = lock(&self.running).take();
        if let Some(r) = running {
            let _ = r.shutdown.send(true);
            let _ = r.task.await;
        }
    }

    /// Serves again on the same port, with the same objects and history.
    pub async fn restart(&self) -> io::Result<()> {
        self.stop().await;
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await?;
        self.serve(listener);
        Ok(())
    }

    /// A kubeconfig for this server: `server: http://127.0.0.1:<port>`, no credentials.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n\
             current-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            self.url()
        )
    }

    pub fn write_kubeconfig(&self, dir: &Path) -> io::Result<PathBuf> {
        let path = dir.join("kubeconfig");
        std::fs::write(&path, self.kubeconfig())?;
        Ok(path)
    }

    /// Creates a pod (panics if `namespace/name` exists); returns its resourceVersion.
    pub fn add_pod(&self, pod: Value) -> u64 {
        let key = key_of(&pod);
        assert!(
            !lock(&self.shared.state).pods.contains_key(&key),
            "pod {key:?} exists"
        );
        self.put(pod)
    }

    /// Replaces a pod (panics if `namespace/name` does not exist); returns its resourceVersion.
    pub fn modify_pod(&self, pod: Value) -> u64 {
        let key = key_of(&pod);
        assert!(
            lock(&self.shared.state).pods.contains_key(&key),
            "no pod {key:?}"
        );
        self.put(pod)
    }

    /// Deletes a pod (panics if absent); returns the resourceVersion of the deletion.
    pub fn delete_pod(&self, namespace: &str, name: &str) -> u64 {
        let mut st = lock(&self.shared.state);
        let old = st
            .pods
            .remove(&(namespace.to_owned(), name.to_owned()))
            .unwrap_or_else(|| panic!("no pod {namespace}/{name}"));
        let mut new = old.clone();
        st.rv += 1;
        let rv = st.rv;
        new["metadata"]["resourceVersion"] = json!(rv.to_string());
        st.record(Kind::Delete, Some(old), new);
        drop(st);
        self.shared.changes.send_modify(|n| *n += 1);
        rv
    }

    fn put(&self, mut pod: Value) -> u64 {
        let mut st = lock(&self.shared.state);
        st.rv += 1;
        let rv = st.rv;
        pod["metadata"]["resourceVersion"] = json!(rv.to_string());
        let old = st.pods.insert(key_of(&pod), pod.clone());
        st.record(Kind::Put, old, pod);
        drop(st);
        self.shared.changes.send_modify(|n| *n += 1);
        rv
    }

    /// Sends a BOOKMARK (current resourceVersion) to the open watches that asked for them.
    pub fn bookmark(&self) {
        let mut st = lock(&self.shared.state);
        let rv = st.rv;
        let obj = json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": rv.to_string()}});
        st.record(Kind::Bookmark, None, obj);
        drop(st);
        self.shared.changes.send_modify(|n| *n += 1);
    }

    /// Compacts the history up to now, as etcd does: a new watch from any earlier
    /// resourceVersion gets 410 Gone and outstanding `continue` tokens expire. (The entries stay
    /// in memory so the watches already open still get everything, as from the watch cache.)
    pub fn expire_history(&self) {
        let mut st = lock(&self.shared.state);
        st.oldest = st.rv;
        st.pages.clear();
    }

    /// Ends every open watch cleanly (the last chunk), as a server does at `timeoutSeconds` or
    /// when it shuts down gracefully; clients then watch again from their last resourceVersion.
    pub fn close_watches(&self) {
        self.shared.closes.send_modify(|n| *n += 1);
    }

    /// From now on, answer lists or watches without end ([`Flood`]); `Flood::Off` ends it for
    /// new requests (a flood already flowing runs until its client hangs up).
    pub fn flood(&self, flood: Flood) {
        lock(&self.shared.state).flood = flood;
    }

    /// Bytes sent so far in flood answers.
    pub fn flooded_bytes(&self) -> u64 {
        self.shared.flooded.load(Relaxed)
    }

    pub fn resource_version(&self) -> u64 {
        lock(&self.shared.state).rv
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.state).requests.clone()
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        if let Some(r) = lock(&self.running).take() {
            r.task.abort();
        }
    }
}

impl State {
    fn record(&mut self, kind: Kind, old: Option<Value>, new: Value) {
        self.seq += 1;
        self.history.push(Change {
            seq: self.seq,
            rv: self.rv,
            kind,
            old,
            new,
        });
    }
}
