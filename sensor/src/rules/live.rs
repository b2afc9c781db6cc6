//! The running ruleset, swapped whole on reload (SIGHUP, or a rules file changed on disk; the
//! reload thread is `reloader`). A reload that fails — a broken file, or one over a budget —
//! keeps the ruleset in use, logs every error and is counted.

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use lanner_rules::{EvtSet, Options, Ruleset};

use super::files;
use crate::enrich::Interest;

/// Errors of a failed reload written to the log.
const MAX_LOGGED_ERRORS: usize = 100;

/// Shared by the evaluating thread (reads the current ruleset per batch) and the reloader.
#[derive(Clone)]
pub struct LiveRules {
    current: Arc<RwLock<Arc<Ruleset>>>,
    pub counters: Arc<ReloadCounters>,
    /// The event types the current ruleset evaluates, for the enricher.
    interest: Interest,
    /// Told the same sets as the interest, in the same order (the loader's hook gate).
    followers: Arc<Mutex<Vec<TypeFollower>>>,
    /// Told of each swap (the kernel's prefilter).
    ruleset_followers: Arc<Mutex<Vec<RulesetFollower>>>,
}

type TypeFollower = Box<dyn Fn(EvtSet) + Send>;
type RulesetFollower = Box<dyn Fn(Option<&Ruleset>) + Send>;

#[derive(Debug, Default)]
pub struct ReloadCounters {
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
    /// Rules in the current ruleset: loaded, and enabled for events Lanner captures.
    pub rules_loaded: AtomicU64,
    pub rules_active: AtomicU64,
}

impl LiveRules {
    pub fn new(ruleset: Ruleset) -> Self {
        let counters = Arc::new(ReloadCounters::default());
        count(&counters, &ruleset);
        Self {
            interest: Interest::new(ruleset.types()),
            current: Arc::new(RwLock::new(Arc::new(ruleset))),
            counters,
            followers: Arc::default(),
            ruleset_followers: Arc::default(),
        }
    }

    /// Call `f` around every swap from now on: with `None` before it (from then on until the
    /// next call, the old and the new ruleset may both be in use), with the new ruleset after.
    /// What the kernel drops must then suit both: the prefilter passes everything meanwhile.
    pub fn follow_ruleset(&self, f: impl Fn(Option<&Ruleset>) + Send + 'static) {
        lock_list(&self.ruleset_followers).push(Box::new(f));
    }

    /// Call `f` with the event types of every ruleset put in use from now on: with the union
    /// of the old and new ones before the swap, then with the new ones after.
    pub fn follow_types(&self, f: impl Fn(EvtSet) + Send + 'static) {
        self.lock_followers().push(Box::new(f));
    }

    fn lock_followers(&self) -> std::sync::MutexGuard<'_, Vec<TypeFollower>> {
        lock_list(&self.followers)
    }

    /// The interest and the followers see `types`.
    fn set_types(&self, types: EvtSet) {
        self.interest.set(types);
        for f in self.lock_followers().iter() {
            f(types);
        }
    }

    /// The event types to build contexts for, kept current across reloads.
    pub fn interest(&self) -> Interest {
        self.interest.clone()
    }

    pub fn current(&self) -> Arc<Ruleset> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Put `ruleset` in use; returns the one it replaces.
    fn swap(&self, ruleset: Ruleset) -> Arc<Ruleset> {
        count(&self.counters, &ruleset);
        // Widen the interest first, so every event the new ruleset evaluates has its context;
        // events enriched before, of types only it has rules for, carry a skipped context and
        // are not evaluated (as the old ruleset would not have). Narrow it only afterwards.
        let (old, new_types) = (self.current().types(), ruleset.types());
        self.set_types(old.union(new_types));
        for f in lock_list(&self.ruleset_followers).iter() {
            f(None);
        }
        let new = Arc::new(ruleset);
        let old = match self.current.write() {
            Ok(mut g) => std::mem::replace(&mut *g, new.clone()),
            Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), new.clone()),
        };
        // Counted once the new rules are in use: what follows (the kernel's maps, hooks no
        // longer needed detached, tens of ms each) may still run when an alert of the new
        // rules is out, or when the sensor stops.
        self.counters.reloads.fetch_add(1, Relaxed);
        self.set_types(new_types);
        for f in lock_list(&self.ruleset_followers).iter() {
            f(Some(&new));
        }
        old
    }

    /// Load `paths` again; swap on success. Returns whether it succeeded. The replaced ruleset
    /// is freed by the caller's thread (the reload thread), not the pipeline's.
    pub fn reload(&self, paths: &[PathBuf], options: &Options) -> bool {
        match load(paths, options) {
            Ok(r) => {
                log::info!(
                    "rules reloaded: {} rules, {} active",
                    r.rules().len(),
                    r.active_count()
                );
                let old = self.swap(r);
                retire(old);
                true
            }
            Err(errors) => {
                // Every rule of a file can have its error: the log gets the first ones.
                for e in errors.iter().take(MAX_LOGGED_ERRORS) {
                    log::error!("rules reload: {e}");
                }
                if errors.len() > MAX_LOGGED_ERRORS {
                    log::error!(
                        "rules reload: {} more errors not shown (`lanner -V` lists them all)",
                        errors.len() - MAX_LOGGED_ERRORS
                    );
                }
                log::error!(
                    "rules reload failed ({} errors); keeping the rules in use",
                    errors.len()
                );
                self.counters.reload_failures.fetch_add(1, Relaxed);
                false
            }
        }
    }
}

