//! `falco_events`: one counter per (rule, priority, hostname, source, tags, namespace, pod), the
//! series falco-exporter exposes and the seed's alert rules, recording rules and dashboards
//! query by that exact name.
//!
//! Two choices worth knowing:
//! - A new series is exposed at 0 until it has been scraped once AND `new_series_hold` has
//!   passed, then with its count. Prometheus's `increase()`/`rate()` only see growth between
//!   two samples, so a series that first appears at 1 (every rare alert, exactly the Critical
//!   ones) would never show an increase and the seed's `FalcoCriticalAlert` would never fire.
//!   The hold (default 30 s, two 15 s scrape intervals) lets every scraper of an HA pair see the
//!   0 too, not only the first one. The cost is that delay on a series' first alert.
//! - Series of a pod are dropped once the pod has been gone from the node (and the series idle)
//!   for `series_ttl`, so pod churn does not grow the number of series forever. Series without
//!   a pod (host processes) are kept.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use lanner_rules::{Alert, Priority};

use super::text::Exposition;

/// A label `falco_events` can carry (the configurable set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Label {
    Rule,
    Priority,
    Hostname,
    Source,
    Tags,
    K8sNsName,
    K8sPodName,
    /// Same value as `k8s_ns_name`, named as kube-state-metrics does, so the seed's
    /// entity-correlation queries join on it.
    Namespace,
    /// Same value as `k8s_pod_name` (`falco_events{pod="…"}`, `by (pod)` in the seed).
    Pod,
}

impl Label {
    pub const ALL: [Label; 9] = [
        Label::Rule,
        Label::Priority,
        Label::Hostname,
        Label::Source,
        Label::Tags,
        Label::K8sNsName,
        Label::K8sPodName,
        Label::Namespace,
        Label::Pod,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Label::Rule => "rule",
            Label::Priority => "priority",
            Label::Hostname => "hostname",
            Label::Source => "source",
            Label::Tags => "tags",
            Label::K8sNsName => "k8s_ns_name",
            Label::K8sPodName => "k8s_pod_name",
            Label::Namespace => "namespace",
            Label::Pod => "pod",
        }
    }

    pub fn parse(s: &str) -> Option<Label> {
        Label::ALL.into_iter().find(|l| l.name() == s)
    }
}

/// Where an alert happened, for the pod labels (empty for a host process: Prometheus treats an
/// empty label as absent, so host alerts do not group under a fake pod).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodRef {
    pub namespace: String,
    pub pod: String,
}

#[derive(Debug)]
struct Series {
    count: u64,
    /// Not scraped yet: exposed at 0 (see the module comment).
    fresh: bool,
    created: Instant,
    last_change: Instant,
    pod: PodRef,
}

impl Series {
    /// One more alert at `now`.
    fn bump(&mut self, now: Instant) {
        self.count += 1;
        self.last_change = now;
    }
}

/// What the last alert's labels came from, and the key they made. Consecutive alerts of one
/// rule in one pod (an alert storm, where this matters) find their series without building
/// the key's strings again.
#[derive(Debug)]
struct LastAlert {
    rule: Arc<str>,
    priority: Priority,
    source: Arc<str>,
    tags: Arc<[String]>,
    hostname: String,
    pod: PodRef,
    key: Vec<String>,
}

impl LastAlert {
    fn same_labels(&self, a: &Alert, hostname: &str, pod: &PodRef) -> bool {
        self.rule == a.rule
            && self.priority == a.priority
            && self.source == a.source
            && self.tags == a.tags
            && self.hostname == hostname
            && self.pod == *pod
    }
}

#[derive(Debug)]
pub struct FalcoEvents {
    labels: Vec<Label>,
    series: BTreeMap<Vec<String>, Series>,
    last: Option<LastAlert>,
    ttl: Duration,
    hold: Duration,
    expired: u64,
}

impl FalcoEvents {
    pub fn new(labels: Vec<Label>, ttl: Duration, hold: Duration) -> Self {
        Self {
            labels,
            series: BTreeMap::new(),
            last: None,
            ttl,
            hold,
            expired: 0,
        }
    }

    pub fn record(&mut self, a: &Alert, hostname: &str, pod: &PodRef) {
        self.record_at(a, hostname, pod, Instant::now());
    }

    fn record_at(&mut self, a: &Alert, hostname: &str, pod: &PodRef, now: Instant) {
        if let Some(last) = &self.last
            && last.same_labels(a, hostname, pod)
            && let Some(s) = self.series.get_mut(&last.key)
        {
            s.bump(now);
            return;
        }
        let key: Vec<String> = self
            .labels
            .iter()
            .map(|l| match l {
                Label::Rule => a.rule.to_string(),
                Label::Priority => a.priority.name().to_string(),
                Label::Hostname => hostname.to_string(),
                Label::Source => a.source.to_string(),
                Label::Tags => exporter_tags(&a.tags),
                Label::K8sNsName | Label::Namespace => pod.namespace.clone(),
                Label::K8sPodName | Label::Pod => pod.pod.clone(),
            })
            .collect();
        self.last = Some(LastAlert {
            rule: a.rule.clone(),
            priority: a.priority,
            source: a.source.clone(),
            tags: a.tags.clone(),
            hostname: hostname.to_string(),
            pod: pod.clone(),
            key: key.clone(),
        });
        let s = self.series.entry(key).or_insert_with(|| Series {
            count: 0,
            fresh: true,
            created: now,
            last_change: now,
            pod: pod.clone(),
        });
        s.bump(now);
    }

    /// Drop idle series of pods no longer on the node (`live`: the pods the cache knows now).
    pub fn expire(&mut self, live: &HashSet<PodRef>, now: Instant) {
        let ttl = self.ttl;
        let before = self.series.len();
        self.series.retain(|_, s| {
            s.pod.pod.is_empty()
                || live.contains(&s.pod)
                || now.saturating_duration_since(s.last_change) < ttl
        });
        self.expired += (before - self.series.len()) as u64;
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    pub fn expired_total(&self) -> u64 {
        self.expired
    }

    /// Write the family; marks every series as scraped.
    pub fn render(&mut self, out: &mut Exposition) {
        self.render_at(out, Instant::now());
    }

    fn render_at(&mut self, out: &mut Exposition, now: Instant) {
        // Declared untyped: `promtool check metrics` rejects a counter whose name lacks
        // `_total`, and the name must stay `falco_events`. PromQL's `rate`/`increase` do not
        // depend on the declared type.
        out.family(
            "falco_events",
            "Alerts raised, per rule and context (a counter; named as falco-exporter's)",
            "untyped",
        );
        let names: Vec<&str> = self.labels.iter().map(|l| l.name()).collect();
        for (key, s) in &mut self.series {
            let pairs: Vec<(&str, &str)> = names
                .iter()
                .copied()
                .zip(key.iter().map(String::as_str))
                .collect();
            let held = s.fresh || now.saturating_duration_since(s.created) < self.hold;
            let value = if held { 0 } else { s.count };
            out.sample("falco_events", &pairs, value as f64);
            s.fresh = false;
        }
    }
}

/// falco-exporter's form of the tags: sorted, comma-separated, with a comma at each end
/// (`,container,mitre_execution,shell,`) so `tags=~".*,shell,.*"` matches whole tags.
pub fn exporter_tags(tags: &[String]) -> String {
    if tags.is_empty() {
        return String::new();
    }
    let mut t: Vec<&str> = tags.iter().map(String::as_str).collect();
    t.sort_unstable();
    format!(",{},", t.join(","))
}

#[cfg(test)]
#[path = "falco_events_tests.rs"]
mod tests;
