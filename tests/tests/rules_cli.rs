//! The rules command line, without probes: `lanner -V FILE...` validates rules files and
//! reports each error as `file:line:col: error: message (near 'token')`, exiting 1 on any
//! error; `lanner -L` lists the loaded rules; `lanner --list` lists the fields.
//!
//! Every broken fixture writes its condition on one line, so the expected position is the
//! fixture line and the 1-based column of the offending token in it, computed from the text
//! the test wrote.

use lanner_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn lanner(args: &[&str]) -> TimedOutput {
    let out = run_with_timeout(
        Command::new(lanner_bin()).args(args),
        Duration::from_secs(60),
    );
    assert!(out.status.is_some(), "lanner {args:?} timed out: {out:?}");
    out
}

fn exit_code(out: &TimedOutput) -> Option<i32> {
    out.status.and_then(|s| s.code())
}

/// Writes `text` as `<dir>/<name>` and returns its path.
fn fixture(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// 1-based (line, column) of the first occurrence of `needle` in `text` at or after line
/// `from_line` (1-based).
fn position(text: &str, needle: &str, from_line: usize) -> (usize, usize) {
    text.lines()
        .enumerate()
        .skip(from_line - 1)
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)))
        .unwrap_or_else(|| panic!("{needle:?} not in fixture after line {from_line}"))
}

/// Validates `path` and asserts exit 1 with an error at `line:col` of it that names the
/// offending token `near` (YAML syntax errors have none to name).
#[track_caller]
fn assert_error_at(path: &Path, (line, col): (usize, usize), near: Option<&str>) {
    let p = path.to_string_lossy();
    let out = lanner(&["-V", &p]);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(exit_code(&out), Some(1), "lanner -V {p}: {out:?}");
    let prefix = format!("{p}:{line}:{col}: error: ");
    let err = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no error line starting with {prefix:?} in:\n{text}"));
    if let Some(near) = near {
        assert!(
            err.contains(&format!("(near '{near}')")),
            "error should name the token {near:?}: {err}"
        );
    }
}

/// A rule whose condition is `condition` (one line), after a `spawned_process` macro.
fn rule_file(condition: &str) -> String {
    format!(
        "- macro: spawned_process\n  condition: evt.type in (execve, execveat)\n\n\
         - rule: Broken\n  desc: a rule with an error\n  condition: {condition}\n  \
         output: broken (proc=%proc.cmdline)\n  priority: WARNING\n  tags: [test]\n"
    )
}

#[test]
fn unknown_field_is_reported_at_the_field() {
    let dir = TempDir::new("cli");
    let text = rule_file("spawned_process and proc.nmae = bash");
    let path = fixture(&dir, "unknown_field.yaml", &text);
    assert_error_at(&path, position(&text, "proc.nmae", 1), Some("proc.nmae"));
}

/// As in Falco: an `evt.type` value Falco knows no event by is a load error, with Falco's
/// message (its own test's name, `some_invalid_event`), wherever the value is compared.
#[test]
fn unknown_event_type_is_reported_at_the_name() {
    let dir = TempDir::new("cli");
    for (i, cond) in [
        "evt.type = some_invalid_event",
        "spawned_process and evt.type != some_invalid_event",
        "evt.type in (execve, some_invalid_event)",
    ]
    .into_iter()
    .enumerate()
    {
        let text = rule_file(cond);
        let path = fixture(&dir, &format!("unknown_evt_{i}.yaml"), &text);
        let (line, col) = position(&text, "some_invalid_event", 1);
        assert_error_at(&path, (line, col), None);
        let p = path.to_string_lossy();
        let out = lanner(&["-V", &p]);
        let expected = format!("{p}:{line}:{col}: error: unknown event type some_invalid_event");
        assert!(
            format!("{}{}", out.stdout, out.stderr).contains(&expected),
            "{cond}: {out:?}"
        );
    }
}

