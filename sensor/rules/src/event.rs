//! What the engine needs from an event: its type and its fields. The sensor implements this
//! over its enriched events; tests and benchmarks implement it over plain maps.

use crate::{evttype::EvtType, fields::Field, value::Value};

/// The argument written after a field name: `proc.aname[2]`, `k8s.pod.label[app]`,
/// `evt.arg.flags` (dotted) or `evt.arg[0]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FieldArg {
    None,
    Index(u32),
    Key(String),
}

pub trait EventSource {
    /// The event's type (`evt.type`), among those Lanner captures.
    fn evt_type(&self) -> EvtType;

    /// The value of `field` with `arg`, or `None` when the event has no value for it (Falco's
    /// "missing": every comparison on it is false, text output prints `<NA>`, JSON `null`).
    ///
    /// Fields with "any ancestor" semantics (`proc.aname` without an index) are never asked
    /// without an index: the engine walks `Index(1)`, `Index(2)`, … until `None`.
    fn extract(&self, field: Field, arg: &FieldArg) -> Option<Value<'_>>;
}
