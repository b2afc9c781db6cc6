//! Is the pipeline moving? What `/healthz` answers.
//!
//! A sensor that answers its liveness probe while it no longer handles events is worse than a
//! dead one: nobody restarts it. The pipeline is stalled, and `/healthz` fails with the reason,
//! when
//! - a stage has ended while the sensor runs (the reader, the enrichment task or the output
//!   thread: a panic, or the output's write failing for good);
//! - the output has been inside one write to stdout for the stall time (nobody reads the pipe);
//! - events were captured that the output has not handled, and it has handled none for the
//!   stall time (a stage stuck on something else).
//!
//! The stages report into [`Pipeline`] with atomics (one per handled batch, one around each
//! write to stdout); the health task calls [`StallCheck::check`] once a second and stores the
//! verdict, which the endpoint only reads.

use std::{
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

/// The stages whose end stops the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Reader,
    Enrich,
    Output,
}

impl Stage {
    const ALL: [Stage; 3] = [Stage::Reader, Stage::Enrich, Stage::Output];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Reader => "ring buffer reader",
            Stage::Enrich => "enrichment",
            Stage::Output => "rules and output",
        }
    }
}

/// What the stages report, read by the health task.
#[derive(Debug, Default)]
pub struct Pipeline {
    /// Events the output stage has handled (evaluated, alerts written).
    pub handled: AtomicU64,
    /// Boot-clock ns at which the output's current write to stdout began; 0 between writes.
    pub writing_since_ns: AtomicU64,
    ended: [AtomicBool; 3],
    /// Set at SIGINT/SIGTERM: stages then end on purpose.
    stopping: AtomicBool,
    verdict: Mutex<Option<String>>,
}

impl Pipeline {
    /// A guard for `stage` to hold for as long as it runs: dropped (returning, panicking or
    /// aborted), it marks the stage ended.
    pub fn guard(self: &std::sync::Arc<Self>, stage: Stage) -> StageGuard {
        StageGuard {
            pipeline: self.clone(),
            stage,
        }
    }

    pub fn ended(&self, stage: Stage) -> bool {
        self.ended[stage as usize].load(Relaxed)
    }

    pub fn stop(&self) {
        self.stopping.store(true, Relaxed);
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Relaxed)
    }

    /// Why the pipeline is stalled; `None` while it moves.
    pub fn verdict(&self) -> Option<String> {
        lock(&self.verdict).clone()
    }

    fn set_verdict(&self, v: Option<String>) {
        let mut cur = lock(&self.verdict);
        match (&*cur, &v) {
            (None, Some(why)) => log::error!("pipeline stalled: {why}; /healthz answers 503"),
            (Some(_), None) => log::info!("pipeline moving again; /healthz answers 200"),
            _ => {}
        }
        *cur = v;
    }
}

pub struct StageGuard {
    pipeline: std::sync::Arc<Pipeline>,
    stage: Stage,
}

impl Drop for StageGuard {
    fn drop(&mut self) {
        self.pipeline.ended[self.stage as usize].store(true, Relaxed);
        if !self.pipeline.stopping() {
            log::error!(
                "the {} stage ended while the sensor runs: nothing is captured any more",
                self.stage.name()
            );
        }
    }
}

/// The health task's view over time: when the output last moved.
pub struct StallCheck {
    /// How long the output may stand still with work waiting (`exporter.stall_seconds`, plus
    /// the pod wait, which holds events back on purpose).
    threshold: Duration,
    last_handled: u64,
    last_progress_ns: u64,
}

impl StallCheck {
    pub fn new(threshold: Duration, now_ns: u64) -> Self {
        StallCheck {
            threshold,
            last_handled: 0,
            last_progress_ns: now_ns,
        }
    }

    /// Decide and store the verdict. `captured`: events read from the kernel so far; `now_ns`:
    /// the boot clock.
    pub fn check(&mut self, p: &Pipeline, captured: u64, now_ns: u64) {
        let v = self.verdict(p, captured, now_ns);
        p.set_verdict(v);
    }

    fn verdict(&mut self, p: &Pipeline, captured: u64, now_ns: u64) -> Option<String> {
        if p.stopping() {
            return None;
        }
        if let Some(s) = Stage::ALL.into_iter().find(|s| p.ended(*s)) {
            return Some(format!("the {} stage has ended", s.name()));
        }
        let limit = self.threshold.as_nanos() as u64;
        let since = p.writing_since_ns.load(Relaxed);
        if since != 0 && now_ns.saturating_sub(since) >= limit {
            let s = now_ns.saturating_sub(since) / 1_000_000_000;
            return Some(format!(
                "writing to stdout has been blocked for {s} s (nobody reads the output)"
            ));
        }
        let handled = p.handled.load(Relaxed);
        if handled != self.last_handled || captured <= handled {
            self.last_handled = handled;
            self.last_progress_ns = now_ns;
            return None;
        }
        let idle = now_ns.saturating_sub(self.last_progress_ns);
        (idle >= limit).then(|| {
            format!(
                "{} events captured but not processed for {} s",
                captured - handled,
                idle / 1_000_000_000
            )
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const S: u64 = 1_000_000_000;

    fn check() -> StallCheck {
        StallCheck::new(Duration::from_secs(10), 0)
    }

    #[test]
    fn a_backlog_that_does_not_move_for_the_threshold_is_a_stall() {
        let p = Pipeline::default();
        let mut c = check();
        p.handled.store(5, Relaxed);
        c.check(&p, 5, S);
        assert_eq!(p.verdict(), None, "nothing waiting");
        c.check(&p, 100, 5 * S);
        assert_eq!(p.verdict(), None, "waiting, not for long");
        c.check(&p, 100, 11 * S);
        assert_eq!(
            p.verdict().as_deref(),
            Some("95 events captured but not processed for 10 s")
        );
        p.handled.store(6, Relaxed);
        c.check(&p, 100, 12 * S);
        assert_eq!(p.verdict(), None, "it moved");
    }

    #[test]
    fn an_idle_pipeline_is_healthy_however_long() {
        let p = Pipeline::default();
        let mut c = check();
        p.handled.store(7, Relaxed);
        c.check(&p, 7, 1000 * S);
        assert_eq!(p.verdict(), None);
    }

    #[test]
    fn a_write_blocked_for_the_threshold_is_a_stall_even_without_backlog() {
        let p = Pipeline::default();
        let mut c = check();
        p.writing_since_ns.store(2 * S, Relaxed);
        c.check(&p, 0, 11 * S);
        assert_eq!(p.verdict(), None);
        c.check(&p, 0, 12 * S);
        assert!(
            p.verdict()
                .unwrap()
                .contains("stdout has been blocked for 10 s")
        );
        p.writing_since_ns.store(0, Relaxed);
        c.check(&p, 0, 13 * S);
        assert_eq!(p.verdict(), None);
    }

    #[test]
    fn an_ended_stage_is_a_stall_unless_stopping() {
        let p = Arc::new(Pipeline::default());
        let mut c = check();
        drop(p.guard(Stage::Enrich));
        c.check(&p, 0, S);
        assert_eq!(
            p.verdict().as_deref(),
            Some("the enrichment stage has ended")
        );
        p.stop();
        c.check(&p, 0, 2 * S);
        assert_eq!(p.verdict(), None);
    }
}
