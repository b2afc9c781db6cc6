//! A compiled ruleset: rules in evaluation order (first definition across files), indexed by
//! the event types their conditions can match, with their output formats. Immutable once
//! built: a reload builds a new one and swaps it in whole.

use std::{cell::RefCell, collections::HashSet, sync::Arc};

use serde_json::Value as Json;

use crate::{
    budget::Expanded,
    compile::{self, Compiler},
    diag::Diagnostic,
    event::EventSource,
    evttype::{EvtSet, EvtType},
    factor,
    filter::{Memo, Node},
    format::Format,
    index::TypeIndex,
    loader::{self, Collected, Located, RuleDef, Source},
    outfields::{self, Keys, OutputFields},
    priority::Priority,
    share,
    specialize::{self, Availability, Specializer},
    timefmt,
};

/// `rule_matching` in falco.yaml.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Matching {
    /// Stop at the first matching rule: one alert per event.
    #[default]
    First,
    /// Every matching rule fires, in evaluation order.
    All,
}

/// One `append_output` entry of falco.yaml.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppendOutput {
    pub match_source: Option<String>,
    pub match_rule: Option<String>,
    /// The rule must have all of them.
    pub match_tags: Vec<String>,
    /// Appended to the text (after a space).
    pub extra_output: Option<String>,
    /// Extra `output_fields` only: (key, format) — a `None` format means the field named by the
    /// key, typed.
    pub extra_fields: Vec<(String, Option<String>)>,
    /// Append the container and pod fields Falco's container plugin suggests.
    pub suggested_output: bool,
}

impl AppendOutput {
    fn applies(&self, r: &RuleDef) -> bool {
        self.match_source.as_ref().is_none_or(|s| *s == r.source)
            && self.match_rule.as_ref().is_none_or(|n| *n == r.name)
            && self.match_tags.iter().all(|t| r.tags.contains(t))
    }
}

/// The suggested fields, in the container plugin's order (falco-fields.md 4.3).
pub const SUGGESTED_OUTPUT: &str = "container_id=%container.id container_name=%container.name container_image_repository=%container.image.repository container_image_tag=%container.image.tag k8s_pod_name=%k8s.pod.name k8s_ns_name=%k8s.ns.name";

#[derive(Clone, Debug)]
pub struct Options {
    pub matching: Matching,
    /// Rules less severe than this are loaded but not enabled.
    pub min_priority: Priority,
    pub append_output: Vec<AppendOutput>,
    /// The alert text starts with `evt.time.iso8601` instead of `evt.time`.
    pub time_format_iso_8601: bool,
    /// Which fields the event source can have per event type: checks on the others are
    /// settled at load time (see `specialize`).
    pub available: Availability,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            matching: Matching::First,
            min_priority: Priority::Debug,
            append_output: vec![AppendOutput {
                suggested_output: true,
                ..AppendOutput::default()
            }],
            time_format_iso_8601: false,
            available: specialize::everything,
        }
    }
}

#[derive(Debug)]
pub struct CompiledRule {
    pub name: Arc<str>,
    pub desc: String,
    pub priority: Priority,
    /// Sorted.
    pub tags: Arc<[String]>,
    pub source: Arc<str>,
    /// Enabled in the files and at least `min_priority`.
    pub enabled: bool,
    /// Event types the condition can match (among those Lanner captures).
    pub evt_types: EvtSet,
    /// Of those, the types on which it can still match given the fields the event source has
    /// (a rule on `fd.name` of an `execve` never does).
    pub live_types: EvtSet,
    filter: Node,
    output: Format,
    /// Each with its slot among `field_keys`.
    extra_fields: Vec<(u32, Format)>,
    /// The keys of its alerts' `output_fields`; the event time's slot among them.
    field_keys: Keys,
    time_slot: u32,
    memo_slots: usize,
}

impl CompiledRule {
    /// The compiled condition (not specialised for an event type): what the kernel prefilter
    /// projects onto what the probes can test (`prefilter`).
    pub fn filter(&self) -> &Node {
        &self.filter
    }

    /// This rule alone on `ev` (tests, benchmarks; `Ruleset::evaluate` shares macro results
    /// between rules).
    pub fn matches<E: EventSource>(&self, ev: &E) -> bool {
        let mut memo = Memo::default();
        memo.start(self.memo_slots);
        self.filter.eval(ev, &mut memo)
    }
}

thread_local! {
    /// Macro results of the event being evaluated on this thread.
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

/// An alert: a rule that matched an event, with its output rendered.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub rule: Arc<str>,
    pub priority: Priority,
    pub source: Arc<str>,
    pub tags: Arc<[String]>,
    pub time_ns: u64,
    /// `<time>: <Priority> <message>`, as Falco's text alert.
    pub output: String,
    /// The rule's output alone.
    pub message: String,
    pub output_fields: OutputFields,
}

