//! The prefilter as the sensor runs it: which event types' kernel programs consult the maps,
//! with what each decides on (`kernel_probe`), and for a ruleset the filters and the maps
//! (`plan`) — what the loader writes, `-L` shows and `/metrics` counts.

use lanner_common::file_change::ChangeOp;

use super::{Options, Probe, TypeFilter, derive_all, maps::Maps};
use crate::{evttype::EvtType, ruleset::Ruleset};

/// What the kernel program of type `t` decides on, for the types whose programs consult the
/// prefilter (`sensor-ebpf/src/probes/file.rs`, `file_change.rs`, `net_fd.rs`, `net.rs`); `None`: the program
/// sends every event of the type (exec, fork and exit feed the process table and are never
/// filtered).
pub fn kernel_probe(t: EvtType) -> Option<Probe> {
    use EvtType as T;
    Some(match t {
        T::Open | T::Openat | T::Openat2 | T::Creat => Probe::FILE_OPEN,
        T::Socket => Probe::SOCKET,
        T::Dup | T::Dup2 | T::Dup3 => Probe::NEW_FD,
        T::Accept | T::Accept4 => Probe::ACCEPT,
        T::Listen => Probe::USES_FD,
        T::Sendto | T::Sendmsg | T::Recvfrom | T::Recvmsg => Probe::IO,
        T::Connect => Probe::CONNECT,
        // The task, the first path (under the name of its parameter), the result.
        t => Probe::file_change(ChangeOp::of_evt_type(t)?),
    })
}

/// The filters of the types the kernel can filter, and their maps.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Every type with a `kernel_probe`, in type order. A type that did not fit the maps
    /// passes (`PassReason::OverBudget`).
    pub filters: Vec<(EvtType, TypeFilter)>,
    pub maps: Maps,
}

