//! `lanner.path_truncated`: the event's own paths and the process's (from the table), the same
//! answer as the event's JSON.

use std::sync::Arc;

use lanner_rules::Value;

use super::{enriched, exec_body, get, in_container, mount_body};
use crate::{
    enrich::{Enriched, PodContext},
    event::{Body, Exit, Image, MountOp, Text},
    output::dump::event_json,
    rules::extract::EventView,
};

fn cut(v: &str) -> Text {
    Text {
        value: Some(v.into()),
        truncated: true,
    }
}

/// The field, checked against the event's JSON.
fn flag(e: &Enriched) -> bool {
    let Some(Value::Bool(b)) = get(e, "lanner.path_truncated") else {
        panic!("lanner.path_truncated is a bool on every event")
    };
    assert_eq!(
        event_json(&EventView::new(e, 0))["lanner.path_truncated"],
        b,
        "JSON"
    );
    b
}

/// The process's image in the table, with a cut working directory.
fn cut_cwd_in_table(e: &mut Enriched) {
    let mut lineage: Vec<_> = e.ctx.process.lineage.to_vec();
    let mut image = Image::new(
        lineage[0].name.clone(),
        lineage[0].exe.clone(),
        lineage[0].exepath.clone(),
        lineage[0].args.clone(),
        Some("/dev/shm/x//…//e/".into()),
    );
    image.cwd_truncated = true;
    lineage[0].image = Arc::new(image);
    e.ctx.process.lineage = lineage.into();
}

#[test]
fn an_event_with_whole_paths_is_not_flagged() {
    for body in [
        Body::Exec(exec_body(0)),
        Body::Exec(exec_body(-2)),
        mount_body(MountOp::Mount, 0),
        Body::Exit(Exit { exit_code: 0 }),
    ] {
        assert!(!flag(&enriched(body, in_container(), PodContext::Off)));
    }
}

#[test]
fn a_cut_path_of_the_event_flags_it() {
    let mut exec = exec_body(0);
    let mut image = Image::from_argv(
        "payload".into(),
        vec!["./payload".into()],
        Some("/dev/shm/x//…//e/payload".into()),
        Some("/dev/shm/x/".into()),
    );
    image.exepath_truncated = true;
    exec.image = Arc::new(image);
    let e = enriched(Body::Exec(exec), in_container(), PodContext::Off);
    assert!(flag(&e));
    assert_eq!(
        get(&e, "proc.exepath"),
        Some(Value::Str("/dev/shm/x//…//e/payload".into()))
    );

    let mut exec = exec_body(-36);
    exec.filename = cut("/very/long//…");
    assert!(flag(&enriched(
        Body::Exec(exec),
        in_container(),
        PodContext::Off
    )));

    let Body::Mount(mut m) = mount_body(MountOp::Mount, 0) else {
        unreachable!()
    };
    m.target = cut("/mnt/aaaa//…");
    assert!(flag(&enriched(
        Body::Mount(m),
        in_container(),
        PodContext::Off
    )));
}

/// Events that show the process's paths from the table are flagged when those were cut; a
/// successful exec shows its new image instead, whatever the table held before.
#[test]
fn the_process_s_cut_paths_flag_its_other_events() {
    for body in [
        mount_body(MountOp::Umount2, 0),
        Body::Exit(Exit { exit_code: 0 }),
        Body::Exec(exec_body(-2)),
    ] {
        let mut e = enriched(body, in_container(), PodContext::Off);
        cut_cwd_in_table(&mut e);
        assert!(flag(&e), "{:?}", e.event.body.evt_type());
    }
    let mut e = enriched(Body::Exec(exec_body(0)), in_container(), PodContext::Off);
    cut_cwd_in_table(&mut e);
    assert!(!flag(&e));
}
