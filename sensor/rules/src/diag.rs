//! Diagnostics like a compiler's: `file:line:col: error: message (near 'token')`, and the map
//! from an offset inside a YAML scalar (a condition, an output) back to the file position.

use std::{fmt, sync::Arc};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// A position in a rules file: 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pos {
    pub file: Arc<str>,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub severity: Severity,
    pub pos: Pos,
    pub message: String,
    /// The offending token as written, when there is one.
    pub token: Option<String>,
}

impl Diagnostic {
    pub fn error(pos: Pos, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            pos,
            message: message.into(),
            token: None,
        }
    }
    pub fn warning(pos: Pos, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(pos, message)
        }
    }
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {sev}: {}", self.pos, self.message)?;
        if let Some(t) = &self.token {
            write!(f, " (near '{t}')")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// Where the characters of a text (a condition, an output) came from in the rules files. Each
/// segment says: bytes from `offset` on start at `pos`. Block scalars (`>`, `|`) and multi-line
/// plain scalars get one segment per source line; text appended by a later item (`append`,
/// `override`, exceptions) gets segments pointing into that item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextMap {
    /// Sorted by offset.
    pub segments: Vec<(usize, Pos)>,
}

impl TextMap {
    /// A text that starts at `pos` and continues on the same line.
    pub fn at(pos: Pos) -> Self {
        Self {
            segments: vec![(0, pos)],
        }
    }

    /// The file position of byte `offset` of the text.
    pub fn locate(&self, offset: usize) -> Option<Pos> {
        let i = self
            .segments
            .partition_point(|(o, _)| *o <= offset)
            .checked_sub(1)?;
        let (o, pos) = &self.segments[i];
        Some(Pos {
            col: pos.col + offset.saturating_sub(*o),
            ..pos.clone()
        })
    }

    /// Append `other` (the map of text added at byte `at` of this text).
    pub fn extend(&mut self, at: usize, other: &TextMap) {
        self.segments
            .extend(other.segments.iter().map(|(o, p)| (o + at, p.clone())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_picks_the_segment_of_the_offset() {
        let at = |line, col| Pos {
            file: "r.yaml".into(),
            line,
            col,
        };
        let mut m = TextMap {
            segments: vec![(0, at(3, 5)), (10, at(4, 5))],
        };
        m.extend(25, &TextMap::at(at(5, 7)));
        let s = |o| m.locate(o).unwrap().to_string();
        assert_eq!(s(0), "r.yaml:3:5");
        assert_eq!(s(9), "r.yaml:3:14");
        assert_eq!(s(10), "r.yaml:4:5");
        assert_eq!(s(30), "r.yaml:5:12");
        assert_eq!(TextMap::default().locate(3), None);
    }

    #[test]
    fn display_names_file_line_col_and_token() {
        let d = Diagnostic::error(m_pos(), "unknown field").with_token("proc.nmae");
        assert_eq!(
            d.to_string(),
            "r.yaml:2:9: error: unknown field (near 'proc.nmae')"
        );
    }

    fn m_pos() -> Pos {
        Pos {
            file: "r.yaml".into(),
            line: 2,
            col: 9,
        }
    }
}
