//! The event stream → the node tree: anchors resolved by copying the anchored node (with its
//! positions, so text taken from an alias still maps to where it was written), within the
//! limits of `expansion`.

use std::collections::HashMap;

use yaml_rust2::{
    parser::{Event, MarkedEventReceiver, Parser},
    scanner::{Marker, TScalarStyle},
};

use super::{Node, NodeKind, ScalarStyle, expansion::Expansion};

/// Parse `text` into documents; on failure the message and the 1-based line and 0-based
/// column where the parser stopped.
pub(super) fn build(text: &str) -> Result<Vec<Node>, (String, usize, usize)> {
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
    /// Anchor id → the anchored node.
    anchors: HashMap<usize, Node>,
    /// What the stream expands to so far: checked before each event is built.
    expansion: Expansion,
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

    fn close(&mut self, mut node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
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
        if let Err(msg) = self.expansion.count(&ev) {
            self.fail(msg, at);
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
                self.close(Self::node(kind, at), anchor);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let node = node.clone();
                    self.close(node, 0);
                }
                None => self.fail("unknown alias (its anchor is not defined before it)", at),
            },
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                items: Vec::new(),
                at,
                anchor,
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                entries: Vec::new(),
                key: None,
                at,
                anchor,
            }),
            Event::SequenceEnd => {
                if let Some(Frame::Seq { items, at, anchor }) = self.stack.pop() {
                    self.close(Self::node(NodeKind::Seq(items), at), anchor);
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
                    self.close(node, anchor);
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}
