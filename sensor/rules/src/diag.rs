//! Diagnostics like a compiler's: `file:line:col: error: message (near 'token')`, and the map
//! from an offset inside a YAML scalar (a condition, an output) back to the file position.

use std::{fmt, sync::Arc};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A position in a rules file: 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
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

#[derive(Clone, Debug, PartialEq, Eq)]
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

/// Where the characters of a scalar's value came from in the file. Each segment says: value
/// bytes from `offset` on start at this line and column. Block scalars (`>`, `|`) and
/// multi-line plain scalars get one segment per source line; a single-line scalar one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextMap {
    pub file: Arc<str>,
    /// (value byte offset, line, col), sorted by offset; never empty.
    pub segments: Vec<(usize, usize, usize)>,
}

impl TextMap {
    /// A value that starts at `line:col` and continues on the same line.
    pub fn at(file: Arc<str>, line: usize, col: usize) -> Self {
        Self {
            file,
            segments: vec![(0, line, col)],
        }
    }

    /// The file position of byte `offset` of the value.
    pub fn locate(&self, offset: usize) -> Pos {
        let i = self
            .segments
            .partition_point(|(o, _, _)| *o <= offset)
            .saturating_sub(1);
        let (o, line, col) = self.segments[i];
        Pos {
            file: self.file.clone(),
            line,
            col: col + offset.saturating_sub(o),
        }
    }

    pub fn start(&self) -> Pos {
        self.locate(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_picks_the_segment_of_the_offset() {
        let m = TextMap {
            file: "r.yaml".into(),
            segments: vec![(0, 3, 5), (10, 4, 5), (25, 5, 7)],
        };
        assert_eq!(m.locate(0).to_string(), "r.yaml:3:5");
        assert_eq!(m.locate(9).to_string(), "r.yaml:3:14");
        assert_eq!(m.locate(10).to_string(), "r.yaml:4:5");
        assert_eq!(m.locate(30).to_string(), "r.yaml:5:12");
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
