//! Syntax tree → filter (`filter::Node`): fields resolved and type-checked, literals parsed for
//! their field's type, list names expanded, macros inlined (with cycle detection), operators
//! checked against the field type as Falco does at load time.
//!
//! Deviation from Falco, on purpose: list names are expanded on the parsed tree (an unquoted
//! item of a `(...)` set, or the single bare word after `in`/`intersects`/`pmatch`), not by
//! textual substitution before parsing. Positions stay exact, and a list name inside a quoted
//! string stays a string. Macros may refer to macros defined later in the files (Falco only
//! allows earlier ones); every file Falco accepts still loads.

use std::collections::HashMap;

use crate::{
    ast::{self, Expr, Op, Operand, Rhs, Transformer},
    budget::{self, Expanded, Measured},
    diag::{Diagnostic, Pos},
    event::FieldArg,
    evttype::{self, EvtSet, EvtType},
    fields::{self, Field, flag},
    filter::{CheckNode, Extractor, Lhs, Node, Rhs as RhsC, StrSet},
    loader::{Collected, Located},
    ops::{self, PathSet},
    parse::{self, ParseError},
    value::FieldType,
};

/// Deepest a condition may nest once macros are expanded.
pub const MAX_EXPANDED_DEPTH: u64 = budget::MAX_DEPTH;
/// Longest chain of macros using macros.
pub const MAX_MACRO_CHAIN: usize = 100;

pub struct Compiler<'c> {
    collected: &'c Collected,
    /// Memo slots handed out to macros (see `filter::Memo`).
    slots: u32,
    /// Each macro compiled, with its size once written out (see `budget`).
    macros: HashMap<String, Result<(Node, Measured), Diagnostic>>,
    /// Macros being expanded, outermost first (cycle detection).
    stack: Vec<String>,
    /// Bytes of list items written into checks so far: a list named many times is copied
    /// each time, so the copying itself is budgeted (`budget::MAX_TOTAL_BYTES`).
    list_bytes: u64,
    /// Levels of `and`/`or`/`not` open while compiling, through macros being compiled: the
    /// compiler recurses on them, so past `MAX_EXPANDED_DEPTH` it stops (a chain of macros
    /// each nesting a few hundred levels overflowed the stack before the depth was checked).
    nesting: u64,
    /// The compile failed on `nesting`: an error of the context, not of the macros it was
    /// compiling, which must not be remembered as theirs.
    too_deep: bool,
}

impl<'c> Compiler<'c> {
    pub fn new(collected: &'c Collected) -> Self {
        Self {
            collected,
            slots: 0,
            macros: HashMap::new(),
            stack: Vec::new(),
            list_bytes: 0,
            nesting: 0,
            too_deep: false,
        }
    }

    /// Memo slots the compiled filters use.
    pub fn memo_slots(&self) -> usize {
        self.slots as usize
    }

    /// Compile the condition of rule `rule`, refused if it is over the budget once its macros
    /// are written out (see `budget`); also returns that size.
    pub fn condition(&mut self, rule: &str, src: &Located) -> Result<(Node, Expanded), Diagnostic> {
        self.too_deep = false;
        let expr = parse::parse_condition(&src.text).map_err(|e| parse_error(src, &e))?;
        let node = self.expr(&expr, src)?;
        let measured = self.measure(&expr, src);
        let lookup = |name: &str| match self.macros.get(name) {
            Some(Ok((_, m))) => Some(m.clone()),
            _ => None,
        };
        if let Some(e) = budget::rule_error(rule, at(src, 0), &measured, &lookup) {
            return Err(e);
        }
        if measured.size.depth > MAX_EXPANDED_DEPTH {
            return Err(Diagnostic::error(
                at(src, 0),
                format!(
                    "condition nests deeper than {MAX_EXPANDED_DEPTH} levels once macros are expanded"
                ),
            ));
        }
        Ok((node, measured.size))
    }

    /// The size of `expr` (compiled: every macro it uses is measured) once written out.
    fn measure(&self, expr: &Expr, src: &Located) -> Measured {
        let size = |name: &str| match self.macros.get(name) {
            Some(Ok((_, m))) => m.size,
            _ => Expanded::default(),
        };
        budget::measure(expr, src, self.collected, &size)
    }

