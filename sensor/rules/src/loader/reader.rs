//! One top-level YAML item → a typed item, with Falco's validation (`falco:
//! rule_loader_reader.cpp` read_item): which kind it is, required and optional keys, their
//! types, `append` / `override` and their rules. Nothing here looks at earlier items; that is
//! `collect`'s job.

use std::collections::BTreeSet;

use crate::{
    diag::{Diagnostic, Pos},
    priority::Priority,
    yaml::{Node, NodeKind, YamlFile},
};

use super::{
    decode::MapReader,
    exceptions::{self, Exception},
    located::trimmed,
    model::Located,
    version::{self, Version},
};

pub(crate) const WARNING_APPEND: &str = "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.";
pub(crate) const WARNING_ENABLED: &str = "The standalone 'enabled' key usage is deprecated. The correct approach requires also a 'replace' entry under the 'override' key (i.e. 'enabled: replace').";
pub(crate) const ERROR_OVERRIDE_APPEND: &str = "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.";

const LIST_KEYS: &[&str] = &["list", "items", "append", "override"];
const MACRO_KEYS: &[&str] = &["macro", "condition", "append", "override"];
const RULE_KEYS: &[&str] = &[
    "rule",
    "condition",
    "output",
    "desc",
    "priority",
    "source",
    "enabled",
    "tags",
    "exceptions",
    "capture",
    "capture_duration",
    "warn_evttypes",
    "skip-if-unknown-filter",
    "append",
    "override",
];
/// Keys of a rule that `override: {key: append}` may name.
const RULE_APPENDABLE: &[&str] = &["condition", "output", "desc", "tags", "exceptions"];
/// Keys of a rule that `override: {key: replace}` may name.
const RULE_REPLACEABLE: &[&str] = &[
    "condition",
    "output",
    "desc",
    "priority",
    "tags",
    "exceptions",
    "enabled",
    "capture",
    "capture_duration",
    "warn_evttypes",
    "skip-if-unknown-filter",
];

#[derive(Debug)]
pub(crate) enum Item {
    EngineVersion {
        version: Version,
        written: String,
        pos: Pos,
    },
    /// Validated, then ignored: Lanner has no plugins.
    PluginVersions,
    List(ListItem),
    Macro(MacroItem),
    Rule(RuleItem),
    /// Warned about.
    Unknown,
}

#[derive(Debug)]
pub(crate) struct ListItem {
    pub name: String,
    pub pos: Pos,
    pub items: Vec<String>,
    /// `append: true` or `override: {items: append}`.
    pub append: bool,
}

#[derive(Debug)]
pub(crate) struct MacroItem {
    pub name: String,
    pub pos: Pos,
    pub condition: Located,
    pub append: bool,
}

#[derive(Debug)]
pub(crate) enum RuleItem {
    Define(Box<RuleSpec>),
    Update(Box<RuleUpdate>),
    /// A rule item with only a name and `enabled` (deprecated form).
    Toggle {
        name: String,
        pos: Pos,
        enabled: bool,
    },
}

/// A full rule definition.
#[derive(Debug)]
pub(crate) struct RuleSpec {
    pub name: String,
    pub pos: Pos,
    pub condition: Located,
    pub output: Located,
    pub desc: String,
    pub priority: Priority,
    pub tags: BTreeSet<String>,
    pub source: String,
    pub enabled: bool,
    pub skip_if_unknown_filter: bool,
    pub exceptions: Vec<Exception>,
}

/// Changes to an existing rule: `append: true` (legacy), or `override` with keys to append to
/// and keys to replace (appends are applied first).
#[derive(Debug)]
pub(crate) struct RuleUpdate {
    pub name: String,
    pub pos: Pos,
    pub append: Option<RuleChange>,
    pub replace: Option<RuleChange>,
}

#[derive(Debug, Default)]
pub(crate) struct RuleChange {
    pub condition: Option<Located>,
    pub output: Option<Located>,
    pub desc: Option<String>,
    pub tags: Option<BTreeSet<String>>,
    pub exceptions: Option<Vec<Exception>>,
    pub priority: Option<Priority>,
    pub enabled: Option<bool>,
    pub skip_if_unknown_filter: Option<bool>,
}

