//! Typed access to the keys of one YAML map (a rules-file item, an exception, a plugin
//! requirement), with Falco's checks and messages (`rule_loader_reader.cpp` decode_val /
//! decode_seq), each error placed on the offending key or value.

use crate::{
    diag::{Diagnostic, Pos},
    yaml::{Node, NodeKind, YamlFile},
};

use super::model::Located;

/// One map being read: the file it is in, the node, and what it is (for messages).
pub(crate) struct MapReader<'y, 'a> {
    pub yaml: &'y YamlFile<'a>,
    pub node: &'y Node,
    /// "rule 'X'", "list 'X'", "exception 'X'", ...
    pub what: String,
}

impl<'y, 'a> MapReader<'y, 'a> {
    pub(crate) fn new(yaml: &'y YamlFile<'a>, node: &'y Node, what: impl Into<String>) -> Self {
        Self {
            yaml,
            node,
            what: what.into(),
        }
    }

    pub(crate) fn pos(&self) -> Pos {
        self.yaml.pos(self.node)
    }

    pub(crate) fn pos_of(&self, node: &Node) -> Pos {
        self.yaml.pos(node)
    }

    /// An error placed on `node`, naming the scalar it holds when short enough to be useful.
    pub(crate) fn error_at(&self, node: &Node, msg: impl Into<String>) -> Diagnostic {
        let d = Diagnostic::error(self.yaml.value_pos(node), msg);
        match node.as_str() {
            Some(s) if !s.is_empty() && s.len() <= 80 && !s.contains('\n') => d.with_token(s),
            _ => d,
        }
    }

    /// An error about the whole map.
    pub(crate) fn error(&self, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::error(self.pos(), msg)
    }

