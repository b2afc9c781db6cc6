//! Evaluation: one enriched event against the ruleset, into what it produced — the alerts of the
//! rules that fired (with the pod `falco_events` counts them under) and, with
//! `--dump-events`, the event's line. Nothing is written here: the writer
//! (`output/writer.rs`) does that, and the rules stage (`stage.rs`) hands it over.

use std::{sync::Arc, time::Instant};

use lanner_rules::{Alert, Ruleset};
use serde_json::Value as Json;

use super::extract::EventView;
use crate::{
    enrich::{Enriched, PodContext},
    metrics::{Metrics, falco_events::PodRef},
    output::dump,
};

pub struct Evaluator {
    /// `evt.hostname`: the node's name, as the alerts give it.
    pub hostname: String,
    /// Also produce each event's `--dump-events` line.
    pub dump: bool,
    pub metrics: Arc<Metrics>,
}

/// What evaluating an event produces, handed over one at a time as it is made (collecting them
/// first cost a struct to fill, move and drop on every event, nearly all of which produce
/// nothing).
#[derive(Debug)]
pub enum Produced<'a> {
    /// The alert of a rule that fired (in the ruleset's order), with the pod
    /// `falco_events` counts it under.
    Alert(&'a Alert, &'a PodRef),
    /// The event's `--dump-events` line, when asked for.
    Event(&'a Json),
}

impl Evaluator {
    /// Evaluate `ev` (at `epoch_ns`, wall clock) against `ruleset`, giving what it produced to
    /// `emit`; whether a rule fired. `sample`: time the evaluation into the latency histogram
    /// (one event in `stage::SAMPLE_EVERY`: two clock reads per event would cost more than
    /// evaluating it).
    pub fn evaluate(
        &self,
        ruleset: &Ruleset,
        ev: &Enriched,
        epoch_ns: u64,
        sample: bool,
        mut emit: impl FnMut(Produced<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<bool> {
        let view = EventView::new(ev, epoch_ns).with_hostname(&self.hostname);
        let started = sample.then(Instant::now);
        let mut fired = Vec::new();
        // No rule could match its type when it was enriched: its context was not built.
        if !ev.ctx.skipped {
            ruleset.evaluate(&view, |r| fired.push(r));
        }
        if let Some(t) = started {
            self.metrics
                .eval_latency
                .observe_ns(t.elapsed().as_nanos() as u64);
        }
        let alerted = !fired.is_empty();
        if alerted {
            let pod = pod_ref(&ev.ctx.pod);
            for r in fired {
                emit(Produced::Alert(&ruleset.alert(r, &view, epoch_ns), &pod))?;
            }
        }
        if self.dump {
            emit(Produced::Event(&dump::event_json(&view)))?;
        }
        Ok(alerted)
    }
}

/// The pod labels of an event's alerts: empty on the host (and with Kubernetes off), the
/// visible marker when the pod's metadata never came.
fn pod_ref(p: &PodContext) -> PodRef {
    match p {
        PodContext::Found(m) => PodRef {
            namespace: m.namespace.clone(),
            pod: m.pod_name.clone(),
        },
        PodContext::Pending => PodRef {
            namespace: "<pending>".into(),
            pod: "<pending>".into(),
        },
        PodContext::Host | PodContext::Off => PodRef::default(),
    }
}
