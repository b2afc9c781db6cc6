//! Making yaml-rust2 read what libyaml and yaml-cpp read: flow collections indented left of
//! their key (`reindent_flow_line`), and error positions where libyaml puts them (`blame`).

/// Most lines `reindent_flow_line` may fix in one file.
pub(super) const MAX_REPAIRS: usize = 1000;
/// Most bytes parsed in all while repairing (the official files need a dozen repairs of
/// 100 KB; an 8 MiB file gets 15).
pub(super) const MAX_REPAIR_WORK: usize = 128 << 20;

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
pub(super) fn reindent_flow_line(text: &str, msg: &str, line: usize, col: usize) -> Option<String> {
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

/// Where to point for a YAML error: yaml-rust2 reports where it stopped, which for the common
/// mistakes is not where the mistake is (libyaml's positions are). A tab is reported where the
/// scalar before it began: point at the tab. A key indented less than its siblings is reported
/// at its colon: point at the key, and name it (an over-indented one stays at its colon, as
/// libyaml has it). Lines and columns are 1-based.
pub(super) fn blame(
    text: &str,
    msg: &str,
    line: usize,
    col: usize,
) -> (usize, usize, Option<String>) {
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
