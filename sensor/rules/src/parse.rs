//! Text → `ast`: the condition parser (falco-fields.md 2.1, 2.2, 2.5) and the output-format
//! tokenizer (4.1). Names stay text and literals stay untyped; `compile` resolves them.
//!
//! The input is arbitrary UTF-8 from a rules file, so nothing here may panic: every position
//! the parser stops at is either the end or an ASCII byte (all delimiters are ASCII, and UTF-8
//! continuation bytes never are), and slicing goes through `Parser::slice`, which cannot fail.
//! Recursion happens only at `(`, `not` and transformer calls, each counted against
//! `MAX_DEPTH`, so a hostile condition gets an error instead of a stack overflow.
//!
//! Deviations from Falco's parser:
//! * `not not x` is kept as two nested `Not`s (same meaning; the compiler may fold it).
//! * The numeric operators `< <= > >=` accept any right-hand side here; whether it is a number
//!   depends on the field's type, which `compile` knows.
//! * The `oneof`/`anyof`/`allof` operator modifiers and the multi-argument transformers
//!   (`join`, `concat`, `getopt`) are not supported; the rules use none of them.
//! * `val()` is rejected on the left-hand side and in outputs at parse time.
//! * The depth limit is 256, not Falco's 1000.
//! * Whitespace is allowed inside a transformer's parentheses (`tolower( proc.name )`).

use std::fmt;

use crate::ast::{Expr, Operand, Span};

mod condition;
mod cursor;
mod lexeme;

use cursor::Parser;

/// Deepest nesting of parentheses, `not` and transformer calls a condition or output may use.
pub const MAX_DEPTH: usize = 256;
/// Budgets of an output format. Every alert of the rule is at least as large as its format
/// and its padded fields: an 8 MiB output, or `%999999999proc.name`, would make each alert
/// gigabytes. The official rules' outputs are under 1 KiB with at most 25 fields.
pub const MAX_OUTPUT_BYTES: usize = 64 << 10;
pub const MAX_OUTPUT_FIELDS: usize = 1024;
pub const MAX_FIELD_WIDTH: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset into the text where the problem is.
    pub offset: usize,
    pub message: String,
    /// The offending token as written; empty at the end of the input.
    pub token: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.token.is_empty() {
            write!(
                f,
                "{} (at offset {}, end of input)",
                self.message, self.offset
            )
        } else {
            write!(
                f,
                "{} (at offset {}, near '{}')",
                self.message, self.offset, self.token
            )
        }
    }
}

impl std::error::Error for ParseError {}

/// One piece of an output format: literal text, or a `%field` to substitute.
#[derive(Clone, Debug, PartialEq)]
pub enum OutputPart {
    Text(String),
    Field {
        /// `%20proc.name` → 20: pad or truncate the value to this many characters.
        width: Option<usize>,
        operand: Operand,
        /// The token as written after `%` and the width (`proc.aname[2]`,
        /// `tolower(proc.name)`): the key of the field in JSON `output_fields`.
        written: String,
        /// The whole token, from `%` to its end.
        span: Span,
    },
}

type Result<T> = std::result::Result<T, ParseError>;

/// Parses a whole condition. Macro names and list names are left as written.
pub fn parse_condition(text: &str) -> Result<Expr> {
    let mut p = Parser::new(text);
    p.skip_ws();
    if p.at_end() {
        return Err(p.error(p.pos, "empty condition"));
    }
    let expr = p.parse_expr()?;
    p.skip_ws();
    match p.peek() {
        None => Ok(expr),
        Some(b')') => Err(p.error(p.pos, "unmatched ')'")),
        Some(_) => Err(p.error(p.pos, "expected 'and', 'or' or the end of the condition")),
    }
}

/// Splits an output format into text and `%field` tokens.
pub fn parse_output(format: &str) -> Result<Vec<OutputPart>> {
    let mut p = Parser::new(format);
    if format.len() > MAX_OUTPUT_BYTES {
        return Err(p.error(
            MAX_OUTPUT_BYTES,
            format!(
                "the output is {} bytes, more than the {MAX_OUTPUT_BYTES} an output may have",
                format.len()
            ),
        ));
    }
    let mut parts = Vec::new();
    let mut text_start = 0;
    let mut fields = 0;
    while let Some(percent) = p.find_byte(b'%', p.pos) {
        fields += 1;
        if fields > MAX_OUTPUT_FIELDS {
            return Err(p.error(
                percent,
                format!("more than {MAX_OUTPUT_FIELDS} fields in one output"),
            ));
        }
        if percent > text_start {
            parts.push(OutputPart::Text(p.slice(text_start, percent).to_owned()));
        }
        p.pos = percent + 1;
        let width = p.lex_width(percent)?;
        let start = p.pos;
        if !p.at_operand() {
            let token_end = match p.peek() {
                Some(b) if !b.is_ascii_whitespace() => p.token_end(start),
                _ => start,
            };
            let token = p.slice(percent, token_end).to_owned();
            let message = if p.at_end() && start == percent + 1 {
                "'%' at the end of the output (there is no '%%' escape)"
            } else {
                "'%' must be followed by a field or a transformer call (there is no '%%' escape)"
            };
            return Err(ParseError {
                offset: percent,
                message: message.to_owned(),
                token,
            });
        }
        let operand = p.parse_operand(false)?;
        parts.push(OutputPart::Field {
            width,
            operand,
            written: p.slice(start, p.pos).to_owned(),
            span: Span::new(percent, p.pos),
        });
        text_start = p.pos;
    }
    if text_start < format.len() {
        parts.push(OutputPart::Text(
            p.slice(text_start, format.len()).to_owned(),
        ));
    }
    Ok(parts)
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