/// A name Falco knows that Lanner does not capture loads, and `-L` says the rule never fires.
#[test]
fn a_known_event_type_lanner_does_not_capture_lists_as_never_firing() {
    let dir = TempDir::new("cli");
    let path = fixture(
        &dir,
        "chdir.yaml",
        &rule_file("evt.type = chdir and fd.name = /x"),
    );
    let p = path.to_string_lossy();
    let out = lanner(&["-L", "-r", &p]);
    assert_eq!(exit_code(&out), Some(0), "lanner -L -r {p}: {out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let at = lines.iter().position(|l| *l == "Broken").expect("listed");
    assert!(
        lines[at + 1].ends_with("never fires (events Lanner does not capture)"),
        "{}",
        out.stdout
    );
}

#[test]
fn undefined_macro_is_reported_at_its_use() {
    let dir = TempDir::new("cli");
    let text = rule_file("spawned_process and not_a_defined_macro");
    let path = fixture(&dir, "undefined_macro.yaml", &text);
    assert_error_at(
        &path,
        position(&text, "not_a_defined_macro", 1),
        Some("not_a_defined_macro"),
    );
}

/// A loop needs a redefinition: a macro may only use macros defined before it, so `loop_a`
/// (redefined last, as `loop_b`) and `loop_b` (which uses `loop_a`) see each other. The
/// error is at the use that closes the loop when the rule's `loop_a` is expanded: `loop_b`
/// (current definition) uses `loop_a`, which is being expanded.
#[test]
fn macro_cycle_is_reported_at_the_reference_closing_it() {
    let dir = TempDir::new("cli");
    let text = "- macro: loop_a\n  condition: evt.type = execve\n\n\
                - macro: loop_b\n  condition: proc.name = x and loop_a\n\n\
                - macro: loop_a\n  condition: loop_b\n\n\
                - rule: Cyclic\n  desc: uses a macro loop\n  condition: loop_a\n  \
                output: cyclic (proc=%proc.cmdline)\n  priority: WARNING\n";
    let path = fixture(&dir, "macro_cycle.yaml", text);
    assert_error_at(&path, position(text, "loop_a", 5), Some("loop_a"));
}

#[test]
fn unknown_operator_is_reported_at_the_operator() {
    let dir = TempDir::new("cli");
    let text = rule_file("spawned_process and proc.name containz bash");
    let path = fixture(&dir, "bad_operator.yaml", &text);
    assert_error_at(&path, position(&text, "containz", 1), Some("containz"));
}

#[test]
fn operator_not_defined_for_the_field_type_is_reported_at_the_operator() {
    let dir = TempDir::new("cli");
    // `contains` is a string operator; proc.pid is a number.
    let text = rule_file("spawned_process and proc.pid contains 5");
    let path = fixture(&dir, "operator_type.yaml", &text);
    assert_error_at(&path, position(&text, "contains", 6), Some("contains"));
}

/// A key indented further than its siblings continues the previous plain scalar, where a
/// `:` is not allowed: the colon is where the YAML becomes invalid.
#[test]
fn over_indented_key_is_reported_at_its_colon() {
    let dir = TempDir::new("cli");
    let text = "- rule: Overindented\n  desc: a key indented too far\n   condition: evt.type = execve\n  \
                output: overindented (proc=%proc.cmdline)\n  priority: WARNING\n";
    let path = fixture(&dir, "over_indented.yaml", text);
    assert_error_at(&path, position(text, ":", 3), None);
}

/// A key indented less than its siblings ends the rule's mapping and belongs to nothing: the
/// error is the key itself (where libyaml puts it), not the colon after it.
#[test]
fn under_indented_key_is_reported_at_the_key() {
    let dir = TempDir::new("cli");
    let text = "- rule: Underindented\n  desc: a key out of line\n  condition: evt.type = execve\n \
                output: underindented (proc=%proc.cmdline)\n  priority: WARNING\n";
    let path = fixture(&dir, "under_indented.yaml", text);
    assert_error_at(&path, position(text, "output", 1), None);
}

#[test]
fn official_rules_files_validate_together() {
    let files = official_rules_paths();
    let mut args = vec!["-V"];
    args.extend(files.iter().map(String::as_str));
    let out = lanner(&args);
    assert_eq!(exit_code(&out), Some(0), "lanner {args:?}: {out:?}");
    assert!(
        !format!("{}{}", out.stdout, out.stderr).contains(": error: "),
        "{out:?}"
    );
}

#[test]
fn default_ruleset_validates() {
    let path = default_rules_path();
    let p = path.to_string_lossy();
    let out = lanner(&["-V", &p]);
    assert_eq!(exit_code(&out), Some(0), "lanner -V {p}: {out:?}");
    assert!(
        !format!("{}{}", out.stdout, out.stderr).contains(": error: "),
        "{out:?}"
    );
}

/// `-L` prints each rule's name on its own line, then `  priority: P  tags: [sorted, ...]`.
#[test]
fn list_rules_shows_every_default_rule_with_priority_and_tags() {
    let out = lanner(&["-L"]);
    assert_eq!(exit_code(&out), Some(0), "lanner -L: {out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let names = lines
        .windows(2)
        .filter(|w| w[1].trim_start().starts_with("priority: "))
        .count();
    assert_eq!(names, DEFAULT_RULES.len(), "rules listed:\n{}", out.stdout);
    for spec in DEFAULT_RULES {
        let at = lines
            .iter()
            .position(|l| *l == spec.name)
            .unwrap_or_else(|| panic!("`{}` not listed:\n{}", spec.name, out.stdout));
        let detail = lines.get(at + 1).copied().unwrap_or_default();
        let mut tags = spec.tags.to_vec();
        tags.sort_unstable();
        let expected = format!("priority: {}  tags: [{}]", spec.priority, tags.join(", "));
        assert!(
            detail.trim_start().starts_with(&expected),
            "`{}`: expected {expected:?}, got {detail:?}",
            spec.name
        );
    }
}

#[test]
fn list_fields_includes_ancestor_fields() {
    let out = lanner(&["--list"]);
    assert_eq!(exit_code(&out), Some(0), "lanner --list: {out:?}");
    for field in [
        "proc.aname",
        "proc.name",
        "fd.sip",
        "container.id",
        "evt.type",
    ] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.split_whitespace().any(|w| w.starts_with(field))),
            "{field} not listed:\n{}",
            out.stdout
        );
    }
}

