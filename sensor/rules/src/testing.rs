//! A plain event for tests and benchmarks: a type and a map of field values.

use std::{borrow::Cow, collections::HashMap, net::IpAddr, path::PathBuf, sync::Arc};

use crate::{
    event::{EventSource, FieldArg},
    evttype::EvtType,
    fields::{self, Field},
    loader::Source,
    value::Value,
};

#[derive(Clone, Debug)]
pub struct MapEvent {
    pub ty: EvtType,
    pub values: HashMap<(Field, FieldArg), Value<'static>>,
}

impl MapEvent {
    pub fn new(ty: EvtType) -> Self {
        Self {
            ty,
            values: HashMap::new(),
        }
    }

    fn key(name: &str, arg: Option<&str>) -> (Field, FieldArg) {
        fields::lookup(name, arg).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Set a field written as in a rule: `proc.name`, `evt.arg.flags`, `proc.aname[2]`.
    pub fn set(mut self, written: &str, v: Value<'static>) -> Self {
        let (name, arg) = match written.split_once('[') {
            Some((n, rest)) => (n, Some(rest.trim_end_matches(']'))),
            None => (written, None),
        };
        self.values.insert(Self::key(name, arg), v);
        self
    }

    pub fn str(self, written: &str, s: &str) -> Self {
        self.set(written, Value::Str(Cow::Owned(s.to_string())))
    }

    pub fn int(self, written: &str, n: i64) -> Self {
        self.set(written, Value::Int(n))
    }

    pub fn uint(self, written: &str, n: u64) -> Self {
        self.set(written, Value::Uint(n))
    }

    pub fn bool(self, written: &str, b: bool) -> Self {
        self.set(written, Value::Bool(b))
    }

    pub fn ip(self, written: &str, ip: &str) -> Self {
        let ip: IpAddr = ip.parse().expect("test IP");
        self.set(written, Value::Ip(ip))
    }

    /// The ancestors' names, parent first: `proc.aname[1]`, `[2]`, ….
    pub fn ancestors(mut self, names: &[&str]) -> Self {
        for (i, n) in names.iter().enumerate() {
            let key = Self::key("proc.aname", Some(&(i + 1).to_string()));
            self.values
                .insert(key, Value::Str(Cow::Owned(n.to_string())));
        }
        self
    }
}

impl EventSource for MapEvent {
    fn evt_type(&self) -> EvtType {
        self.ty
    }

    fn extract(&self, field: Field, arg: &FieldArg) -> Option<Value<'_>> {
        let v = self.values.get(&(field, arg.clone()))?;
        Some(match v {
            Value::Str(s) => Value::Str(Cow::Borrowed(s.as_ref())),
            other => other.clone(),
        })
    }
}

/// The official Falco rules files, in load order.
pub const OFFICIAL_FILES: [&str; 3] = [
    "falco_rules.yaml",
    "falco-incubating_rules.yaml",
    "falco-sandbox_rules.yaml",
];

/// The directory of the official Falco rules files (test data, not part of Lanner):
/// `$LANNER_FALCO_RULES_DIR`, else `/work/shared/falco-rules`, else `../shared/falco-rules` next
/// to the workspace. Panics when none holds them: a test must not pass without its data.
pub fn official_dir() -> PathBuf {
    let candidates = [
        std::env::var_os("LANNER_FALCO_RULES_DIR").map(PathBuf::from),
        Some(PathBuf::from("/work/shared/falco-rules")),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/falco-rules")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join(OFFICIAL_FILES[0]).is_file())
        .expect("the official Falco rules files: set LANNER_FALCO_RULES_DIR to their directory")
}

/// The three official files, in Falco's load order.
pub fn official_sources() -> Vec<Source> {
    let dir = official_dir();
    OFFICIAL_FILES
        .iter()
        .map(|f| {
            let path = dir.join(f);
            Source {
                name: Arc::from(path.display().to_string()),
                text: std::fs::read_to_string(&path).expect("readable rules file"),
            }
        })
        .collect()
}
