//! The stage's two halves: evaluation produces (alerts first, then the dump line) and writes
//! nothing; the writer writes what it is handed, to the output and the alert metrics.

use std::sync::{Arc, atomic::Ordering::Relaxed};

use lanner_rules::Ruleset;
use serde_json::Value as Json;

use super::RulesStage;
use crate::{
    clock::Clock,
    config::Config,
    enrich::{PodContext, pods::PodWaitCounters},
    fuzz::samples,
    k8s::PodCache,
    metrics::{self, Metrics, falco_events::FalcoEvents},
    output::{alert::AlertFormat, writer::Writer},
    rules::{
        evaluate::{Evaluator, Produced},
        live::LiveRules,
    },
    stats::{Counters, StageGauges},
};

/// A rule that fires on every event, printing its process name.
fn every_event_rule() -> Ruleset {
    let file = crate::fuzz::quote::rule_file(
        &crate::fuzz::quote::every_event_condition(),
        "ran %proc.name",
    );
    let source = lanner_rules::loader::Source {
        name: "every-event.yaml".into(),
        text: file,
    };
    lanner_rules::load(&[source], &Config::default().engine_options())
        .expect("the rule loads")
        .ruleset
}

fn stage(dump: bool) -> RulesStage {
    let live = LiveRules::new(every_event_rule());
    let config = Config::default();
    let metrics = Arc::new(Metrics::new(
        "node-1".into(),
        FalcoEvents::new(
            config.exporter.labels.clone(),
            config.exporter.series_ttl,
            config.exporter.new_series_hold,
        ),
        metrics::Sources {
            counters: Arc::new(Counters::default()),
            stage: Arc::new(StageGauges::default()),
            pod_wait: Arc::new(PodWaitCounters::default()),
            pods: PodCache::disabled(),
            rules: live.counters.clone(),
        },
    ));
    RulesStage {
        rules: live,
        evaluator: Evaluator {
            hostname: "node-1".into(),
            dump,
            metrics: metrics.clone(),
        },
        writer: Writer {
            format: AlertFormat::from_config(&config, "node-1".into()),
            metrics: metrics.clone(),
            sinks: Vec::new(),
        },
        metrics,
    }
}

fn in_pod() -> &'static crate::enrich::Enriched {
    samples::events()
        .iter()
        .find(|e| matches!(e.ctx.pod, PodContext::Found(_)))
        .expect("a sample in the pod")
}

#[test]
fn evaluation_produces_the_alert_then_the_dump_line_and_writes_nothing() {
    let s = stage(true);
    let ruleset = s.rules.current();
    let ev = in_pod();
    let mut produced = Vec::new();
    let alerted = s
        .evaluator
        .evaluate(&ruleset, ev, samples::epoch_ns(&ev.event), false, |p| {
            produced.push(match p {
                Produced::Alert(a, pod) => {
                    format!("alert {} {}/{}", a.rule, pod.namespace, pod.pod)
                }
                Produced::Event(line) => format!("event {}", line["evt.type"]),
            });
            Ok(())
        })
        .unwrap();
    assert!(alerted);
    assert_eq!(produced, ["alert fuzz shop/web-7d4b9c", "event \"execve\""]);
    assert_eq!(s.metrics.alerts.load(Relaxed), 0, "nothing written yet");
}

#[test]
fn the_stage_writes_each_alert_and_event_line_and_counts_the_alerts() {
    let mut s = stage(true);
    let ruleset = s.rules.current();
    let mut out = Vec::new();
    let mut skipped = in_pod().clone();
    skipped.ctx.skipped = true;
    for ev in [in_pod(), &skipped] {
        s.one(&ruleset, ev, &Clock::new(), true, &mut out).unwrap();
    }
    let lines: Vec<Json> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The alert, then the event; the skipped event is only dumped (no rule is evaluated on it).
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(lines[0]["rule"], "fuzz");
    assert_eq!(
        lines[0]["output_fields"]["proc.name"],
        lines[1]["proc.name"]
    );
    assert_eq!(lines[1]["evt.type"], "execve");
    assert!(lines[2].get("rule").is_none());
    assert_eq!(s.metrics.alerts.load(Relaxed), 1);
}