    /// Compile an operand on its own (output formats use this for `%field` tokens).
    pub fn operand(&mut self, o: &Operand, src: &Located) -> Result<Extractor, Diagnostic> {
        let (x, _) = self.extractor(o, src)?;
        Ok(x)
    }

    fn expr(&mut self, e: &Expr, src: &Located) -> Result<Node, Diagnostic> {
        match e {
            Expr::And(xs) => self.nested(src, |c| c.all(xs, src).map(Node::And)),
            Expr::Or(xs) => self.nested(src, |c| c.all(xs, src).map(Node::Or)),
            Expr::Not(x) => self.nested(src, |c| c.expr(x, src).map(|x| Node::Not(Box::new(x)))),
            Expr::Macro { name, span } => self.macro_ref(name, at(src, span.start)),
            Expr::Check(c) => self.check(c, src),
        }
    }

    /// Compile one level of `and`/`or`/`not` with `inner`, within `MAX_EXPANDED_DEPTH`.
    fn nested(
        &mut self,
        src: &Located,
        inner: impl FnOnce(&mut Self) -> Result<Node, Diagnostic>,
    ) -> Result<Node, Diagnostic> {
        if self.nesting >= MAX_EXPANDED_DEPTH {
            self.too_deep = true;
            return Err(Diagnostic::error(
                at(src, 0),
                format!(
                    "condition nests deeper than {MAX_EXPANDED_DEPTH} levels once macros are expanded"
                ),
            ));
        }
        self.nesting += 1;
        let node = inner(self);
        self.nesting -= 1;
        node
    }

    fn all(&mut self, xs: &[Expr], src: &Located) -> Result<Box<[Node]>, Diagnostic> {
        xs.iter().map(|x| self.expr(x, src)).collect()
    }

    fn macro_ref(&mut self, name: &str, pos: Pos) -> Result<Node, Diagnostic> {
        if let Some(done) = self.macros.get(name) {
            return done.clone().map(|(node, _)| node);
        }
        if let Some(i) = self.stack.iter().position(|m| m == name) {
            let mut chain = self.stack[i..].to_vec();
            chain.push(name.to_string());
            return Err(
                Diagnostic::error(pos, format!("macro cycle: {}", chain.join(" -> ")))
                    .with_token(name),
            );
        }
        let Some(def) = self.collected.macros.get(name) else {
            return Err(Diagnostic::error(
                pos,
                format!("Undefined macro '{name}' used in filter."),
            )
            .with_token(name));
        };
        if self.stack.len() >= MAX_MACRO_CHAIN {
            return Err(Diagnostic::error(
                pos,
                format!("macros nest more than {MAX_MACRO_CHAIN} deep"),
            )
            .with_token(name));
        }
        self.stack.push(name.to_string());
        // Measured once here, from the sizes of the macros it uses: nothing is written out.
        let result = parse::parse_condition(&def.condition.text)
            .map_err(|e| parse_error(&def.condition, &e))
            .and_then(|expr| {
                let node = self.expr(&expr, &def.condition)?;
                Ok((node, self.measure(&expr, &def.condition)))
            })
            .map(|(node, measured)| {
                self.slots += 1;
                (
                    Node::Memo(self.slots - 1, std::sync::Arc::new(node)),
                    measured,
                )
            });
        self.stack.pop();
        if result.is_ok() || !self.too_deep {
            self.macros.insert(name.to_string(), result.clone());
        }
        result.map(|(node, _)| node)
    }

