//! The fuzz targets' own parts: the samples are what they claim, every target takes them, and
//! the rules-file wrapping gives the loader the text unchanged.

use lanner_rules::EvtType;
use yaml_rust2::YamlLoader;

use super::{TARGETS, check, load_and_run, quote, samples};
use crate::testutil::xorshift;

#[test]
fn sample_records_decode_to_every_event_type() {
    let mut seen: Vec<EvtType> = samples::events()
        .iter()
        .map(|e| e.event.body.evt_type())
        .collect();
    seen.sort_by_key(|t| *t as usize);
    seen.dedup();
    assert_eq!(seen, EvtType::ALL);
    assert_eq!(
        samples::events().len(),
        samples::records().len() + 5,
        "every record decodes (and each exec twice: in the pod and pending)"
    );
}

#[test]
fn the_every_field_rule_fires_on_every_sample_event() {
    for ev in samples::events() {
        assert_eq!(check::evaluate(check::every_field_rule(), ev), 1, "{ev:?}");
    }
}

#[test]
fn every_target_takes_real_input() {
    let records = samples::records();
    let config = "json_output: false\npriority: warning\nappend_output:\n  - match: {rule: x}\n    extra_output: \"%k8s.pod.name\"\n\0rule_matching=all\0exporter.labels=[rule]";
    let inputs: Vec<(&str, &[u8])> = vec![
        ("rules_file", lanner_rules::DEFAULT_RULES.as_bytes()),
        (
            "condition",
            b"spawned_process and proc.name in (sh, bash) and k8s.pod.label[app] = web",
        ),
        (
            "output",
            b"%evt.time %proc.cmdline %k8s.pod.labels %container.mount.source[/etc]",
        ),
        ("config", config.as_bytes()),
        ("decode", &records[0].1),
        ("pod_json", samples::POD_JSON.as_bytes()),
    ];
    assert_eq!(inputs.len(), TARGETS.len());
    for ((name, input), (target, f)) in inputs.into_iter().zip(TARGETS) {
        assert_eq!(name, *target);
        f(input);
    }
    for (_, r) in &records {
        super::decode(r);
    }
}

#[test]
fn a_condition_or_output_loads_as_written() {
    assert!(load_and_run(quote::rule_file(
        "proc.name = \"a\\\"b\"",
        "x %proc.name"
    )));
    assert!(load_and_run(quote::rule_file(
        &quote::every_event_condition(),
        "é \u{1F600} \t%proc.name"
    )));
    assert!(!load_and_run(quote::rule_file("proc.nmae = sh", "x")));
    assert!(!load_and_run(quote::rule_file(
        "proc.name = sh",
        "%proc.nmae"
    )));
}

#[test]
fn yaml_string_reads_back_as_the_same_text() {
    let mut next = xorshift();
    let alphabet: Vec<char> =
        "ab \"\\'#:-[]{}\n\r\t\0\u{7f}\u{85}\u{a0}\u{2028}\u{feff}é\u{1F600}%"
            .chars()
            .collect();
    for _ in 0..2000 {
        let len = (next() % 24) as usize;
        let s: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let doc = format!("k: {}", quote::yaml_string(&s));
        let docs = YamlLoader::load_from_str(&doc).unwrap_or_else(|e| panic!("{doc:?}: {e}"));
        assert_eq!(docs[0]["k"].as_str(), Some(s.as_str()), "{doc:?}");
    }
}
