//! The config as hostile input: alias bombs in the file (`-c`) and in `-o` values are refused
//! before they are copied, a byte order mark is accepted, invalid UTF-8 is placed.

use lanner_tests::TempDir;

use super::*;

fn load_file(text: &[u8]) -> anyhow::Result<Config> {
    let dir = TempDir::new("config-input");
    let f = dir.path().join("lanner.yaml");
    std::fs::write(&f, text).unwrap();
    Config::load(Some(&f), &[])
}

/// Each level aliases the one before ten times: 10^9 nodes at the ninth.
fn laughs() -> String {
    let mut t = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n".to_string();
    for i in 1..10 {
        let p = i - 1;
        let refs = vec![format!("*a{p}"); 10].join(", ");
        t += &format!("a{i}: &a{i} [{refs}]\n");
    }
    t
}

#[test]
fn billion_laughs_in_the_config_file_is_refused() {
    let e = format!("{:#}", load_file(laughs().as_bytes()).unwrap_err());
    assert!(
        e.ends_with(&format!(
            "lanner.yaml:7:10: YAML expands to more than {} nodes once its aliases are copied",
            lanner_rules::yaml::MAX_NODES
        )),
        "{e}"
    );
}

#[test]
fn a_big_string_aliased_in_the_config_file_is_refused() {
    let mut t = format!("hostname: &s \"{}\"\nx: [", "h".repeat(1 << 20));
    t += &vec!["*s"; 100].join(", ");
    t += "]\n";
    let e = format!("{:#}", load_file(t.as_bytes()).unwrap_err());
    assert!(
        e.contains("bytes of scalars once its aliases are copied"),
        "{e}"
    );
}

#[test]
fn billion_laughs_in_an_override_is_refused() {
    let laughs = laughs().replace('\n', ", ");
    let o = format!("append_output={{{laughs}}}");
    let e = format!("{:#}", Config::load(None, &[o]).unwrap_err());
    assert!(
        e.starts_with("-o append_output=…: YAML expands to more than"),
        "{}",
        &e[..e.len().min(300)]
    );
    // Deep nesting, which yaml-rust2's loader would recurse into.
    let deep = format!("rules_files={}x", "- ".repeat(50_000));
    let e = format!("{:#}", Config::load(None, &[deep]).unwrap_err());
    assert!(e.contains("nests deeper than 128 levels"), "{e}");
}

#[test]
fn a_byte_order_mark_is_accepted_and_invalid_utf8_is_placed() {
    let c = load_file(b"\xef\xbb\xbfpriority: WARNING\n").unwrap();
    assert_eq!(c.priority, Priority::Warning);
    let e = format!(
        "{:#}",
        load_file(b"priority: WARNING\nhostname: n\xe9\n").unwrap_err()
    );
    assert!(
        e.ends_with("lanner.yaml:2:12: error: invalid UTF-8 (byte 0xe9)"),
        "{e}"
    );
}

#[test]
fn a_fifo_or_an_oversized_config_is_refused() {
    let dir = TempDir::new("config-fifo");
    let f = dir.path().join("lanner.yaml");
    let c = std::ffi::CString::new(f.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let e = format!("{:#}", Config::load(Some(&f), &[]).unwrap_err());
    assert!(e.contains("not a regular file (it is a FIFO)"), "{e}");
    let big = format!("hostname: \"{}\"\n", "h".repeat(MAX_CONFIG_BYTES as usize));
    let e = format!("{:#}", load_file(big.as_bytes()).unwrap_err());
    assert!(
        e.contains("more than the 4194304 a config file may have"),
        "{e}"
    );
}