    fn check(&mut self, c: &ast::Check, src: &Located) -> Result<Node, Diagnostic> {
        let op_pos = || at(src, c.op_span.start);
        // evt.type = / in / != : resolved to a set of event types, which also indexes the rule.
        // A name Falco knows that Lanner does not capture adds no type: the check is false.
        if let Operand::Field(f) = &c.lhs
            && f.name == "evt.type"
            && f.arg.is_none()
            && matches!(c.op, Op::Eq | Op::Ne | Op::In | Op::Intersects)
            && !matches!(c.rhs, Rhs::Operand(_))
        {
            let items = self.values(&c.rhs, c.op, src)?;
            for (name, lit) in &items {
                known_evt_type(name, lit, src)?;
            }
            let set = items
                .iter()
                .filter_map(|(v, _)| EvtType::from_name(v))
                .fold(EvtSet::NONE, |s, t| s.union(t.bit()));
            let node = Node::EvtType(set);
            return Ok(if c.op == Op::Ne {
                Node::Not(Box::new(node))
            } else {
                node
            });
        }
        let (lhs, ty) = self.lhs(&c.lhs, src)?;
        check_op(ty, c.op).map_err(|m| Diagnostic::error(op_pos(), m).with_token(c.op.as_str()))?;
        // Any other comparison of `evt.type` (`startswith`, through a transformer) has its
        // values checked too, as Falco checks every value it parses for the field.
        let evt_type = matches!(&lhs, Lhs::One(x) if x.field == Field::EvtType);
        let rhs = self.rhs(c, ty, evt_type, src)?;
        Ok(Node::Check(Box::new(CheckNode {
            lhs,
            op: c.op,
            rhs,
            negate: false,
        })))
    }

    /// The left-hand side, with the special forms (any ancestor, either end, networks).
    fn lhs(&mut self, o: &Operand, src: &Located) -> Result<(Lhs, FieldType), Diagnostic> {
        let (x, def) = self.extractor(o, src)?;
        if !x.transforms.is_empty() {
            return Ok((Lhs::One(x.clone()), x.ty));
        }
        let by_name = |n: &str| -> Extractor {
            let (field, arg) =
                fields::lookup(n, None).expect("the table has fd.cip/sip/lip/rip/cport/sport");
            Extractor {
                field,
                arg,
                transforms: Vec::new(),
                ty: fields::def(field).ty,
            }
        };
        Ok(match def.name {
            "fd.ip" | "fd.net" => (Lhs::EitherEnd(by_name("fd.cip"), by_name("fd.sip")), def.ty),
            "fd.port" => (
                Lhs::EitherEnd(by_name("fd.cport"), by_name("fd.sport")),
                def.ty,
            ),
            "fd.cnet" => (Lhs::One(by_name("fd.cip")), def.ty),
            "fd.snet" => (Lhs::One(by_name("fd.sip")), def.ty),
            "fd.lnet" => (Lhs::One(by_name("fd.lip")), def.ty),
            "fd.rnet" => (Lhs::One(by_name("fd.rip")), def.ty),
            _ if def.has(flag::ANY_ANCESTOR) && x.arg == FieldArg::None => {
                (Lhs::AnyAncestor(x.clone()), x.ty)
            }
            _ => (Lhs::One(x.clone()), x.ty),
        })
    }

    /// A field or transformer chain. Returns the extractor and the base field's definition.
    fn extractor(
        &mut self,
        o: &Operand,
        src: &Located,
    ) -> Result<(Extractor, &'static fields::FieldDef), Diagnostic> {
        match o {
            Operand::Field(f) => {
                let (field, arg) = fields::lookup(&f.name, f.arg.as_deref()).map_err(|e| {
                    Diagnostic::error(at(src, f.span.start), e.to_string()).with_token(written(f))
                })?;
                let def = fields::def(field);
                Ok((
                    Extractor {
                        field,
                        arg,
                        transforms: Vec::new(),
                        ty: def.ty,
                    },
                    def,
                ))
            }
            Operand::Transform { kind, inner, span } => {
                let (mut x, def) = self.extractor(inner, src)?;
                let pos = || at(src, span.start);
                if def.has(flag::NO_TRANSFORMER) {
                    return Err(Diagnostic::error(
                        pos(),
                        format!("field '{}' does not accept transformers", def.name),
                    )
                    .with_token(kind.name()));
                }
                x.ty = ops::transform_type(*kind, x.ty)
                    .map_err(|m| Diagnostic::error(pos(), m).with_token(kind.name()))?;
                if *kind != Transformer::Val {
                    x.transforms.push(*kind);
                }
                Ok((x, def))
            }
        }
    }

