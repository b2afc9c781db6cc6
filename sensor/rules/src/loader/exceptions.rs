//! Rule exceptions: read from YAML, checked, merged on append, and turned into condition text
//! exactly as Falco does (`falco: rule_loader_reader.cpp` read_rule_exceptions,
//! `rule_loader_collector.cpp` validate_exception_info and append, `rule_loader_compiler.cpp`
//! build_rule_exception_infos): `(cond) and not (exc1) and not (exc2) ...`.
//!
//! List names are left in the generated text as bare tokens: the compiler expands them on the
//! syntax tree.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::{
    ast::Op,
    diag::{Diagnostic, Pos},
    yaml::{Node, NodeKind},
};

use super::{decode::MapReader, located::TextBuilder, model::Located};

/// A `fields`, `comps` or `values` entry: a string, or a list of entries (Falco's
/// `rule_exception_info::entry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    Item { text: String, pos: Pos },
    List { items: Vec<Entry>, pos: Pos },
}

impl Entry {
    fn pos(&self) -> &Pos {
        match self {
            Entry::Item { pos, .. } | Entry::List { pos, .. } => pos,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Exception {
    pub name: String,
    pub pos: Pos,
    /// `None` when absent (allowed when appending values to an exception of the same name).
    pub fields: Option<Entry>,
    /// `None` until defaulted by `validate`.
    pub comps: Option<Entry>,
    pub values: Vec<Entry>,
}

const EXCEPTION_KEYS: &[&str] = &["name", "fields", "comps", "values"];

/// The `exceptions` key of a rule item. With `append` (override append, legacy append),
/// `fields` may be left out to add values to an existing exception.
pub(crate) fn read(
    item: &MapReader<'_, '_>,
    append: bool,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vec<Exception>, Diagnostic> {
    let Some(exs) = item.get("exceptions") else {
        return Ok(Vec::new());
    };
    let list = match &exs.kind {
        NodeKind::Null => return Ok(Vec::new()),
        NodeKind::Seq(list) => list,
        _ => return Err(item.error_at(exs, "Rule exceptions must be a sequence")),
    };
    let mut out: Vec<Exception> = Vec::new();
    let mut names = HashSet::new();
    for ex in list {
        if !matches!(ex.kind, NodeKind::Map(_)) {
            return Err(item.error_at(ex, "Rule exception must be a mapping"));
        }
        let tmp = MapReader::new(item.yaml, ex, format!("an exception of {}", item.what));
        let name = tmp.string("name", false)?.unwrap_or_default();
        let r = MapReader::new(
            item.yaml,
            ex,
            format!("exception '{name}' of {}", item.what),
        );
        r.warn_unknown_keys(EXCEPTION_KEYS, warnings);
        if !names.insert(name.clone()) {
            warnings.push(
                Diagnostic::warning(
                    r.pos(),
                    format!("Multiple definitions of exception '{name}' in the same rule"),
                )
                .with_token(name.as_str()),
            );
        }
        let fields = match r.get("fields") {
            None if !append => return Err(r.error("Item has no mapping for key 'fields'")),
            None => None,
            Some(n) => entry(&r, n, "fields", false)?,
        };
        let comps = match r.get("comps") {
            None => None,
            Some(n) => entry(&r, n, "comps", false)?,
        };
        let mut values = Vec::new();
        match r.get("values") {
            Some(vals) => {
                let NodeKind::Seq(vals_list) = &vals.kind else {
                    return Err(r.error_at(vals, "Rule exception values must be a sequence"));
                };
                for v in vals_list {
                    // `entry` only returns `None` for what it may skip, never with `required`.
                    values.extend(entry(&r, v, "values", true)?);
                }
            }
            None if append => warnings.push(Diagnostic::warning(
                r.pos(),
                "Overriding/appending exception with no values",
            )),
            None => {}
        }
        out.push(Exception {
            name,
            pos: r.pos(),
            fields,
            comps,
            values,
        });
    }
    Ok(out)
}

/// One entry. An empty or mapping `fields`/`comps` is "not valid" in Falco (reported later, or
/// defaulted); inside `values` it is an error here.
fn entry(
    r: &MapReader<'_, '_>,
    node: &Node,
    key: &str,
    required: bool,
) -> Result<Option<Entry>, Diagnostic> {
    match &node.kind {
        NodeKind::Scalar { value, .. } if value.is_empty() => {
            Err(r.error_at(node, format!("Value for key '{key}' must be non-empty")))
        }
        NodeKind::Scalar { value, .. } => Ok(Some(Entry::Item {
            text: value.clone(),
            pos: r.yaml.value_pos(node),
        })),
        NodeKind::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                out.extend(entry(r, i, key, true)?);
            }
            Ok(Some(Entry::List {
                items: out,
                pos: r.pos_of(node),
            }))
        }
        _ if required => Err(r.error_at(
            node,
            format!(
                "Value in '{key}' must be a string or a list (it is {})",
                node.kind_name()
            ),
        )),
        _ => Ok(None),
    }
}

/// Operators accepted in `comps`: the condition operators, plus Falco's `OP oneof|anyof|allof`
/// modifiers (which the condition parser then rejects with a position).
fn comp_ok(c: &str) -> bool {
    Op::from_word(c).is_some() || modifier_op(c)
}

fn modifier_op(c: &str) -> bool {
    const BASE: &[&str] = &[
        "=",
        "!=",
        "contains",
        "icontains",
        "bcontains",
        "startswith",
        "bstartswith",
        "endswith",
        "glob",
        "iglob",
        "regex",
    ];
    c.split_once(' ').is_some_and(|(op, m)| {
        BASE.contains(&op) && matches!(m.trim(), "oneof" | "anyof" | "allof")
    })
}

/// Operators whose value is a list, so a scalar value is wrapped in `(...)`.
fn is_list_op(c: &str) -> bool {
    Op::from_word(c).is_some_and(Op::takes_list) || modifier_op(c)
}

/// Falco's check when an exception is defined (or added by an append): `fields` present,
/// `comps` defaulted (`in` for one field, `=` for each of a list) and consistent.
pub(crate) fn validate(ex: &mut Exception) -> Result<(), Diagnostic> {
    let err = |msg: String| Diagnostic::error(ex.pos.clone(), msg).with_token(ex.name.as_str());
    match &ex.fields {
        None => Err(err(
            "Rule exception item must have fields property with a list of fields".into(),
        )),
        Some(Entry::List { items, .. }) => {
            if ex.comps.is_none() {
                let pos = ex.pos.clone();
                let eq = |_: &Entry| Entry::Item {
                    text: "=".into(),
                    pos: pos.clone(),
                };
                ex.comps = Some(Entry::List {
                    items: items.iter().map(eq).collect(),
                    pos: ex.pos.clone(),
                });
            }
            let comps: &[Entry] = match &ex.comps {
                Some(Entry::List { items, .. }) => items,
                _ => &[],
            };
            if comps.len() != items.len() {
                return Err(err("Fields and comps lists must have equal length".into()));
            }
            for c in comps {
                match c {
                    Entry::Item { text, pos } if !comp_ok(text) => {
                        return Err(Diagnostic::error(
                            pos.clone(),
                            format!("'{text}' is not a supported comparison operator"),
                        )
                        .with_token(text.as_str()));
                    }
                    Entry::List { pos, .. } => {
                        return Err(Diagnostic::error(
                            pos.clone(),
                            "A comparison operator must be a string",
                        ));
                    }
                    Entry::Item { .. } => {}
                }
            }
            Ok(())
        }
        Some(Entry::Item { .. }) => {
            let comp = ex.comps.get_or_insert_with(|| Entry::Item {
                text: "in".into(),
                pos: ex.pos.clone(),
            });
            match comp {
                Entry::List { .. } => Err(err("Fields and comps must both be strings".into())),
                Entry::Item { text, .. }
                    if !matches!(text.as_str(), "in" | "pmatch" | "intersects")
                        && !modifier_op(text) =>
                {
                    Err(err(
                        "When fields is a single value, comps must be one of (in, pmatch, intersects)"
                            .into(),
                    ))
                }
                Entry::Item { .. } => Ok(()),
            }
        }
    }
}

/// The checks Falco makes when it compiles the condition (so not for rules of a source Lanner
/// skips): each value fits the fields.
pub(crate) fn check_values(ex: &Exception, values: &[Entry]) -> Result<(), Diagnostic> {
    let nested = |pos: &Pos| {
        Diagnostic::error(
            pos.clone(),
            "Expected values array to contain a list of strings",
        )
        .with_token(ex.name.as_str())
    };
    match &ex.fields {
        Some(Entry::Item { .. }) => match values.iter().find(|v| matches!(v, Entry::List { .. })) {
            Some(v) => Err(nested(v.pos())),
            None => Ok(()),
        },
        Some(Entry::List { items: fields, .. }) => {
            for v in values {
                let tuple: &[Entry] = match v {
                    Entry::List { items, .. } => items,
                    Entry::Item { .. } => &[],
                };
                if tuple.len() != fields.len() {
                    return Err(Diagnostic::error(
                        v.pos().clone(),
                        "Fields and values lists must have equal length",
                    )
                    .with_token(ex.name.as_str()));
                }
                for t in tuple {
                    if let Entry::List { items, .. } = t
                        && let Some(deep) = items.iter().find(|i| matches!(i, Entry::List { .. }))
                    {
                        return Err(nested(deep.pos()));
                    }
                }
            }
            Ok(())
        }
        None => Ok(()),
    }
}

/// A rule's exceptions by name (the first of a name), kept from one append to the next: a rule
/// appended to thousands of times is not searched, nor indexed again, at each append.
#[derive(Debug, Default)]
pub(crate) struct ByName(Option<HashMap<String, usize>>);

impl ByName {
    /// The exceptions were replaced: index them again when next needed.
    pub(crate) fn reset(&mut self) {
        self.0 = None;
    }

    fn of(&mut self, list: &[Exception]) -> &mut HashMap<String, usize> {
        self.0.get_or_insert_with(|| {
            let mut ids = HashMap::new();
            for (i, e) in list.iter().enumerate() {
                ids.entry(e.name.clone()).or_insert(i);
            }
            ids
        })
    }
}

/// Appending exceptions (`override: {exceptions: append}`, legacy `append: true`): a known name
/// gets more values (only values may be given), a new name is added whole. `ids` indexes
/// `prev`.
pub(crate) fn merge(
    prev: &mut Vec<Exception>,
    ids: &mut ByName,
    new: Vec<Exception>,
    compiled: bool,
) -> Result<(), Diagnostic> {
    let by_name = ids.of(prev);
    for mut ex in new {
        let err = |msg: &str| Diagnostic::error(ex.pos.clone(), msg).with_token(ex.name.as_str());
        match by_name.get(&ex.name).map(|&i| &mut prev[i]) {
            None => {
                if ex.fields.is_none() {
                    return Err(err(
                        "Rule exception must have fields property with a list of fields",
                    ));
                }
                if ex.values.is_empty() {
                    return Err(err(
                        "Rule exception must have values property with a list of values",
                    ));
                }
                validate(&mut ex)?;
                if compiled {
                    check_values(&ex, &ex.values)?;
                }
                by_name.insert(ex.name.clone(), prev.len());
                prev.push(ex);
            }
            Some(p) => {
                if ex.fields.is_some() {
                    return Err(err(
                        "Can not append exception fields to existing exception, only values",
                    ));
                }
                if ex.comps.is_some() {
                    return Err(err(
                        "Can not append exception comps to existing exception, only values",
                    ));
                }
                if compiled {
                    check_values(p, &ex.values)?;
                }
                p.values.extend(ex.values);
            }
        }
    }
    Ok(())
}

/// Falco's quote_item: a value with a space, not already quoted, is wrapped in `"..."`.
fn quoted(s: &str) -> String {
    if s.contains(' ') && !s.starts_with(['"', '\'']) {
        format!("\"{s}\"")
    } else {
        s.to_string()
    }
}

/// Falco's paren_item: wrapped in `(...)` unless it starts with `(`.
fn parenthesized(s: &str) -> String {
    if s.starts_with('(') {
        s.to_string()
    } else {
        format!("({s})")
    }
}

fn text_of(e: &Entry) -> &str {
    match e {
        Entry::Item { text, .. } => text,
        Entry::List { .. } => "",
    }
}

/// The rule's final condition and the fields its exceptions use. No exceptions: the condition
/// unchanged. Otherwise `(cond)`, then ` and not (...)` for each exception with values.
pub(crate) fn apply(cond: &Located, exceptions: &[Exception]) -> (Located, BTreeSet<String>) {
    let mut fields_used = BTreeSet::new();
    if exceptions.is_empty() {
        return (cond.clone(), fields_used);
    }
    let mut b = TextBuilder::default();
    match cond.map.segments.first() {
        Some((_, p)) => b.push_at("(", p),
        None => b.push("("),
    }
    b.push_located(cond);
    b.push(")");
    for ex in exceptions {
        if ex.values.is_empty() {
            continue;
        }
        b.push_at(" and not ", &ex.pos);
        let comps = ex.comps.as_ref();
        match &ex.fields {
            Some(Entry::Item { text: field, pos }) => {
                fields_used.insert(field.clone());
                b.push_at(&format!("({field}"), pos);
                let (comp, comp_pos) = match comps {
                    Some(Entry::Item { text, pos }) => (text.as_str(), pos),
                    _ => ("in", &ex.pos),
                };
                b.push(" ");
                b.push_at(comp, comp_pos);
                b.push(" (");
                for (i, v) in ex.values.iter().enumerate() {
                    if i > 0 {
                        b.push(", ");
                    }
                    b.push_at(&quoted(text_of(v)), v.pos());
                }
                b.push("))");
            }
            Some(Entry::List { items: fields, .. }) => {
                let comps: &[Entry] = match comps {
                    Some(Entry::List { items, .. }) => items,
                    _ => &[],
                };
                b.push("(");
                for (t, tuple) in ex.values.iter().enumerate() {
                    if t > 0 {
                        b.push(" or ");
                    }
                    b.push("(");
                    let tuple: &[Entry] = match tuple {
                        Entry::List { items, .. } => items,
                        Entry::Item { .. } => &[],
                    };
                    for (k, ((field, comp), value)) in
                        fields.iter().zip(comps).zip(tuple).enumerate()
                    {
                        // Falco writes " and " and then " " before each field: two spaces.
                        if k > 0 {
                            b.push(" and ");
                        }
                        let field_text = text_of(field);
                        fields_used.insert(field_text.to_string());
                        b.push(" ");
                        b.push_at(field_text, field.pos());
                        b.push(" ");
                        b.push_at(text_of(comp), comp.pos());
                        b.push(" ");
                        push_value(&mut b, value, text_of(comp));
                    }
                    b.push(")");
                }
                b.push(")");
            }
            None => {}
        }
    }
    (b.finish(), fields_used)
}

/// A value paired with a field: a list becomes `(a, b)`; a scalar with a list operator is
/// wrapped in parentheses (so a list name works), otherwise quoted if it has a space.
fn push_value(b: &mut TextBuilder, value: &Entry, comp: &str) {
    match value {
        Entry::List { items, pos } => {
            b.push_at("(", pos);
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    b.push(", ");
                }
                b.push_at(&quoted(text_of(v)), v.pos());
            }
            b.push(")");
        }
        Entry::Item { text, pos } => {
            let s = if is_list_op(comp) {
                parenthesized(text)
            } else {
                quoted(text)
            };
            b.push_at(&s, pos);
        }
    }
}
