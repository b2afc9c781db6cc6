//! What a YAML stream expands to once its aliases are copied, counted as the parser's events
//! arrive, so that a hostile file is refused before any copy is made: nesting depth, nodes, and
//! bytes of scalars. An alias costs what its anchored node costs — a 1 MB string aliased 20,000
//! times is 20,000 nodes but 20 GB — and an anchored node's cost includes the aliases inside it,
//! so nested aliases (the "billion laughs") are counted at their full size without building it.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};

/// Deepest nesting of sequences and maps accepted (the rules files use 4; loaders that recurse
/// per level must never see more).
pub const MAX_DEPTH: usize = 128;
/// Most nodes a stream may expand to once aliases are copied.
pub const MAX_NODES: usize = 2_000_000;
/// Most bytes of scalars (keys and values) a stream may expand to once aliases are copied: four
/// times the largest rules file (`MAX_FILE_BYTES` in the sensor).
pub const MAX_BYTES: usize = 32 << 20;

#[derive(Clone, Copy, Debug, Default)]
struct Size {
    nodes: usize,
    bytes: usize,
}

impl Size {
    fn plus(self, o: Size) -> Size {
        Size {
            nodes: self.nodes.saturating_add(o.nodes),
            bytes: self.bytes.saturating_add(o.bytes),
        }
    }

    fn minus(self, o: Size) -> Size {
        Size {
            nodes: self.nodes - o.nodes,
            bytes: self.bytes - o.bytes,
        }
    }
}

/// The running count of one stream.
#[derive(Debug, Default)]
pub(crate) struct Expansion {
    total: Size,
    /// Collections open: each one's anchor (0: none) and the total when it opened.
    open: Vec<(usize, Size)>,
    /// What each anchored node expands to. Anchor ids are unique within a stream.
    anchors: HashMap<usize, Size>,
}

impl Expansion {
    /// Count `ev`; the error says which limit the stream crossed.
    pub(crate) fn count(&mut self, ev: &Event) -> Result<(), String> {
        match ev {
            Event::Scalar(value, _, anchor, _) => {
                let size = Size {
                    nodes: 1,
                    bytes: value.len(),
                };
                if *anchor != 0 {
                    self.anchors.insert(*anchor, size);
                }
                self.add(size)
            }
            // An alias to an anchor not (yet) defined is the reader's error to report.
            Event::Alias(id) => self.add(self.anchors.get(id).copied().unwrap_or_default()),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.open.len() >= MAX_DEPTH {
                    return Err(format!("YAML nests deeper than {MAX_DEPTH} levels"));
                }
                self.open.push((*anchor, self.total));
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some((anchor, at_open)) = self.open.pop() else {
                    return Ok(());
                };
                let result = self.add(Size { nodes: 1, bytes: 0 });
                if anchor != 0 {
                    self.anchors.insert(anchor, self.total.minus(at_open));
                }
                result
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => Ok(()),
        }
    }

    fn add(&mut self, size: Size) -> Result<(), String> {
        self.total = self.total.plus(size);
        if self.total.nodes > MAX_NODES {
            Err(format!(
                "YAML expands to more than {MAX_NODES} nodes once its aliases are copied"
            ))
        } else if self.total.bytes > MAX_BYTES {
            Err(format!(
                "YAML expands to more than {MAX_BYTES} bytes of scalars once its aliases are copied"
            ))
        } else {
            Ok(())
        }
    }
}

/// A YAML text over a limit (or not YAML), and where the parser was: 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpansionError {
    pub message: String,
    pub line: usize,
    pub col: usize,
}

impl std::fmt::Display for ExpansionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for ExpansionError {}

/// Check that `text` stays within the limits once its aliases are copied, without building
/// anything: for YAML that another loader builds (the sensor's config, with yaml-rust2's
/// `YamlLoader`, which copies aliases without a limit and recurses once per level).
pub fn check(text: &str) -> Result<(), ExpansionError> {
    let mut parser = Parser::new_from_str(text);
    let mut expansion = Expansion::default();
    loop {
        let (ev, mark) = parser.next_token().map_err(|e| ExpansionError {
            message: e.info().to_string(),
            line: e.marker().line().max(1),
            col: e.marker().col() + 1,
        })?;
        if ev == Event::StreamEnd {
            return Ok(());
        }
        expansion.count(&ev).map_err(|message| ExpansionError {
            message,
            line: mark.line().max(1),
            col: mark.col() + 1,
        })?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_the_limits_is_accepted() {
        let text = "a: &x [1, 2, {b: c}]\nd: *x\ne: [*x, *x]\n";
        assert_eq!(check(text), Ok(()));
    }

    #[test]
    fn a_big_string_aliased_many_times_is_counted_by_its_bytes() {
        // 64 KiB aliased 2,000 times: 2,000 nodes, 128 MiB.
        let mut text = format!("- &s \"{}\"\n", "x".repeat(64 << 10));
        text += &"- *s\n".repeat(2_000);
        let e = check(&text).unwrap_err();
        assert_eq!(
            e.message,
            format!(
                "YAML expands to more than {MAX_BYTES} bytes of scalars once its aliases are copied"
            )
        );
        // Stopped at the alias that crossed it: the anchored string and 511 copies fit.
        assert_eq!(e.line, 1 + 512);
    }

    #[test]
    fn nested_aliases_are_counted_at_their_full_size() {
        // Each level aliases the one before ten times: 10^7 nodes at level 7.
        let mut text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n".to_string();
        for i in 1..8 {
            let p = i - 1;
            text += &format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            );
        }
        let e = check(&text).unwrap_err();
        assert!(e.message.contains("nodes"), "{e}");
        assert_eq!(e.line, 7, "{e}");
    }

    #[test]
    fn deep_nesting_is_refused_before_a_loader_recurses() {
        // (yaml-rust2's scanner itself refuses flow collections nested 256 deep, not blocks.)
        let text = "- ".repeat(10_000) + "x";
        let e = check(&text).unwrap_err();
        assert_eq!(
            e.message,
            format!("YAML nests deeper than {MAX_DEPTH} levels")
        );
        assert_eq!((e.line, e.col), (1, 2 * MAX_DEPTH + 1));
    }
}
