//! Hot reload of the rules, on the running sensor: a rules file changed on disk is picked up,
//! SIGHUP reloads, and a broken file keeps the ruleset in use (logged and counted). A hostile
//! file (a macro bomb) is refused like a broken one and a huge one loads, while health and
//! alerts go on.

use std::{
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use lanner_tests::{
    children::echo_on_host, hostile_rules, prometheus::http_get, sensor::Sensor, unique,
};
use serde_json::Value;

/// A rule that fires on an exec whose command line contains `marker`.
fn rule_file(path: &Path, rule: &str, marker: &str) {
    let text = format!(
        "- rule: {rule}\n  desc: reload test\n  condition: evt.type in (execve, execveat) and proc.cmdline contains {marker}\n  output: \"{rule} fired (cmdline=%proc.cmdline)\"\n  priority: WARNING\n"
    );
    replace_file(path, &text);
}

/// Write then rename, as editors and ConfigMap updates do: never a half-written file.
fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn alert_of(rule: &str, marker: &str) -> impl Fn(&Value) -> bool {
    let (rule, marker) = (rule.to_string(), marker.to_string());
    move |v| {
        v["rule"] == rule.as_str()
            && v["output_fields"]["proc.cmdline"]
                .as_str()
                .is_some_and(|c| c.contains(&marker))
    }
}

/// Exec the marker every 200 ms until the rule's alert for it shows up.
fn fires_within(s: &Sensor, rule: &str, tag: &str, timeout: Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        let (_, marker) = echo_on_host(tag);
        if s.try_wait_for(alert_of(rule, &marker), Duration::from_millis(500))
            .is_some()
        {
            return true;
        }
    }
    false
}

