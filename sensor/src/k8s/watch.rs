//! The task that keeps the index in step with the API server: kube's watcher on the Pods of this
//! node (`fieldSelector=spec.nodeName=<node>`, all namespaces).
//!
//! Recovery policy. kube's watcher resumes a broken watch from the last resource version without
//! telling its consumer, so after a failure there is no event that says "in sync again" on a
//! quiet node. Instead, every failure (a failed list or watch request, a broken stream, an ERROR
//! event such as 410 Gone, an answer or event over its byte budget) ends the current watcher; after a backoff a new one starts with a full
//! list, and its `InitDone` is the moment the index is known to be complete again (`stale` goes
//! false). A relist is cheap here: the field selector limits it to one node's pods and it is
//! served from the API server's watch cache (`resourceVersion=0`, the way the kubelet lists).
//! The backoff has the parameters of kube's `DefaultBackoff` (client-go's reflector): from 0.8 s,
//! doubling, capped at 30 s, back to the start once a watcher has stayed up for that long.

use std::{pin::pin, sync::Arc, time::Duration};

use futures_util::StreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api,
    runtime::watcher::{self, Event},
};
use tokio::time::Instant;

use super::{
    error::WatchError,
    index::{Relist, Shared},
    status::Status,
};

/// Delays between failed attempts: `min`, doubling, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min: Duration::from_millis(800),
            max: Duration::from_secs(30),
        }
    }
}

/// Runs until the last [`PodCache`](super::PodCache) handle is dropped (the task is aborted).
pub async fn run(
    api: Api<Pod>,
    config: watcher::Config,
    shared: Arc<Shared>,
    status: Arc<Status>,
    backoff: Backoff,
) {
    let mut delay = backoff.min;
    // In an outage (no full list since the last failure): log its repeats at debug level only.
    let mut outage = false;
    loop {
        let started = Instant::now();
        let (err, listed) = watch_until_error(&api, &config, &shared, outage).await;
        shared.watch_failed();
        status.set_last_error(err.to_string());
        if started.elapsed() >= backoff.max {
            delay = backoff.min; // it had been up for a while: start the backoff over
        }
        if listed {
            outage = false;
        }
        if outage {
            log::debug!("pod context: {err}; retrying in {delay:?}");
        } else {
            log::warn!("pod context: {err}; index stale, relisting in {delay:?}");
        }
        outage = true;
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(backoff.max);
    }
}

/// Drives one watcher (list, then watch) and returns its first error.
async fn watch_until_error(
    api: &Api<Pod>,
    config: &watcher::Config,
    shared: &Shared,
    recovering: bool,
) -> (WatchError, bool) {
    let mut stream = pin!(watcher::watcher(api.clone(), config.clone()));
    let mut relist: Option<Relist> = None;
    let mut listed = false;
    while let Some(item) = stream.next().await {
        match item {
            Ok(Event::Init) => relist = Some(Relist::default()),
            Ok(Event::InitApply(pod)) => match relist.as_mut() {
                Some(r) => shared.relist_add(r, &pod),
                None => shared.apply(&pod), // not expected: kube always sends Init first
            },
            Ok(Event::InitDone) => {
                let r = relist.take().unwrap_or_default();
                shared.relist_done(r);
                listed = true;
                let pods = shared.stats().pods;
                if recovering {
                    log::info!("pod context: resynced, {pods} pods on this node");
                } else {
                    log::debug!("pod context: listed {pods} pods on this node");
                }
            }
            Ok(Event::Apply(pod)) => shared.apply(&pod),
            Ok(Event::Delete(pod)) => shared.delete(&pod),
            Err(source) => return (WatchError::Watcher { source }, listed),
        }
    }
    (WatchError::Ended, listed)
}
