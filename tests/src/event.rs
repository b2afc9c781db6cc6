//! Accessors and assertions on single events.

use serde_json::Value;

/// True when `lanner.argv` contains `arg` as a whole element.
pub fn has_arg(ev: &Value, arg: &str) -> bool {
    ev["lanner.argv"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x == arg))
}

pub fn is_type(ev: &Value, t: &str) -> bool {
    ev["evt.type"] == t
}

/// Asserts `ev[key] == expected`, printing the whole event on failure.
#[track_caller]
pub fn assert_field(ev: &Value, key: &str, expected: impl Into<Value>) {
    let expected = expected.into();
    assert!(
        ev[key] == expected,
        "field `{key}`: expected {expected}, got {}\nevent: {ev:#}",
        ev[key]
    );
}

#[track_caller]
pub fn field_i64(ev: &Value, key: &str) -> i64 {
    ev[key]
        .as_i64()
        .unwrap_or_else(|| panic!("`{key}` is not an integer\nevent: {ev:#}"))
}

#[track_caller]
pub fn field_str<'a>(ev: &'a Value, key: &str) -> &'a str {
    ev[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string\nevent: {ev:#}"))
}