    /// Whether `key` is written (even with an empty value), as yaml-cpp's `IsDefined`.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.node.get(key).is_some()
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'y Node> {
        self.node.get(key)
    }

    pub(crate) fn key_node(&self, key: &str) -> Option<&'y Node> {
        self.node.entry(key).map(|(k, _)| k)
    }

    /// A warning for every key not in `known`, and for every key written twice (the first is
    /// used, as yaml-cpp's lookup does), at the key.
    pub(crate) fn warn_unknown_keys(&self, known: &[&str], warnings: &mut Vec<Diagnostic>) {
        let NodeKind::Map(entries) = &self.node.kind else {
            return;
        };
        let mut seen = std::collections::HashSet::new();
        for (k, _) in entries {
            let repeated = !seen.insert(k.as_str());
            match k.as_str() {
                Some(name) if repeated => warnings.push(
                    Diagnostic::warning(
                        self.pos_of(k),
                        format!(
                            "Key '{name}' written twice in {}; the first one is used",
                            self.what
                        ),
                    )
                    .with_token(name),
                ),
                Some(name) if known.contains(&name) => {}
                Some(name) => warnings.push(
                    Diagnostic::warning(
                        self.pos_of(k),
                        format!("Unknown key '{name}' in {}; ignored", self.what),
                    )
                    .with_token(name),
                ),
                None => warnings.push(Diagnostic::warning(
                    self.pos_of(k),
                    format!("Key that is not a string in {}; ignored", self.what),
                )),
            }
        }
    }

    /// A non-empty scalar under `key`; `None` when the key is absent and `optional`.
    pub(crate) fn scalar(
        &self,
        key: &str,
        optional: bool,
    ) -> Result<Option<(&'y Node, &'y str)>, Diagnostic> {
        let Some(val) = self.get(key) else {
            if optional {
                return Ok(None);
            }
            return Err(self.error(format!("Item has no mapping for key '{key}'")));
        };
        let s = match &val.kind {
            NodeKind::Null => {
                return Err(self
                    .error_at(val, format!("Mapping for key '{key}' is empty"))
                    .with_token(key));
            }
            NodeKind::Scalar { value, .. } => value.as_str(),
            _ => {
                return Err(self.error_at(
                    val,
                    format!(
                        "Value for key '{key}' is not a scalar value (it is {})",
                        val.kind_name()
                    ),
                ));
            }
        };
        if s.is_empty() {
            return Err(self.error_at(val, format!("Value for key '{key}' must be non-empty")));
        }
        Ok(Some((val, s)))
    }

    /// A non-empty scalar under `key`, which must be written.
    pub(crate) fn required(&self, key: &str) -> Result<(&'y Node, &'y str), Diagnostic> {
        self.scalar(key, false)?
            .ok_or_else(|| self.error(format!("Item has no mapping for key '{key}'")))
    }

    pub(crate) fn string(&self, key: &str, optional: bool) -> Result<Option<String>, Diagnostic> {
        Ok(self.scalar(key, optional)?.map(|(_, s)| s.to_string()))
    }

    /// A string with the map to where each of its characters was written.
    pub(crate) fn located(&self, key: &str, optional: bool) -> Result<Option<Located>, Diagnostic> {
        Ok(self.scalar(key, optional)?.map(|(node, s)| Located {
            text: s.to_string(),
            map: self.yaml.text_map(node),
        }))
    }

    /// A boolean, spelled as yaml-cpp accepts it (`true`, `yes`, `on`, ... in three cases).
    pub(crate) fn bool(&self, key: &str, optional: bool) -> Result<Option<bool>, Diagnostic> {
        let Some((node, s)) = self.scalar(key, optional)? else {
            return Ok(None);
        };
        parse_bool(s).map(Some).ok_or_else(|| {
            self.error_at(
                node,
                format!("Can't decode YAML scalar value for key '{key}': expected a boolean"),
            )
        })
    }

    /// A non-negative integer (only validated: `capture_duration`).
    pub(crate) fn unsigned(&self, key: &str) -> Result<Option<u64>, Diagnostic> {
        let Some((node, s)) = self.scalar(key, true)? else {
            return Ok(None);
        };
        s.parse::<u64>().map(Some).map_err(|_| {
            self.error_at(
                node,
                format!("Can't decode YAML scalar value for key '{key}': expected an integer"),
            )
        })
    }

    /// A sequence of scalars (`items`, `tags`).
    pub(crate) fn strings(
        &self,
        key: &str,
        optional: bool,
    ) -> Result<Option<Vec<String>>, Diagnostic> {
        let Some(val) = self.get(key) else {
            if optional {
                return Ok(None);
            }
            return Err(self.error(format!("Item has no mapping for key '{key}'")));
        };
        let NodeKind::Seq(items) = &val.kind else {
            let d = self.error_at(
                val,
                format!(
                    "Value for key '{key}' is not a sequence (it is {})",
                    val.kind_name()
                ),
            );
            return Err(if val.is_null() { d.with_token(key) } else { d });
        };
        items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    self.error_at(
                        v,
                        format!(
                            "Sequence value for key '{key}' is not scalar (it is {})",
                            v.kind_name()
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

/// yaml-cpp's `convert<bool>`: `y yes true on` / `n no false off`, each in lower case, upper
/// case or capitalized.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    const TRUE: [&str; 4] = ["y", "yes", "true", "on"];
    const FALSE: [&str; 4] = ["n", "no", "false", "off"];
    let lower = s.to_ascii_lowercase();
    let spelled_ok = s == lower || s == s.to_ascii_uppercase() || {
        let mut c = lower.chars();
        c.next()
            .is_some_and(|f| s == format!("{}{}", f.to_ascii_uppercase(), c.as_str()))
    };
    if !spelled_ok {
        return None;
    }
    if TRUE.contains(&lower.as_str()) {
        Some(true)
    } else if FALSE.contains(&lower.as_str()) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bool;

    #[test]
    fn booleans_as_yaml_cpp_spells_them() {
        for t in ["true", "True", "TRUE", "yes", "on", "Y"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "False", "NO", "off", "n"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["tRUE", "1", "", "enabled"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }
}