    /// The right-hand side; `evt_type`: the values are event type names (`known_evt_type`).
    fn rhs(
        &mut self,
        c: &ast::Check,
        ty: FieldType,
        evt_type: bool,
        src: &Located,
    ) -> Result<RhsC, Diagnostic> {
        let op = c.op;
        let pos = |span: ast::Span| at(src, span.start);
        if op == Op::Exists {
            return Ok(RhsC::None);
        }
        if let Rhs::Operand(o) = &c.rhs {
            if matches!(op, Op::PMatch | Op::Regex) {
                return Err(Diagnostic::error(
                    pos(o.span()),
                    format!(
                        "'{}' does not accept a field on the right-hand side",
                        op.as_str()
                    ),
                ));
            }
            let (x, def) = self.extractor(o, src)?;
            if def.has(flag::NO_TRANSFORMER) || def.has(flag::FILTER_ONLY) {
                return Err(Diagnostic::error(
                    pos(o.span()),
                    format!(
                        "field '{}' cannot be compared against another field",
                        def.name
                    ),
                ));
            }
            if x.ty != ty {
                return Err(Diagnostic::error(
                    pos(o.span()),
                    format!("cannot compare a {ty} field with a {} field", x.ty),
                ));
            }
            return Ok(RhsC::Field(x));
        }
        let hex = matches!(op, Op::BContains | Op::BStartsWith);
        let lit = |text: &str, span| {
            ops::parse_literal(ty, text, hex)
                .map_err(|m| Diagnostic::error(pos(span), m).with_token(text))
        };
        if evt_type && let Rhs::Value(l) = &c.rhs {
            known_evt_type(&l.text, l, src)?;
        }
        match (op, &c.rhs) {
            (Op::In | Op::Intersects | Op::PMatch, _) => {
                let mut items = Vec::new();
                for (name, l) in self.values(&c.rhs, op, src)? {
                    if evt_type {
                        known_evt_type(&name, l, src)?;
                    }
                    items.push(name);
                }
                let span = rhs_span(&c.rhs);
                Ok(match (op, ty) {
                    (Op::PMatch, _) => RhsC::Paths(PathSet::new(&items)),
                    (_, FieldType::Str) => RhsC::Strings(StrSet::new(items)),
                    _ => RhsC::Lits(
                        items
                            .iter()
                            .map(|i| lit(i, span))
                            .collect::<Result<_, _>>()?,
                    ),
                })
            }
            (Op::Regex, Rhs::Value(l)) => ops::compile_regex(&l.text)
                .map(RhsC::Regex)
                .map_err(|m| Diagnostic::error(pos(l.span), m).with_token(&l.text)),
            (_, Rhs::Value(l)) => Ok(RhsC::One(lit(&l.text, l.span)?)),
            (_, Rhs::List { span, .. }) => Err(Diagnostic::error(
                pos(*span),
                format!("operator '{}' takes one value, not a list", op.as_str()),
            )),
            (_, Rhs::None) => Err(Diagnostic::error(
                at(src, c.op_span.end),
                format!("operator '{}' needs a value", op.as_str()),
            )),
            (_, Rhs::Operand(_)) => unreachable!("handled above"),
        }
    }

    /// The right-hand side of a set operator as strings, with list names expanded; each with
    /// the literal it was written as (a list's items: the list's name).
    fn values<'r>(
        &mut self,
        rhs: &'r Rhs,
        op: Op,
        src: &Located,
    ) -> Result<Vec<(String, &'r ast::Literal)>, Diagnostic> {
        let lits: &[ast::Literal] = match rhs {
            Rhs::Value(l) => std::slice::from_ref(l),
            Rhs::List { items, .. } => items,
            Rhs::None | Rhs::Operand(_) => {
                return Err(Diagnostic::error(
                    at(src, rhs_span(rhs).start),
                    format!("operator '{}' needs a value or a list", op.as_str()),
                ));
            }
        };
        let mut out = Vec::with_capacity(lits.len());
        for l in lits {
            match self.collected.lists.get(&l.text).filter(|_| !l.quoted) {
                Some(list) => {
                    self.list_bytes = self
                        .list_bytes
                        .saturating_add(budget::list_bytes(&list.items));
                    if self.list_bytes > budget::MAX_TOTAL_BYTES {
                        return Err(Diagnostic::error(
                            at(src, l.span.start),
                            format!(
                                "list '{}' written out here brings the lists copied into conditions to more than {} bytes",
                                l.text,
                                budget::MAX_TOTAL_BYTES
                            ),
                        )
                        .with_token(l.text.as_str()));
                    }
                    out.extend(list.items.iter().map(|i| (unquote(i), l)))
                }
                None => out.push((l.text.clone(), l)),
            }
        }
        Ok(out)
    }
}

