//! The official Falco rules files (falco_rules, incubating, sandbox) load together, unchanged,
//! with zero errors. They are read from `$LANNER_FALCO_RULES_DIR`, else `/work/shared/falco-rules`
//! or `../shared/falco-rules` next to the workspace; they are test data, not part of Lanner.

use std::sync::Arc;

pub use crate::testing::{official_dir, official_sources};
use crate::{EvtType, Options, loader::Source};

#[test]
fn the_three_official_files_load_together_without_errors() {
    let loaded = match crate::load(&official_sources(), &Options::default()) {
        Ok(l) => l,
        Err(e) => panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    };
    let rs = &loaded.ruleset;
    let rules = rs.rules();
    let captured: Vec<_> = rules.iter().filter(|r| !r.evt_types.is_empty()).collect();
    let by_exec_connect = captured
        .iter()
        .filter(|r| {
            r.evt_types
                .iter()
                .all(|t| matches!(t, EvtType::Execve | EvtType::Execveat | EvtType::Connect))
        })
        .count();
    println!(
        "official rules: {} loaded, {} for event types Lanner captures ({} of them driven by execve/execveat/connect), {} enabled, {} warnings",
        rules.len(),
        captured.len(),
        by_exec_connect,
        rules.iter().filter(|r| r.enabled).count(),
        loaded.warnings.len(),
    );
    for r in &captured {
        let types: Vec<_> = r.evt_types.iter().map(|t| t.name()).collect();
        println!("  {:<60} {}", r.name, types.join(","));
    }
    assert_eq!(rules.len(), 93);
    // Every one: 39 on exec and connect alone ("Schedule Cron Jobs" is an open rule too), 8 on
    // the privilege calls (ptrace, setuid, setns, unshare, init_module/finit_module, bpf,
    // userfaultfd), the rest on file opens, the file-tree changes (symlink, link, chmod,
    // unlink, rename, mkdir, ...) and the network family (the `outbound`/`inbound` macros
    // name sendto, accept, listen, ... beside connect).
    assert_eq!(captured.len(), 93);
    assert_eq!(by_exec_connect, 39);
}

#[test]
fn the_default_ruleset_loads() {
    let src = Source {
        name: Arc::from("lanner_rules.yaml"),
        text: crate::DEFAULT_RULES.to_string(),
    };
    let loaded = crate::load(&[src], &Options::default()).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert!(loaded.ruleset.active_count() > 10);
}

/// The rule index (event type, process-name narrowing) and the per-type specialisation give
/// exactly what trying every enabled rule on its own gives, in the same order.
#[test]
fn the_index_gives_what_trying_every_rule_gives() {
    use crate::{Matching, testing::MapEvent};
    let names = [
        "bash", "sh", "nc", "ncat", "ls", "apt", "curl", "kubectl", "sudo", "find", "grep",
        "debugfs", "xmrig", "mount", "useradd", "python3", "node", "base64",
    ];
    let mut events = Vec::new();
    for (i, name) in names.iter().enumerate() {
        for ty in [EvtType::Execve, EvtType::Execveat, EvtType::Connect] {
            for container in ["host", "0123456789ab"] {
                let ev = MapEvent::new(ty)
                    .str("evt.type", ty.name())
                    .str("evt.res", "SUCCESS")
                    .str("proc.name", name)
                    .str("proc.exe", name)
                    .str("proc.exepath", &format!("/usr/bin/{name}"))
                    .str(
                        "proc.cmdline",
                        &format!("{name} -e /bin/sh -c id /dev/shm/x"),
                    )
                    .str("proc.args", "-e /bin/sh -c id /dev/shm/x")
                    .str("proc.pname", names[(i + 1) % names.len()])
                    .str("proc.cwd", "/dev/shm/")
                    .uint("proc.tty", (i as u64 % 2) * 34816)
                    .str("container.id", container)
                    .str("user.name", "root")
                    .ip("fd.sip", "169.254.169.254")
                    .uint("fd.sport", 80)
                    .str("fd.typechar", "4")
                    .str("fd.l4proto", "tcp")
                    .ancestors(&["runc", "containerd-shim"]);
                events.push(ev);
            }
        }
    }
    let everything = Options {
        matching: Matching::All,
        ..Options::default()
    };
    // With Lanner's availability, events carry only what the sensor can fill for their type.
    let lanner = Options {
        available: crate::availability::lanner,
        ..everything.clone()
    };
    let only_available: Vec<MapEvent> = events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.values
                .retain(|(f, _), _| crate::availability::lanner(e.ty, *f));
            e
        })
        .collect();
    assert_same(&everything, &events);
    assert_same(&lanner, &only_available);
}

fn assert_same(options: &Options, events: &[crate::testing::MapEvent]) {
    let loaded = crate::load(&official_sources(), options).expect("official rules load");
    let rs = &loaded.ruleset;
    let mut fired = 0;
    for ev in events {
        let mut indexed = Vec::new();
        rs.evaluate(ev, |r| indexed.push(r.name.clone()));
        let brute: Vec<_> = rs
            .rules()
            .iter()
            .filter(|r| r.enabled && r.evt_types.contains(ev.ty) && r.matches(ev))
            .map(|r| r.name.clone())
            .collect();
        assert_eq!(
            indexed,
            brute,
            "{:?}",
            ev.values
                .get(&crate::fields::lookup("proc.name", None).unwrap())
        );
        fired += indexed.len();
    }
    assert!(fired > 20, "the sample events fire rules ({fired})");
}
