//! Checks on the path fields as patterns the kernel can test on the path it read: exact
//! names, prefixes and suffixes of `fd.name` (in the tries), and short substrings ("needles",
//! matched in the same pass over the bytes that decides whether the path is normalized).
//! Each pattern is implied by the check (the check true ⟹ the pattern holds), so a clause
//! admits at least what the check admits.

use super::{
    atom::{kernel_literal, strings},
    probe::PathView,
    term::{NEEDLE_MAX, PathClause, Pattern},
};
use crate::{
    ast::Op,
    filter::{CheckNode, Rhs},
    ops::{PathSet, is_glob_component},
};

/// A path field's check (wanted true) as a conjunction of clauses, each a disjunction.
/// `None`: not expressible (untestable).
pub fn path(c: &CheckNode, view: PathView) -> Option<Vec<PathClause>> {
    let lits = match (&c.rhs, c.op) {
        (Rhs::Paths(set), Op::PMatch) => {
            return match view {
                // The directory's components are a prefix of the path's.
                PathView::Name | PathView::Directory => pmatch(set),
                PathView::Filename | PathView::Raw => None,
            };
        }
        (rhs, _) => strings(rhs)?,
    };
    if !lits.iter().all(|l| kernel_literal(l)) {
        return None;
    }
    if view == PathView::Raw {
        return raw(c.op, &lits);
    }
    let b = |s: &str| s.as_bytes().to_vec();
    let nonempty = |s: &str| (!s.is_empty()).then(|| b(s));
    // The one literal of a single-value operator (`in ()` has none and never matches).
    let first = || lits.first().copied();
    match (view, c.op) {
        (PathView::Name, Op::Eq | Op::In | Op::Intersects) => {
            one(lits.iter().map(|l| Some(Pattern::Exact(b(l)))))
        }
        (PathView::Name | PathView::Directory, Op::StartsWith) => {
            one([nonempty(first()?).map(Pattern::Prefix)])
        }
        (PathView::Name | PathView::Filename, Op::EndsWith) => {
            one([nonempty(first()?).map(Pattern::Suffix)])
        }
        // Directory and file name are substrings of `fd.name`.
        (_, Op::Contains) => one([needle(first()?, false).map(Pattern::Contains)]),
        (PathView::Directory, Op::Eq | Op::In | Op::Intersects) => {
            let mut clause = PathClause::new();
            for l in &lits {
                clause.extend(dir_eq(l)?);
            }
            Some(vec![clause])
        }
        (PathView::Filename, Op::Eq | Op::In | Op::Intersects) => one(lits
            .iter()
            .map(|l| (!l.is_empty()).then(|| Pattern::Suffix(b(&format!("/{l}")))))),
        (view, Op::Glob) => glob(first()?, view),
        _ => None,
    }
}

/// One clause of these patterns; `None` if one of them is.
fn one(pats: impl IntoIterator<Item = Option<Pattern>>) -> Option<Vec<PathClause>> {
    Some(vec![pats.into_iter().collect::<Option<PathClause>>()?])
}

/// `fd.nameraw`: what the value must contain, as needles on the raw path.
fn raw(op: Op, lits: &[&str]) -> Option<Vec<PathClause>> {
    match op {
        Op::Eq | Op::In | Op::Intersects | Op::StartsWith | Op::EndsWith | Op::Contains => {
            one(lits
                .iter()
                .map(|l| needle(l, true).map(Pattern::RawContains)))
        }
        Op::Glob => {
            let run = literal_runs(lits.first()?)
                .into_iter()
                .max_by_key(|r| r.len())?;
            one([needle(run, true).map(Pattern::RawContains)])
        }
        _ => None,
    }
}

/// A substring every value containing `lit` contains, at most `NEEDLE_MAX` bytes. On the
/// raw path (`raw`), one that spans no inner `/`: `fd.nameraw` collapses `//`, so `a/b` in
/// it may be `a//b` in the raw path, while `a/`, `/b/` and `/b` survive.
fn needle(lit: &str, raw: bool) -> Option<Vec<u8>> {
    let b = lit.as_bytes();
    let piece = if raw { longest_piece(b) } else { b };
    (!piece.is_empty()).then(|| piece[..piece.len().min(NEEDLE_MAX)].to_vec())
}