impl RuleChange {
    pub(crate) fn is_empty(&self) -> bool {
        self.condition.is_none()
            && self.output.is_none()
            && self.desc.is_none()
            && self.tags.is_none()
            && self.exceptions.is_none()
            && self.priority.is_none()
            && self.enabled.is_none()
            && self.skip_if_unknown_filter.is_none()
    }
}

/// Read one item of a document's top-level sequence (not null: those are skipped).
pub(crate) fn read_item(
    yaml: &YamlFile<'_>,
    node: &Node,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Item, Diagnostic> {
    if !matches!(node.kind, NodeKind::Map(_)) {
        return Err(Diagnostic::error(
            yaml.pos(node),
            "Unexpected element type. Each element should be a yaml associative array.",
        ));
    }
    // Falco decides the kind by the first of these keys present, in this order.
    let r = MapReader::new(yaml, node, "item");
    if r.has("required_engine_version") {
        let r = MapReader::new(yaml, node, "required_engine_version");
        let (version, written, pos) = version::read_engine_version(&r, warnings)?;
        Ok(Item::EngineVersion {
            version,
            written,
            pos,
        })
    } else if r.has("required_plugin_versions") {
        let r = MapReader::new(yaml, node, "required_plugin_versions");
        version::read_plugin_versions(&r, warnings)?;
        Ok(Item::PluginVersions)
    } else if r.has("list") {
        read_list(yaml, node, warnings).map(Item::List)
    } else if r.has("macro") {
        read_macro(yaml, node, warnings).map(Item::Macro)
    } else if r.has("rule") {
        read_rule(yaml, node, warnings).map(Item::Rule)
    } else {
        let first = match &node.kind {
            NodeKind::Map(entries) => entries.first().and_then(|(k, _)| k.as_str()),
            _ => None,
        };
        let d = Diagnostic::warning(yaml.pos(node), "Unknown top level item");
        warnings.push(match first {
            Some(k) => d.with_token(k),
            None => d,
        });
        Ok(Item::Unknown)
    }
}

/// `[^()"'[:space:]=,]+`: what the condition parser reads as one bare word.
fn is_bare_word(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| matches!(c, '(' | ')' | '"' | '\'' | '=' | ',') || c.is_whitespace())
}

