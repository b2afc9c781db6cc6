//! The Lanner-only sections of BENCHMARKS.md: the alerts of the official-rules column and the
//! sensor's own counters.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::bench::WorkloadResult;
use crate::bench_alerts;
use crate::monitors::Monitor;

/// Alerts written by "lanner, official rules", per workload, against what is expected.
pub fn alerts(s: &mut String, results: &[WorkloadResult]) {
    let rows: Vec<_> = results
        .iter()
        .filter_map(|r| {
            let cell = r.cell(Monitor::LannerRules)?;
            Some((r, cell, cell.alerts.as_ref()?))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## Alerts with the official rules\n");
    let _ = writeln!(
        s,
        "Alerts \"lanner, official rules\" wrote during the monitored runs, summed over the \
         rounds: those whose output fields name lanner-workload (the process, its parent or a \
         command line), by rule, and all of them (the sensor sees the whole machine). Where a \
         workload must raise alerts, delivered against expected: `open-sensitive`'s alerts \
         about {} of the workload, one per open, each a *{}*.\n",
        bench_alerts::SENSITIVE_FILE,
        bench_alerts::SENSITIVE_RULE
    );
    let _ = writeln!(
        s,
        "| workload | rounds | the workload's alerts, by rule | all alerts | expected: delivered / expected |"
    );
    let _ = writeln!(s, "|---|---:|---|---:|---|");
    for (r, cell, alerts) in rows {
        let rounds = cell.samples.len() as u64;
        let by_rule = if alerts.workload.is_empty() {
            "none".to_owned()
        } else {
            alerts
                .workload
                .iter()
                .map(|(rule, n)| format!("{rule} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let expected = match bench_alerts::expected(r.name, r.iterations) {
            Some((per_run, _)) => {
                let want = per_run * rounds;
                let got = alerts.sensitive;
                let pct = if want == 0 {
                    0.0
                } else {
                    got as f64 * 100.0 / want as f64
                };
                format!("{got} / {want} ({pct:.1}%)")
            }
            None => "–".to_owned(),
        };
        let unreadable = if alerts.unreadable > 0 {
            format!(" (+{} lines not alerts)", alerts.unreadable)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "| {} | {rounds} | {by_rule} | {}{unreadable} | {expected} |",
            r.name, alerts.total
        );
    }
}

/// From `--stats-file`, per Lanner column and workload.
pub fn counters(s: &mut String, monitors: &[Monitor], results: &[WorkloadResult]) {
    let columns = [
        "ringbuf_full",
        "dropped",
        "truncated",
        "read_failed",
        "decode_error",
    ];
    let lanners: Vec<Monitor> = monitors.iter().copied().filter(|m| m.is_lanner()).collect();
    if lanners.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## Lanner counters\n");
    let _ = writeln!(
        s,
        "From `--stats-file`, summed over the monitored rounds (see docs/events.md); the \
         sensor counts the whole machine's events. `ringbuf_full`, `dropped` and \
         `decode_error` are events lost; `truncated` and `read_failed` are events delivered \
         with a flagged field.\n"
    );
    let _ = writeln!(
        s,
        "| workload | column | rounds | events | {} |",
        columns.join(" | ")
    );
    let _ = writeln!(s, "|---|---|---:|---:|{}", "---:|".repeat(columns.len()));
    let mut any = false;
    for r in results {
        for m in &lanners {
            let Some(cell) = r.cell(*m).filter(|c| !c.lanner_stats.is_empty()) else {
                continue;
            };
            any = true;
            let mut sums = BTreeMap::new();
            for stats in &cell.lanner_stats {
                flatten("", stats, &mut sums);
            }
            let events: u64 = sums
                .iter()
                .filter(|(k, _)| k.starts_with("events."))
                .map(|(_, v)| v)
                .sum();
            let _ = write!(
                s,
                "| {} | {} | {} | {events} |",
                r.name,
                m.title(),
                cell.lanner_stats.len()
            );
            for column in columns {
                s.push_str(&counter_cell(&sums, column));
            }
            s.push('\n');
        }
    }
    if !any {
        let _ = writeln!(s, "| (no successful Lanner run) | | | | | | | | |");
    }
}

/// ` total (kind n, …) |` for one counter over the event kinds.
fn counter_cell(sums: &BTreeMap<String, u64>, column: &str) -> String {
    let parts: Vec<(&str, u64)> = sums
        .iter()
        .filter(|(k, _)| k.ends_with(&format!(".{column}")))
        .map(|(k, v)| (k.split('.').nth(1).unwrap_or(k), *v))
        .collect();
    let total: u64 = parts.iter().map(|(_, v)| v).sum();
    let detail: Vec<String> = parts
        .iter()
        .filter(|(_, v)| *v > 0 && column != "decode_error")
        .map(|(kind, v)| format!("{kind} {v}"))
        .collect();
    if parts.is_empty() {
        " – |".to_owned() // this build of lanner does not report it
    } else if detail.is_empty() {
        format!(" {total} |")
    } else {
        format!(" {total} ({}) |", detail.join(", "))
    }
}

/// Flattens `{"lost": {"exec": {"ringbuf_full": 1}}}` into `lost.exec.ringbuf_full = 1`.
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, u64>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Number(n) => *out.entry(prefix.to_owned()).or_default() += n.as_u64().unwrap_or(0),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_lanner_counters() {
        let stats = serde_json::json!({
            "events": {"exec": 3, "fork": 2},
            "lost": {"exec": {"ringbuf_full": 1, "truncated": 0}, "fork": {"ringbuf_full": 0}},
            "user_lost": {"decode_error": 0}
        });
        let mut out = BTreeMap::new();
        flatten("", &stats, &mut out);
        assert_eq!(out["events.exec"], 3);
        assert_eq!(out["lost.exec.ringbuf_full"], 1);
        assert_eq!(out["user_lost.decode_error"], 0);
        assert_eq!(counter_cell(&out, "ringbuf_full"), " 1 (exec 1) |");
        assert_eq!(counter_cell(&out, "decode_error"), " 0 |");
        assert_eq!(counter_cell(&out, "no_such"), " – |");
    }
}
