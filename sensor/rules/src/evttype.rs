//! Event types Lanner captures, by the names Falco's `evt.type` uses, and sets of them (the
//! rule index: an event only meets the rules whose condition can match its type).
//!
//! Each type is one row of `evt_types!` in `lanner_common::evttype` (shared with the kernel
//! programs, which key the prefilter's maps by type): its variant, its Falco name and the
//! other names Falco gives the same kernel event. A type is a row once Lanner captures it; the
//! names Falco knows but Lanner does not capture are in `falco_names` (a condition on them
//! loads, and never fires).

mod falco_names;

pub use falco_names::falco_knows;
pub use lanner_common::evttype::{COUNT, EvtSet, EvtType};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_in_all_in_order() {
        for (i, t) in EvtType::ALL.iter().enumerate() {
            assert_eq!(*t as usize, i, "{t:?}");
        }
    }

    #[test]
    fn every_name_is_one_types_and_falcos() {
        let mut seen = std::collections::HashSet::new();
        for t in EvtType::ALL {
            assert_eq!(t.names()[0], t.name());
            for n in t.names() {
                assert!(seen.insert(*n), "{n} names two types");
                assert_eq!(EvtType::from_name(n), Some(t));
                assert!(falco_knows(n), "Falco does not know {n}");
            }
        }
        assert_eq!(EvtType::from_name("open"), Some(EvtType::Open));
        assert_eq!(EvtType::from_name("mknod"), None, "known, not captured");
        assert_eq!(EvtType::from_name("some_invalid_event"), None);
    }

    #[test]
    fn set_operations() {
        let all = EvtSet::ALL;
        assert_eq!(all.iter().collect::<Vec<_>>(), EvtType::ALL);
        assert_eq!(all.complement(), EvtSet::NONE);
        assert_eq!(EvtSet::NONE.complement(), all);
        let exec = EvtType::Execve.bit().union(EvtType::Execveat.bit());
        assert!(exec.contains(EvtType::Execveat) && !exec.contains(EvtType::Clone));
        assert_eq!(exec.complement().union(exec), all);
        assert!(exec.complement().intersect(exec).is_empty());
        assert_eq!(EvtSet::from_bits(u128::MAX), all, "foreign bits dropped");
        assert_eq!(EvtSet::from_bits(exec.bits()), exec);
    }
}
