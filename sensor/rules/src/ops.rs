//! Operator semantics on single values (falco-fields.md 2.3) and literal parsing by field type
//! (0.1). Pure functions; `filter` calls them with extracted values and compiled literals.
//!
//! `glob` (fnmatch), `path` (`pmatch`), `net` (CIDR), `literal` (typed RHS values) and
//! `transform` (transformers) hold the larger pieces; each says where it departs from Falco.

use std::net::IpAddr;

use crate::{ast::Transformer, value::FieldType, value::Value};

mod glob;
mod literal;
mod net;
mod path;
mod transform;

pub use glob::glob;
pub use net::Cidr;
pub use path::{PathSet, is_glob_component};

/// A right-hand-side literal, parsed for the left-hand side's field type.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Str(String),
    Bytes(Vec<u8>),
    Int(i64),
    Uint(u64),
    Bool(bool),
    Ip(IpAddr),
    Net(Cidr),
}

/// Parse `text` as a literal for a field of type `ty` (numbers must fit the width, `true` /
/// `false` only, dotted IPv4 if it contains `.` else IPv6, a port may be a service name from
/// /etc/services, an IPNET a CIDR). `bytes_hex`: the operator is `bcontains`/`bstartswith`, so
/// the text is an even-length hex string (decoded for a BYTEBUF field; other types ignore it,
/// the operator/type check is `compile`'s).
pub fn parse_literal(ty: FieldType, text: &str, bytes_hex: bool) -> Result<Lit, String> {
    literal::parse_literal(ty, text, bytes_hex)
}

/// `icontains`: ASCII case-insensitive substring.
///
/// Byte-wise folding is safe on UTF-8: only ASCII bytes fold, and a needle that starts on a
/// char boundary can only line up with one in the haystack.
pub fn icontains(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    let Some(&first) = n.first() else {
        return true;
    };
    if n.len() > h.len() {
        return false;
    }
    (0..=h.len() - n.len())
        .any(|i| h[i].eq_ignore_ascii_case(&first) && h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// `regex`: the pattern must match the whole value.
///
/// Falco compiles with RE2 in POSIX mode and calls `FullMatch`. The regex crate's syntax is
/// a superset of that for practical purposes: it also accepts Perl classes (`\d`, `\w`,
/// `\s`), `\b`, and lazy quantifiers, which RE2's POSIX mode rejects, so a rule using them
/// loads here and not in Falco. It lacks `\C` and (with our features) the Unicode general
/// categories and scripts (`\pL`, `\p{Greek}`), which fail here. Matching is on UTF-8 text
/// in both; a full match makes leftmost-longest vs leftmost-first irrelevant.
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    let invalid = |e: regex::Error| format!("invalid regular expression \"{pattern}\": {e}");
    // Checked alone first: `a)|(b` is invalid, yet wrapped in the anchoring group it would
    // compile into something else. This runs at load time only.
    regex::Regex::new(pattern).map_err(invalid)?;
    regex::Regex::new(&format!(r"\A(?:{pattern})\z")).map_err(invalid)
}

/// Apply a transformer (`val` is the identity). `None` when the result has no value (a
/// failed base64 decode, a missing input).
///
/// `tolower`/`toupper` fold ASCII only; `b64` decodes (standard alphabet, padding optional)
/// into `Value::Str` when the result is UTF-8, else `Value::Bytes`; `basename` is the text
/// after the last `/`; `len` is a byte count, for text up to the first NUL as Falco's
/// `strnlen`. A byte buffer given to a text transformer is read as lossy UTF-8; numbers,
/// booleans and addresses give `None`.
pub fn transform<'a>(t: Transformer, v: Value<'a>) -> Option<Value<'a>> {
    transform::transform(t, v)
}

/// The type a transformer produces from an input of type `ty`, or an error when it does not
/// accept that type.
pub fn transform_type(t: Transformer, ty: FieldType) -> Result<FieldType, String> {
    transform::transform_type(t, ty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn icontains_is_ascii_case_insensitive() {
        assert!(icontains("/usr/bin/BASH", "bash"));
        assert!(icontains("bash", "BASH"));
        assert!(icontains("anything", ""));
        assert!(icontains("", ""));
        assert!(!icontains("", "a"));
        assert!(!icontains("bas", "bash"));
        assert!(icontains("xxNcXX", "nc"));
        assert!(!icontains("n c", "nc"));
        assert!(icontains("ÉCOLE école", "cole"));
        // Non-ASCII letters do not fold.
        assert!(!icontains("ÉCOLE", "école"));
        assert!(icontains("aaaaaaaaab", "AAB"));
    }

    #[test]
    fn regex_is_anchored() {
        let re = compile_regex("bash").unwrap();
        assert!(re.is_match("bash"));
        assert!(!re.is_match("xbashx"));
        assert!(!re.is_match("bashx"));
        assert!(!re.is_match("xbash"));
        assert!(!re.is_match("bash\n"));
        let re = compile_regex("ba|sh").unwrap();
        assert!(re.is_match("ba"));
        assert!(re.is_match("sh"));
        assert!(!re.is_match("bash"));
        let re = compile_regex(".*/(ba)?sh").unwrap();
        assert!(re.is_match("/bin/sh"));
        assert!(re.is_match("/bin/bash"));
        assert!(!re.is_match("/bin/zsh -c"));
        let re = compile_regex("").unwrap();
        assert!(re.is_match(""));
        assert!(!re.is_match("a"));
        let re = compile_regex("(?i)BASH").unwrap();
        assert!(re.is_match("bash"));
        let re = compile_regex("(?m)^a$").unwrap();
        assert!(!re.is_match("a\nb"));
        let re = compile_regex("[0-9]{1,3}(\\.[0-9]{1,3}){3}").unwrap();
        assert!(re.is_match("10.0.0.1"));
        assert!(!re.is_match("10.0.0.1:80"));
    }

    #[test]
    fn invalid_regex_is_an_error_naming_it() {
        for bad in [
            "(",
            "a)|(b",
            "[a-",
            "*a",
            "a{2,1}",
            "\\",
            "(?P<x>a)(?P<x>b)",
        ] {
            let e = compile_regex(bad).unwrap_err();
            assert!(e.starts_with("invalid regular expression"), "{bad}: {e}");
            assert!(e.contains(bad), "{bad}: {e}");
        }
        let e = compile_regex("(").unwrap_err();
        assert!(e.contains("unclosed group"), "{e}");
    }

    proptest! {
        #[test]
        fn icontains_agrees_with_lowercase_contains(h in "[a-cA-CéÉ ]{0,12}", n in "[a-cA-CéÉ]{0,4}") {
            prop_assert_eq!(
                icontains(&h, &n),
                h.to_ascii_lowercase().contains(&n.to_ascii_lowercase())
            );
        }

        #[test]
        fn icontains_agrees_on_arbitrary_text(h in any::<String>(), n in any::<String>()) {
            prop_assert_eq!(
                icontains(&h, &n),
                h.to_ascii_lowercase().contains(&n.to_ascii_lowercase())
            );
        }
    }
}
