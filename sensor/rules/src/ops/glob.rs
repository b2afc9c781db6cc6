//! `glob` / `iglob`: glibc `fnmatch(pattern, value, 0)` (or `FNM_CASEFOLD`), which is what
//! Falco calls (falco-fields.md 2.3). No `FNM_PATHNAME` and no `FNM_PERIOD`, so `*` and `?`
//! also match `/` and a leading `.`.
//!
//! The pattern is interpreted on the fly rather than compiled: the operator's signature takes
//! the pattern as text, and on the hot path we must not allocate. Matching is the classic
//! two-pointer walk that only remembers the last `*`: because a `*` matches any run, an
//! earlier star never needs to be revisited, so the cost is O(pattern × text) at worst instead
//! of exponential (`*a*a*a*a*b` against a long run of `a`).

/// One element of the pattern.
enum Tok {
    Star,
    /// `?`
    Any,
    /// A literal character (after `\` escaping, or an unterminated `[`).
    Char(char),
    /// `[...]`; the body is `pattern[start + 1..end - 1]` where `start` is the `[`.
    Class {
        end: usize,
    },
    /// A lone `\` at the very end: glibc fails such a pattern outright ("trailing \ loses"),
    /// which a token that matches nothing reproduces.
    Never,
}

/// The token at byte `i` (a char boundary, `i < pattern.len()`) and the byte after it.
fn next_tok(pattern: &str, i: usize) -> (Tok, usize) {
    let Some(c) = pattern[i..].chars().next() else {
        return (Tok::Never, pattern.len());
    };
    let after = i + c.len_utf8();
    match c {
        '*' => (Tok::Star, after),
        '?' => (Tok::Any, after),
        '\\' => match pattern[after..].chars().next() {
            Some(e) => (Tok::Char(e), after + e.len_utf8()),
            None => (Tok::Never, after),
        },
        // An unterminated class is not an error for fnmatch: the `[` is an ordinary char.
        '[' => match class_end(pattern, after) {
            Some(end) => (Tok::Class { end }, end),
            None => (Tok::Char('['), after),
        },
        c => (Tok::Char(c), after),
    }
}

/// Length in bytes of the char at `i`, 1 past the end so that callers always advance.
fn char_len(s: &str, i: usize) -> usize {
    s[i..].chars().next().map_or(1, char::len_utf8)
}

/// Where the class whose body starts at `start` (just after `[`) ends (the byte after its
/// closing `]`), or `None` if it never closes.
fn class_end(pattern: &str, start: usize) -> Option<usize> {
    let b = pattern.as_bytes();
    let mut pos = start;
    if matches!(b.get(pos), Some(b'!' | b'^')) {
        pos += 1;
    }
    // A `]` right after `[` or `[!` is a member, not the end.
    if b.get(pos) == Some(&b']') {
        pos += 1;
    }
    loop {
        match *b.get(pos)? {
            b']' => return Some(pos + 1),
            b'\\' => {
                pos += 1;
                if pos >= b.len() {
                    return None;
                }
                pos += char_len(pattern, pos);
            }
            b'[' if b.get(pos + 1) == Some(&b':') => match pattern[pos + 2..].find(":]") {
                // `[:alpha:]` may contain no `]` of its own, so skip it whole.
                Some(off) => pos += 2 + off + 2,
                None => pos += 1,
            },
            _ => pos += char_len(pattern, pos),
        }
    }
}

/// Reads one class member char at `i` (handling `\` escapes); returns it and the next byte.
fn class_char(body: &str, i: usize) -> (char, usize) {
    let mut chars = body[i..].chars();
    match chars.next() {
        Some('\\') => match chars.next() {
            Some(e) => (e, i + 1 + e.len_utf8()),
            None => ('\\', i + 1),
        },
        Some(c) => (c, i + c.len_utf8()),
        None => ('\0', body.len()),
    }
}

fn eq_char(a: char, b: char, ci: bool) -> bool {
    a == b || (ci && a.eq_ignore_ascii_case(&b))
}

fn in_range(lo: char, hi: char, c: char, ci: bool) -> bool {
    let r = lo..=hi;
    r.contains(&c)
        || (ci && (r.contains(&c.to_ascii_lowercase()) || r.contains(&c.to_ascii_uppercase())))
}

/// POSIX named classes, in the C locale (ASCII), which is what Falco runs fnmatch under.
fn named_class(name: &str, c: char, ci: bool) -> bool {
    match name {
        "alnum" => c.is_ascii_alphanumeric(),
        "alpha" => c.is_ascii_alphabetic(),
        "blank" => c == ' ' || c == '\t',
        "cntrl" => c.is_ascii_control(),
        "digit" => c.is_ascii_digit(),
        "graph" => c.is_ascii_graphic(),
        "lower" if ci => c.is_ascii_alphabetic(),
        "lower" => c.is_ascii_lowercase(),
        "print" => c.is_ascii_graphic() || c == ' ',
        "punct" => c.is_ascii_punctuation(),
        "space" => matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'),
        "upper" if ci => c.is_ascii_alphabetic(),
        "upper" => c.is_ascii_uppercase(),
        "xdigit" => c.is_ascii_hexdigit(),
        // glibc fails the whole match on an unknown class name; matching nothing is the same
        // for this member and close enough for the rest.
        _ => false,
    }
}

