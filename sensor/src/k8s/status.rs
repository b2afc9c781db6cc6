//! What is wrong with the pod context, for `/readyz`, the metrics and the logs: a configuration
//! that cannot be used (yet), the last failed list/watch, and the answers refused for their
//! size. Written by the connecting/watch task and the byte budgets; read by the handles.

use std::sync::{
    Mutex, OnceLock, PoisonError,
    atomic::{AtomicU64, Ordering::Relaxed},
};

/// Which budget an answer broke (`budget.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oversized {
    /// A whole answer: a list, or any error answer.
    Answer,
    /// One event of a watch stream.
    WatchEvent,
}

#[derive(Debug, Default)]
pub struct Status {
    /// The node whose pods are watched, once known.
    node: OnceLock<String>,
    /// Why the configuration (kubeconfig, in-cluster account, node name) cannot be used;
    /// `None` once a client is built.
    unusable: Mutex<Option<String>>,
    /// The last failed list/watch attempt.
    last_error: Mutex<Option<String>>,
    oversized_answers: AtomicU64,
    oversized_events: AtomicU64,
}

impl Status {
    pub fn node(&self) -> Option<&str> {
        self.node.get().map(String::as_str)
    }

    pub fn set_node(&self, node: String) {
        let _ = self.node.set(node);
    }

    pub fn unusable(&self) -> Option<String> {
        lock(&self.unusable).clone()
    }

    pub fn set_unusable(&self, why: Option<String>) {
        *lock(&self.unusable) = why;
    }

    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    pub fn set_last_error(&self, why: String) {
        *lock(&self.last_error) = Some(why);
    }

    pub fn count_oversized(&self, what: Oversized) {
        match what {
            Oversized::Answer => &self.oversized_answers,
            Oversized::WatchEvent => &self.oversized_events,
        }
        .fetch_add(1, Relaxed);
    }

    /// (answers, watch events) refused for their size.
    pub fn oversized(&self) -> (u64, u64) {
        (
            self.oversized_answers.load(Relaxed),
            self.oversized_events.load(Relaxed),
        )
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
