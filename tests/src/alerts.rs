//! Alerts: the JSON lines the sensor prints when a rule matches, in Falco's schema
//! (`hostname`, `output`, `output_fields`, `priority`, `rule`, `source`, `tags`, `time`). With
//! `--dump-events` they come interleaved with event lines; an alert is a line with a `rule` key.
//!
//! The sensor sees the whole host and other tests run concurrently: every predicate selects the
//! test's own alerts by a pid or a marker it created ([`out_is`], [`out_contains`]).

use crate::{EVENT_TIMEOUT, Sensor};
use serde_json::Value;
use std::time::Duration;

/// How long a near-miss test waits for an alert that must not come, after the sensor has
/// reported the event itself (the alert is decided on that same event, so this only covers
/// output ordering and scheduling).
pub const NO_ALERT_GRACE: Duration = Duration::from_secs(2);

/// A rule as a test expects to see it in alerts.
#[derive(Debug, Clone, Copy)]
pub struct RuleSpec {
    pub name: &'static str,
    /// Canonical priority name as alerts print it (`Critical`, `Warning`, `Notice`, ...).
    pub priority: &'static str,
    /// In any order: alerts carry them sorted.
    pub tags: &'static [&'static str],
}

/// True for alert lines (as opposed to `--dump-events` event lines).
pub fn is_alert(v: &Value) -> bool {
    v.get("rule").is_some()
}

/// `output_fields[key]` of an alert (`Null` when absent).
pub fn out<'a>(alert: &'a Value, key: &str) -> &'a Value {
    &alert["output_fields"][key]
}

/// `output_fields[key] == value`.
pub fn out_is(alert: &Value, key: &str, value: impl Into<Value>) -> bool {
    *out(alert, key) == value.into()
}

/// `output_fields[key]` is a string containing `needle`.
pub fn out_contains(alert: &Value, key: &str, needle: &str) -> bool {
    out(alert, key).as_str().is_some_and(|s| s.contains(needle))
}

/// An alert of `rule` whose output fields say it was about process `pid`.
pub fn alert_for_pid(alert: &Value, rule: &str, pid: i64) -> bool {
    is_alert(alert) && alert["rule"] == rule && out_is(alert, "proc.pid", pid)
}

/// Asserts `output_fields[key] == expected`, printing the alert on failure.
#[track_caller]
pub fn assert_out(alert: &Value, key: &str, expected: impl Into<Value>) {
    let expected = expected.into();
    assert!(
        *out(alert, key) == expected,
        "output field `{key}`: expected {expected}, got {}\nalert: {alert:#}",
        out(alert, key)
    );
}

/// Asserts `output_fields[key]` is a string containing `needle`.
#[track_caller]
pub fn assert_out_contains(alert: &Value, key: &str, needle: &str) {
    assert!(
        out_contains(alert, key, needle),
        "output field `{key}` should contain {needle:?}, got {}\nalert: {alert:#}",
        out(alert, key)
    );
}

/// The parts of Falco's alert schema that hold for every alert of `spec`: rule, priority,
/// sorted tags, source, host name, UTC time, the output text, and the container and pod keys
/// every alert carries in `output_fields`.
#[track_caller]
pub fn assert_alert(alert: &Value, spec: &RuleSpec) {
    assert_eq!(alert["rule"], spec.name, "rule\nalert: {alert:#}");
    assert_eq!(
        alert["priority"], spec.priority,
        "priority of {}\nalert: {alert:#}",
        spec.name
    );
    let mut tags: Vec<&str> = spec.tags.to_vec();
    tags.sort_unstable();
    assert_eq!(
        alert["tags"],
        serde_json::json!(tags),
        "tags of {} (sorted)\nalert: {alert:#}",
        spec.name
    );
    assert_eq!(alert["source"], "syscall", "source\nalert: {alert:#}");
    assert!(
        alert["hostname"].as_str().is_some_and(|h| !h.is_empty()),
        "hostname\nalert: {alert:#}"
    );
    let time = alert["time"].as_str().unwrap_or_default();
    assert!(
        time.len() == "2026-01-01T00:00:00.000000000Z".len()
            && time.ends_with('Z')
            && time.as_bytes()[10] == b'T',
        "time must be UTC with ns (YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ): {time:?}\nalert: {alert:#}"
    );
    assert!(
        alert["output"]
            .as_str()
            .is_some_and(|o| o.contains(spec.priority)),
        "output must be `<time>: <Priority> <message>`\nalert: {alert:#}"
    );
    let fields = alert["output_fields"]
        .as_object()
        .unwrap_or_else(|| panic!("output_fields is not an object\nalert: {alert:#}"));
    for k in [
        "container.id",
        "container.name",
        "container.image.repository",
        "container.image.tag",
        "k8s.pod.name",
        "k8s.ns.name",
        "evt.time",
    ] {
        assert!(
            fields.contains_key(k),
            "output_fields lacks `{k}`\nalert: {alert:#}"
        );
    }
    assert!(
        fields["evt.time"].is_i64() || fields["evt.time"].is_u64(),
        "evt.time must be integer ns\nalert: {alert:#}"
    );
}

impl Sensor {
    /// Waits for an alert of `rule` that `pred` accepts and checks it against `spec`'s name;
    /// fails (with the sensor's stderr and a dump of everything it printed) on timeout.
    #[track_caller]
    pub fn wait_alert(&self, spec: &RuleSpec, pred: impl Fn(&Value) -> bool) -> Value {
        let found = self.try_wait_for(
            |v| is_alert(v) && v["rule"] == spec.name && pred(v),
            EVENT_TIMEOUT,
        );
        match found {
            Some(alert) => {
                assert_alert(&alert, spec);
                alert
            }
            None => self.fail(&format!(
                "no `{}` alert matching the test's predicate within {EVENT_TIMEOUT:?}",
                spec.name
            )),
        }
    }

    /// Alerts received so far that `pred` accepts.
    pub fn alerts_where(&self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.events_where(|v| is_alert(v) && pred(v))
    }

    /// Waits [`NO_ALERT_GRACE`] and asserts that no alert `pred` accepts was printed. Call it
    /// once the sensor has reported the event in question (e.g. after [`Sensor::wait_for`] on
    /// it), so that the absence means "matched no rule", not "not seen yet".
    #[track_caller]
    pub fn assert_no_alert(&self, what: &str, pred: impl Fn(&Value) -> bool) {
        std::thread::sleep(NO_ALERT_GRACE);
        let found = self.alerts_where(pred);
        if !found.is_empty() {
            let list: Vec<String> = found.iter().map(Value::to_string).collect();
            self.fail(&format!(
                "{what}: expected no alert, got {}:\n{}",
                found.len(),
                list.join("\n")
            ));
        }
    }
}

impl Sensor {
    /// Waits for the successful exec event of process `pid` (the event a near-miss test then
    /// expects no alert for) and returns it.
    #[track_caller]
    pub fn wait_exec(&self, pid: i64) -> Value {
        self.wait_for(
            |e| {
                (e["evt.type"] == "execve" || e["evt.type"] == "execveat")
                    && e["proc.pid"] == pid
                    && e["evt.res"] == "SUCCESS"
            },
            EVENT_TIMEOUT,
        )
    }
}