fn lock_list<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn count(c: &ReloadCounters, r: &Ruleset) {
    c.rules_loaded.store(r.rules().len() as u64, Relaxed);
    c.rules_active.store(r.active_count() as u64, Relaxed);
}

/// Load and compile; every problem as one line (`file:line:col: error: …`).
pub fn load(paths: &[PathBuf], options: &Options) -> Result<Ruleset, Vec<String>> {
    let sources = files::read(paths).map_err(|e| vec![format!("{e:#}")])?;
    match lanner_rules::load(&sources, options) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                log::debug!("{w}");
            }
            Ok(loaded.ruleset)
        }
        Err(diags) => Err(diags.iter().map(ToString::to_string).collect()),
    }
}

/// Free a replaced ruleset here once the evaluating thread has let go of it: it holds the
/// ruleset of the batch it is on, and the last holder frees it — a large ruleset's worth of
/// work the pipeline should not do. No new holder can appear (the slot holds the new ruleset);
/// past a few seconds it is left to whoever holds it last.
fn retire(old: Arc<Ruleset>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(old);
}

#[cfg(test)]
mod tests {
    use lanner_rules::EvtType;
    use lanner_tests::TempDir;

    use super::*;

    fn rule(ty: &str) -> String {
        format!(
            "- rule: r\n  desc: d\n  condition: evt.type = {ty}\n  output: o\n  priority: WARNING\n"
        )
    }

    #[test]
    fn the_interest_follows_the_ruleset_across_reloads() {
        let dir = TempDir::new("live-interest");
        let file = dir.path().join("rules.yaml");
        let paths = vec![file.clone()];
        let options = Options::default();
        std::fs::write(&file, rule("execve")).unwrap();
        let live = LiveRules::new(load(&paths, &options).unwrap());
        let interest = live.interest();
        assert!(interest.wants(EvtType::Execve));
        assert!(!interest.wants(EvtType::Clone));

        std::fs::write(&file, rule("clone")).unwrap();
        assert!(live.reload(&paths, &options));
        assert!(
            interest.wants(EvtType::Clone),
            "the enricher's handle sees it"
        );
        assert!(!interest.wants(EvtType::Execve), "narrowed after the swap");

        // A failed reload keeps the ruleset, and so the interest.
        std::fs::write(&file, "- rule: [").unwrap();
        assert!(!live.reload(&paths, &options));
        assert!(interest.wants(EvtType::Clone));
    }

    /// A follower (the hook gate) is told the union before the swap, the new set after, and
    /// nothing on a failed reload.
    #[test]
    fn followers_see_the_union_then_the_new_types() {
        let dir = TempDir::new("live-follow");
        let file = dir.path().join("rules.yaml");
        let paths = vec![file.clone()];
        let options = Options::default();
        std::fs::write(&file, rule("execve")).unwrap();
        let live = LiveRules::new(load(&paths, &options).unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        live.follow_types({
            let seen = seen.clone();
            move |t| seen.lock().unwrap().push(t)
        });
        std::fs::write(&file, rule("mount")).unwrap();
        assert!(live.reload(&paths, &options));
        std::fs::write(&file, "- rule: [").unwrap();
        assert!(!live.reload(&paths, &options));
        let (exec, mount) = (EvtType::Execve.bit(), EvtType::Mount.bit());
        assert_eq!(*seen.lock().unwrap(), vec![exec.union(mount), mount]);
    }

    /// The prefilter is told "both may be in use" before the swap and the new ruleset after;
    /// nothing on a failed reload.
    #[test]
    fn ruleset_followers_see_none_then_the_new_ruleset() {
        let dir = TempDir::new("live-follow-ruleset");
        let file = dir.path().join("rules.yaml");
        let paths = vec![file.clone()];
        let options = Options::default();
        std::fs::write(&file, rule("execve")).unwrap();
        let live = LiveRules::new(load(&paths, &options).unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        live.follow_ruleset({
            let seen = seen.clone();
            move |r| seen.lock().unwrap().push(r.map(Ruleset::types))
        });
        std::fs::write(&file, rule("mount")).unwrap();
        assert!(live.reload(&paths, &options));
        std::fs::write(&file, "- rule: [").unwrap();
        assert!(!live.reload(&paths, &options));
        assert_eq!(
            *seen.lock().unwrap(),
            vec![None, Some(EvtType::Mount.bit())]
        );
    }
}
