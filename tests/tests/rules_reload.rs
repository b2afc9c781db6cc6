//! Hot reload of the rules, on the running sensor: a rules file changed on disk is picked up,
//! SIGHUP reloads, and a broken file keeps the ruleset in use (logged and counted).

use std::{path::Path, time::Duration};

use lanner_tests::{children::echo_on_host, sensor::Sensor, unique};
use serde_json::Value;

/// A rule that fires on an exec whose command line contains `marker`.
fn rule_file(path: &Path, rule: &str, marker: &str) {
    let text = format!(
        "- rule: {rule}\n  desc: reload test\n  condition: evt.type in (execve, execveat) and proc.cmdline contains {marker}\n  output: \"{rule} fired (cmdline=%proc.cmdline)\"\n  priority: WARNING\n"
    );
    // Write then rename, as editors and ConfigMap updates do: never a half-written file.
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