/// `b` cut at each `/` with a byte on both sides (the `/` kept on both pieces); the longest.
fn longest_piece(b: &[u8]) -> &[u8] {
    let inner: Vec<usize> = (1..b.len().saturating_sub(1))
        .filter(|&i| b[i] == b'/')
        .collect();
    let starts = std::iter::once(0).chain(inner.iter().copied());
    let ends = inner.iter().map(|&i| i + 1).chain(std::iter::once(b.len()));
    starts
        .zip(ends)
        .map(|(s, e)| &b[s..e])
        .max_by_key(|p| p.len())
        .unwrap_or(b)
}

/// The literal runs of a glob pattern that every match contains: the text before the first
/// `[` or `\` (after which classes and escapes would need parsing), split at `*` and `?`.
fn literal_runs(pattern: &str) -> Vec<&str> {
    let plain = &pattern[..pattern.find(['[', '\\']).unwrap_or(pattern.len())];
    plain.split(['*', '?']).filter(|r| !r.is_empty()).collect()
}

/// `pmatch`: each item's literal components up to its first glob component, as the
/// directory prefix (and, without a glob, the item itself). An item with nothing literal
/// before a glob (`/`, `/*/x`) is untestable.
fn pmatch(set: &PathSet) -> Option<Vec<PathClause>> {
    let mut clause = PathClause::new();
    for item in set.items() {
        let lit: Vec<&str> = item
            .iter()
            .take_while(|c| !is_glob_component(c))
            .copied()
            .collect();
        if lit.is_empty() || !lit.iter().all(|c| kernel_literal(c)) {
            return None;
        }
        let joined = format!("/{}", lit.join("/"));
        if lit.len() == item.len() {
            clause.insert(Pattern::Exact(joined.clone().into_bytes()));
        }
        clause.insert(Pattern::Prefix(format!("{joined}/").into_bytes()));
    }
    Some(vec![clause])
}

/// `glob` (fnmatch, no flags): the literal text before the first wildcard is a prefix of
/// the value, the literal text after the last one a suffix, and a pattern without any is
/// equality; with neither, its longest literal run is a substring. For `fd.directory` only
/// the prefix carries over to the path, for `fd.filename` only the suffix.
fn glob(pattern: &str, view: PathView) -> Option<Vec<PathClause>> {
    let Some(first) = pattern.find(['*', '?', '[', '\\']) else {
        return match view {
            PathView::Name => Some(vec![[Pattern::Exact(pattern.into())].into()]),
            PathView::Directory => Some(vec![dir_eq(pattern)?]),
            PathView::Filename => (!pattern.is_empty())
                .then(|| vec![[Pattern::Suffix(format!("/{pattern}").into())].into()]),
            PathView::Raw => None,
        };
    };
    // `]` ends a class; after the last of these every char is a literal.
    let last = pattern.rfind(['*', '?', '[', ']', '\\']).unwrap_or(first);
    let prefix = &pattern[..first];
    let suffix = &pattern[last + 1..];
    let mut clauses: Vec<PathClause> = Vec::new();
    if !prefix.is_empty() && view != PathView::Filename {
        clauses.push([Pattern::Prefix(prefix.into())].into());
    }
    if !suffix.is_empty() && view != PathView::Directory {
        clauses.push([Pattern::Suffix(suffix.into())].into());
    }
    if clauses.is_empty() {
        let run = literal_runs(pattern).into_iter().max_by_key(|r| r.len())?;
        clauses.push([Pattern::Contains(needle(run, false)?)].into());
    }
    Some(clauses)
}

/// `fd.directory = d`: the directory itself (a directory fd) or a file directly in it. A
/// trailing `/` never matches (Falco strips it, except from `/`); dropping it admits more.
fn dir_eq(d: &str) -> Option<PathClause> {
    let d = match d.trim_end_matches('/') {
        "" if d.is_empty() => return None,
        "" => "/",
        d => d,
    };
    Some([Pattern::Exact(d.into()), Pattern::Dir(d.into())].into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_needles_span_no_inner_slash() {
        assert_eq!(longest_piece(b"../"), b"../");
        assert_eq!(longest_piece(b"a/bc/d"), b"/bc/");
        assert_eq!(longest_piece(b"/.ssh/"), b"/.ssh/");
        assert_eq!(
            needle("fish_read_history", false),
            Some(b"fish_rea".to_vec())
        );
        assert_eq!(needle("", true), None);
        assert_eq!(literal_runs("*../*../*"), vec!["../", "../"]);
        assert_eq!(literal_runs("/a/*[.]pem"), vec!["/a/"]);
    }
}
