//! The alert's JSON line, written directly.
//!
//! serde_json escapes a string one byte at a time through a lookup table; an alert is mostly
//! strings (the output line, command lines, paths), about a kilobyte of them, and that loop
//! was most of the cost of writing it. Here a string is scanned eight bytes at a time and
//! copied in runs; only a word holding a byte to escape is looked at byte by byte. The escapes
//! are serde_json's (`alert_tests` compares every line with its serialisation): `\"`, `\\`,
//! `\b \t \n \f \r`, other control characters as `\u00XX`, everything else as it is.

use lanner_rules::{Alert, outfields::OutputFields};
use serde_json::Value;

use super::alert::AlertFormat;

/// Room for the usual line: the output text appears twice (in `output` and, split into
/// values, in `output_fields`) plus the keys.
pub fn capacity(a: &Alert) -> usize {
    1024 + 2 * a.output.len()
}

/// Append the alert's JSON object to `out`, keys in sorted order (as Falco's JSON library
/// writes them).
pub fn alert_json(out: &mut String, a: &Alert, f: &AlertFormat) {
    out.reserve(capacity(a));
    out.push_str("{\"hostname\":");
    string(out, &f.hostname);
    if f.include_message {
        out.push_str(",\"message\":");
        string(out, &a.message);
    }
    if f.include_output {
        out.push_str(",\"output\":");
        string(out, &a.output);
    }
    if f.include_output_fields {
        out.push_str(",\"output_fields\":");
        fields(out, &a.output_fields);
    }
    out.push_str(",\"priority\":");
    string(out, a.priority.name());
    out.push_str(",\"rule\":");
    string(out, &a.rule);
    out.push_str(",\"source\":");
    string(out, &a.source);
    if f.include_tags {
        out.push_str(",\"tags\":[");
        for (i, t) in a.tags.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            string(out, t);
        }
        out.push(']');
    }
    out.push_str(",\"time\":");
    string(out, &lanner_rules::timefmt::rfc3339(a.time_ns));
    out.push('}');
}

fn fields(out: &mut String, f: &OutputFields) {
    out.push('{');
    for (i, (k, v)) in f.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, k);
        out.push(':');
        value(out, v);
    }
    out.push('}');
}

fn value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::String(s) => string(out, s),
        // Integers print the same either way; floats, arrays and objects (no field yields
        // them today) go through serde_json so they stay exactly its form.
        Value::Number(n) if n.is_u64() || n.is_i64() => {
            use std::fmt::Write as _;
            let _ = write!(out, "{n}");
        }
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `w` is below 0x20, `"` or `\`. (`x - LO*n & !x & HI` is non-zero
/// exactly when some byte is below `n`, for `n` ≤ 0x80; equality is "below 1" of the XOR.)
#[inline]
fn needs_escape(w: u64) -> bool {
    let below = |x: u64, n: u64| x.wrapping_sub(LO * n) & !x & HI;
    (below(w, 0x20) | below(w ^ (LO * u64::from(b'"')), 1) | below(w ^ (LO * u64::from(b'\\')), 1))
        != 0
}

/// What each byte becomes: 0 itself, `u` the `\u00XX` form, else the letter after `\`.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = b'u';
        c += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// The index of the first byte of `b` from `from` on that needs escaping.
#[inline]
fn next_escape(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(word) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
        if needs_escape(w) {
            // Exactly one of these eight holds it.
            return (i..i + 8).find(|&j| ESCAPE[usize::from(b[j])] != 0);
        }
        i += 8;
    }
    // Fewer than eight left: the last eight bytes (some already clean) answer for them at
    // once when the string is that long.
    if i < b.len()
        && b.len() >= 8
        && let Some(word) = b.get(b.len() - 8..)
        && !needs_escape(u64::from_le_bytes(word.try_into().unwrap_or_default()))
    {
        return None;
    }
    (i..b.len()).find(|&j| ESCAPE[usize::from(b[j])] != 0)
}

/// `s` as a JSON string, quotes included.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    let b = s.as_bytes();
    // Bytes before `start` are written.
    let mut start = 0;
    while let Some(j) = next_escape(b, start) {
        // Escaped bytes are ASCII, so the runs between them end on character boundaries.
        out.push_str(&s[start..j]);
        let c = b[j];
        match ESCAPE[usize::from(c)] {
            b'u' => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(c >> 4)]));
                out.push(char::from(HEX[usize::from(c & 0xf)]));
            }
            e => {
                out.push('\\');
                out.push(char::from(e));
            }
        }
        start = j + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde(s: &str) -> String {
        serde_json::to_string(s).unwrap()
    }

    fn ours(s: &str) -> String {
        let mut out = String::new();
        string(&mut out, s);
        out
    }

    #[test]
    fn every_ascii_byte_escapes_as_serde_json_does_at_every_offset() {
        for c in 0u8..0x80 {
            for pad in 0..17 {
                let s = format!("{}{}{}", "a".repeat(pad), char::from(c), "bcdefghij");
                assert_eq!(ours(&s), serde(&s), "byte {c:#x} at {pad}");
            }
        }
    }

    #[test]
    fn text_with_multibyte_characters_and_mixed_escapes() {
        for s in [
            "",
            "plain",
            "exactly8",
            "é\"ü\\ñ\n漢字\t\u{7f}\u{1b}[31m",
            "cmd=bash -c \"echo $HOME\" 2>/dev/null\r\n",
            "\u{0}\u{1}\u{1f} ",
            "ÿÿÿÿÿÿÿÿ\"",
        ] {
            assert_eq!(ours(s), serde(s), "{s:?}");
        }
    }
}
