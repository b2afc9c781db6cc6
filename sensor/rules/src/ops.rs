//! Operator semantics on single values (falco-fields.md 2.3) and literal parsing by field type
//! (0.1). Pure functions; `filter` calls them with extracted values and compiled literals.

use std::net::IpAddr;

use crate::{ast::Transformer, value::FieldType, value::Value};

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

/// An IPv4 or IPv6 network (`10.0.0.0/8`, `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// `a.b.c.d/n` (the `/n` is mandatory) or `x::/n`.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let _ = s;
        todo!()
    }

    /// Same family and the first `prefix` bits equal.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let _ = ip;
        todo!()
    }
}

/// Parse `text` as a literal for a field of type `ty` (numbers must fit the width, `true` /
/// `false` only, dotted IPv4 if it contains `.` else IPv6, a port may be a service name from
/// /etc/services, an IPNET a CIDR). `bytes_hex`: the operator is `bcontains`/`bstartswith`, so
/// the text is an even-length hex string.
pub fn parse_literal(ty: FieldType, text: &str, bytes_hex: bool) -> Result<Lit, String> {
    let _ = (ty, text, bytes_hex);
    todo!()
}

/// `glob` / `iglob`: fnmatch with no flags (`*` and `?` also match `/`, `[...]` classes).
pub fn glob(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let _ = (pattern, text, case_insensitive);
    todo!()
}

/// `icontains`: ASCII case-insensitive substring.
pub fn icontains(haystack: &str, needle: &str) -> bool {
    let _ = (haystack, needle);
    todo!()
}

/// `pmatch`: a set of path prefixes matched on `/` component boundaries; components may hold
/// glob wildcards matched within the component.
#[derive(Clone, Debug)]
pub struct PathSet {}

impl PathSet {
    pub fn new(items: &[String]) -> PathSet {
        let _ = items;
        todo!()
    }

    pub fn matches(&self, path: &str) -> bool {
        let _ = path;
        todo!()
    }
}

/// `regex`: the pattern must match the whole value.
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    let _ = pattern;
    todo!()
}

/// Apply a transformer (`val` is the identity). `None` when the result has no value (a
/// failed base64 decode, a missing input).
pub fn transform<'a>(t: Transformer, v: Value<'a>) -> Option<Value<'a>> {
    let _ = (t, v);
    todo!()
}

/// The type a transformer produces from an input of type `ty`, or an error when it does not
/// accept that type.
pub fn transform_type(t: Transformer, ty: FieldType) -> Result<FieldType, String> {
    let _ = (t, ty);
    todo!()
}