/// `[a-zA-Z]+[a-zA-Z0-9_]*`
fn is_identifier(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `override` of a list or macro, whose only overridable key is `key`: whether it appends.
fn single_key_override(r: &MapReader<'_, '_>, key: &str) -> Result<Option<bool>, Diagnostic> {
    let (append, replace) = read_override(r, &[key], &[key])?;
    Ok(if append.is_empty() && replace.is_empty() {
        None
    } else {
        Some(!append.is_empty())
    })
}

/// The legacy `append` flag (a deprecation warning when true).
fn append_flag(r: &MapReader<'_, '_>, warnings: &mut Vec<Diagnostic>) -> Result<bool, Diagnostic> {
    let append = r.bool("append", true)?.unwrap_or(false);
    if append {
        let at = r
            .key_node("append")
            .map_or_else(|| r.pos(), |k| r.pos_of(k));
        warnings.push(Diagnostic::warning(at, WARNING_APPEND));
    }
    Ok(append)
}

fn read_list(
    yaml: &YamlFile<'_>,
    node: &Node,
    warnings: &mut Vec<Diagnostic>,
) -> Result<ListItem, Diagnostic> {
    let name = MapReader::new(yaml, node, "list")
        .string("list", false)?
        .unwrap_or_default();
    let r = MapReader::new(yaml, node, format!("list '{name}'"));
    r.warn_unknown_keys(LIST_KEYS, warnings);
    if !is_bare_word(&name) {
        warnings.push(
            Diagnostic::warning(
                r.pos(),
                "List has an invalid name. List names should match a regular expression: ([^()\"'[:space:]=,]+)",
            )
            .with_token(name.as_str()),
        );
    }
    let items = r.strings("items", false)?.unwrap_or_default();
    let mut append = append_flag(&r, warnings)?;
    let over = single_key_override(&r, "items")?;
    if append && over.is_some() {
        return Err(r.error(ERROR_OVERRIDE_APPEND));
    }
    append |= over == Some(true);
    Ok(ListItem {
        name,
        pos: r.pos(),
        items,
        append,
    })
}

fn read_macro(
    yaml: &YamlFile<'_>,
    node: &Node,
    warnings: &mut Vec<Diagnostic>,
) -> Result<MacroItem, Diagnostic> {
    let name = MapReader::new(yaml, node, "macro")
        .string("macro", false)?
        .unwrap_or_default();
    let r = MapReader::new(yaml, node, format!("macro '{name}'"));
    r.warn_unknown_keys(MACRO_KEYS, warnings);
    if !is_identifier(&name) {
        warnings.push(
            Diagnostic::warning(
                r.pos(),
                "Macro has an invalid name. Macro names should match a regular expression: ([a-zA-Z]+[a-zA-Z0-9_]*)",
            )
            .with_token(name.as_str()),
        );
    }
    let condition = r.located("condition", false)?.unwrap_or_default();
    let mut append = append_flag(&r, warnings)?;
    let over = single_key_override(&r, "condition")?;
    if append && over.is_some() {
        return Err(r.error(ERROR_OVERRIDE_APPEND));
    }
    append |= over == Some(true);
    Ok(MacroItem {
        name,
        pos: r.pos(),
        condition,
        append,
    })
}

/// The `override` map: the keys to append to and the keys to replace.
fn read_override(
    r: &MapReader<'_, '_>,
    appendable: &[&str],
    replaceable: &[&str],
) -> Result<(Vec<String>, Vec<String>), Diagnostic> {
    let (mut append, mut replace) = (Vec::new(), Vec::new());
    let Some(val) = r.get("override") else {
        return Ok((append, replace));
    };
    let entries = match &val.kind {
        NodeKind::Null => return Ok((append, replace)),
        NodeKind::Map(entries) => entries,
        _ => {
            return Err(r.error_at(
                val,
                format!(
                    "Value for key 'override' is not a mapping (it is {})",
                    val.kind_name()
                ),
            ));
        }
    };
    for (k, op) in entries {
        let Some(key) = k.as_str() else {
            return Err(r.error_at(k, "Keys under 'override' must be strings"));
        };
        let key_err = |msg: String| r.error_at(k, msg).with_token(key);
        match op.as_str() {
            Some("append") if !appendable.contains(&key) => {
                return Err(key_err(format!(
                    "Key '{key}' cannot be appended to, use 'replace' instead"
                )));
            }
            Some("append") => append.push(key.to_string()),
            Some("replace") if !replaceable.contains(&key) => {
                return Err(key_err(format!("Key '{key}' cannot be replaced")));
            }
            Some("replace") => replace.push(key.to_string()),
            other => {
                let mut allowed = Vec::new();
                if appendable.contains(&key) {
                    allowed.push("append");
                }
                if replaceable.contains(&key) {
                    allowed.push("replace");
                }
                return Err(r.error_at(
                    op,
                    format!(
                        "Invalid override operation for key '{key}': '{}'. Allowed values are: {}",
                        other.unwrap_or(""),
                        allowed.join(" ")
                    ),
                ));
            }
        }
    }
    Ok((append, replace))
}

fn read_rule(
    yaml: &YamlFile<'_>,
    node: &Node,
    warnings: &mut Vec<Diagnostic>,
) -> Result<RuleItem, Diagnostic> {
    let name = MapReader::new(yaml, node, "rule")
        .string("rule", false)?
        .unwrap_or_default();
    let r = MapReader::new(yaml, node, format!("rule '{name}'"));
    r.warn_unknown_keys(RULE_KEYS, warnings);
    let legacy_append = append_flag(&r, warnings)?;
    let (append_keys, replace_keys) = read_override(&r, RULE_APPENDABLE, RULE_REPLACEABLE)?;
    let has_override = !append_keys.is_empty() || !replace_keys.is_empty();
    if legacy_append && has_override {
        return Err(r.error(ERROR_OVERRIDE_APPEND));
    }
    let pos = r.pos();
    if has_override {
        // Every key named under `override` must be written, and every overridable key written
        // must be named under `override`.
        for (keys, kind) in [(&append_keys, "append"), (&replace_keys, "replace")] {
            if let Some(missing) = keys.iter().find(|k| !r.has(k)) {
                return Err(r.error(format!(
                    "An {kind} override for '{missing}' was specified but '{missing}' is not defined"
                )));
            }
        }
        for key in RULE_APPENDABLE.iter().chain(RULE_REPLACEABLE) {
            let named = append_keys.iter().chain(&replace_keys).any(|k| k == key);
            if let (false, Some(k)) = (named, r.key_node(key)) {
                return Err(r
                    .error_at(
                        k,
                        format!("Unexpected key '{key}': no corresponding entry under 'override' is defined."),
                    )
                    .with_token(*key));
            }
        }
        let append = (!append_keys.is_empty())
            .then(|| read_change(&r, &append_keys, true, warnings))
            .transpose()?;
        let replace = (!replace_keys.is_empty())
            .then(|| read_change(&r, &replace_keys, false, warnings))
            .transpose()?;
        return Ok(RuleItem::Update(Box::new(RuleUpdate {
            name,
            pos,
            append,
            replace,
        })));
    }
    if legacy_append {
        // Only the condition and the exceptions are appended; other keys are ignored (Falco).
        let keys: Vec<String> = ["condition", "exceptions"]
            .into_iter()
            .filter(|k| r.has(k))
            .map(String::from)
            .collect();
        let change = read_change(&r, &keys, true, warnings)?;
        return Ok(RuleItem::Update(Box::new(RuleUpdate {
            name,
            pos,
            append: Some(change),
            replace: None,
        })));
    }
    if !["condition", "output", "desc", "priority"]
        .iter()
        .any(|k| r.has(k))
    {
        let enabled = r.bool("enabled", false)?.unwrap_or(true);
        warnings.push(Diagnostic::warning(pos.clone(), WARNING_ENABLED).with_token(name.as_str()));
        return Ok(RuleItem::Toggle { name, pos, enabled });
    }
    let condition = r.located("condition", false)?.unwrap_or_default();
    let output = trimmed(r.located("output", false)?.unwrap_or_default());
    let desc = r.string("desc", false)?.unwrap_or_default();
    let priority = priority(&r, false)?.unwrap_or(Priority::Debug);
    let source = r
        .string("source", true)?
        .unwrap_or_else(|| "syscall".into());
    let enabled = r.bool("enabled", true)?.unwrap_or(true);
    r.bool("warn_evttypes", true)?;
    let skip_if_unknown_filter = r.bool("skip-if-unknown-filter", true)?.unwrap_or(false);
    r.bool("capture", true)?;
    r.unsigned("capture_duration")?;
    let tags = r
        .strings("tags", true)?
        .unwrap_or_default()
        .into_iter()
        .collect();
    let exceptions = exceptions::read(&r, false, warnings)?;
    Ok(RuleItem::Define(Box::new(RuleSpec {
        name,
        pos,
        condition,
        output,
        desc,
        priority,
        tags,
        source,
        enabled,
        skip_if_unknown_filter,
        exceptions,
    })))
}

fn priority(r: &MapReader<'_, '_>, optional: bool) -> Result<Option<Priority>, Diagnostic> {
    let Some((node, s)) = r.scalar("priority", optional)? else {
        return Ok(None);
    };
    Priority::parse(s).map(Some).ok_or_else(|| {
        r.error_at(
            node,
            "Invalid priority for key 'priority' (expected emergency, alert, critical, error, warning, notice, informational, info or debug)",
        )
    })
}

/// The values of `keys` (all written, checked by the caller) for an append or a replace.
fn read_change(
    r: &MapReader<'_, '_>,
    keys: &[String],
    append: bool,
    warnings: &mut Vec<Diagnostic>,
) -> Result<RuleChange, Diagnostic> {
    let mut c = RuleChange::default();
    for key in keys {
        match key.as_str() {
            "condition" => c.condition = r.located(key, false)?,
            "output" => c.output = r.located(key, false)?.map(trimmed),
            "desc" => c.desc = r.string(key, false)?,
            "tags" => c.tags = r.strings(key, false)?.map(|t| t.into_iter().collect()),
            "exceptions" => c.exceptions = Some(exceptions::read(r, append, warnings)?),
            "priority" => c.priority = priority(r, false)?,
            "enabled" => c.enabled = r.bool(key, false)?,
            "skip-if-unknown-filter" => c.skip_if_unknown_filter = r.bool(key, false)?,
            // Validated, not used by Lanner.
            "warn_evttypes" | "capture" => {
                r.bool(key, false)?;
            }
            "capture_duration" => {
                r.unsigned(key)?;
            }
            _ => {}
        }
    }
    Ok(c)
}