/// The kernel's part for `rs` (`dump_events`: every type passes whole).
pub fn plan(rs: &Ruleset, dump_events: bool) -> Plan {
    let opts = Options {
        dump_events,
        ..Options::default()
    };
    let types = EvtType::ALL
        .into_iter()
        .filter(|t| kernel_probe(*t).is_some());
    let mut filters = derive_all(rs, types, |t| kernel_probe(t).unwrap_or(Probe::TASK), &opts);
    let maps = Maps::build(&mut filters);
    Plan { filters, maps }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Options as EngineOptions,
        prefilter::{PassReason, maps::MODE_PASS},
        testing::official_sources,
    };

    /// The official files as the sensor loads them (its availability table).
    fn official() -> Ruleset {
        let opts = EngineOptions {
            available: crate::availability::lanner,
            ..EngineOptions::default()
        };
        match crate::load(&official_sources(), &opts) {
            Ok(l) => l.ruleset,
            Err(e) => panic!("{}", e.len()),
        }
    }

    #[test]
    fn dump_events_passes_every_type_whole() {
        let p = plan(&official(), true);
        assert_eq!(p.filters.len(), 31);
        for (t, f) in &p.filters {
            assert_eq!(f.pass_reasons(), [PassReason::DumpEvents], "{t:?}");
        }
        assert!(p.maps.headers.iter().all(|(_, h)| h.mode == MODE_PASS));
        assert!(p.maps.terms.is_empty() && p.maps.prefix.is_empty());
    }

    /// With the official rules, the opens are filtered in the kernel (not passed whole): the
    /// point of the prefilter. Which types of the network family pass, and why, is `-L`'s.
    #[test]
    fn the_official_rules_filter_the_opens() {
        let p = plan(&official(), false);
        for t in [EvtType::Open, EvtType::Openat, EvtType::Openat2] {
            let f = &p.filters.iter().find(|(x, _)| *x == t).expect("planned").1;
            assert!(matches!(f, TypeFilter::Filter(_)), "{t:?}: {f:?}");
        }
        let headers = p.maps.headers.iter().filter(|(_, h)| h.mode != MODE_PASS);
        assert!(headers.count() >= 3);
    }

    /// The `uses` bits of type `t`'s header, which must be a filter's.
    fn filter_uses(rs: &Ruleset, t: EvtType) -> u8 {
        let p = plan(rs, false);
        let h = p
            .maps
            .headers
            .iter()
            .find(|(x, _)| *x == t as u16)
            .expect("a header")
            .1;
        assert_eq!(h.mode, crate::prefilter::maps::MODE_FILTER, "{t:?}");
        h.uses
    }

    /// The second look at exit is skipped only where no term tests what the exit learns: the
    /// official open rules test the result and the kind, their unlink rules neither.
    #[test]
    fn only_types_whose_terms_test_the_result_or_kind_decide_again_at_exit() {
        use crate::prefilter::maps::USES_EXIT_FACTS;
        let official = official();
        let uses = |t: EvtType| filter_uses(&official, t) & USES_EXIT_FACTS != 0;
        assert!(uses(EvtType::Openat));
        assert!(!uses(EvtType::Unlink) && !uses(EvtType::Unlinkat));
    }

    /// dup2 and dup3 are decided at entry on `newfd` only where no term admits a failure:
    /// the official reverse-shell rule wants a result in 0..=2; a rule without a result test
    /// or with a negative one admits failures.
    #[test]
    fn a_type_admits_failures_when_a_term_has_no_result_test_or_a_negative_one() {
        use crate::prefilter::maps::USES_FAILURES;
        let fails = |rs: &Ruleset, t: EvtType| filter_uses(rs, t) & USES_FAILURES != 0;
        let official = official();
        assert!(!fails(&official, EvtType::Dup2) && !fails(&official, EvtType::Dup3));
        let rule = |cond: &str| {
            crate::prefilter::world::load_text(&format!(
                "- rule: r\n  desc: d\n  condition: evt.type = dup2 and proc.name = x and {cond}\n  output: o\n  priority: WARNING\n"
            ))
        };
        assert!(!fails(&rule("evt.rawres >= 0"), EvtType::Dup2));
        assert!(fails(&rule("evt.rawres < 0"), EvtType::Dup2));
        assert!(fails(&rule("evt.res != SUCCESS"), EvtType::Dup2));
        assert!(fails(&rule("proc.name != y"), EvtType::Dup2));
    }

    /// The header's gates hold every entry's byte (a lookup they skip could match nothing),
    /// and the terms that need no path come first, `n_free` of them.
    #[test]
    fn gates_hold_every_entry_and_path_free_terms_come_first() {
        use lanner_common::prefilter::in_gate;
        let p = plan(&official(), false);
        for (t, h) in &p.maps.headers {
            let of_type = |k: &crate::prefilter::maps::LpmKey| k.data[..2] == t.to_be_bytes();
            let gated = |gate: &[u64; 4], keys: &[(crate::prefilter::maps::LpmKey, u64)], at| {
                keys.iter().filter(|(k, _)| of_type(k)).all(|(k, _)| {
                    match (k.bytes().get(at), k.bytes().get(at + 1)) {
                        (Some(&a), Some(&b)) => in_gate(gate, a, b),
                        (Some(&a), None) => (0..=255).all(|b| in_gate(gate, a, b)),
                        (None, _) => *gate == [u64::MAX; 4],
                    }
                })
            };
            assert!(gated(&h.prefix_gate, &p.maps.prefix, 1), "{t}");
            assert!(gated(&h.suffix_gate, &p.maps.suffix, 0), "{t}");
            assert!(gated(&h.dir_gate, &p.maps.dirs, 1), "{t}");
            let terms = &p.maps.terms[h.first as usize..][..usize::from(h.n_terms)];
            let free = usize::from(h.n_free);
            assert!(terms[..free].iter().all(|k| k.path_need == 0), "{t}");
            assert!(terms[free..].iter().all(|k| k.path_need != 0), "{t}");
        }
        let open = p
            .maps
            .headers
            .iter()
            .find(|(t, _)| *t == EvtType::Openat as u16);
        assert!(open.is_some_and(|(_, h)| h.prefix_gate != [u64::MAX; 4]));
    }
}
