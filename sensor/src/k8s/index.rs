//! The pod index and the state the watch task shares with every [`PodCache`](super::PodCache)
//! handle. Only the watch task writes; lookups take a read lock for one hash probe and an `Arc`
//! clone, so the enrichment stage never waits on the API server.

use std::{
    collections::HashMap,
    sync::{
        Arc, PoisonError, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    },
};

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::watch;

use super::meta::{PodMeta, pod_containers, pod_key};

/// Counters of the pod-context stage (see [`PodCache::stats`](super::PodCache::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PodCacheStats {
    /// Pods of this node currently in the index (with or without a running container).
    pub pods: u64,
    /// Container ids currently in the index.
    pub containers: u64,
    /// Failed list/watch attempts since start (each is followed by a backoff and a relist).
    pub watch_errors: u64,
    /// Completed full lists (the first sync included).
    pub relists: u64,
    /// Container ids that were present but not `<runtime>://<64 hex>` (not indexed).
    pub bad_container_ids: u64,
    /// Answers (lists, errors) refused for passing their byte budget.
    pub oversized_answers: u64,
    /// Watch events refused for passing their byte budget.
    pub oversized_events: u64,
    /// Pods not indexed because the index was full ([`MAX_PODS`], [`MAX_CONTAINERS`]).
    pub pods_refused: u64,
}

/// Most pods and containers indexed. A node runs at most a few hundred pods (kubelet's
/// `maxPods`, 110 by default); an API server (or whatever answers in its place) sending more
/// cannot grow the sensor: the extra pods are refused, counted, and the cache says stale.
pub const MAX_PODS: usize = 4096;
pub const MAX_CONTAINERS: usize = 16_384;

#[derive(Default)]
struct Index {
    /// Full container id → context.
    containers: HashMap<String, Arc<PodMeta>>,
    /// Pod key (uid) → the container ids it contributed.
    pods: HashMap<String, Vec<String>>,
}

impl Index {
    fn remove_pod(&mut self, key: &str) {
        for id in self.pods.remove(key).into_iter().flatten() {
            self.containers.remove(&id);
        }
    }

    /// False (nothing inserted) when the index is full. The pod's old entries must be removed
    /// first.
    fn insert_pod(&mut self, key: String, containers: Vec<(String, Arc<PodMeta>)>) -> bool {
        if self.pods.len() >= MAX_PODS || self.containers.len() + containers.len() > MAX_CONTAINERS
        {
            return false;
        }
        let mut ids = Vec::with_capacity(containers.len());
        for (id, meta) in containers {
            self.containers.insert(id.clone(), meta);
            ids.push(id);
        }
        self.pods.insert(key, ids);
        true
    }
}

/// A full list being received (`Init` … `InitDone`); swapped in whole at the end, so lookups keep
/// being served from the previous index while a relist is in flight.
#[derive(Default)]
pub struct Relist(Index, bool);

pub struct Shared {
    index: RwLock<Index>,
    stale: AtomicBool,
    synced: AtomicBool,
    watch_errors: AtomicU64,
    relists: AtomicU64,
    bad_ids: AtomicU64,
    refused: AtomicU64,
    /// Bumped after every change of the index; [`PodCache::changed`](super::PodCache::changed)
    /// subscribes to it.
    generation: watch::Sender<u64>,
}

impl Shared {
    pub fn new() -> Self {
        Shared {
            index: RwLock::default(),
            stale: AtomicBool::new(true),
            synced: AtomicBool::new(false),
            watch_errors: AtomicU64::new(0),
            relists: AtomicU64::new(0),
            bad_ids: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            generation: watch::Sender::new(0),
        }
    }

    pub fn lookup(&self, id: &str) -> Option<Arc<PodMeta>> {
        self.read(|ix| ix.containers.get(id).cloned())
    }

