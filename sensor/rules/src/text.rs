//! A rules or config file's bytes → its text: UTF-8, or an error at the line and column of the
//! first byte that is not (a bare "invalid UTF-8" leaves the reader to bisect the file), with
//! a leading byte order mark dropped (YAML allows one; so does Falco's yaml-cpp).

use std::sync::Arc;

use crate::{
    diag::{Diagnostic, Pos},
    yaml::BOM,
};

/// The text of `bytes`, read from `file`.
pub fn decode(file: Arc<str>, bytes: Vec<u8>) -> Result<String, Diagnostic> {
    let mut text = String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        // The prefix is valid: count lines, and characters on the last one.
        let valid = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
        let line_start = valid.rfind('\n').map_or(0, |i| i + 1);
        let pos = Pos {
            file,
            line: valid.matches('\n').count() + 1,
            col: valid[line_start..].chars().count() + 1,
        };
        Diagnostic::error(pos, format!("invalid UTF-8 (byte 0x{:02x})", bytes[at]))
    })?;
    if text.starts_with(BOM) {
        text.drain(..BOM.len_utf8());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(bytes: &[u8]) -> Result<String, String> {
        decode(Arc::from("r.yaml"), bytes.to_vec()).map_err(|d| d.to_string())
    }

    #[test]
    fn an_invalid_byte_is_placed_by_line_and_column() {
        assert_eq!(
            decoded(b"- rule: a\n  desc: \xc3\xa9t\xc3\xa9 \xff\n"),
            Err("r.yaml:2:13: error: invalid UTF-8 (byte 0xff)".into())
        );
        assert_eq!(
            decoded(b"\xe9"),
            Err("r.yaml:1:1: error: invalid UTF-8 (byte 0xe9)".into())
        );
        // A character cut short at the end of the file.
        assert_eq!(
            decoded(b"ab\n\xc3"),
            Err("r.yaml:2:1: error: invalid UTF-8 (byte 0xc3)".into())
        );
    }

    #[test]
    fn a_leading_byte_order_mark_is_dropped() {
        assert_eq!(decoded(b"\xef\xbb\xbfa: 1\n"), Ok("a: 1\n".into()));
        // Only a leading one.
        assert_eq!(decoded(b"a: \xef\xbb\xbf\n"), Ok("a: \u{feff}\n".into()));
    }
}
