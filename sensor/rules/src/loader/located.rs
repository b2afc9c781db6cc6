//! Texts assembled from pieces written in different places (a condition, its appends, the
//! text generated for its exceptions), keeping the map back to each piece's origin.

use crate::diag::{Pos, TextMap};

use super::model::Located;

/// Builds a `Located` piece by piece.
#[derive(Default)]
pub(crate) struct TextBuilder {
    text: String,
    map: TextMap,
}

impl TextBuilder {
    /// Text that continues the previous piece (punctuation, separators).
    pub(crate) fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    /// Text written at `pos`.
    pub(crate) fn push_at(&mut self, s: &str, pos: &Pos) {
        self.map.segments.push((self.text.len(), pos.clone()));
        self.text.push_str(s);
    }

    /// A text with its own map.
    pub(crate) fn push_located(&mut self, l: &Located) {
        self.map.extend(self.text.len(), &l.map);
        self.text.push_str(&l.text);
    }

    pub(crate) fn finish(self) -> Located {
        Located {
            text: self.text,
            map: self.map,
        }
    }
}

/// Falco's append: `base + " " + more`.
pub(crate) fn append(base: &mut Located, more: &Located) {
    base.text.push(' ');
    base.map.extend(base.text.len(), &more.map);
    base.text.push_str(&more.text);
}

/// `l` without leading and trailing whitespace, its map shifted to match.
pub(crate) fn trimmed(l: Located) -> Located {
    let text = l.text.trim_start();
    let cut = l.text.len() - text.len();
    let text = text.trim_end().to_string();
    let mut segments: Vec<(usize, Pos)> = Vec::with_capacity(l.map.segments.len());
    for (i, (off, pos)) in l.map.segments.iter().enumerate() {
        let next = l.map.segments.get(i + 1).map_or(usize::MAX, |(o, _)| *o);
        if *off >= cut {
            segments.push((off - cut, pos.clone()));
        } else if next > cut {
            // The segment the cut falls in now starts at the first kept byte.
            let col = pos.col + (cut - off);
            segments.push((0, Pos { col, ..pos.clone() }));
        }
    }
    Located {
        text,
        map: TextMap { segments },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, col: usize) -> Pos {
        Pos {
            file: "f".into(),
            line,
            col,
        }
    }

    #[test]
    fn trimming_shifts_the_map() {
        let l = Located {
            text: "  ab\ncd  ".into(),
            map: TextMap {
                segments: vec![(0, at(1, 1)), (5, at(2, 3))],
            },
        };
        let t = trimmed(l);
        assert_eq!(t.text, "ab\ncd");
        assert_eq!(t.map.locate(0), Some(at(1, 3)));
        assert_eq!(t.map.locate(3), Some(at(2, 3)));
    }

    #[test]
    fn append_maps_the_added_text() {
        let mut a = Located {
            text: "x".into(),
            map: TextMap::at(at(1, 5)),
        };
        append(
            &mut a,
            &Located {
                text: "and y".into(),
                map: TextMap::at(at(9, 3)),
            },
        );
        assert_eq!(a.text, "x and y");
        assert_eq!(a.map.locate(6), Some(at(9, 7)));
    }
}
