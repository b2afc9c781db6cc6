//! YAML of the config file and of `-o` values, within a budget. yaml-rust2's loader copies an
//! anchored node wherever an alias names it, so a few lines of nested anchors (a "billion
//! laughs") would build gigabytes. The text is first walked as parser events, counting what the
//! loaded tree would hold — an alias counts as the whole node it copies — and refused past the
//! budget before anything is built.

use std::collections::HashMap;

use yaml_rust2::{
    Yaml, YamlLoader,
    parser::{Event, MarkedEventReceiver, Parser},
    scanner::{Marker, ScanError},
};

/// Nodes of the loaded tree: a config has a few dozen keys, lists of a few dozen items.
pub const MAX_NODES: u64 = 100_000;
/// Bytes of its scalars: rules file paths, URLs, `append_output` formats.
pub const MAX_BYTES: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error("{}:{}: {}", .0.marker().line(), .0.marker().col() + 1, .0.info())]
    Syntax(#[source] ScanError),
    #[error(
        "the YAML would expand to more than {MAX_NODES} nodes or {} MiB (aliases of large or \
         nested anchors)",
        MAX_BYTES >> 20
    )]
    TooLarge,
}

/// The documents of `text`, unless it is not YAML or would load to more than the budget.
pub fn load(text: &str) -> Result<Vec<Yaml>, YamlError> {
    let mut budget = Budget::default();
    Parser::new_from_str(text)
        .load(&mut budget, true)
        .map_err(YamlError::Syntax)?;
    if budget.exceeded() {
        return Err(YamlError::TooLarge);
    }
    YamlLoader::load_from_str(text).map_err(YamlError::Syntax)
}

/// What the loaded tree would hold (saturating: past the budget the exact size is moot).
#[derive(Clone, Copy, Default)]
struct Size {
    nodes: u64,
    bytes: u64,
}

impl Size {
    fn add(&mut self, o: Size) {
        self.nodes = self.nodes.saturating_add(o.nodes);
        self.bytes = self.bytes.saturating_add(o.bytes);
    }
}

#[derive(Default)]
struct Budget {
    total: Size,
    /// Size of each anchored node, by anchor id, once the node is complete.
    anchors: HashMap<usize, Size>,
    /// Open sequences and mappings: their anchor id and the total before them.
    open: Vec<(usize, Size)>,
}

impl Budget {
    fn exceeded(&self) -> bool {
        self.total.nodes > MAX_NODES || self.total.bytes > MAX_BYTES
    }
}

impl MarkedEventReceiver for Budget {
    fn on_event(&mut self, ev: Event, _mark: Marker) {
        match ev {
            Event::Scalar(value, _, anchor, _) => {
                let size = Size {
                    nodes: 1,
                    bytes: value.len() as u64,
                };
                self.total.add(size);
                if anchor > 0 {
                    self.anchors.insert(anchor, size);
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                self.open.push((anchor, self.total));
                self.total.add(Size { nodes: 1, bytes: 0 });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, before)) = self.open.pop()
                    && anchor > 0
                {
                    let size = Size {
                        nodes: self.total.nodes - before.nodes,
                        bytes: self.total.bytes - before.bytes,
                    };
                    self.anchors.insert(anchor, size);
                }
            }
            // An alias the loader cannot resolve (not yet complete) becomes one bad value.
            Event::Alias(id) => {
                let size = self
                    .anchors
                    .get(&id)
                    .copied()
                    .unwrap_or(Size { nodes: 1, bytes: 0 });
                self.total.add(size);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten anchors, each aliasing the previous one ten times: 10^10 nodes once loaded.
    fn laughs(levels: usize) -> String {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..levels {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            s.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        s
    }

    #[test]
    fn nested_aliases_are_refused_before_they_are_built() {
        assert!(matches!(load(&laughs(10)), Err(YamlError::TooLarge)));
        // Four levels (11,111 nodes) are within the budget and load as written.
        let docs = load(&laughs(4)).expect("within the budget");
        assert_eq!(docs[0]["a3"][9][9][9][9].as_str(), Some("x"));
    }

    #[test]
    fn a_large_scalar_aliased_many_times_is_refused() {
        let big = "y".repeat(1 << 20);
        let refs = vec!["*b"; 20].join(", ");
        let text = format!("b: &b {big}\nc: [{refs}]\n");
        assert!(matches!(load(&text), Err(YamlError::TooLarge)));
    }

    #[test]
    fn syntax_errors_keep_their_position() {
        let e = load("a: [1, 2\nb: 3\n").expect_err("unclosed");
        assert!(matches!(e, YamlError::Syntax(_)));
        assert!(e.to_string().starts_with("2:"), "{e}");
    }
}