#[derive(Debug)]
pub struct Ruleset {
    rules: Vec<CompiledRule>,
    /// Per event type, the enabled rules that can match it, in evaluation order, each with
    /// its filter specialised for that type.
    index: Vec<TypeIndex>,
    options: Options,
    memo_slots: usize,
}

/// A ruleset and what loading it had to say.
#[derive(Debug)]
pub struct Loaded {
    pub ruleset: Ruleset,
    pub warnings: Vec<Diagnostic>,
}

/// Load, merge and compile `sources` in order. Any error rejects the whole set (a running
/// sensor keeps its previous ruleset).
pub fn load(sources: &[Source], options: &Options) -> Result<Loaded, Vec<Diagnostic>> {
    let outcome = loader::load(sources);
    if !outcome.errors.is_empty() {
        return Err(outcome.errors);
    }
    Ruleset::build(outcome.collected, options.clone())
}

impl Ruleset {
    pub fn build(collected: Collected, options: Options) -> Result<Loaded, Vec<Diagnostic>> {
        let mut warnings = collected.warnings.clone();
        let mut errors: Vec<Diagnostic> = Vec::new();
        // The same error (a broken macro) reaches every rule using it: report it once.
        let mut reported = HashSet::new();
        let mut compiler = Compiler::new(&collected);
        let mut rules = Vec::with_capacity(collected.rules.len());
        // What the index will hold once every rule is written out per event type.
        let mut total = Expanded::default();
        for r in &collected.rules {
            match compile_rule(r, &options, &mut compiler, &mut warnings) {
                Ok((c, size)) => {
                    total = total.plus(size.times(c.evt_types.iter().count() as u64));
                    if let Some(dim) = total.over_total_limit() {
                        errors.push(Diagnostic::error(
                            compile::at(&r.condition, 0),
                            format!(
                                "rule '{}': the rules have more than {} {} in all once their macros are written out per event type (this one brings them to {})",
                                r.name,
                                dim.total_limit(),
                                dim.name(),
                                dim.of(&total)
                            ),
                        ));
                        break;
                    }
                    rules.push(c)
                }
                Err(e) if r.skip_if_unknown_filter && compile::is_unknown_filter(&e) => {
                    warnings.push(Diagnostic::warning(
                        e.pos,
                        format!(
                            "rule '{}' skipped (skip-if-unknown-filter): {}",
                            r.name, e.message
                        ),
                    ));
                }
                Err(e) => {
                    if reported.insert(e.clone()) {
                        errors.push(e);
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut memo_slots = compiler.memo_slots();
        for r in &mut rules {
            r.memo_slots = memo_slots;
        }
        let compiler_slots = memo_slots as u32;
        let mut index: Vec<TypeIndex> = EvtType::ALL.iter().map(|_| TypeIndex::default()).collect();
        for t in EvtType::ALL {
            let mut spec = Specializer::new(t, options.available);
            let (mut ids, mut filters) = (Vec::new(), Vec::new());
            for (i, r) in rules.iter_mut().enumerate() {
                if !r.evt_types.contains(t) {
                    continue;
                }
                let node = spec.node(&r.filter);
                if matches!(node, Node::Const(false)) {
                    continue;
                }
                r.live_types = r.live_types.union(t.bit());
                if r.enabled {
                    ids.push(i as u32);
                    filters.push(node);
                }
            }
            specialize::unwrap_single_use(&mut filters);
            let mut filters = factor::factor_all(filters);
            // Slots of shared checks are per type (an event meets one type's filters), after
            // the macros' slots.
            let slots = share::share_checks(&mut filters, compiler_slots);
            memo_slots = memo_slots.max(slots as usize);
            for (i, f) in ids.into_iter().zip(filters) {
                index[t as usize].push(i, f);
            }
            index[t as usize].finish();
        }
        Ok(Loaded {
            ruleset: Ruleset {
                rules,
                index,
                options,
                memo_slots,
            },
            warnings,
        })
    }

    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Enabled rules that can match events Lanner captures.
    pub fn active_count(&self) -> usize {
        self.rules
            .iter()
            .filter(|r| r.enabled && !r.live_types.is_empty())
            .count()
    }

    /// The event types some enabled rule can match: events of the others are never
    /// evaluated, so their context need not be built.
    pub fn types(&self) -> EvtSet {
        EvtType::ALL
            .into_iter()
            .filter(|t| !self.index[*t as usize].entries().is_empty())
            .fold(EvtSet::NONE, |set, t| set.union(t.bit()))
    }

    /// (rules, filter nodes) evaluated at most for an event of type `ty`: the size of the
    /// specialised filters in its index.
    pub fn index_size(&self, ty: EvtType) -> (usize, usize) {
        let entries = self.index[ty as usize].entries();
        (entries.len(), entries.iter().map(|e| e.filter.size()).sum())
    }

    /// Call `hit` for each matching rule, in order: the first only, or all of them. (`hit`
    /// must not evaluate events itself: the macro memo of this thread is in use.)
    pub fn evaluate<'r, E: EventSource>(&'r self, ev: &E, mut hit: impl FnMut(&'r CompiledRule)) {
        let index = &self.index[ev.evt_type() as usize];
        // No rule for this type (fork and exit with the official rules): nothing to set up.
        if index.entries().is_empty() {
            return;
        }
        MEMO.with_borrow_mut(|memo| {
            memo.start(self.memo_slots);
            index.candidates(ev, |e| {
                // A macro or shared check another rule already answered may rule it out.
                if e.ruled_out(memo) || !e.program.eval(ev, memo) {
                    return true;
                }
                hit(&self.rules[e.rule as usize]);
                self.options.matching == Matching::All
            });
        })
    }

    /// Render the alert of `rule` for `ev` at `time_ns` (ns since the epoch).
    pub fn alert<E: EventSource>(&self, rule: &CompiledRule, ev: &E, time_ns: u64) -> Alert {
        let mut fields = OutputFields::new(rule.field_keys.clone());
        let message = rule.output.render(ev, &mut fields);
        for (slot, fmt) in &rule.extra_fields {
            fields.set(*slot, fmt.render_value(ev));
        }
        let time_text = if self.options.time_format_iso_8601 {
            timefmt::iso8601(time_ns)
        } else {
            timefmt::time(time_ns)
        };
        fields.set(rule.time_slot, Json::from(time_ns));
        Alert {
            rule: rule.name.clone(),
            priority: rule.priority,
            source: rule.source.clone(),
            tags: rule.tags.clone(),
            time_ns,
            output: format!("{time_text}: {} {message}", rule.priority),
            message,
            output_fields: fields,
        }
    }
}

fn compile_rule(
    r: &RuleDef,
    options: &Options,
    compiler: &mut Compiler,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(CompiledRule, Expanded), Diagnostic> {
    let (filter, size) = compiler.condition(&r.name, &r.condition)?;
    let evt_types = compile::evt_types(&filter);
    let mut output = r.output.clone();
    let mut extra_fields = Vec::new();
    for a in options.append_output.iter().filter(|a| a.applies(r)) {
        if let Some(extra) = &a.extra_output {
            append_text(
                &mut output,
                &Located {
                    text: extra.clone(),
                    map: Default::default(),
                },
            );
        }
        if a.suggested_output {
            append_text(
                &mut output,
                &Located {
                    text: SUGGESTED_OUTPUT.into(),
                    map: Default::default(),
                },
            );
        }
        for (key, fmt) in &a.extra_fields {
            let text = fmt.clone().unwrap_or_else(|| format!("%{key}"));
            let located = Located {
                text,
                map: Default::default(),
            };
            extra_fields.push((key.clone(), Format::compile(&located, compiler, warnings)?));
        }
    }
    let mut output = Format::compile(&output, compiler, warnings)?;
    let time_key = if options.time_format_iso_8601 {
        "evt.time.iso8601"
    } else {
        "evt.time"
    };
    let field_keys = outfields::keys_of(
        output
            .json_keys()
            .chain(extra_fields.iter().map(|(k, _)| k.as_str()))
            .chain([time_key]),
    );
    output.assign_slots(&field_keys);
    let extra_fields = extra_fields
        .into_iter()
        .map(|(k, f)| (outfields::slot_of(&field_keys, &k), f))
        .collect();
    let rule = CompiledRule {
        name: r.name.as_str().into(),
        desc: r.desc.clone(),
        priority: r.priority,
        tags: r.tags.iter().cloned().collect::<Vec<_>>().into(),
        source: r.source.as_str().into(),
        enabled: r.enabled && r.priority.at_least(options.min_priority),
        evt_types,
        live_types: EvtSet::NONE,
        filter,
        output,
        extra_fields,
        time_slot: outfields::slot_of(&field_keys, time_key),
        field_keys,
        memo_slots: 0,
    };
    Ok((rule, size))
}

fn append_text(to: &mut Located, extra: &Located) {
    to.text.push(' ');
    let at = to.text.len();
    to.text.push_str(&extra.text);
    to.map.extend(at, &extra.map);
}
