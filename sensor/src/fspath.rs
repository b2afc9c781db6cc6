//! The path argument of a file syscall as the rules see it (falco-fields.md 1.5): the path as
//! passed (`fd.nameraw`), and the absolute, normalized name Falco computes from it (`fd.name`):
//! a relative path joined to the directory it is relative to (the working directory or the
//! dirfd's, which the kernel resolved at the call: `lanner_common::file::PathArg`), then `.`,
//! `..` and repeated `/` collapsed and a trailing `/` dropped. Symlinks are not resolved, as in
//! Falco. What the kernel could not read is never guessed: the name shows
//! [`CUT`](crate::event::CUT) where a part is unknown, and is flagged.
//!
//! Made by `reader::decode` for every file syscall; the extraction reads it.

use std::borrow::Cow;

use crate::event::CUT;

/// A directory as the kernel walked it: its components from the root, with the part that
/// could not be read (the middle of a path too long to keep, or the root side of a walk that
/// stopped short) at `gap`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dir {
    pub parts: Vec<String>,
    /// `Some(i)`: an unknown part lies before `parts[i]` (0: the root side is unknown).
    pub gap: Option<usize>,
}

/// The directory a relative path is relative to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    /// None was needed (the path is absolute, empty or unreadable).
    None,
    /// Walked by the kernel (with a gap when cut).
    Dir(Dir),
    /// Needed, but the kernel could not find it (a dirfd that is not open, a walk that read
    /// nothing).
    Unknown,
}

/// One path argument of a file syscall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePath {
    /// As passed (without a marker); `None` when it could not be read.
    pub raw: Option<String>,
    /// The raw path filled its buffer (longer than any path the kernel accepts): its end is
    /// unknown.
    pub raw_cut: bool,
    /// `fd.name`: absolute and normalized, with [`CUT`] where a part is unknown; `None` when the
    /// path could not be read.
    pub name: Option<String>,
    /// A part of `name` is unknown (`lanner.path_truncated`).
    pub cut: bool,
    /// Read when the call returned rather than when it was made (the path's page was not in
    /// memory at entry): a thread racing the call could have changed it after the kernel read
    /// it (`lanner.path_read_at_exit`).
    pub read_at_exit: bool,
}

impl FilePath {
    /// The path `raw` (cut at its end when `raw_cut`), resolved against `base`.
    pub fn new(raw: Option<String>, raw_cut: bool, base: &Base) -> FilePath {
        let resolved = raw.as_deref().map(|r| resolve(r, raw_cut, base));
        let cut = resolved.as_ref().is_some_and(|(_, cut)| *cut);
        FilePath {
            name: resolved.map(|(n, _)| n),
            raw,
            raw_cut,
            cut,
            read_at_exit: false,
        }
    }

    /// The path of a file the kernel walked from an fd (fchmod's): its name is the walk, with
    /// [`CUT`] where a part is unknown; there is no path as passed.
    pub fn walked(dir: &Dir) -> FilePath {
        FilePath {
            raw: None,
            raw_cut: false,
            name: Some(render(dir)),
            cut: dir.gap.is_some(),
            read_at_exit: false,
        }
    }

    /// The path as passed, with the marker when cut: what `evt.arg.name` shows of an absolute
    /// path (Falco shows it unchanged).
    pub fn shown_raw(&self) -> Option<Cow<'_, str>> {
        let raw = self.raw.as_deref()?;
        Some(if self.raw_cut {
            Cow::Owned(format!("{raw}//{CUT}"))
        } else {
            Cow::Borrowed(raw)
        })
    }

    /// `fd.nameraw`: the path as passed with repeated `/` collapsed.
    pub fn nameraw(&self) -> Option<Cow<'_, str>> {
        let raw = self.raw.as_deref()?;
        let mut out = if raw.contains("//") {
            let mut s = String::with_capacity(raw.len());
            for c in raw.chars() {
                if !(c == '/' && s.ends_with('/')) {
                    s.push(c);
                }
            }
            Cow::Owned(s)
        } else {
            Cow::Borrowed(raw)
        };
        if self.raw_cut {
            out = Cow::Owned(format!("{out}//{CUT}"));
        }
        Some(out)
    }

    /// `evt.arg.name` (and the other path parameters): a relative path resolved (`fd.name`),
    /// an absolute or empty one as passed.
    pub fn arg(&self) -> Option<Cow<'_, str>> {
        let raw = self.raw.as_deref()?;
        if raw.is_empty() || raw.starts_with('/') {
            self.shown_raw()
        } else {
            self.name.as_deref().map(Cow::Borrowed)
        }
    }
}

/// Falco's `fd.directory` of a file (or of a failed call, whatever it named): `name` up to its
/// last `/`, `/` for a file in the root (or a name without `/`).
pub fn directory(name: &str) -> &str {
    match name.rfind('/') {
        Some(0) | None => "/",
        // A trailing `/` (not in a normalized name) keeps the whole, as Falco does.
        Some(i) if i + 1 == name.len() => name,
        Some(i) => &name[..i],
    }
}

/// Falco's `fd.filename` of a file: the last component (`/` for a name without one).
pub fn filename(name: &str) -> &str {
    match name.rfind('/') {
        Some(i) if i + 1 < name.len() => &name[i + 1..],
        Some(_) => name,
        None => "/",
    }
}

/// `raw` made absolute against `base` and normalized; true when a part of it is unknown.
fn resolve(raw: &str, raw_cut: bool, base: &Base) -> (String, bool) {
    // Falco keeps an empty path empty.
    if raw.is_empty() && !raw_cut {
        return (String::new(), false);
    }
    let mut dir = if raw.starts_with('/') {
        Dir::default()
    } else {
        match base {
            Base::Dir(d) => d.clone(),
            // Relative to something unknown: only what follows is known.
            Base::None | Base::Unknown => Dir {
                parts: Vec::new(),
                gap: Some(0),
            },
        }
    };
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                match dir.gap {
                    // Above the leaf side of a cut directory lies the unknown part: how deep it
                    // is is unknown, so the root side is no longer known either.
                    Some(g) if dir.parts.len() <= g => {
                        dir.parts.clear();
                        dir.gap = Some(0);
                    }
                    // `/..` is `/`.
                    _ => {
                        dir.parts.pop();
                    }
                }
            }
            c => dir.parts.push(c.to_string()),
        }
    }
    let mut out = render(&dir);
    if raw_cut {
        out.push_str(if out.ends_with('/') { "/" } else { "//" });
        out.push_str(CUT);
    }
    (out, raw_cut || dir.gap.is_some())
}

/// `/a/b`; with a gap: its root side, `//…//`, the rest (`/a//…//x/y`, `…//x`, `/a//…`).
fn render(d: &Dir) -> String {
    let join = |parts: &[String]| {
        let mut s = String::new();
        for p in parts {
            s.push('/');
            s.push_str(p);
        }
        s
    };
    let Some(g) = d.gap else {
        let s = join(&d.parts);
        return if s.is_empty() { "/".into() } else { s };
    };
    let g = g.min(d.parts.len());
    let mut s = join(&d.parts[..g]);
    if !s.is_empty() {
        s.push_str("//");
    }
    s.push_str(CUT);
    let rest = join(&d.parts[g..]);
    if !rest.is_empty() {
        s.push('/');
        s.push_str(&rest);
    }
    s
}

#[cfg(test)]
#[path = "fspath_tests.rs"]
mod tests;
