//! `fieldSelector` and `labelSelector` applied to Pods the way the API server does.

use serde_json::Value;

/// The pod fields the fake can select on (a subset of what a real server supports for Pods; any
/// other is refused with the real server's message).
const FIELDS: &[(&str, &[&str])] = &[
    ("metadata.name", &["metadata", "name"]),
    ("metadata.namespace", &["metadata", "namespace"]),
    ("spec.nodeName", &["spec", "nodeName"]),
    ("status.phase", &["status", "phase"]),
    ("status.podIP", &["status", "podIP"]),
];

enum Label {
    Eq(String, String),
    /// `!=` also matches objects without the label.
    Ne(String, String),
    Exists(String),
    Absent(String),
}

pub(super) struct Selector {
    namespace: Option<String>,
    /// (path, equal?, value); a missing field compares as `""`.
    fields: Vec<(&'static [&'static str], bool, String)>,
    labels: Vec<Label>,
}

impl Selector {
    pub(super) fn parse(
        namespace: Option<&str>,
        fields: Option<&str>,
        labels: Option<&str>,
    ) -> Result<Selector, String> {
        let mut sel = Selector {
            namespace: namespace.map(str::to_owned),
            fields: Vec::new(),
            labels: Vec::new(),
        };
        for term in fields
            .unwrap_or_default()
            .split(',')
            .filter(|t| !t.is_empty())
        {
            let (field, eq, value) = split_op(term)
                .ok_or_else(|| format!("invalid selector: '{term}'; can't understand '{term}'"))?;
            let path = FIELDS
                .iter()
                .find(|(name, _)| *name == field)
                .map(|(_, path)| *path)
                .ok_or_else(|| format!("field label not supported: {field}"))?;
            sel.fields.push((path, eq, value.to_owned()));
        }
        for term in labels
            .unwrap_or_default()
            .split(',')
            .filter(|t| !t.is_empty())
        {
            let term = term.trim();
            if term.contains(' ') || term.contains('(') {
                return Err(format!(
                    "set-based label selector {term:?} is not supported by the fake"
                ));
            }
            sel.labels
                .push(match (term.strip_prefix('!'), split_op(term)) {
                    (Some(key), _) => Label::Absent(key.to_owned()),
                    (None, Some((k, true, v))) => Label::Eq(k.to_owned(), v.to_owned()),
                    (None, Some((k, false, v))) => Label::Ne(k.to_owned(), v.to_owned()),
                    (None, None) => Label::Exists(term.to_owned()),
                });
        }
        Ok(sel)
    }

    pub(super) fn matches(&self, pod: &Value) -> bool {
        let md = &pod["metadata"];
        if let Some(ns) = &self.namespace
            && md["namespace"].as_str() != Some(ns)
        {
            return false;
        }
        let fields_ok = self.fields.iter().all(|(path, eq, want)| {
            let v = path.iter().fold(pod, |v, p| &v[*p]);
            let have = match v {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                _ => String::new(),
            };
            (have == *want) == *eq
        });
        let label = |k: &str| md["labels"][k].as_str();
        fields_ok
            && self.labels.iter().all(|l| match l {
                Label::Eq(k, v) => label(k) == Some(v),
                Label::Ne(k, v) => label(k) != Some(v),
                Label::Exists(k) => label(k).is_some(),
                Label::Absent(k) => label(k).is_none(),
            })
    }
}

/// `a!=b`, `a==b`, `a=b` → (a, equal?, b).
fn split_op(term: &str) -> Option<(&str, bool, &str)> {
    if let Some((k, v)) = term.split_once("!=") {
        return Some((k.trim(), false, v.trim()));
    }
    let (k, v) = term.split_once("==").or_else(|| term.split_once('='))?;
    Some((k.trim(), true, v.trim()))
}
