//! Paths as the kernel sent them, to text: walked paths (`lanner_common::PathField`: leaf side,
//! head ring, flags) joined root first, and paths from user memory; a path cut short shows
//! [`CUT`] where (see `event::CUT`) and is flagged, never passed off as whole.

use lanner_common::{PATH_HEAD_AT, PATH_HEAD_CAP, PathField, StrField, field_flags};

use super::decode::{DecodeError, text, used};
use crate::{
    event::{CUT, Text},
    fspath::Dir,
};

/// A path from user memory (as the caller passed it): a cut one keeps its start, marked.
pub(super) fn user_path(f: StrField, buf: &[u8], field: &'static str) -> Result<Text, DecodeError> {
    let mut t = text(f, buf, field)?;
    if t.truncated
        && let Some(v) = &mut t.value
    {
        v.push_str("//");
        v.push_str(CUT);
    }
    Ok(t)
}

/// A path walked by the kernel (see `lanner_common::PathField`), joined root first, with
/// [`CUT`] where a part is missing. `dir` adds the trailing `/` of a directory.
pub(super) fn walked(
    f: PathField,
    buf: &[u8],
    field: &'static str,
    dir: bool,
) -> Result<Text, DecodeError> {
    let leaf_side = used(f.len, buf, field)?;
    let reached_root = f.flags & (field_flags::READ_FAILED | field_flags::DEPTH_LIMIT) == 0;
    if f.flags & field_flags::ABSENT != 0 || (!reached_root && leaf_side.is_empty()) {
        // Nothing to show: not captured, or unreadable from the start.
        return Ok(Text::default());
    }
    let cut = f.flags & field_flags::TRUNCATED != 0;
    let head = if cut && reached_root {
        head_ring(f, buf, field)?
    } else {
        Vec::new()
    };
    let mut p = Vec::with_capacity(leaf_side.len() + PATH_HEAD_CAP + 16);
    if cut || !reached_root {
        // The root side as far as it is known (none when the walk did not reach the root: the
        // value must not look like a path from the root), the marker, the leaf side.
        for c in head.iter().rev() {
            p.push(b'/');
            p.extend_from_slice(c);
        }
        if !head.is_empty() {
            p.extend_from_slice(b"//");
        }
        p.extend_from_slice(CUT.as_bytes());
        p.extend_from_slice(b"//");
        for (i, c) in components(leaf_side).rev().enumerate() {
            if i > 0 {
                p.push(b'/');
            }
            p.extend_from_slice(c);
        }
    } else {
        // Root first: the components in reverse, each after a `/` (the root alone, with no
        // components, is one empty one: `/`).
        for c in components(leaf_side).rev() {
            p.push(b'/');
            p.extend_from_slice(c);
        }
    }
    if dir && p.last() != Some(&b'/') {
        p.push(b'/');
    }
    // One UTF-8 check for the whole path (`/` never splits a character, so replacing invalid
    // bytes here gives what replacing them per component would).
    let p =
        String::from_utf8(p).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Ok(Text {
        value: Some(p),
        truncated: cut || !reached_root,
    })
}

/// A directory walked by the kernel as its components from the root, with where its unknown
/// part is (see [`walked`], which shows the same as text); `None` when nothing was read.
pub(super) fn walked_dir(
    f: PathField,
    buf: &[u8],
    field: &'static str,
) -> Result<Option<Dir>, DecodeError> {
    let leaf_side = used(f.len, buf, field)?;
    let reached_root = f.flags & (field_flags::READ_FAILED | field_flags::DEPTH_LIMIT) == 0;
    if f.flags & field_flags::ABSENT != 0 || (!reached_root && leaf_side.is_empty()) {
        return Ok(None);
    }
    let cut = f.flags & field_flags::TRUNCATED != 0;
    let head = if cut && reached_root {
        head_ring(f, buf, field)?
    } else {
        Vec::new()
    };
    let text = |c: &[u8]| String::from_utf8_lossy(c).into_owned();
    let mut parts: Vec<String> = head.iter().rev().map(|c| text(c)).collect();
    let gap = (cut || !reached_root).then_some(parts.len());
    parts.extend(
        components(leaf_side)
            .rev()
            .filter(|c| !c.is_empty())
            .map(text),
    );
    Ok(Some(Dir { parts, gap }))
}

/// NUL-terminated components in walk order (leaf first).
fn components(bytes: &[u8]) -> std::slice::Split<'_, u8, impl FnMut(&u8) -> bool> {
    bytes.strip_suffix(&[0]).unwrap_or(bytes).split(|&b| b == 0)
}

/// The top-most components of a cut path, in walk order (the last is the top-most): the run
/// before the ring started over, then the newest run. The older run's first component may be
/// partly overwritten, so it is left out (with at worst one whole component).
fn head_ring<'a>(
    f: PathField,
    buf: &'a [u8],
    field: &'static str,
) -> Result<Vec<&'a [u8]>, DecodeError> {
    let ring = buf.get(PATH_HEAD_AT..).unwrap_or_default();
    let (newest, wrap) = (usize::from(f.head_len), usize::from(f.head_wrap));
    let too_long = |len| DecodeError::FieldLength {
        field,
        len,
        cap: ring.len(),
    };
    let new_run = ring.get(..newest).ok_or(too_long(newest))?;
    let older = ring.get(newest..wrap.max(newest)).ok_or(too_long(wrap))?;
    let older = match memchr::memchr(0, older) {
        Some(end) => &older[end + 1..],
        None => &[],
    };
    let mut out = Vec::new();
    for run in [older, new_run] {
        if !run.is_empty() {
            out.extend(components(run));
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "path_tests.rs"]
mod tests;
