//! Merging items in the order they are read, across files (`falco:
//! rule_loader_collector.cpp`): definitions replace, appends add, overrides append or replace
//! single keys, and the deprecated `enabled`-only form toggles a rule.
//!
//! One counter numbers every definition, append and replace, like Falco's: an item's `index` is
//! the counter at its first definition (rule evaluation order, the list-in-list rule), its
//! `visibility` the counter at its last definition or append.

use std::collections::HashMap;

use crate::{
    diag::{Diagnostic, Pos},
    priority::Priority,
};

use super::{
    ENGINE_VERSION, exceptions,
    lists::{self, ListState},
    located,
    model::{Collected, Located, MacroDef, RuleDef},
    reader::{Item, ListItem, MacroItem, RuleChange, RuleItem, RuleSpec, RuleUpdate},
    version::Version,
};

/// The one event source Lanner has.
pub const SYSCALL_SOURCE: &str = "syscall";

const ERROR_NO_PREVIOUS_MACRO: &str =
    "Macro uses 'append' or 'override.condition: append' but no macro by that name already exists";
const ERROR_NO_PREVIOUS_LIST: &str =
    "List uses 'append' or 'override.items: append' but no list by that name already exists";
const ERROR_NO_PREVIOUS_RULE_APPEND: &str =
    "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists";
const ERROR_NO_PREVIOUS_RULE_REPLACE: &str =
    "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists";

struct MacroState {
    name: String,
    pos: Pos,
    condition: Located,
    index: usize,
}

struct RuleState {
    index: usize,
    /// Where it was first defined.
    pos: Pos,
    spec: RuleSpec,
    /// `spec.exceptions` by name, for appends.
    exception_ids: exceptions::ByName,
}

impl RuleState {
    /// Whether Falco would compile it (and so make the compile-time exception checks).
    fn compiled(&self) -> bool {
        self.spec.source == SYSCALL_SOURCE
    }
}

#[derive(Default)]
pub(crate) struct Collector {
    counter: usize,
    lists: Vec<ListState>,
    list_ids: HashMap<String, usize>,
    macros: Vec<MacroState>,
    macro_ids: HashMap<String, usize>,
    rules: Vec<RuleState>,
    rule_ids: HashMap<String, usize>,
    required_engine_version: Option<(Version, String)>,
}

impl Collector {
    fn next(&mut self) -> usize {
        self.counter += 1;
        self.counter - 1
    }

    pub(crate) fn apply(&mut self, item: Item) -> Result<(), Diagnostic> {
        match item {
            Item::EngineVersion {
                version,
                written,
                pos,
            } => self.require_engine(version, written, pos),
            Item::PluginVersions | Item::Unknown => Ok(()),
            Item::List(l) => self.list(l),
            Item::Macro(m) => self.macro_(m),
            Item::Rule(RuleItem::Define(spec)) => self.define_rule(*spec),
            Item::Rule(RuleItem::Update(u)) => self.update_rule(*u),
            Item::Rule(RuleItem::Toggle { name, pos, enabled }) => {
                let Some(&i) = self.rule_ids.get(&name) else {
                    return Err(Diagnostic::error(
                        pos,
                        "Rule has 'enabled' key but no rule by that name already exists",
                    )
                    .with_token(name));
                };
                self.rules[i].spec.enabled = enabled;
                Ok(())
            }
        }
    }

    fn require_engine(&mut self, v: Version, written: String, pos: Pos) -> Result<(), Diagnostic> {
        let engine = Version::new(ENGINE_VERSION);
        if !engine.satisfies(v) {
            return Err(Diagnostic::error(
                pos,
                format!("Rules require engine version {v}, but engine version is {engine}"),
            )
            .with_token(written));
        }
        if self
            .required_engine_version
            .as_ref()
            .is_none_or(|(max, _)| *max < v)
        {
            self.required_engine_version = Some((v, written));
        }
        Ok(())
    }

    fn list(&mut self, l: ListItem) -> Result<(), Diagnostic> {
        let id = self.next();
        match (self.list_ids.get(&l.name), l.append) {
            (Some(&i), true) => {
                let prev = &mut self.lists[i];
                prev.items.extend(l.items);
                prev.visibility = id;
            }
            (None, true) => {
                return Err(Diagnostic::error(l.pos, ERROR_NO_PREVIOUS_LIST).with_token(l.name));
            }
            (Some(&i), false) => {
                let prev = &mut self.lists[i];
                prev.items = l.items;
                prev.visibility = id;
            }
            (None, false) => {
                self.list_ids.insert(l.name.clone(), self.lists.len());
                self.lists.push(ListState {
                    name: l.name,
                    pos: l.pos,
                    items: l.items,
                    index: id,
                    visibility: id,
                });
            }
        }
        Ok(())
    }

    fn macro_(&mut self, m: MacroItem) -> Result<(), Diagnostic> {
        let id = self.next();
        match (self.macro_ids.get(&m.name), m.append) {
            (Some(&i), true) => located::append(&mut self.macros[i].condition, &m.condition),
            (None, true) => {
                return Err(Diagnostic::error(m.pos, ERROR_NO_PREVIOUS_MACRO).with_token(m.name));
            }
            (Some(&i), false) => self.macros[i].condition = m.condition,
            (None, false) => {
                self.macro_ids.insert(m.name.clone(), self.macros.len());
                self.macros.push(MacroState {
                    name: m.name,
                    pos: m.pos,
                    condition: m.condition,
                    index: id,
                });
            }
        }
        Ok(())
    }

