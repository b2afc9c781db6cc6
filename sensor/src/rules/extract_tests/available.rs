//! The engine's availability table (`lanner_rules::availability`) against the extraction.

use lanner_rules::{EventSource, FieldArg};

use super::{
    EPOCH, enriched, exec_body, exec_in_pod, file, in_container, mount_body, net, net_fd, privilege,
};
use crate::{
    container::ContainerRef,
    enrich::PodContext,
    event::{Body, Exit, Fork, MountOp},
    rules::extract::EventView,
};

/// Every field the extraction fills on a sample of each event type is one the engine is told
/// Lanner can fill (`lanner_rules::availability::lanner`): the ruleset settles checks on the
/// others at load time, so a field missing from that table would silently never match.
#[test]
fn extraction_fills_only_fields_claimed_available() {
    use lanner_rules::{availability, fields::FIELDS};
    let samples = vec![
        exec_in_pod(),
        enriched(Body::Exec(exec_body(-2)), in_container(), PodContext::Off),
        enriched(
            mount_body(MountOp::Mount, 1 << 12),
            ContainerRef::Host,
            PodContext::Host,
        ),
        enriched(
            mount_body(MountOp::Umount2, 0),
            in_container(),
            PodContext::Off,
        ),
        enriched(
            Body::Fork(Fork {
                child_pid: 5,
                child_tid: 5,
            }),
            in_container(),
            PodContext::Off,
        ),
        enriched(
            Body::Exit(Exit { exit_code: 0 }),
            in_container(),
            PodContext::Off,
        ),
        net::sample_connect(),
        file::sample_open(),
        enriched(
            file::open_body(
                crate::event::OpenSyscall::Creat,
                "x",
                &crate::fspath::Base::Unknown,
                0,
                0o755,
                -2,
            ),
            in_container(),
            PodContext::Off,
        ),
    ]
    .into_iter()
    .chain(super::file_change::samples())
    .chain(privilege::samples())
    .chain(net_fd::samples())
    .collect::<Vec<_>>();
    let args = [
        FieldArg::None,
        FieldArg::Index(0),
        FieldArg::Index(1),
        FieldArg::Key("flags".into()),
        FieldArg::Key("PATH".into()),
        FieldArg::Key("app".into()),
        FieldArg::Key("/".into()),
    ];
    for e in &samples {
        let view = EventView::new(e, EPOCH).with_hostname("node-1");
        let ty = view.evt_type();
        for def in FIELDS {
            let filled = args.iter().any(|a| view.extract(def.field, a).is_some());
            assert!(
                !filled || availability::lanner(ty, def.field),
                "{} is filled on {} but not claimed available",
                def.name,
                ty.name()
            );
        }
    }
}
