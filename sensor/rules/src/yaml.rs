//! A YAML tree that remembers where every node was written, built from yaml-rust2's event
//! stream, and the map from an offset inside a scalar's value back to the file position.
//!
//! yaml-rust2's markers count lines from 1 and columns (and indexes) in characters from 0; the
//! nodes here carry 1-based lines and columns, in characters. A quoted scalar's marker is on its
//! opening quote; a block scalar's (`|`, `>`) is on its first content line. (`TextMap::locate`
//! adds byte offsets within a line, so after a non-ASCII character a column is a little right.)
//!
//! A flow collection closed (or continued) left of yaml-rust2's liking, which libyaml and
//! yaml-cpp accept and the official rules files do, is re-indented before parsing: see
//! `reindent_flow_line`.
//!
//! Anchors and aliases are resolved by copying the anchored node (with its positions, so text
//! taken from an alias still maps to where it was written). Nesting is capped and alias
//! expansion is budgeted by nodes and bytes (`expansion`), so hostile input cannot exhaust the
//! stack or the memory. A leading byte order mark is skipped, as YAML (and yaml-cpp) allow.

use std::{borrow::Cow, sync::Arc};

use crate::diag::{Diagnostic, Pos, TextMap};

use repair::{MAX_REPAIR_WORK, MAX_REPAIRS, blame, reindent_flow_line};

mod expansion;
mod repair;
mod tree;

/// The byte order mark, which may start a YAML stream.
pub const BOM: char = '\u{feff}';

