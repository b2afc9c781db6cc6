use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant},
};

use lanner_rules::{Alert, Priority};

use super::*;

fn alert(rule: &str, priority: Priority, tags: &[&str]) -> Alert {
    Alert {
        rule: rule.into(),
        priority,
        source: "syscall".into(),
        tags: Arc::from(tags.iter().map(|t| t.to_string()).collect::<Vec<_>>()),
        time_ns: 0,
        output: String::new(),
        message: String::new(),
        output_fields: Default::default(),
    }
}

fn pod(ns: &str, name: &str) -> PodRef {
    PodRef {
        namespace: ns.into(),
        pod: name.into(),
    }
}

fn render(f: &mut FalcoEvents) -> String {
    let mut e = Exposition::default();
    f.render(&mut e);
    e.into_string()
}

#[test]
fn a_new_series_shows_zero_on_its_first_scrape_then_its_count() {
    let mut f = FalcoEvents::new(Label::ALL.to_vec(), Duration::from_secs(60), Duration::ZERO);
    let a = alert(
        "Reverse Shell",
        Priority::Critical,
        &["shell", "mitre_execution", "container"],
    );
    f.record(&a, "node-1", &pod("shop", "web-1"));
    f.record(&a, "node-1", &pod("shop", "web-1"));
    let series = "falco_events{rule=\"Reverse Shell\",priority=\"Critical\",hostname=\"node-1\",source=\"syscall\",tags=\",container,mitre_execution,shell,\",k8s_ns_name=\"shop\",k8s_pod_name=\"web-1\",namespace=\"shop\",pod=\"web-1\"}";
    let first = render(&mut f);
    assert!(first.contains("# TYPE falco_events untyped\n"), "{first}");
    assert!(first.contains(&format!("{series} 0\n")), "{first}");
    let second = render(&mut f);
    assert!(second.contains(&format!("{series} 2\n")), "{second}");
    f.record(&a, "node-1", &pod("shop", "web-1"));
    assert!(render(&mut f).contains(&format!("{series} 3\n")));
}

#[test]
fn the_label_set_is_configurable_and_host_alerts_have_empty_pod_labels() {
    let mut f = FalcoEvents::new(
        vec![Label::Rule, Label::Pod],
        Duration::from_secs(60),
        Duration::ZERO,
    );
    f.record(&alert("A", Priority::Warning, &[]), "n", &PodRef::default());
    render(&mut f);
    assert_eq!(
        render(&mut f),
        "# HELP falco_events Alerts raised, per rule and context (a counter; named as falco-exporter's)\n# TYPE falco_events untyped\nfalco_events{rule=\"A\",pod=\"\"} 1\n"
    );
}

#[test]
fn series_of_pods_gone_for_the_ttl_are_dropped_others_kept() {
    let ttl = Duration::from_secs(60);
    let mut f = FalcoEvents::new(Label::ALL.to_vec(), ttl, Duration::ZERO);
    let t0 = Instant::now();
    let a = alert("A", Priority::Warning, &[]);
    f.record_at(&a, "n", &pod("ns", "gone"), t0);
    f.record_at(&a, "n", &pod("ns", "alive"), t0);
    f.record_at(&a, "n", &PodRef::default(), t0);
    let live: HashSet<PodRef> = [pod("ns", "alive")].into_iter().collect();
    f.expire(&live, t0 + Duration::from_secs(30));
    assert_eq!(f.series_count(), 3, "idle for less than the ttl");
    f.expire(&live, t0 + ttl + Duration::from_secs(1));
    assert_eq!(f.series_count(), 2, "the gone pod's series is dropped");
    assert_eq!(f.expired_total(), 1);
    assert!(!render(&mut f).contains("pod=\"gone\""));
}

#[test]
fn tags_take_falco_exporters_form() {
    assert_eq!(exporter_tags(&[]), "");
    assert_eq!(exporter_tags(&["b".into(), "a".into()]), ",a,b,");
}

#[test]
fn a_new_series_stays_at_zero_for_the_hold_so_every_scraper_sees_it() {
    let hold = Duration::from_secs(30);
    let mut f = FalcoEvents::new(vec![Label::Rule], Duration::from_secs(60), hold);
    let t0 = Instant::now();
    f.record_at(
        &alert("A", Priority::Critical, &[]),
        "n",
        &PodRef::default(),
        t0,
    );
    let at = |f: &mut FalcoEvents, secs: u64| {
        let mut e = Exposition::default();
        f.render_at(&mut e, t0 + Duration::from_secs(secs));
        e.into_string()
    };
    assert!(at(&mut f, 1).contains("falco_events{rule=\"A\"} 0\n"));
    assert!(
        at(&mut f, 15).contains("falco_events{rule=\"A\"} 0\n"),
        "a second scraper"
    );
    assert!(at(&mut f, 31).contains("falco_events{rule=\"A\"} 1\n"));
}

#[test]
fn repeated_and_interleaved_alerts_count_in_their_own_series() {
    let ttl = Duration::from_secs(60);
    let mut f = FalcoEvents::new(vec![Label::Rule, Label::Pod], ttl, Duration::ZERO);
    let t0 = Instant::now();
    let (a, b) = (
        alert("A", Priority::Warning, &[]),
        alert("B", Priority::Warning, &[]),
    );
    for (alert, p) in [(&a, "p1"), (&a, "p1"), (&a, "p2"), (&b, "p2"), (&a, "p1")] {
        f.record_at(alert, "n", &pod("ns", p), t0);
    }
    render(&mut f);
    let text = render(&mut f);
    for (series, n) in [("A", "p1", 3), ("A", "p2", 1), ("B", "p2", 1)]
        .map(|(r, p, n)| (format!("falco_events{{rule=\"{r}\",pod=\"{p}\"}}"), n))
    {
        assert!(
            text.contains(&format!("{series} {n}\n")),
            "{series} {n}:\n{text}"
        );
    }
    // The last alert's series expires; the same alert again starts it over.
    f.expire(&HashSet::new(), t0 + ttl + Duration::from_secs(1));
    assert_eq!(f.series_count(), 0);
    f.record_at(&a, "n", &pod("ns", "p1"), t0 + ttl * 2);
    assert_eq!(f.series_count(), 1);
}
