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
//! expansion is budgeted, so hostile input cannot exhaust the stack or the memory.

use std::{borrow::Cow, collections::HashMap, sync::Arc};

use yaml_rust2::{
    parser::{Event, MarkedEventReceiver, Parser},
    scanner::{Marker, TScalarStyle},
};

use crate::diag::{Diagnostic, Pos, TextMap};

/// Deepest nesting of sequences and maps accepted (the rules files use 4).
pub const MAX_DEPTH: usize = 128;
/// Most nodes a file may expand to once aliases are copied.
pub const MAX_NODES: usize = 2_000_000;

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

    fn size(&self) -> usize {
        1 + match &self.kind {
            NodeKind::Seq(items) => items.iter().map(Node::size).sum(),
            NodeKind::Map(entries) => entries.iter().map(|(k, v)| k.size() + v.size()).sum(),
            _ => 0,
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
        let mut text = Cow::Borrowed(text);
        let mut repairs = 0;
        loop {
            let (msg, line, col) = match build(&text) {
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

/// Parse `text` into documents; on failure the message and the 1-based line and 0-based
/// column where the parser stopped.
fn build(text: &str) -> Result<Vec<Node>, (String, usize, usize)> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    // Drive the parser event by event instead of `Parser::load`: `load` recurses once per
    // nesting level, and a line of ten thousand `- ` would overflow the stack before the
    // builder could refuse it.
    loop {
        let (ev, mark) = parser
            .next_token()
            .map_err(|e| (e.info().to_string(), e.marker().line(), e.marker().col()))?;
        let end = ev == Event::StreamEnd;
        builder.on_event(ev, mark);
        if let Some((msg, m)) = builder.error.take() {
            return Err((msg, m.line(), m.col()));
        }
        if end {
            return Ok(builder.docs);
        }
    }
}

/// Most lines `reindent_flow_line` may fix in one file.
const MAX_REPAIRS: usize = 1000;
/// Most bytes parsed in all while repairing (the official files need a dozen repairs of
/// 100 KB; a 16 MiB file gets 7).
const MAX_REPAIR_WORK: usize = 128 << 20;

/// yaml-rust2 refuses a line of a flow collection indented less than the key that opened it
/// once a quoted item came before, as in the official rules files:
///
/// ```yaml
///   items: [
///     "a.example.com"
///   ]
/// ```
///
/// libyaml and yaml-cpp (Falco) accept it. Indentation means nothing inside a flow collection,
/// and yaml-rust2 reports "invalid indentation" only there, so the refused line is indented
/// like the line before it (or one more column) and the text parsed again. Columns on that
/// line shift; nothing else moves.
fn reindent_flow_line(text: &str, msg: &str, line: usize, col: usize) -> Option<String> {
    if !matches!(
        msg,
        "invalid indentation" | "invalid indentation in flow construct"
    ) {
        return None;
    }
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let start = *starts.get(line.checked_sub(1)?)?;
    let indent_of = |s: &str| s.len() - s.trim_start_matches([' ', '\t']).len();
    let this = &text[start..];
    let this = &this[..this.find('\n').unwrap_or(this.len())];
    let indent = indent_of(this);
    // Only when the parser stopped at the line's first character (its indentation).
    if indent != col || this[indent..].starts_with('#') || this[indent..].trim().is_empty() {
        return None;
    }
    let previous = starts[..line - 1]
        .iter()
        .rev()
        .map(|&s| {
            let l = &text[s..];
            &l[..l.find('\n').unwrap_or(l.len())]
        })
        .find(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .map_or(0, indent_of);
    let add = previous.saturating_sub(indent).max(1);
    let mut fixed = String::with_capacity(text.len() + add);
    fixed.push_str(&text[..start]);
    fixed.extend(std::iter::repeat_n(' ', add));
    fixed.push_str(&text[start..]);
    Some(fixed)
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

/// An open sequence or map while its events arrive.
enum Frame {
    Seq {
        items: Vec<Node>,
        at: Marker,
        anchor: usize,
    },
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        at: Marker,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    /// Anchor id → the anchored node and its size.
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    /// The first problem the parser does not see (unknown alias, nesting, size).
    error: Option<(String, Marker)>,
}

impl Builder {
    fn fail(&mut self, msg: impl Into<String>, at: Marker) {
        if self.error.is_none() {
            self.error = Some((msg.into(), at));
        }
    }

    fn node(kind: NodeKind, at: Marker) -> Node {
        Node {
            kind,
            line: at.line().max(1),
            col: at.col() + 1,
        }
    }

    fn open(&mut self, frame: Frame, at: Marker) {
        if self.stack.len() >= MAX_DEPTH {
            self.fail(format!("YAML nests deeper than {MAX_DEPTH} levels"), at);
        } else {
            self.stack.push(frame);
        }
    }

    fn close(&mut self, mut node: Node, anchor: usize, at: Marker) {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            self.fail(format!("YAML expands to more than {MAX_NODES} nodes"), at);
            return;
        }
        if anchor != 0 {
            let size = node.size();
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    // `key:` with nothing after it: the parser's marker is already on the next
                    // token, so the empty value is placed on its key instead.
                    if node.is_null() && node.line > k.line {
                        node.line = k.line;
                        node.col = k.col;
                    }
                    entries.push((k, node))
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, at: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::DocumentStart => self.anchors.clear(),
            Event::Scalar(value, style, anchor, tag) => {
                let style = match style {
                    TScalarStyle::Plain => ScalarStyle::Plain,
                    TScalarStyle::SingleQuoted => ScalarStyle::SingleQuoted,
                    TScalarStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
                    TScalarStyle::Literal => ScalarStyle::Literal,
                    TScalarStyle::Folded => ScalarStyle::Folded,
                };
                let null = style == ScalarStyle::Plain
                    && tag.is_none()
                    && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL");
                let kind = if null {
                    NodeKind::Null
                } else {
                    NodeKind::Scalar { value, style }
                };
                self.close(Self::node(kind, at), anchor, at);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((node, size)) => {
                    self.nodes += size;
                    let node = node.clone();
                    self.close(node, 0, at);
                }
                None => self.fail("unknown alias (its anchor is not defined before it)", at),
            },
            Event::SequenceStart(anchor, _) => self.open(
                Frame::Seq {
                    items: Vec::new(),
                    at,
                    anchor,
                },
                at,
            ),
            Event::MappingStart(anchor, _) => self.open(
                Frame::Map {
                    entries: Vec::new(),
                    key: None,
                    at,
                    anchor,
                },
                at,
            ),
            Event::SequenceEnd => {
                if let Some(Frame::Seq { items, at, anchor }) = self.stack.pop() {
                    self.close(Self::node(NodeKind::Seq(items), at), anchor, at);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    entries,
                    at,
                    anchor,
                    ..
                }) = self.stack.pop()
                {
                    // A block map's marker is on its first `:`; its first key is where a
                    // reader looks for it.
                    let mut node = Self::node(NodeKind::Map(Vec::new()), at);
                    if let Some((k, _)) = entries.first()
                        && (k.line, k.col) < (node.line, node.col)
                    {
                        (node.line, node.col) = (k.line, k.col);
                    }
                    node.kind = NodeKind::Map(entries);
                    self.close(node, anchor, at);
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

/// Where to point for a YAML error: yaml-rust2 reports where it stopped, which for the common
/// mistakes is not where the mistake is (libyaml's positions are). A tab is reported where the
/// scalar before it began: point at the tab. A key indented less than its siblings is reported
/// at its colon: point at the key, and name it (an over-indented one stays at its colon, as
/// libyaml has it). Lines and columns are 1-based.
fn blame(text: &str, msg: &str, line: usize, col: usize) -> (usize, usize, Option<String>) {
    let lines: Vec<&str> = text.split('\n').collect();
    if msg.contains("found a tab") {
        for (i, l) in lines.iter().enumerate().skip(line - 1) {
            let from = if i + 1 == line {
                col.saturating_sub(1)
            } else {
                0
            };
            if let Some(c) = l.chars().skip(from).position(|c| c == '\t') {
                return (i + 1, from + c + 1, None);
            }
        }
    }
    if msg.contains("did not find expected")
        && let Some(l) = lines.get(line - 1)
    {
        let indent = l.chars().take_while(|c| *c == ' ').count();
        let content = &l.trim_start_matches(' ');
        if indent + 1 < col
            && let Some((key, _)) = content.split_once(':')
            && !key.is_empty()
            && !key.contains(char::is_whitespace)
        {
            return (line, indent + 1, Some(key.to_string()));
        }
    }
    (line, col, None)
}
