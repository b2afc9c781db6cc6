//! The kernel's prefilter in `/metrics`: what it kept from user space per event type, and
//! what each type's filter is (filtered, dropped whole, or passing whole and why).

use std::sync::atomic::Ordering::Relaxed;

use lanner_rules::prefilter::{PassReason, TypeFilter};

use super::text::Exposition;
use crate::loader::prefilter::Status;

const MODES: [&str; 3] = ["filter", "drop", "pass"];

/// Why a type passes whole, as a label: `rule` (a loaded rule needs what the kernel cannot
/// test), `budget` (its filter would not fit the maps), `dump_events`, `write_failed`.
fn pass_label(f: &TypeFilter) -> Option<&'static str> {
    let TypeFilter::Pass(reasons) = f else {
        return None;
    };
    Some(match reasons.first() {
        Some(PassReason::Rule { .. }) => "rule",
        Some(PassReason::OverBudget { .. }) => "budget",
        Some(PassReason::DumpEvents) => "dump_events",
        None => "write_failed",
    })
}

pub(super) fn render(status: &Status, out: &mut Exposition) {
    let types = status.types();
    out.family(
        "lanner_events_filtered_total",
        "Events the kernel's prefilter kept from user space (no loaded rule can match them), per event type",
        "counter",
    );
    for (t, dropped, _) in &types {
        out.sample(
            "lanner_events_filtered_total",
            &[("evt_type", t.name())],
            *dropped as f64,
        );
    }
    out.family(
        "lanner_prefilter_mode",
        "What the kernel does with each event type it can filter: filter (by the loaded rules), drop (no loaded rule can match it), pass (every event goes to user space); 1 for the current mode",
        "gauge",
    );
    for (t, _, f) in &types {
        for mode in MODES {
            let on = f.mode() == mode;
            let labels = [("evt_type", t.name()), ("mode", mode)];
            out.sample("lanner_prefilter_mode", &labels, f64::from(u8::from(on)));
        }
    }
    out.family(
        "lanner_prefilter_pass_whole",
        "Event types the kernel passes whole, and why: rule (a loaded rule needs what the kernel cannot test; lanner -L names it), budget (the filter would not fit the maps), dump_events, write_failed",
        "gauge",
    );
    for (t, _, f) in &types {
        if let Some(reason) = pass_label(f) {
            let labels = [("evt_type", t.name()), ("reason", reason)];
            out.sample("lanner_prefilter_pass_whole", &labels, 1.0);
        }
    }
    out.single(
        "lanner_prefilter_write_failures_total",
        "Writes of the prefilter's maps that failed (their types then pass whole)",
        "counter",
        status.write_failures.load(Relaxed) as f64,
    );
}