    fn define_rule(&mut self, mut spec: RuleSpec) -> Result<(), Diagnostic> {
        let prev = self.rule_ids.get(&spec.name).copied();
        if let Some(i) = prev
            && self.rules[i].spec.source != spec.source
        {
            return Err(Diagnostic::error(
                spec.pos,
                "Rule has been re-defined with a different source",
            )
            .with_token(spec.source));
        }
        for ex in &mut spec.exceptions {
            exceptions::validate(ex)?;
            if spec.source == SYSCALL_SOURCE {
                exceptions::check_values(ex, &ex.values)?;
            }
        }
        let id = self.next();
        match prev {
            // A redefinition replaces the whole rule but keeps its place in evaluation order.
            Some(i) => {
                self.rules[i].spec = spec;
                self.rules[i].exception_ids.reset();
            }
            None => {
                self.rule_ids.insert(spec.name.clone(), self.rules.len());
                self.rules.push(RuleState {
                    index: id,
                    pos: spec.pos.clone(),
                    spec,
                    exception_ids: exceptions::ByName::default(),
                });
            }
        }
        Ok(())
    }

    fn update_rule(&mut self, u: RuleUpdate) -> Result<(), Diagnostic> {
        let missing = |msg: &str| Diagnostic::error(u.pos.clone(), msg).with_token(u.name.as_str());
        if let Some(change) = u.append {
            let Some(&i) = self.rule_ids.get(&u.name) else {
                return Err(missing(ERROR_NO_PREVIOUS_RULE_APPEND));
            };
            if change.is_empty() {
                return Err(missing(
                    "Appended rule must have exceptions or condition property",
                ));
            }
            self.next();
            append_to(&mut self.rules[i], change)?;
        }
        if let Some(change) = u.replace {
            let Some(&i) = self.rule_ids.get(&u.name) else {
                return Err(missing(ERROR_NO_PREVIOUS_RULE_REPLACE));
            };
            self.next();
            replace_in(&mut self.rules[i], change)?;
        }
        Ok(())
    }

    /// The final lists, macros and rules. Rules of another source are left out, each with one
    /// warning.
    pub(crate) fn finish(self, warnings: Vec<Diagnostic>) -> Collected {
        let mut c = Collected {
            lists: lists::expand(&self.lists),
            macros: self
                .macros
                .into_iter()
                .map(|m| {
                    let def = MacroDef {
                        name: m.name.clone(),
                        condition: m.condition,
                        pos: m.pos,
                        order: m.index,
                    };
                    (m.name, def)
                })
                .collect(),
            rules: Vec::new(),
            required_engine_version: self.required_engine_version.map(|(_, w)| w),
            warnings,
        };
        // Rules are kept in first-definition order already (a redefinition reuses the slot).
        for r in self.rules {
            let s = r.spec;
            if s.source != SYSCALL_SOURCE {
                c.warnings.push(
                    Diagnostic::warning(
                        r.pos,
                        format!(
                            "rule '{}' is for source '{}', which Lanner does not have; skipped",
                            s.name, s.source
                        ),
                    )
                    .with_token(s.source),
                );
                continue;
            }
            let (condition, exception_fields) = exceptions::apply(&s.condition, &s.exceptions);
            c.rules.push(RuleDef {
                name: s.name,
                pos: r.pos,
                order: r.index,
                condition,
                output: s.output,
                desc: s.desc,
                priority: s.priority,
                tags: s.tags,
                source: s.source,
                enabled: s.enabled,
                skip_if_unknown_filter: s.skip_if_unknown_filter,
                exception_fields,
            });
        }
        c
    }
}

/// `override: {key: append}` and legacy `append: true`: texts get `" " + more`, tags are
/// united, exceptions merged.
fn append_to(rule: &mut RuleState, c: RuleChange) -> Result<(), Diagnostic> {
    let compiled = rule.compiled();
    let s = &mut rule.spec;
    if let Some(cond) = &c.condition {
        located::append(&mut s.condition, cond);
    }
    if let Some(out) = &c.output {
        located::append(&mut s.output, out);
    }
    if let Some(desc) = &c.desc {
        s.desc.push(' ');
        s.desc.push_str(desc);
    }
    if let Some(tags) = c.tags {
        s.tags.extend(tags);
    }
    if let Some(exs) = c.exceptions {
        exceptions::merge(&mut s.exceptions, &mut rule.exception_ids, exs, compiled)?;
    }
    Ok(())
}

/// `override: {key: replace}`. Unlike Falco, replaced exceptions are checked (and their `comps`
/// defaulted) as in a definition.
fn replace_in(rule: &mut RuleState, c: RuleChange) -> Result<(), Diagnostic> {
    let compiled = rule.compiled();
    let s = &mut rule.spec;
    if let Some(mut exs) = c.exceptions {
        for ex in &mut exs {
            exceptions::validate(ex)?;
            if compiled {
                exceptions::check_values(ex, &ex.values)?;
            }
        }
        s.exceptions = exs;
        rule.exception_ids.reset();
    }
    let RuleChange {
        condition,
        output,
        desc,
        tags,
        priority,
        enabled,
        skip_if_unknown_filter,
        exceptions: _,
    } = c;
    set(&mut s.condition, condition);
    set(&mut s.output, output);
    set(&mut s.desc, desc);
    set(&mut s.tags, tags);
    set::<Priority>(&mut s.priority, priority);
    set(&mut s.enabled, enabled);
    set(&mut s.skip_if_unknown_filter, skip_if_unknown_filter);
    Ok(())
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}
