//! `--dump-events`: one JSON object per event, a projection of the rules' field extraction.
//!
//! Its keys are the fields the availability table (`lanner_rules::availability`) gives the
//! event's type, each with the value the rules see (`EventView::extract`), typed as Falco's
//! JSON output types it; a value the event does not have is `null`, never omitted. So the dump
//! and the rules cannot disagree, and a new event type or field shows up here as soon as the
//! table and the extraction have it. What Falco has no field for is added under `lanner.*`
//! (docs/events.md lists every key).

use lanner_rules::{
    EventSource, Field, FieldArg, availability,
    fields::{ArgKind, flag},
};
use serde_json::{Map, Value as Json, json};

use crate::{
    enrich::{Enriched, PodContext},
    event::{Body, ExecSyscall, MountOp, Peer},
    rules::extract::EventView,
};

/// How a field appears in the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// Its value under its name.
    Value,
    /// An array over the lineage: element N is the field's `[N]` (`proc.aname`: 0 = the
    /// process itself, 1 = its parent, …).
    Column,
    /// `evt.arg.NAME` for each parameter of the event, and `evt.rawarg.NAME` for those that
    /// are numbers.
    Params,
    /// No key of its own.
    Omitted,
}

fn shape(field: Field) -> Shape {
    let def = field.def();
    if def.has(flag::ANY_ANCESTOR) {
        return Shape::Column;
    }
    match field {
        Field::EvtArg => Shape::Params,
        // With `evt.arg.*` (above); `evt.args` would repeat every parameter in one string.
        Field::EvtRawarg | Field::EvtArgs => Shape::Omitted,
        // `evt.time` in other renderings (the same nanoseconds), and an alias.
        Field::EvtTimeS
        | Field::EvtTimeIso8601
        | Field::EvtDatetime
        | Field::EvtDatetimeS
        | Field::EvtRawtime
        | Field::K8sPodId => Shape::Omitted,
        _ if def.has(flag::DEPRECATED) || def.has(flag::FILTER_ONLY) => Shape::Omitted,
        // `proc.args`, `proc.env`: the whole value.
        _ if def.arg == ArgKind::None || def.has(flag::OPTIONAL_ARG) => Shape::Value,
        // A key is required (`k8s.pod.label[KEY]`, `container.mount.dest[KEY]`): the whole is
        // another field (`k8s.pod.labels`, `container.mounts`).
        _ => Shape::Omitted,
    }
}

fn json_of(v: Option<lanner_rules::Value<'_>>) -> Json {
    v.map_or(Json::Null, |v| v.to_json())
}

/// The event's JSON object, over the view the rules evaluated (its values built once serve
/// both).
pub fn event_json(view: &EventView<'_>) -> Json {
    let mut m = Map::new();
    for field in availability::fields(view.evt_type()) {
        let name = field.name();
        match shape(field) {
            Shape::Value => {
                m.insert(name.into(), json_of(view.extract(field, &FieldArg::None)));
            }
            Shape::Column => {
                let column = (0..view.lineage_len())
                    .map(|n| json_of(view.extract(field, &FieldArg::Index(n as u32))))
                    .collect();
                m.insert(name.into(), Json::Array(column));
            }
            Shape::Params => params(&mut m, view),
            Shape::Omitted => {}
        }
    }
    lanner_keys(&mut m, view.ev);
    Json::Object(m)
}

/// `evt.arg.NAME` (text, as rules compare it) and, for a number, `evt.rawarg.NAME`.
fn params(m: &mut Map<String, Json>, view: &EventView<'_>) {
    for name in view.shown_params() {
        let key = FieldArg::Key(name.into());
        let text = json_of(view.extract(Field::EvtArg, &key));
        m.insert(format!("evt.arg.{name}"), text);
        if let Some(raw) = view.extract(Field::EvtRawarg, &key) {
            m.insert(format!("evt.rawarg.{name}"), raw.to_json());
        }
    }
}

/// What Falco has no field for: how the kernel saw the task, where the pod context came from,
/// argv exactly, and details of a few records.
fn lanner_keys(m: &mut Map<String, Json>, e: &Enriched) {
    let t = &e.event.task;
    m.insert("lanner.cgroup_id".into(), json!(t.cgroup_id));
    m.insert("lanner.cgroup".into(), json!(t.cgroup.as_deref()));
    let pod = match e.ctx.pod {
        PodContext::Host => "host",
        PodContext::Off => "off",
        PodContext::Pending => "pending",
        PodContext::Found(_) => "found",
    };
    m.insert("lanner.pod_context".into(), json!(pod));
    match &e.event.body {
        Body::Exec(x) => {
            m.insert("lanner.argv".into(), json!(x.argv()));
            m.insert("lanner.args_truncated".into(), json!(x.args_truncated));
            // Falco's `evt.arg.flags` of execveat is the exec's (EXE_*), like execve's; the
            // syscall's own AT_* flags have no field there.
            if x.syscall == ExecSyscall::Execveat {
                m.insert("lanner.at_flags".into(), json!(x.at_flags));
            }
        }
        Body::Mount(x) if x.op == MountOp::Mount => {
            m.insert("lanner.mount_flags".into(), json!(x.flags));
        }
        Body::Connect(c) => {
            if let Peer::Other(family) = c.peer {
                m.insert("lanner.sockaddr_family".into(), json!(family));
            }
        }
        Body::Open(o) => {
            m.insert(
                "lanner.path_read_at_exit".into(),
                json!(o.path.read_at_exit),
            );
        }
        Body::FileChange(c) => {
            m.insert(
                "lanner.path_read_at_exit".into(),
                json!(c.path.read_at_exit),
            );
        }
        Body::Fork(f) => {
            m.insert("lanner.child_pid".into(), json!(f.child_pid));
            m.insert("lanner.child_tid".into(), json!(f.child_tid));
            m.insert("lanner.is_thread".into(), json!(f.child_pid == t.pid));
        }
        Body::Privilege(p) => {
            if let Some(uargs) = p.uargs() {
                m.insert("lanner.uargs_truncated".into(), json!(uargs.truncated));
            }
        }
        // Every other event is all Falco fields.
        _ => {}
    }
}

#[cfg(test)]
#[path = "dump_tests.rs"]
mod tests;