pub use expansion::{ExpansionError, MAX_BYTES, MAX_DEPTH, MAX_NODES, check};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|`
    Literal,
    /// `>`
    Folded,
}

impl ScalarStyle {
    fn is_quoted(self) -> bool {
        matches!(self, Self::SingleQuoted | Self::DoubleQuoted)
    }
    fn is_block(self) -> bool {
        matches!(self, Self::Literal | Self::Folded)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Scalar {
        value: String,
        style: ScalarStyle,
    },
    Seq(Vec<Node>),
    /// Entries in the order written; duplicate keys are kept (lookups take the first).
    Map(Vec<(Node, Node)>),
    /// An empty value, `~` or `null` written plain.
    Null,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub kind: NodeKind,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters. For quoted scalars, the opening quote.
    pub col: usize,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }

    /// The value of the first entry whose key is the scalar `key` (maps only).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The first entry whose key is the scalar `key` (maps only).
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// What the node is, for messages ("a sequence", ...).
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a sequence",
            NodeKind::Map(_) => "a mapping",
            NodeKind::Null => "empty",
        }
    }
}

/// A parsed rules file: its documents (empty documents included, as `Null`) and what is needed
/// to map nodes back to the text.
#[derive(Debug)]
pub struct YamlFile<'a> {
    pub file: Arc<str>,
    pub docs: Vec<Node>,
    /// The text parsed (see `reindent_flow_line` for when it differs from the file's).
    text: Cow<'a, str>,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
}

impl<'a> YamlFile<'a> {
    /// Parse every document of `text`. A scan or parse error (bad indentation, unclosed quote,
    /// unknown alias, ...) is returned as a diagnostic at the place the parser stopped.
    pub fn parse(file: Arc<str>, text: &'a str) -> Result<Self, Diagnostic> {
        // Before the first line: no position moves.
        let text = text.strip_prefix(BOM).unwrap_or(text);
        let mut text = Cow::Borrowed(text);
        let mut repairs = 0;
        loop {
            let (msg, line, col) = match tree::build(&text) {
                Ok(docs) => {
                    let mut line_starts = vec![0];
                    line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
                    return Ok(Self {
                        file,
                        docs,
                        text,
                        line_starts,
                    });
                }
                Err(e) => e,
            };
            // Each repair parses the whole text again: budgeted by the bytes parsed.
            let affordable = repairs < MAX_REPAIRS
                && (repairs + 2).saturating_mul(text.len()) <= MAX_REPAIR_WORK;
            let msg = match reindent_flow_line(&text, &msg, line, col) {
                Some(fixed) if affordable => {
                    text = Cow::Owned(fixed);
                    repairs += 1;
                    continue;
                }
                Some(_) => format!(
                    "{msg} (after re-indenting {repairs} lines of flow collections, the most a file of this size gets)"
                ),
                None => msg,
            };
            let (line, col, token) = blame(&text, &msg, line.max(1), col + 1);
            let pos = Pos { file, line, col };
            let d = Diagnostic::error(pos, msg);
            return Err(match token {
                Some(t) => d.with_token(t),
                None => d,
            });
        }
    }

    pub fn pos(&self, node: &Node) -> Pos {
        Pos {
            file: self.file.clone(),
            line: node.line,
            col: node.col,
        }
    }

    /// Where the first character of the value was written (after the opening quote).
    pub fn value_pos(&self, node: &Node) -> Pos {
        let mut p = self.pos(node);
        if let NodeKind::Scalar { style, .. } = &node.kind
            && style.is_quoted()
        {
            p.col += 1;
        }
        p
    }

    /// The map from byte offsets of a scalar's value to file positions: one segment per source
    /// line the value spans. Lines are matched against the value (folding turns line breaks
    /// into spaces, so the pieces still line up); escapes in quoted scalars and comments after
    /// plain ones only shift a position within its line.
    pub fn text_map(&self, node: &Node) -> TextMap {
        let NodeKind::Scalar { value, style } = &node.kind else {
            return TextMap::at(self.pos(node));
        };
        let style = *style;
        let mut segments = Vec::new();
        let mut off = 0;
        // Bytes of the source lines not found in the value since the last one that was (and of
        // that one past what matched): the next line's value lies at most about that far on.
        let mut unmatched = 0;
        let first_line = node.line;
        for line_no in first_line..=self.line_starts.len() {
            if off >= value.len() {
                break;
            }
            let line = self.line(line_no);
            let start = if line_no == first_line {
                let skip = node.col - 1 + usize::from(style.is_quoted());
                byte_of_char(line, skip)
            } else if style.is_block() {
                let indent = node.col - 1;
                let lead = line.len() - line.trim_start_matches(' ').len();
                if lead < indent && !line.trim().is_empty() {
                    break; // a less indented line ends the block
                }
                lead.min(indent)
            } else {
                line.len() - line.trim_start_matches([' ', '\t']).len()
            };
            let mut content = &line[start..];
            if !style.is_block() {
                content = content.trim_end_matches([' ', '\t']);
            }
            if content.is_empty() {
                continue; // a blank line is a `\n` of the value
            }
            let col = line[..start].chars().count() + 1;
            let found = if line_no == first_line && !style.is_block() {
                Some((0, common_prefix(value, content)))
            } else {
                find_line(value, off, content, unmatched)
            };
            unmatched = match found {
                Some((_, len)) => content.len().saturating_sub(len),
                None => unmatched + content.len() + 1,
            };
            if let Some((at, len)) = found {
                segments.push((
                    at,
                    Pos {
                        file: self.file.clone(),
                        line: line_no,
                        col,
                    },
                ));
                off = at + len.max(1);
            }
        }
        if segments.is_empty() {
            segments.push((0, self.value_pos(node)));
        }
        TextMap { segments }
    }

    /// Line `n` (1-based) without its line break; empty past the end.
    fn line(&self, n: usize) -> &str {
        let Some(&start) = self.line_starts.get(n.wrapping_sub(1)) else {
            return "";
        };
        let end = self
            .line_starts
            .get(n)
            .map_or(self.text.len(), |next| next - 1);
        self.text[start..end].trim_end_matches('\r')
    }
}

/// Byte offset of the `n`-th character of `s` (its length if shorter).
fn byte_of_char(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

/// Length in bytes of the common prefix of `a` and `b`, on a character boundary.
fn common_prefix(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .take_while(|((_, x), y)| x == y)
        .last()
        .map_or(0, |((i, c), _)| i + c.len_utf8())
}

/// Most bytes past the expected place searched for a line of a scalar that does not continue
/// it where expected: a search of the whole rest of the value for every such line made a
/// scalar of many such lines quadratic.
const MAX_LOOKAHEAD: usize = 4096;

/// Where the source line `content` continues the value, at or after `off`: first past the line
/// breaks or spaces folding left there, else (an escape or a closing quote differs) by the
/// line's first word, within `unmatched` bytes (the lines before it not found) and the line's
/// own length. Returns the offset and how many bytes matched.
fn find_line(value: &str, off: usize, content: &str, unmatched: usize) -> Option<(usize, usize)> {
    let rest = value.get(off..)?;
    let seps = rest.len() - rest.trim_start_matches([' ', '\n']).len();
    for skip in 0..=seps {
        let n = common_prefix(&rest[skip..], content);
        if n > 0 {
            return Some((off + skip, n));
        }
    }
    let word_end = content
        .find(['\\', '"', '\'', ' '])
        .filter(|&i| i > 0)
        .unwrap_or(content.len());
    let word = &content[..word_end];
    let mut window = (seps + unmatched + content.len()).min(MAX_LOOKAHEAD) + word.len();
    while !rest.is_char_boundary(window.min(rest.len())) {
        window += 1;
    }
    rest[..window.min(rest.len())]
        .find(word)
        .map(|i| (off + i, word.len()))
}
