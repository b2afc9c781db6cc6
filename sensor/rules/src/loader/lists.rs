//! Lists naming lists (`falco: rule_loader_compiler.cpp` compile_list_infos): an item of list
//! A equal to the name of list B is replaced by B's items if B was first defined before A's
//! last definition or append. One level only, with B's items as written, like Falco.

use std::collections::HashMap;

use crate::diag::Pos;

use super::model::ListDef;

/// A list as collected: its items as written, when it was first defined (`index`) and last
/// defined or appended to (`visibility`), on the collector's counter.
#[derive(Clone, Debug)]
pub(crate) struct ListState {
    pub name: String,
    pub pos: Pos,
    pub items: Vec<String>,
    pub index: usize,
    pub visibility: usize,
}

pub(crate) fn expand(lists: &[ListState]) -> HashMap<String, ListDef> {
    let by_name: HashMap<&str, &ListState> = lists.iter().map(|l| (l.name.as_str(), l)).collect();
    lists
        .iter()
        .map(|l| {
            let mut items = Vec::with_capacity(l.items.len());
            for item in &l.items {
                match by_name.get(item.as_str()) {
                    Some(r) if r.index < l.visibility => items.extend(r.items.iter().cloned()),
                    _ => items.push(item.clone()),
                }
            }
            let def = ListDef {
                name: l.name.clone(),
                items,
                pos: l.pos.clone(),
                order: l.index,
            };
            (l.name.clone(), def)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(name: &str, items: &[&str], index: usize, visibility: usize) -> ListState {
        ListState {
            name: name.into(),
            pos: Pos {
                file: "f".into(),
                line: 1,
                col: 1,
            },
            items: items.iter().map(|s| s.to_string()).collect(),
            index,
            visibility,
        }
    }

    #[test]
    fn only_lists_defined_before_are_expanded_one_level() {
        let lists = [
            list("a", &["x", "y"], 0, 0),
            list("b", &["a", "z", "c"], 1, 1),
            list("c", &["b"], 2, 2),
            // d was appended to after c existed: c is expanded, with c's items as written.
            list("d", &["c", "w"], 3, 5),
        ];
        let out = expand(&lists);
        assert_eq!(out["b"].items, ["x", "y", "z", "c"]);
        assert_eq!(out["c"].items, ["a", "z", "c"]);
        assert_eq!(out["d"].items, ["b", "w"]);
        assert_eq!(out["a"].items, ["x", "y"]);
    }
}
