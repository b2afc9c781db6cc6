//! The condition grammar (falco-fields.md 2.1, 2.2): `or` < `and` < `not` < check, where a
//! check is `operand OP value`, `operand exists` or a macro name.

use super::Result;
use super::cursor::{Parser, is_ident_byte};
use super::lexeme::ends_bare_value;
use crate::ast::{Check, Expr, Op, Operand, Rhs, Span};

impl Parser<'_> {
    // ---- boolean structure -------------------------------------------------------------

    /// `or` of `and`s of unary expressions. The chains are loops, so only `(` and `not`
    /// recurse (two frames per level of parentheses).
    pub(super) fn parse_expr(&mut self) -> Result<Expr> {
        let mut ors = Vec::new();
        let mut ands = Vec::new();
        loop {
            ands.push(self.parse_unary()?);
            if self.keyword("and")? {
                continue;
            }
            ors.push(collapse(ands, Expr::And));
            ands = Vec::new();
            if !self.keyword("or")? {
                break;
            }
        }
        Ok(collapse(ors, Expr::Or))
    }

    /// Consumes the keyword `kw` after optional whitespace if it is there. A keyword must be
    /// followed by whitespace or `(`; `andy` is not the keyword `and` and is left alone.
    fn keyword(&mut self, kw: &str) -> Result<bool> {
        let saved = self.pos;
        self.skip_ws();
        let start = self.pos;
        let end = start + kw.len();
        if self.bytes.get(start..end) != Some(kw.as_bytes()) {
            self.pos = saved;
            return Ok(false);
        }
        match self.byte(end) {
            Some(b) if b.is_ascii_whitespace() || b == b'(' => {
                self.pos = end;
                Ok(true)
            }
            Some(b) if is_ident_byte(b) || b == b'.' => {
                self.pos = saved;
                Ok(false)
            }
            None => Err(self.error_token(end, format!("missing condition after '{kw}'"), "")),
            Some(_) => Err(self.error(start, format!("expected whitespace or '(' after '{kw}'"))),
        }
    }

    /// `not`* followed by `( expr )` or a check. A run of `not`s is a loop; each still counts
    /// one level of depth.
    fn parse_unary(&mut self) -> Result<Expr> {
        let mut nots = 0;
        loop {
            self.skip_ws();
            let at = self.pos;
            if !self.keyword("not")? {
                break;
            }
            self.enter(at)?;
            nots += 1;
        }
        let mut expr = self.parse_primary()?;
        // An error anywhere aborts the whole parse, so depth only needs unwinding on success.
        self.depth -= nots;
        for _ in 0..nots {
            expr = Expr::Not(Box::new(expr));
        }
        Ok(expr)
    }

    /// `( expr )` or a check.
    fn parse_primary(&mut self) -> Result<Expr> {
        self.skip_ws();
        let open = self.pos;
        if self.peek() != Some(b'(') {
            return self.parse_check();
        }
        self.enter(open)?;
        self.pos += 1;
        let expr = self.parse_expr()?;
        self.skip_ws();
        match self.peek() {
            Some(b')') => self.pos += 1,
            None => {
                let message = format!("missing ')' to close the '(' at offset {open}");
                return Err(self.error_token(self.pos, message, ""));
            }
            Some(_) => {
                let message =
                    format!("expected 'and', 'or' or ')' to close the '(' at offset {open}");
                return Err(self.error(self.pos, message));
            }
        }
        self.leave();
        Ok(expr)
    }

    // ---- checks ------------------------------------------------------------------------

    /// `field OP value`, `field exists`, `transformer(...) OP value` or a macro name.
    fn parse_check(&mut self) -> Result<Expr> {
        let start = self.pos;
        let Some(first) = self.peek() else {
            return Err(self.error(start, "missing condition"));
        };
        if !(first.is_ascii_alphabetic() || first == b'_') {
            return Err(self.error(start, "expected a field, a macro name, 'not' or '('"));
        }
        if !self.at_operand() {
            return self.parse_macro(start);
        }
        let lhs = self.parse_operand(false)?;
        self.parse_comparison(lhs).map(Expr::Check)
    }

    fn parse_macro(&mut self, start: usize) -> Result<Expr> {
        let end = self.ident_end(start);
        let name = self.slice(start, end);
        if matches!(name, "and" | "or" | "not") {
            return Err(self.error(start, format!("unexpected '{name}'")));
        }
        // `foo = bar`: a likely typo for a field; say so rather than "expected 'and'" at `=`.
        let mut after = end;
        while self.byte(after).is_some_and(|b| b.is_ascii_whitespace()) {
            after += 1;
        }
        if matches!(self.byte(after), Some(b'=' | b'!' | b'<' | b'>')) {
            return Err(self.error(
                start,
                format!("'{name}' is not a field name (field names contain a dot)"),
            ));
        }
        self.pos = end;
        Ok(Expr::Macro {
            name: name.to_owned(),
            span: Span::new(start, end),
        })
    }

    fn parse_comparison(&mut self, lhs: Operand) -> Result<Check> {
        self.skip_ws();
        let op_start = self.pos;
        let (op, op_end) = self.lex_op()?;
        self.pos = op_end;
        let op_span = Span::new(op_start, op_end);
        if op == Op::Exists {
            return Ok(Check {
                lhs,
                op,
                op_span,
                rhs: Rhs::None,
            });
        }
        let is_word = self.byte(op_start).is_some_and(|b| b.is_ascii_alphabetic());
        match self.peek() {
            None => {
                return Err(self.error_token(
                    op_end,
                    format!("missing value after '{}'", op.as_str()),
                    "",
                ));
            }
            Some(b) if is_word && !(b.is_ascii_whitespace() || (b == b'(' && op.takes_list())) => {
                return Err(self.error(
                    op_end,
                    format!("expected whitespace after '{}'", op.as_str()),
                ));
            }
            _ => {}
        }
        let rhs = self.parse_rhs(op)?;
        Ok(Check {
            lhs,
            op,
            op_span,
            rhs,
        })
    }

    /// The operator at `pos` and where it ends. Symbol operators match by longest prefix like
    /// Falco's lexer (`evt.dir=<` is `=` then `<`); word operators must be whole words.
    fn lex_op(&self) -> Result<(Op, usize)> {
        let at = self.pos;
        let Some(first) = self.byte(at) else {
            return Err(self.error_token(at, "expected an operator", ""));
        };
        if is_ident_byte(first) {
            let end = self.ident_end(at);
            return match Op::from_word(self.slice(at, end)) {
                Some(op) => Ok((op, end)),
                None => Err(self.error(at, "expected an operator")),
            };
        }
        let rest = self.bytes.get(at..).unwrap_or_default();
        for spelling in ["==", "!=", "<=", ">=", "=", "<", ">"] {
            if let Some(op) =
                Op::from_word(spelling).filter(|_| rest.starts_with(spelling.as_bytes()))
            {
                return Ok((op, at + spelling.len()));
            }
        }
        if first.is_ascii_punctuation() && !matches!(first, b'(' | b')' | b',' | b'"' | b'\'') {
            return Err(self.error(at, "unknown operator"));
        }
        Err(self.error(at, "expected an operator"))
    }

    fn parse_rhs(&mut self, op: Op) -> Result<Rhs> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            None => {
                Err(self.error_token(start, format!("missing value after '{}'", op.as_str()), ""))
            }
            Some(b'(') if op.takes_list() => self.parse_list(),
            Some(b'"' | b'\'') => self.lex_quoted_literal().map(Rhs::Value),
            Some(_) if self.at_transformer_call() => self.parse_operand(true).map(Rhs::Operand),
            Some(b) if ends_bare_value(b) => {
                Err(self.error(start, format!("expected a value after '{}'", op.as_str())))
            }
            Some(_) => self.lex_bare_literal().map(Rhs::Value),
        }
    }

    /// `( item, item, ... )`; `()` is legal. Items are quoted or bare.
    fn parse_list(&mut self) -> Result<Rhs> {
        let open = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(Rhs::List {
                items,
                span: Span::new(open, self.pos),
            });
        }
        loop {
            self.skip_ws();
            let item = match self.peek() {
                None => {
                    return Err(self.error_token(
                        self.pos,
                        format!("missing ')' to close the list at offset {open}"),
                        "",
                    ));
                }
                Some(b'"' | b'\'') => self.lex_quoted_literal()?,
                Some(b) if ends_bare_value(b) => {
                    return Err(self.error(self.pos, "expected a list item"));
                }
                Some(_) => self.lex_bare_literal()?,
            };
            items.push(item);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b')') => {
                    self.pos += 1;
                    return Ok(Rhs::List {
                        items,
                        span: Span::new(open, self.pos),
                    });
                }
                None => {
                    return Err(self.error_token(
                        self.pos,
                        format!("missing ')' to close the list at offset {open}"),
                        "",
                    ));
                }
                Some(_) => return Err(self.error(self.pos, "expected ',' or ')' in a list")),
            }
        }
    }
}

/// One operand stays itself; two or more become `make(operands)`.
fn collapse(mut items: Vec<Expr>, make: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1 {
        items.pop().unwrap_or(Expr::And(Vec::new()))
    } else {
        make(items)
    }
}