/// Falco refuses a condition comparing `evt.type` with a name it knows no event by (libsinsp
/// checks each value of the field as it parses it, whatever the operator), with this message;
/// see `evttype::falco_knows`. `lit` is where the name was written: itself, or a list holding it.
fn known_evt_type(name: &str, lit: &ast::Literal, src: &Located) -> Result<(), Diagnostic> {
    if evttype::falco_knows(name) {
        return Ok(());
    }
    let d = Diagnostic::error(
        at(src, lit.span.start),
        format!("unknown event type {name}"),
    );
    Err(if lit.text == name {
        d
    } else {
        d.with_token(lit.text.as_str())
    })
}

/// Errors that `skip-if-unknown-filter: true` turns into a skipped rule and a warning, as
/// Falco does for a field or an event type it does not know.
pub fn is_unknown_filter(e: &Diagnostic) -> bool {
    e.message == "unknown field" || e.message.starts_with("unknown event type ")
}

/// A list item written with its quotes (`'"/bin/sh"'` in YAML) stands for the quoted text.
fn unquote(item: &str) -> String {
    let b = item.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        item[1..item.len() - 1].to_string()
    } else {
        item.to_string()
    }
}

fn rhs_span(rhs: &Rhs) -> ast::Span {
    match rhs {
        Rhs::None => ast::Span::default(),
        Rhs::Value(l) => l.span,
        Rhs::List { span, .. } => *span,
        Rhs::Operand(o) => o.span(),
    }
}

fn written(f: &ast::FieldRef) -> String {
    match &f.arg {
        Some(a) => format!("{}[{a}]", f.name),
        None => f.name.clone(),
    }
}

/// Operators each type accepts (falco-fields.md 0.1).
fn check_op(ty: FieldType, op: Op) -> Result<(), String> {
    use Op::*;
    let ok = match ty {
        FieldType::Str => !matches!(op, BContains | BStartsWith),
        FieldType::Bytes => matches!(
            op,
            Eq | Ne
                | Contains
                | BContains
                | StartsWith
                | BStartsWith
                | EndsWith
                | In
                | Intersects
                | Exists
        ),
        t if t.is_numeric() => matches!(op, Eq | Ne | Lt | Le | Gt | Ge | In | Intersects | Exists),
        _ => matches!(op, Eq | Ne | In | Intersects | Exists),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "operator '{}' is not allowed on a {ty} field",
            op.as_str()
        ))
    }
}

/// The file position of byte `offset` of `src`.
pub fn at(src: &Located, offset: usize) -> Pos {
    src.map.locate(offset).unwrap_or_else(|| Pos {
        file: "<condition>".into(),
        line: 1,
        col: offset + 1,
    })
}

fn parse_error(src: &Located, e: &ParseError) -> Diagnostic {
    let d = Diagnostic::error(at(src, e.offset), e.message.clone());
    if e.token.is_empty() {
        d
    } else {
        d.with_token(e.token.clone())
    }
}

/// The event types a filter can match (falco-fields.md 3.7): from its `evt.type` checks; any
/// other check allows every type. `not` flips through De Morgan.
pub fn evt_types(node: &Node) -> EvtSet {
    fn walk(n: &Node, negated: bool) -> EvtSet {
        match n {
            Node::EvtType(s) if negated => s.complement(),
            Node::EvtType(s) => *s,
            Node::Check(_) | Node::Const(_) => EvtSet::ALL,
            Node::Not(x) => walk(x, !negated),
            Node::Memo(_, x) => walk(x, negated),
            Node::And(xs) | Node::Or(xs) => {
                let intersect = matches!(n, Node::And(_)) != negated;
                let sets = xs.iter().map(|x| walk(x, negated));
                if intersect {
                    sets.fold(EvtSet::ALL, EvtSet::intersect)
                } else {
                    sets.fold(EvtSet::NONE, EvtSet::union)
                }
            }
        }
    }
    walk(node, false)
}
