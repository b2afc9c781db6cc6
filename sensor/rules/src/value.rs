//! Field types and values, as Falco types them (libsinsp `PT_*`).

use std::{borrow::Cow, fmt, net::IpAddr};

/// The type of a field: decides how a literal on the right-hand side is parsed, which
/// operators are allowed, and how the value is rendered in text and JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// CHARBUF: text.
    Str,
    /// BYTEBUF: raw bytes (`evt.buffer`).
    Bytes,
    /// INT64: signed number.
    Int64,
    /// UINT32 / UINT64: unsigned number.
    Uint32,
    Uint64,
    /// RELTIME: nanoseconds, a duration.
    RelTime,
    /// ABSTIME: nanoseconds since the epoch.
    AbsTime,
    /// PORT: a port number (decimal, or a service name on the right-hand side).
    Port,
    Bool,
    IpAddr,
    /// IPNET: filter-only CIDR fields (`fd.net`).
    IpNet,
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            Self::Str => "CHARBUF",
            Self::Bytes => "BYTEBUF",
            Self::Int64 => "INT64",
            Self::Uint32 => "UINT32",
            Self::Uint64 => "UINT64",
            Self::RelTime => "RELTIME",
            Self::AbsTime => "ABSTIME",
            Self::Port => "PORT",
            Self::Bool => "BOOL",
            Self::IpAddr => "IPADDR",
            Self::IpNet => "IPNET",
        }
    }

    /// Numeric types (ordering operators compare numbers).
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            Self::Int64 | Self::Uint32 | Self::Uint64 | Self::RelTime | Self::AbsTime | Self::Port
        )
    }

    pub fn is_signed(self) -> bool {
        matches!(self, Self::Int64)
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One extracted value. Signed fields extract `Int`, unsigned ones `Uint`. Borrowed from the
/// event where possible: extraction must not allocate on the hot path.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    Int(i64),
    Uint(u64),
    Bool(bool),
    Ip(IpAddr),
}

impl Value<'_> {
    /// Text rendering, as `%field` prints it.
    pub fn render(&self) -> Cow<'_, str> {
        match self {
            Self::Str(s) => Cow::Borrowed(s.as_ref()),
            Self::Bytes(b) => String::from_utf8_lossy(b),
            Self::Int(n) => Cow::Owned(n.to_string()),
            Self::Uint(n) => Cow::Owned(n.to_string()),
            Self::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Self::Ip(ip) => Cow::Owned(ip.to_string()),
        }
    }

    /// JSON rendering, typed as Falco's `output_fields`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Str(s) => serde_json::Value::String(s.to_string()),
            Self::Bytes(b) => serde_json::Value::String(String::from_utf8_lossy(b).into_owned()),
            Self::Int(n) => (*n).into(),
            Self::Uint(n) => (*n).into(),
            Self::Bool(b) => (*b).into(),
            Self::Ip(ip) => serde_json::Value::String(ip.to_string()),
        }
    }

    pub fn into_owned(self) -> Value<'static> {
        match self {
            Self::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Self::Bytes(b) => Value::Bytes(Cow::Owned(b.into_owned())),
            Self::Int(n) => Value::Int(n),
            Self::Uint(n) => Value::Uint(n),
            Self::Bool(b) => Value::Bool(b),
            Self::Ip(ip) => Value::Ip(ip),
        }
    }
}
