//! The fuzz targets' entry functions: one per input the sensor takes from outside, each driving
//! the sensor's own code exactly as the agent does. `tests/fuzz/` wraps each in a libFuzzer
//! target (`cargo xtask test` runs them for a fixed time), and `regressions_tests` replays every
//! input kept in `tests/fuzz/regressions/<target>/` through the same function on every `cargo
//! test`, fuzzer or not.
//!
//! Each function must return for any input without panicking, in time and memory bounded by the
//! input's size: a panic, a hang or a blow-up is a finding. Where an invariant is cheap to state
//! it is asserted too, so a wrong answer is a finding as well as a crash.

pub(crate) mod check;
pub(crate) mod quote;
pub mod samples;
mod samples_file;
mod samples_file_change;
mod samples_net;

#[cfg(test)]
mod regressions_tests;
#[cfg(test)]
mod tests;

use std::{path::Path, sync::Arc};

use k8s_openapi::api::core::v1::Pod;
use lanner_rules::{Severity, loader::Source};

use crate::{
    config::Config,
    container::{self, ContainerRef},
    enrich::PodContext,
    event::Event,
    k8s::{index::Shared, meta},
    reader::decode as wire,
};

/// An entry function: takes any bytes, panics only on a finding.
pub type Target = fn(&[u8]);

/// Every target, by the name its libFuzzer binary and regressions directory have.
pub const TARGETS: &[(&str, Target)] = &[
    ("rules_file", rules_file),
    ("condition", condition),
    ("output", output),
    ("config", config),
    ("decode", decode),
    ("pod_json", pod_json),
];

/// Input bytes as text. Files and `-o` values must be UTF-8 to reach the parsers (the sensor
/// reads them with `read_to_string` and from `String` arguments); mapping other bytes to
/// U+FFFD keeps the fuzzer on parser input instead of on the UTF-8 check.
fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Load `text` as the only rules file, with the sensor's options; every event of the samples
/// is then evaluated and its alerts rendered. What did not load is rendered as `-V` would.
fn load_and_run(text: String) -> bool {
    let source = Source {
        name: Arc::from("fuzz.yaml"),
        text,
    };
    match lanner_rules::load(&[source], &check::options()) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                check::render_diagnostic(w);
            }
            for ev in samples::events() {
                check::evaluate(&loaded.ruleset, ev);
            }
            true
        }
        Err(diags) => {
            assert!(
                diags.iter().any(|d| d.severity == Severity::Error),
                "a rejected rules file has an error among its diagnostics"
            );
            for d in &diags {
                check::render_diagnostic(d);
            }
            false
        }
    }
}

/// A rules file (`-r`, `rules_files`, a reload).
pub fn rules_file(data: &[u8]) {
    load_and_run(text(data).into_owned());
}

/// A rule's condition, in a rule of its own that prints the process name.
pub fn condition(data: &[u8]) {
    let cond = text(data);
    let parsed = lanner_rules::parse::parse_condition(&cond);
    let file = quote::rule_file(&cond, "fuzz %proc.name");
    if load_and_run(file) {
        assert!(
            parsed.is_ok(),
            "a rule loaded although its condition does not parse: {parsed:?}"
        );
    }
}

/// A rule's output format, in a rule that matches every event.
pub fn output(data: &[u8]) {
    let format = text(data);
    let parsed = lanner_rules::parse::parse_output(&format);
    let file = quote::rule_file(&quote::every_event_condition(), &format);
    if load_and_run(file) {
        assert!(
            parsed.is_ok(),
            "a rule loaded although its output does not parse: {parsed:?}"
        );
    }
}

/// The configuration: a config file (`-c`, up to the first NUL) and `-o KEY=VALUE` overrides
/// (the NUL-separated rest). An accepted configuration's rule options are then used to load
/// the built-in rules, as the agent does at start.
pub fn config(data: &[u8]) {
    let mut parts = data.split(|&b| b == 0);
    let file = text(parts.next().unwrap_or_default());
    let overrides: Vec<String> = parts.map(|p| text(p).into_owned()).collect();
    let file = (!file.is_empty()).then(|| (Path::new("fuzz.yaml"), &*file));
    match Config::parse(file, &overrides) {
        Ok(c) => {
            let _ = format!("{c:?}");
            // The defaults' rules were checked once; only new `append_output` entries can
            // change how the built-in rules compile.
            if c.append_output != Config::default().append_output {
                let options = c.engine_options();
                let _ = lanner_rules::load(&[crate::rules::files::builtin()], &options);
            }
        }
        Err(e) => {
            let _ = format!("{e:#}");
        }
    }
}

/// A kernel record as the ring buffer hands it over, with and without `--capture-env`. A
/// record that decodes is enriched with a plausible context, evaluated against the built-in
/// rules and a rule printing every field, and shown as `--dump-events` would (the dump must say what the rules see).
pub fn decode(data: &[u8]) {
    for capture_env in [false, true] {
        let alone = wire::decode(data, capture_env);
        // The reader's decoder remembers names across records: it must give what a fresh one
        // gives, the first time and when the same ids come again.
        let mut decoder = wire::Decoder::new(capture_env);
        assert_eq!(decoder.decode(data), alone, "the decoder's first answer");
        assert_eq!(decoder.decode(data), alone, "the decoder's second answer");
        let Ok(ev) = alone else { continue };
        check::strings_within(&ev, data.len());
        let ev = samples::enrich(ev, None);
        check::dump_agrees(&ev);
        check::evaluate(check::builtin_rules(), &ev);
        assert_eq!(check::evaluate(check::every_field_rule(), &ev), 1);
    }
}

/// A Pod object as the API server sends it (`list`/`watch`). A pod that parses goes into the
/// index and out again; each of its containers' context is printed through every field.
pub fn pod_json(data: &[u8]) {
    let Ok(pod) = serde_json::from_slice::<Pod>(data) else {
        return;
    };
    let _ = meta::pod_key(&pod);
    let read = meta::pod_containers(&pod);
    let index = Shared::new();
    index.apply(&pod);
    let stats = index.stats();
    assert_eq!(stats.pods, 1, "a pod is indexed under one key");
    assert!(stats.containers as usize <= read.containers.len());
    for (id, meta) in &read.containers {
        assert!(
            id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "indexed under a full id: {id:?}"
        );
        assert!(index.lookup(id).is_some(), "container {id} is in the index");
        check::image_split(meta);
        // An exec in that container, with this pod as its context.
        let in_container = Event {
            task: crate::event::Task {
                cgroup: Some(format!("cri-containerd-{id}.scope").into()),
                ..samples::exec_event().task.clone()
            },
            ..samples::exec_event().clone()
        };
        let ev = samples::enrich(in_container, Some(Arc::new(meta.clone())));
        assert!(matches!(ev.ctx.container, ContainerRef::Container { .. }));
        assert!(matches!(ev.ctx.pod, PodContext::Found(_)));
        assert_eq!(check::evaluate(check::every_field_rule(), &ev), 1);
    }
    index.delete(&pod);
    let stats = index.stats();
    assert_eq!(
        (stats.pods, stats.containers),
        (0, 0),
        "a deleted pod leaves nothing behind"
    );
    // The container id of a cgroup leaf named after this pod's containers comes back whole.
    for (id, _) in &read.containers {
        let leaf = format!("cri-containerd-{id}.scope");
        assert_eq!(container::from_cgroup(&leaf, None).full_id(), Some(&**id));
    }
}
