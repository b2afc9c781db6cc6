//! The enricher's interest: which events get a context.

use lanner_rules::{EvtSet, EvtType};
use lanner_tests::TempDir;

use super::*;
use crate::testutil::{exec, exit, fork};

fn names(e: &Enriched) -> Vec<&str> {
    e.ctx.process.lineage.iter().map(|a| &*a.name).collect()
}

#[test]
fn events_no_rule_reads_skip_their_context_and_still_update_the_table() {
    // An empty /proc: nothing seeded, no user tables (names are `<NA>` either way).
    let proc_root = TempDir::new("enrich-interest");
    let interest = Interest::new(EvtType::Execve.bit());
    let mut enricher = Enricher::new(
        proc_root.path(),
        100,
        1_000,
        interest.clone(),
        Arc::default(),
    );

    let bash = enricher.enrich(exec(1, 10, 1, "bash", &["bash"]));
    assert!(!bash.ctx.skipped);
    assert_eq!(names(&bash), ["bash"]);

    let forked = enricher.enrich(fork(2, 10, 11));
    assert!(forked.ctx.skipped, "no rule reads clone events");
    assert!(forked.ctx.process.lineage.is_empty());
    assert_eq!(forked.ctx.container, ContainerRef::Host);

    // The skipped fork still made the child: its exec knows its parent.
    let curl = enricher.enrich(exec(3, 11, 10, "curl", &["curl", "-s", "x"]));
    assert!(!curl.ctx.skipped);
    assert_eq!(names(&curl), ["curl", "bash"]);

    // Widened (a reload with a clone rule, or --dump-events): contexts again.
    interest.set(EvtSet::ALL);
    let forked = enricher.enrich(fork(4, 11, 12));
    assert!(!forked.ctx.skipped);
    assert_eq!(names(&forked), ["curl", "bash"]);
    interest.set(EvtType::Execve.bit());
    assert!(enricher.enrich(exit(5, 12)).ctx.skipped);
}

#[test]
fn interest_holds_any_set_of_types() {
    let interest = Interest::all();
    assert_eq!(interest.get(), EvtSet::ALL);
    let odd = EvtType::ALL
        .into_iter()
        .step_by(2)
        .fold(EvtSet::NONE, |s, t| s.union(t.bit()));
    for set in [EvtSet::NONE, odd, odd.complement(), EvtSet::ALL] {
        interest.set(set);
        assert_eq!(interest.get(), set);
        for t in EvtType::ALL {
            assert_eq!(interest.wants(t), set.contains(t), "{t:?}");
        }
    }
}
