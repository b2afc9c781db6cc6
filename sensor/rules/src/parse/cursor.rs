//! The parser's cursor over the text: byte access that cannot panic, the token shown in an
//! error, and the nesting count behind `MAX_DEPTH`.

use super::{MAX_DEPTH, ParseError, Result};

pub(super) fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

pub(super) struct Parser<'a> {
    pub(super) text: &'a str,
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
    pub(super) depth: usize,
}

impl<'a> Parser<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
        }
    }

    pub(super) fn byte(&self, at: usize) -> Option<u8> {
        self.bytes.get(at).copied()
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.byte(self.pos)
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// Never panics: a range that is out of bounds or not on char boundaries gives "".
    pub(super) fn slice(&self, start: usize, end: usize) -> &'a str {
        self.text.get(start..end).unwrap_or("")
    }

    pub(super) fn find_byte(&self, needle: u8, from: usize) -> Option<usize> {
        let rest = self.bytes.get(from..)?;
        rest.iter().position(|&b| b == needle).map(|i| from + i)
    }

    pub(super) fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// End of the run of identifier bytes starting at `at`.
    pub(super) fn ident_end(&self, at: usize) -> usize {
        let mut i = at;
        while self.byte(i).is_some_and(is_ident_byte) {
            i += 1;
        }
        i
    }

    /// The token at `at` as a reader would see it, for error messages: a word, a run of
    /// operator-like punctuation, a quoted string, or one character.
    pub(super) fn token_end(&self, at: usize) -> usize {
        let Some(first) = self.byte(at) else {
            return at;
        };
        let mut i = at + 1;
        if first.is_ascii_whitespace() {
            return i;
        } else if is_ident_byte(first) {
            while self.byte(i).is_some_and(|b| is_ident_byte(b) || b == b'.') {
                i += 1;
            }
        } else if first == b'"' || first == b'\'' {
            i = self
                .find_byte(first, i)
                .map_or(self.bytes.len(), |end| end + 1);
        } else if first.is_ascii_punctuation() && !matches!(first, b'(' | b')' | b',') {
            let operator_like = |b: u8| matches!(b, b'=' | b'!' | b'<' | b'>' | b'~' | b'&' | b'|');
            if operator_like(first) {
                while self.byte(i).is_some_and(operator_like) {
                    i += 1;
                }
            }
        } else if !first.is_ascii() {
            // Take the whole character.
            while self.byte(i).is_some_and(|b| b & 0xC0 == 0x80) {
                i += 1;
            }
        }
        i
    }

    pub(super) fn error(&self, at: usize, message: impl Into<String>) -> ParseError {
        let token = self.slice(at, self.token_end(at)).to_owned();
        self.error_token(at, message, token)
    }

    pub(super) fn error_token(
        &self,
        at: usize,
        message: impl Into<String>,
        token: impl Into<String>,
    ) -> ParseError {
        ParseError {
            offset: at,
            message: message.into(),
            token: token.into(),
        }
    }

    /// Counts one level of nesting opened at `at`; `leave` closes it.
    pub(super) fn enter(&mut self, at: usize) -> Result<()> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(at, format!("nesting deeper than {MAX_DEPTH}")));
        }
        self.depth += 1;
        Ok(())
    }

    pub(super) fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Consumes `)` or fails with a message naming what it would close.
    pub(super) fn expect_close(&mut self, open: usize, what: &str) -> Result<()> {
        match self.peek() {
            Some(b')') => {
                self.pos += 1;
                Ok(())
            }
            None => Err(self.error(
                self.pos,
                format!("missing ')' to close the {what} at offset {open}"),
            )),
            Some(_) => Err(self.error(
                self.pos,
                format!("expected ')' to close the {what} at offset {open}"),
            )),
        }
    }
}

/// The first `n` characters of `s`.
pub(super) fn prefix_chars(s: &str, n: usize) -> &str {
    let end = s.char_indices().nth(n).map_or(s.len(), |(i, _)| i);
    &s[..end]
}