#[test]
fn a_byte_order_mark_is_accepted_in_rules_and_config() {
    let dir = TempDir::new("cli-bom");
    let text = format!(
        "\u{feff}{}",
        rule_file("spawned_process and proc.name = bash")
    );
    let rules = fixture(&dir, "bom.yaml", &text);
    let config = fixture(&dir, "lanner.yaml", "\u{feff}priority: WARNING\n");
    let out = lanner(&[
        "-c",
        config.to_str().unwrap(),
        "-V",
        rules.to_str().unwrap(),
    ]);
    assert_eq!(exit_code(&out), Some(0), "{out:?}");
    assert!(out.stdout.contains("bom.yaml: Ok"), "{out:?}");
}

#[test]
fn invalid_utf8_is_reported_at_its_line_and_column() {
    let dir = TempDir::new("cli-utf8");
    let path = dir.path().join("latin1.yaml");
    let mut bytes = rule_file("spawned_process and proc.name = bash").into_bytes();
    // In the description: "a rule with an error" → "a rule wìth an error" in Latin-1.
    let at = bytes.windows(4).position(|w| w == b"with").unwrap() + 1;
    bytes[at] = 0xec;
    std::fs::write(&path, &bytes).unwrap();
    let p = path.to_string_lossy();
    let out = lanner(&["-V", &p]);
    assert_eq!(exit_code(&out), Some(1), "{out:?}");
    let (line, col) = position(&String::from_utf8_lossy(&bytes), "\u{fffd}", 1);
    assert!(
        out.stdout.contains(&format!(
            "{p}:{line}:{col}: error: invalid UTF-8 (byte 0xec)"
        )),
        "{out:?}"
    );
}

#[test]
fn a_macro_bomb_is_refused_at_once_naming_the_rule_and_the_macro() {
    let dir = TempDir::new("cli-bomb");
    // 60 levels: 2^62 nodes once written out, 3 KB on disk.
    let text = lanner_tests::hostile_rules::macro_bomb(60);
    let path = fixture(&dir, "bomb.yaml", &text);
    let out = lanner(&["-V", path.to_str().unwrap()]);
    assert_eq!(exit_code(&out), Some(1), "{out:?}");
    assert!(
        out.stdout
            .contains(": error: rule 'Macro bomb': macro 'm13' has 65531 nodes"),
        "{out:?}"
    );
    assert!(out.elapsed < Duration::from_secs(10), "{out:?}");
}

#[test]
fn a_fifo_or_an_oversized_rules_file_is_refused_without_blocking() {
    let dir = TempDir::new("cli-fifo");
    let fifo = dir.path().join("fifo.yaml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let p = fifo.to_string_lossy();
    let out = lanner(&["-V", &p]);
    assert_eq!(exit_code(&out), Some(1), "{out:?}");
    assert!(
        out.stdout.contains(&format!(
            "{p}: error: not a regular file (it is a FIFO); a rules file must be a regular file"
        )),
        "{out:?}"
    );
    // A sparse file one byte over 8 MiB: refused by its size, before it is read.
    let big = dir.path().join("big.yaml");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((8 << 20) + 1)
        .unwrap();
    let p = big.to_string_lossy();
    let out = lanner(&["-V", &p]);
    assert_eq!(exit_code(&out), Some(1), "{out:?}");
    assert!(
        out.stdout.contains(&format!(
            "{p}: error: 8388609 bytes, more than the 8388608 a rules file may have"
        )),
        "{out:?}"
    );
}