#[test]
fn a_changed_rules_file_is_reloaded_and_a_broken_one_keeps_the_old_rules() {
    let dir = std::env::temp_dir().join(unique("reload"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rules.yaml");
    let (mark_a, mark_b) = (unique("relA"), unique("relB"));
    rule_file(&file, "Reload A", &mark_a);
    let mut s = Sensor::start_with(&["-r", file.to_str().unwrap()]);
    assert!(
        fires_within(&s, "Reload A", &mark_a, Duration::from_secs(10)),
        "rule A fires"
    );

    rule_file(&file, "Reload B", &mark_b);
    assert!(
        fires_within(&s, "Reload B", &mark_b, Duration::from_secs(15)),
        "the changed file is reloaded: rule B fires\n{}",
        s.stderr()
    );
    // A is gone from the new ruleset.
    let (_, marker) = echo_on_host(&mark_a);
    let b_again = {
        let (_, m) = echo_on_host(&mark_b);
        m
    };
    assert!(
        s.try_wait_for(alert_of("Reload B", &b_again), Duration::from_secs(10))
            .is_some()
    );
    assert!(
        s.events_where(alert_of("Reload A", &marker)).is_empty(),
        "rule A no longer fires after the reload"
    );

    // A broken file: the reload fails, rule B keeps firing.
    std::fs::write(
        &file,
        "- rule: broken\n  condition: proc.nmae = x\n  desc: d\n  output: o\n  priority: INFO\n",
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !s.stderr().contains("keeping the rules in use") {
        assert!(
            std::time::Instant::now() < deadline,
            "the failed reload is logged\n{}",
            s.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        s.stderr().contains("rules.yaml:2:14: error: unknown field"),
        "{}",
        s.stderr()
    );
    assert!(
        fires_within(&s, "Reload B", &mark_b, Duration::from_secs(10)),
        "B still fires"
    );
    let stats = s.stop();
    let rules = &stats.raw["rules"];
    assert!(rules["reloads"].as_u64() >= Some(1), "{rules}");
    assert!(rules["reload_failures"].as_u64() >= Some(1), "{rules}");
    assert_eq!(rules["loaded"], 1, "{rules}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn sighup_reloads_the_rules() {
    let dir = std::env::temp_dir().join(unique("sighup"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rules.yaml");
    let (mark_a, mark_c) = (unique("hupA"), unique("hupC"));
    rule_file(&file, "Hup A", &mark_a);
    // Without file watching, only the signal reloads.
    let mut s = Sensor::start_with(&[
        "-r",
        file.to_str().unwrap(),
        "-o",
        "watch_config_files=false",
    ]);
    assert!(fires_within(&s, "Hup A", &mark_a, Duration::from_secs(10)));
    rule_file(&file, "Hup C", &mark_c);
    std::thread::sleep(Duration::from_secs(2));
    let (_, m) = echo_on_host(&mark_c);
    assert!(
        s.try_wait_for(alert_of("Hup C", &m), Duration::from_secs(2))
            .is_none(),
        "no reload without the signal when watching is off"
    );
    // SAFETY: signalling the sensor child this test started.
    unsafe { libc::kill(s.pid() as i32, libc::SIGHUP) };
    assert!(
        fires_within(&s, "Hup C", &mark_c, Duration::from_secs(10)),
        "SIGHUP reloads\n{}",
        s.stderr()
    );
    let stats = s.stop();
    assert_eq!(stats.raw["rules"]["reloads"], 1);
    std::fs::remove_dir_all(dir).unwrap();
}

/// `GET /healthz` every 100 ms on a thread of its own, until dropped; remembers every answer
/// that was not a 200 within `deadline`.
struct HealthProbe {
    stop: Arc<AtomicBool>,
    problems: Arc<Mutex<Vec<String>>>,
    probes: Arc<Mutex<u64>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HealthProbe {
    fn start(addr: String, deadline: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let problems = Arc::new(Mutex::new(Vec::new()));
        let probes = Arc::new(Mutex::new(0));
        let thread = {
            let (stop, problems, probes) = (stop.clone(), problems.clone(), probes.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let answer = http_get(&addr, "/healthz");
                    let took = started.elapsed();
                    match answer {
                        Ok(r) if r.status == 200 && took <= deadline => {}
                        Ok(r) => problems.lock().unwrap().push(format!(
                            "{} after {took:?}: {}",
                            r.status,
                            r.body.trim()
                        )),
                        Err(e) => problems
                            .lock()
                            .unwrap()
                            .push(format!("no answer after {took:?}: {e:#}")),
                    }
                    *probes.lock().unwrap() += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Self {
            stop,
            problems,
            probes,
            thread: Some(thread),
        }
    }

    /// Stop probing; every problem seen and how many probes were made.
    fn finish(mut self) -> (Vec<String>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let problems = self.problems.lock().unwrap().clone();
        (problems, *self.probes.lock().unwrap())
    }
}

/// Wait until the sensor's log contains `text`.
fn wait_log(s: &Sensor, text: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !s.stderr().contains(text) {
        assert!(
            Instant::now() < deadline,
            "{text:?} not logged within {timeout:?}:\n{}",
            s.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_macro_bomb_is_refused_and_a_huge_file_loads_while_health_and_alerts_go_on() {
    let dir = std::env::temp_dir().join(unique("reload-budget"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rules.yaml");
    let (mark_a, mark_b) = (unique("budA"), unique("budB"));
    rule_file(&file, "Budget A", &mark_a);
    let mut s = Sensor::start_with(&["-r", file.to_str().unwrap()]);
    assert!(
        fires_within(&s, "Budget A", &mark_a, Duration::from_secs(10)),
        "rule A fires"
    );
    let probe = HealthProbe::start(s.metrics_addr(), Duration::from_secs(5));

    // A macro bomb: 2^62 nodes once written out, in 3 KB. Refused like a broken file.
    replace_file(&file, &hostile_rules::macro_bomb(60));
    wait_log(
        &s,
        "rules.yaml:30:14: error: rule 'Macro bomb': macro 'm13' has 65531 nodes",
        Duration::from_secs(30),
    );
    wait_log(&s, "keeping the rules in use", Duration::from_secs(5));
    assert!(
        fires_within(&s, "Budget A", &mark_a, Duration::from_secs(10)),
        "the rules in use still fire after the bomb\n{}",
        s.stderr()
    );

    // Large but legal: a rule of 20,000 checks loads, and fires.
    replace_file(
        &file,
        &hostile_rules::long_condition_rule("Budget B", &mark_b, 20_000),
    );
    assert!(
        fires_within(&s, "Budget B", &mark_b, Duration::from_secs(60)),
        "the 20,000-term rule loads and fires\n{}",
        s.stderr()
    );

    let (problems, probes) = probe.finish();
    assert!(probes >= 10, "only {probes} probes");
    assert!(
        problems.is_empty(),
        "/healthz did not answer 200 within 5 s throughout: {problems:?}"
    );
    let stats = s.stop();
    let rules = &stats.raw["rules"];
    assert!(rules["reload_failures"].as_u64() >= Some(1), "{rules}");
    assert!(rules["reloads"].as_u64() >= Some(1), "{rules}");
    assert_eq!(rules["loaded"], 1, "{rules}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `lanner_events_total{kind}` from the sensor's /metrics.
fn events_of_kind(s: &Sensor, kind: &str) -> u64 {
    let body = http_get(&s.metrics_addr(), "/metrics")
        .expect("metrics answer")
        .body;
    let series = format!("lanner_events_total{{kind=\"{kind}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{body}")) as u64
}

/// Hooks of event types no loaded rule matches stay detached (no mount is even seen while
/// only an exec rule is loaded, whoever mounts on the host), and a reload that brings a mount
/// rule attaches them: its alert fires.
#[test]
fn a_reload_attaches_the_hooks_its_rules_need() {
    let dir = std::env::temp_dir().join(unique("reload-gate"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rules.yaml");
    let mark = unique("gateexec");
    rule_file(&file, "Gate exec", &mark);
    let mut s = Sensor::launch(lanner_tests::sensor::Launch {
        args: &["-r", file.to_str().unwrap()],
        alerts_only: true,
        ..Default::default()
    });
    s.wait_ready();
    assert!(
        fires_within(&s, "Gate exec", &mark, Duration::from_secs(10)),
        "the exec rule fires"
    );
    drop(lanner_tests::mounts::Tmpfs::mount("gate-detached", 1 << 20));
    assert_eq!(
        events_of_kind(&s, "mount"),
        0,
        "mount hooks detached while no rule matches mounts\n{}",
        s.stderr()
    );

    let tag = unique("gatemount");
    replace_file(
        &file,
        &format!(
            "- rule: Gate mount\n  desc: reload test\n  condition: evt.type = mount and evt.arg.dir contains {tag}\n  output: \"mounted (dir=%evt.arg.dir)\"\n  priority: WARNING\n"
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let fired = loop {
        drop(lanner_tests::mounts::Tmpfs::mount(&tag, 1 << 20));
        if s.try_wait_for(|v| v["rule"] == "Gate mount", Duration::from_millis(300))
            .is_some()
        {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
    };
    assert!(fired, "the reload attached the mount hooks\n{}", s.stderr());
    s.stop();
}
