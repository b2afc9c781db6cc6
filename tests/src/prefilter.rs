//! What the prefilter tests share (`tests/tests/prefilter*.rs`; not re-exported:
//! `use lanner_tests::prefilter::*;`): a sample of `/metrics`, rules files written whole, a
//! thread comm of the test's own (rules naming it select the test's calls in the kernel), and
//! the count of events the sensor read, waited on until it settles; the maps a rules text
//! makes (the model the kernel is checked against).

use std::{
    ffi::CString,
    path::Path,
    time::{Duration, Instant},
};

use crate::{
    host::unique,
    prometheus::http_get,
    sensor::{EVENT_TIMEOUT, Sensor},
};

/// The value of the sample whose line starts with `prefix` (name and labels), 0 if absent.
pub fn metric(s: &Sensor, prefix: &str) -> f64 {
    let page = http_get(&s.metrics_addr(), "/metrics").expect("/metrics answers");
    page.body
        .lines()
        .find_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The kernel's maps as the sensor builds them from this rules text: the model
/// (`Maps::admits`) the kernel's decisions are checked against.
pub fn model_maps(text: &str) -> lanner_rules::prefilter::maps::Maps {
    let loaded = lanner_rules::load(
        &[lanner_rules::loader::Source {
            name: "rules.yaml".into(),
            text: text.to_owned(),
        }],
        &lanner_rules::Options {
            available: lanner_rules::availability::lanner,
            ..lanner_rules::Options::default()
        },
    )
    .unwrap_or_else(|e| panic!("{} load errors, the first: {:?}", e.len(), e.first()));
    lanner_rules::prefilter::plan(&loaded.ruleset, false).maps
}

/// Write then rename: a reload never sees a half-written file.
pub fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A rule whose output names the pid and the file.
pub fn rule(name: &str, condition: &str) -> String {
    format!(
        "- rule: {name}\n  desc: prefilter test\n  condition: {condition}\n  output: \"{name} (pid=%proc.pid file=%fd.name)\"\n  priority: WARNING\n"
    )
}

/// A comm no other thread on the host has: `tag` (2 bytes) and 12 of [`unique`]'s.
pub fn unique_comm(tag: &str) -> String {
    let u: String = unique("").replace('-', "").chars().rev().take(12).collect();
    format!("{tag}{u}")
}

/// `prctl(PR_SET_NAME)`: the calling thread's comm (`proc.name`).
pub fn set_comm(name: &str) {
    let c = CString::new(name).unwrap();
    // SAFETY: a NUL-terminated name of at most 16 bytes; only this thread's comm changes.
    assert_eq!(unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr()) }, 0);
}

/// What `read()` counts once it has reached `expected` (or the liveness deadline has passed)
/// and a second has gone by: the reader counts as it reads.
pub fn settled(expected: u64, read: impl Fn() -> u64) -> u64 {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while read() < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    read()
}