/// Whether `c` is a member of the class with this body (between `[` and the closing `]`).
fn class_has(body: &str, c: char, ci: bool) -> bool {
    let (negate, body) = match body.as_bytes().first() {
        Some(b'!' | b'^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut found = false;
    let mut i = 0;
    while i < body.len() {
        if body[i..].starts_with("[:")
            && let Some(off) = body[i + 2..].find(":]")
        {
            found |= named_class(&body[i + 2..i + 2 + off], c, ci);
            i += 2 + off + 2;
            continue;
        }
        let (lo, next) = class_char(body, i);
        // `a-` at the end of the class: the `-` is a member.
        if body[next..].starts_with('-') && next + 1 < body.len() {
            let (hi, after) = class_char(body, next + 1);
            found |= in_range(lo, hi, c, ci);
            i = after;
        } else {
            found |= eq_char(lo, c, ci);
            i = next;
        }
    }
    found != negate
}

/// `glob` / `iglob`: fnmatch with no flags (`*` and `?` also match `/`, `[...]` classes).
/// `case_insensitive` folds ASCII letters only, as `FNM_CASEFOLD` in the C locale does.
pub fn glob(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let (mut p, mut t) = (0, 0);
    // The last star seen: the pattern position after it, and the text position its run
    // currently ends at.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            let (tok, next_p) = next_tok(pattern, p);
            if let Tok::Star = tok {
                star = Some((next_p, t));
                p = next_p;
                continue;
            }
            if let Some(c) = text[t..].chars().next() {
                let hit = match tok {
                    Tok::Any => true,
                    Tok::Char(pc) => eq_char(pc, c, case_insensitive),
                    Tok::Class { end } => class_has(&pattern[p + 1..end - 1], c, case_insensitive),
                    Tok::Star | Tok::Never => false,
                };
                if hit {
                    p = next_p;
                    t += c.len_utf8();
                    continue;
                }
            }
        } else if t == text.len() {
            return true;
        }
        // Mismatch: let the last star swallow one more char and retry what follows it.
        match star {
            Some((sp, st)) if st < text.len() => {
                let st = st + char_len(text, st);
                star = Some((sp, st));
                p = sp;
                t = st;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob;
    use proptest::prelude::*;

    fn g(p: &str, s: &str) -> bool {
        glob(p, s, false)
    }

    #[test]
    fn star_crosses_slashes() {
        // The website says otherwise; the source passes no FNM_PATHNAME (falco-fields.md 5).
        assert!(g("/var/*", "/var/run/x"));
        assert!(g("/home/*/.ssh/*", "/home/alice/.ssh/authorized_keys"));
        assert!(g("/home/*/.ssh/*", "/home/a/b/.ssh/c/d"));
        assert!(!g("/home/*/.ssh/*", "/root/.ssh/id_rsa"));
        assert!(g("/proc/*/environ", "/proc/1/environ"));
        assert!(g("*../*../*", "/a/../b/../c"));
        assert!(!g("*../*../*", "/a/../b/c"));
        assert!(g("*", ""));
        assert!(g("*", "/"));
        assert!(g("**", "abc"));
        assert!(g("a*", "a"));
        assert!(g("*.conf", ".conf"));
        assert!(!g("*.conf", "x.confx"));
    }

    #[test]
    fn question_mark_is_one_char_including_slash() {
        assert!(g("a?c", "abc"));
        assert!(g("a?c", "a/c"));
        assert!(!g("a?c", "ac"));
        assert!(!g("a?c", "abbc"));
        assert!(g("?", "é"));
        assert!(!g("??", "é"));
        assert!(!g("?", ""));
    }

    #[test]
    fn literals_and_leading_dot() {
        assert!(g("", ""));
        assert!(!g("", "a"));
        assert!(!g("a", ""));
        assert!(g("abc", "abc"));
        assert!(!g("abc", "abd"));
        assert!(!g("abc", "ABC"));
        // No FNM_PERIOD: a leading dot is an ordinary char.
        assert!(g("*rc", ".bashrc"));
        assert!(g("?bashrc", ".bashrc"));
    }

    #[test]
    fn classes() {
        assert!(g("[abc]", "b"));
        assert!(!g("[abc]", "d"));
        assert!(g("[a-z]x", "qx"));
        assert!(!g("[a-z]", "Q"));
        assert!(g("[!a-z]", "Q"));
        assert!(g("[^a-z]", "Q"));
        assert!(!g("[!x]", "x"));
        assert!(!g("[^x]", "x"));
        assert!(!g("[!x]", ""));
        assert!(g("[]]", "]"));
        assert!(g("[!]]", "a"));
        assert!(!g("[!]]", "]"));
        assert!(g("[a-]", "-"));
        assert!(g("[-a]", "-"));
        assert!(g("[/]", "/"));
        assert!(g("[\\]]", "]"));
        assert!(g("[a\\-z]", "-"));
        assert!(!g("[a\\-z]", "q"));
        assert!(!g("[z-a]", "q"));
        assert!(g("[[:digit:]][[:alpha:]]", "7x"));
        assert!(!g("[[:digit:]]", "x"));
        assert!(g("[![:space:]]", "x"));
        assert!(g("[[:upper:]_]", "_"));
        assert!(!g("[[:nope:]]", "n"));
        assert!(g("[é-ë]", "ê"));
        assert!(g("/usr/lib/python3.[0-9]*/x", "/usr/lib/python3.11/x"));
    }

    #[test]
    fn unterminated_class_is_a_literal_bracket() {
        assert!(g("[", "["));
        assert!(g("[abc", "[abc"));
        assert!(!g("[abc", "a"));
        assert!(g("a[", "a["));
        assert!(g("[!", "[!"));
        // The `[` is literal, which leaves a trailing lone `\`: no match, as in glibc.
        assert!(!g("[\\", "[\\"));
        // Only the first `[` is literal: the rest, `[:alpha:]`, is a class of `:alph`.
        assert!(g("[[:alpha:]", "[p"));
        assert!(!g("[[:alpha:]", "[[:alpha:]"));
        assert!(g("*[", "xx["));
    }

    #[test]
    fn escapes() {
        assert!(g("\\*", "*"));
        assert!(!g("\\*", "x"));
        assert!(g("\\?", "?"));
        assert!(!g("\\?", "a"));
        assert!(g("\\[a]", "[a]"));
        assert!(g("\\a", "a"));
        assert!(g("a\\\\b", "a\\b"));
        assert!(g("*\\*", "abc*"));
        // A trailing lone backslash never matches (glibc: "trailing \ loses").
        assert!(!g("a\\", "a\\"));
        assert!(!g("a\\", "a"));
        assert!(!g("*\\", "x\\"));
    }

    #[test]
    fn case_insensitive() {
        assert!(glob("ABC", "abc", true));
        assert!(glob("*.EXE", "setup.exe", true));
        assert!(glob("[a-z]", "Q", true));
        assert!(glob("[A-Z]", "q", true));
        assert!(glob("[!A-Z]", "1", true));
        assert!(!glob("[!A-Z]", "q", true));
        assert!(glob("[[:upper:]]", "q", true));
        assert!(glob("[xyz]", "Y", true));
        assert!(!glob("abc", "abd", true));
        // ASCII only.
        assert!(!glob("É", "é", true));
    }

    #[test]
    fn pathological_patterns_are_fast() {
        let start = std::time::Instant::now();
        let text = "a".repeat(20_000);
        assert!(!g("*a*a*a*a*a*a*a*a*a*b", &text));
        assert!(g("*a*a*a*a*a*a*a*a*a*a", &text));
        assert!(!g("*?*?*?*?*?*?*?*?*b", &text));
        let text = "ab".repeat(5_000);
        assert!(!g("*a*b*a*b*a*b*[!ab]*", &text));
        // An exponential matcher takes hours here; the two-pointer walk milliseconds.
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }

    fn has_meta(s: &str) -> bool {
        s.contains(['*', '?', '[', '\\'])
    }

    proptest! {
        #[test]
        fn never_panics(p in "[a-c*?!^:/é\\[\\]\\\\-]{0,12}", s in "[a-c/\\[\\]é-]{0,12}", ci in any::<bool>()) {
            let _ = glob(&p, &s, ci);
        }

        #[test]
        fn never_panics_on_arbitrary_text(p in any::<String>(), s in any::<String>()) {
            let _ = glob(&p, &s, false);
            let _ = glob(&p, &s, true);
        }

        #[test]
        fn literal_pattern_is_equality(p in any::<String>(), s in any::<String>()) {
            prop_assume!(!has_meta(&p));
            prop_assert_eq!(glob(&p, &s, false), p == s);
            prop_assert!(glob(&p, &p, false));
        }

        #[test]
        fn literal_pattern_matches_itself_only(p in "[a-c/.]{0,6}", s in "[a-c/.]{0,6}") {
            prop_assert_eq!(glob(&p, &s, false), p == s);
        }

        #[test]
        fn star_prefix_is_ends_with(p in "[a-c/]{0,5}", s in "[a-c/]{0,8}") {
            prop_assert_eq!(glob(&format!("*{p}"), &s, false), s.ends_with(&p));
            prop_assert_eq!(glob(&format!("{p}*"), &s, false), s.starts_with(&p));
            prop_assert_eq!(glob(&format!("*{p}*"), &s, false), s.contains(&p));
        }
    }
}
