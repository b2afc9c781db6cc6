//! The words of the language: field names with their `[arg]`, transformer calls, bare and
//! quoted values (with Falco's escapes, falco-fields.md 2.1), and output widths.

use super::Result;
use super::cursor::{Parser, is_ident_byte, prefix_chars};
use crate::ast::{FieldRef, Literal, Operand, Span, Transformer};

/// Ends a bare value: whitespace and the bytes that are syntax around values.
pub(super) fn ends_bare_value(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'(' | b')' | b',' | b'=' | b'"' | b'\'')
}

/// Ends an unquoted field argument (`proc.aname[2]`, `container.mount.dest[/proc*]`).
fn ends_field_arg(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'[' | b']' | b'"' | b'\'')
}

impl Parser<'_> {
    // ---- operands: fields and transformer calls ----------------------------------------

    /// Whether a field name or a transformer call starts at `pos`.
    pub(super) fn at_operand(&self) -> bool {
        self.field_name_end(self.pos).is_some() || self.at_transformer_call()
    }

    pub(super) fn at_transformer_call(&self) -> bool {
        let end = self.ident_end(self.pos);
        self.byte(end) == Some(b'(') && Transformer::from_name(self.slice(self.pos, end)).is_some()
    }

    /// End of the dotted field name at `at`: `[a-zA-Z][a-zA-Z0-9_]*(\.[a-zA-Z0-9_]+)+`. A dot
    /// not followed by a name byte is not part of it (`%proc.name.` ends before the dot).
    fn field_name_end(&self, at: usize) -> Option<usize> {
        if !self.byte(at)?.is_ascii_alphabetic() {
            return None;
        }
        let mut end = self.ident_end(at);
        let mut segments = 0;
        while self.byte(end) == Some(b'.') && self.byte(end + 1).is_some_and(is_ident_byte) {
            end = self.ident_end(end + 1);
            segments += 1;
        }
        (segments > 0).then_some(end)
    }

    /// A field (with its optional `[arg]`) or a transformer call around an operand.
    /// `allow_val` admits `val(...)` at this level (the top of a right-hand side only).
    pub(super) fn parse_operand(&mut self, allow_val: bool) -> Result<Operand> {
        let start = self.pos;
        if let Some(end) = self.field_name_end(start) {
            return self.parse_field(start, end).map(Operand::Field);
        }
        let name_end = self.ident_end(start);
        let kind = Transformer::from_name(self.slice(start, name_end))
            .filter(|_| self.byte(name_end) == Some(b'('))
            .ok_or_else(|| self.error(start, "expected a field name or a transformer call"))?;
        if kind == Transformer::Val && !allow_val {
            return Err(self.error(
                start,
                "val() is only allowed on the right-hand side of a comparison",
            ));
        }
        self.enter(start)?;
        self.pos = name_end + 1;
        self.skip_ws();
        let inner = self.parse_operand(false)?;
        self.skip_ws();
        self.expect_close(name_end, &format!("'{}('", kind.name()))?;
        self.leave();
        Ok(Operand::Transform {
            kind,
            inner: Box::new(inner),
            span: Span::new(start, self.pos),
        })
    }

    /// The field whose name spans `start..name_end`, then its optional `[arg]`.
    fn parse_field(&mut self, start: usize, name_end: usize) -> Result<FieldRef> {
        let name = self.slice(start, name_end).to_owned();
        self.pos = name_end;
        let mut arg = None;
        if self.peek() == Some(b'[') {
            let open = self.pos;
            self.pos += 1;
            let text = match self.peek() {
                Some(b'"' | b'\'') => self.lex_quoted_literal()?.text,
                _ => {
                    let arg_start = self.pos;
                    while self.peek().is_some_and(|b| !ends_field_arg(b)) {
                        self.pos += 1;
                    }
                    if self.pos == arg_start {
                        return Err(
                            self.error(self.pos, format!("expected an argument for '{name}['"))
                        );
                    }
                    self.lex_checked_text(arg_start, self.pos)?
                }
            };
            match self.peek() {
                Some(b']') => self.pos += 1,
                None => {
                    return Err(self.error_token(
                        self.pos,
                        format!("missing ']' to close the '[' at offset {open}"),
                        "",
                    ));
                }
                Some(_) => {
                    return Err(self.error(
                        self.pos,
                        format!("expected ']' to close the '[' at offset {open}"),
                    ));
                }
            }
            arg = Some(text);
        }
        Ok(FieldRef {
            name,
            arg,
            span: Span::new(start, self.pos),
        })
    }

    // ---- values ------------------------------------------------------------------------

    /// Decimal width after `%` in an output (`%20proc.name`), if any.
    pub(super) fn lex_width(&mut self, percent: usize) -> Result<Option<usize>> {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == start {
            return Ok(None);
        }
        let digits = self.slice(start, self.pos);
        match digits.parse::<usize>() {
            Ok(w) if w <= super::MAX_FIELD_WIDTH => Ok(Some(w)),
            _ => Err(self.error_token(
                percent,
                format!("output field width larger than {}", super::MAX_FIELD_WIDTH),
                self.slice(percent, self.pos),
            )),
        }
    }

    /// A bare value: a run of bytes up to whitespace or one of `( ) , = " '`.
    pub(super) fn lex_bare_literal(&mut self) -> Result<Literal> {
        let start = self.pos;
        while self.peek().is_some_and(|b| !ends_bare_value(b)) {
            self.pos += 1;
        }
        Ok(Literal {
            text: self.lex_checked_text(start, self.pos)?,
            quoted: false,
            span: Span::new(start, self.pos),
        })
    }

    /// Unquoted text as a value: refuses NUL, which Falco's C strings cannot hold.
    fn lex_checked_text(&self, start: usize, end: usize) -> Result<String> {
        let text = self.slice(start, end);
        match text.find('\0') {
            Some(nul) => Err(self.error_token(start + nul, "NUL character in a value", "\0")),
            None => Ok(text.to_owned()),
        }
    }

    /// `"..."` or `'...'` with Falco's escapes (falco-fields.md 2.1): `\b \f \n \r \t \\ \/
    /// \xHH`, the enclosing quote, and the legacy `\ ` that keeps its backslash.
    pub(super) fn lex_quoted_literal(&mut self) -> Result<Literal> {
        let start = self.pos;
        let Some(quote @ (b'"' | b'\'')) = self.peek() else {
            return Err(self.error(start, "expected a quoted string"));
        };
        let mut out = Vec::new();
        let mut i = start + 1;
        let unterminated =
            |p: &Self| p.error_token(start, "unterminated string", p.slice(start, p.bytes.len()));
        loop {
            let Some(b) = self.byte(i) else {
                return Err(unterminated(self));
            };
            i += 1;
            if b == quote {
                break;
            }
            if b == 0 {
                return Err(self.error_token(i - 1, "NUL character in a value", "\0"));
            }
            if b != b'\\' {
                out.push(b);
                continue;
            }
            let Some(esc) = self.byte(i) else {
                return Err(unterminated(self));
            };
            i += 1;
            match esc {
                b'b' => out.push(0x08),
                b'f' => out.push(0x0c),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'\\' | b'/' => out.push(esc),
                b' ' => out.extend_from_slice(b"\\ "),
                _ if esc == quote => out.push(esc),
                b'x' => {
                    let hex = self
                        .bytes
                        .get(i..i + 2)
                        .and_then(|h| std::str::from_utf8(h).ok());
                    let bad = i - 2;
                    let token = prefix_chars(self.slice(bad, self.bytes.len()), 4);
                    // from_str_radix alone would accept a sign (`\x+f`).
                    let value = hex
                        .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    match value {
                        Some(0) => {
                            return Err(self.error_token(bad, "NUL character in a value", token));
                        }
                        Some(v) => out.push(v),
                        None => {
                            let message = "invalid \\x escape (expected two hex digits)";
                            return Err(self.error_token(bad, message, token));
                        }
                    }
                    i += 2;
                }
                _ => {
                    let bad = i - 2;
                    let token = prefix_chars(self.slice(bad, self.bytes.len()), 2);
                    return Err(self.error_token(bad, format!("invalid escape '{token}'"), token));
                }
            }
        }
        self.pos = i;
        let text = String::from_utf8(out).map_err(|_| {
            let token = self.slice(start, i);
            self.error_token(start, "\\x escapes do not form valid UTF-8", token)
        })?;
        Ok(Literal {
            text,
            quoted: true,
            span: Span::new(start, i),
        })
    }
}
