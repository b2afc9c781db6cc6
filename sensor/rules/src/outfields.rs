//! An alert's `output_fields`: the rule's keys, sorted and distinct, fixed when the rule is
//! loaded and shared by all its alerts; the alert's values in the same order.
//!
//! An alert used to build a sorted map: a key copied and a tree insert (string comparisons)
//! per field, sixteen of them for a typical official rule, then a node freed per field. Each
//! field of a rule's output now knows its slot at load, so rendering writes the value in place.

use std::{ops::Index, sync::Arc};

use serde::{Serialize, Serializer, ser::SerializeMap as _};
use serde_json::{Map, Value as Json};

/// The keys of a rule's `output_fields`, sorted and distinct.
pub type Keys = Arc<[Box<str>]>;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutputFields {
    keys: Keys,
    /// `values[i]` belongs to `keys[i]`.
    values: Vec<Json>,
}

impl OutputFields {
    /// Every key present, null until set.
    pub(crate) fn new(keys: Keys) -> Self {
        let values = vec![Json::Null; keys.len()];
        Self { keys, values }
    }

    /// Set the value of `keys[slot]`; a later value replaces an earlier one.
    pub(crate) fn set(&mut self, slot: u32, value: Json) {
        if let Some(v) = self.values.get_mut(slot as usize) {
            *v = value;
        }
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        self.values.get(position(&self.keys, key)?)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// In key order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| &**k)
    }

    /// In key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json)> {
        self.keys().zip(&self.values)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Where `key` sits among `keys` (sorted, distinct).
fn position(keys: &[Box<str>], key: &str) -> Option<usize> {
    keys.binary_search_by(|k| (**k).cmp(key)).ok()
}

/// The slot of `key` among `keys` (sorted, distinct), which must hold it.
pub(crate) fn slot_of(keys: &[Box<str>], key: &str) -> u32 {
    position(keys, key).map_or(u32::MAX, |i| i as u32)
}

/// Sorted, distinct keys from `keys`.
pub(crate) fn keys_of<'a>(keys: impl Iterator<Item = &'a str>) -> Keys {
    let mut v: Vec<Box<str>> = keys.map(Box::from).collect();
    v.sort_unstable();
    v.dedup();
    v.into()
}

/// Fields built by hand (Lanner's own alerts, tests).
impl From<Map<String, Json>> for OutputFields {
    fn from(m: Map<String, Json>) -> Self {
        let mut pairs: Vec<(String, Json)> = m.into_iter().collect();
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let (keys, values): (Vec<Box<str>>, Vec<Json>) = pairs
            .into_iter()
            .map(|(k, v)| (k.into_boxed_str(), v))
            .unzip();
        Self {
            keys: keys.into(),
            values,
        }
    }
}

/// `fields["key"]`: null when the key is absent, as indexing a JSON object.
impl Index<&str> for OutputFields {
    type Output = Json;

    fn index(&self, key: &str) -> &Json {
        static NULL: Json = Json::Null;
        self.get(key).unwrap_or(&NULL)
    }
}

/// A JSON object, keys in order.
impl Serialize for OutputFields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_sit_under_their_keys_and_a_later_set_wins() {
        let keys = keys_of(["proc.name", "evt.time", "proc.name", "container.id"].into_iter());
        assert_eq!(
            &*keys,
            ["container.id", "evt.time", "proc.name"].map(Box::from)
        );
        let mut f = OutputFields::new(keys.clone());
        f.set(slot_of(&keys, "proc.name"), json!("bash"));
        f.set(slot_of(&keys, "evt.time"), json!(7));
        f.set(slot_of(&keys, "proc.name"), json!("sh"));
        assert_eq!(f["proc.name"], "sh");
        assert_eq!(f["evt.time"], 7);
        // Present, not set: null, as a missing field.
        assert!(f.contains_key("container.id"));
        assert_eq!(f["container.id"], Json::Null);
        assert!(!f.contains_key("user.name"));
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"container.id":null,"evt.time":7,"proc.name":"sh"}"#
        );
    }

    #[test]
    fn a_map_converts_sorted() {
        let mut m = Map::new();
        m.insert("n_evts".into(), json!("9"));
        m.insert("n_drops".into(), json!("1"));
        let f = OutputFields::from(m);
        assert_eq!(f.keys().collect::<Vec<_>>(), ["n_drops", "n_evts"]);
        assert_eq!(f["n_evts"], "9");
        assert_eq!(f.len(), 2);
    }
}
