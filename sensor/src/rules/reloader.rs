//! Reloads run on a thread of their own, one at a time: a rules file can take a while to load
//! (or be hostile), and a reload on a tokio worker kept `/healthz` from answering for the 17 s
//! of a 20,000-term file. SIGHUP and file changes only signal the thread; the pipeline and the
//! metrics endpoint never wait on it. Requests that arrive during a reload make one more reload
//! after it, never a queue of them.

use std::{
    path::PathBuf,
    sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel},
    time::Duration,
};

use lanner_rules::Options;
use tokio::signal::unix::Signal;

use super::{files, live::LiveRules};

/// How often the rules files are checked for changes, when watched.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// The reload thread's stack: compiling recurses once per level of a condition (at most 1,000
/// once macros are written out, see `lanner_rules::budget`); the main thread's 8 MiB, not a
/// spawned thread's default 2 MiB.
const STACK_BYTES: usize = 8 << 20;

/// Asks the reload thread for a reload.
#[derive(Clone)]
pub struct Reloader {
    requests: SyncSender<()>,
}

impl Reloader {
    /// Start the thread reloading `paths` into `live`; with `watch`, also when the files change.
    pub fn spawn(
        live: LiveRules,
        paths: Vec<PathBuf>,
        options: Options,
        watch: bool,
    ) -> std::io::Result<Reloader> {
        // One request waiting is enough: a reload reads the files as they are when it starts.
        let (requests, pending) = sync_channel(1);
        std::thread::Builder::new()
            .name("lanner-reload".into())
            .stack_size(STACK_BYTES)
            .spawn(move || run(live, paths, options, watch, pending))?;
        Ok(Reloader { requests })
    }

    /// Ask for a reload; returns at once.
    pub fn request(&self) {
        match self.requests.try_send(()) {
            // Full: one is already pending, which will read the files as they are now.
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => {
                log::error!("rules reload requested, but the reload thread is gone")
            }
        }
    }
}

/// Reload on SIGHUP (a tokio task: it only signals the reload thread). `hup` is installed by
/// the caller before it unblocks the signal, so a SIGHUP of the start-up is seen here
/// (`signals.rs`).
pub async fn on_sighup(reloader: Reloader, mut hup: Signal) {
    while hup.recv().await.is_some() {
        log::info!("SIGHUP: reloading rules");
        reloader.request();
    }
}

fn run(live: LiveRules, paths: Vec<PathBuf>, options: Options, watch: bool, pending: Receiver<()>) {
    let watch = watch && !paths.is_empty();
    let mut seen = files::fingerprint(&paths);
    loop {
        match pending.recv_timeout(WATCH_EVERY) {
            Ok(()) => {
                reload(&live, &paths, &options);
                seen = files::fingerprint(&paths);
            }
            Err(RecvTimeoutError::Timeout) if watch => {
                let now = files::fingerprint(&paths);
                if now != seen {
                    log::info!("rules files changed: reloading");
                    reload(&live, &paths, &options);
                    seen = now;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// One reload; a panic in it is a failed reload like any other, not the end of reloading.
fn reload(live: &LiveRules, paths: &[PathBuf], options: &Options) {
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| live.reload(paths, options)));
    if outcome.is_err() {
        log::error!("rules reload failed (the loader panicked); keeping the rules in use");
        live.counters
            .reload_failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}