    /// (namespace, name) of every pod in the index.
    pub fn pods(&self) -> Vec<(String, String)> {
        self.read(|ix| {
            let mut v: Vec<(String, String)> = ix
                .containers
                .values()
                .map(|m| (m.namespace.clone(), m.pod_name.clone()))
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        })
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    pub fn stale(&self) -> bool {
        self.stale.load(Relaxed)
    }

    pub fn synced(&self) -> bool {
        self.synced.load(Relaxed)
    }

    pub fn stats(&self) -> PodCacheStats {
        let (pods, containers) = self.read(|ix| (ix.pods.len(), ix.containers.len()));
        PodCacheStats {
            pods: pods as u64,
            containers: containers as u64,
            watch_errors: self.watch_errors.load(Relaxed),
            relists: self.relists.load(Relaxed),
            bad_container_ids: self.bad_ids.load(Relaxed),
            pods_refused: self.refused.load(Relaxed),
            ..PodCacheStats::default()
        }
    }

    /// A watch attempt failed: the index may now miss changes until the next full list.
    pub fn watch_failed(&self) {
        self.watch_errors.fetch_add(1, Relaxed);
        self.stale.store(true, Relaxed);
    }

    /// `Apply` (ADDED or MODIFIED): the pod's entries are replaced by what it has now.
    pub fn apply(&self, pod: &Pod) {
        let key = pod_key(pod);
        let containers = self.read_pod(pod);
        let fits = self.write(|ix| {
            ix.remove_pod(&key);
            ix.insert_pod(key, containers)
        });
        if !fits {
            self.refuse();
        }
        self.bump();
    }

    /// `Delete`: the pod and all its containers leave the index.
    pub fn delete(&self, pod: &Pod) {
        let key = pod_key(pod);
        self.write(|ix| ix.remove_pod(&key));
        self.bump();
    }

    /// `InitApply`: one pod of a full list, kept aside until the list is complete.
    pub fn relist_add(&self, relist: &mut Relist, pod: &Pod) {
        let key = pod_key(pod);
        let containers = self.read_pod(pod);
        relist.0.remove_pod(&key);
        if !relist.0.insert_pod(key, containers) {
            relist.1 = true;
            self.refuse();
        }
    }

    /// `InitDone`: the full list replaces the index (pods not listed are gone) and the index is
    /// in sync with the API server again.
    pub fn relist_done(&self, relist: Relist) {
        let Relist(index, refused) = relist;
        self.write(|ix| *ix = index);
        self.relists.fetch_add(1, Relaxed);
        self.synced.store(true, Relaxed);
        // A list with pods the index had no room for is not in sync.
        self.stale.store(refused, Relaxed);
        self.bump();
    }

    /// A pod the index had no room for: counted, and the cache may miss pods.
    fn refuse(&self) {
        if self.refused.fetch_add(1, Relaxed) == 0 {
            log::warn!(
                "pod context: more than {MAX_PODS} pods or {MAX_CONTAINERS} containers for this node; the extra ones are not indexed"
            );
        }
        self.stale.store(true, Relaxed);
    }

    fn read_pod(&self, pod: &Pod) -> Vec<(String, Arc<PodMeta>)> {
        let read = pod_containers(pod);
        if !read.bad_ids.is_empty() {
            self.bad_ids.fetch_add(read.bad_ids.len() as u64, Relaxed);
            for e in &read.bad_ids {
                log::debug!("pod context: {}: {e}", pod_key(pod));
            }
        }
        read.containers
            .into_iter()
            .map(|(id, meta)| (id, Arc::new(meta)))
            .collect()
    }

    fn bump(&self) {
        self.generation.send_modify(|g| *g = g.wrapping_add(1));
    }

    // A panic while holding the lock cannot leave the maps half-updated in a way that matters
    // (each write is a few inserts/removes), so a poisoned lock is used as is.
    fn read<T>(&self, f: impl FnOnce(&Index) -> T) -> T {
        f(&self.index.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn write<T>(&self, f: impl FnOnce(&mut Index) -> T) -> T {
        f(&mut self.index.write().unwrap_or_else(PoisonError::into_inner))
    }
}
