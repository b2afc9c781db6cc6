//! Exceptions → condition text, exactly as Falco builds it.

use super::{error, load_all, ok, rule, warnings_with};

fn cond_of(exceptions: &str) -> String {
    let o = ok(&format!(
        "- rule: R\n  desc: d\n  condition: evt.type = execve\n  output: o\n  priority: INFO\n  exceptions:\n{exceptions}"
    ));
    rule(&o, "R").condition.text.clone()
}

#[test]
fn scalar_field_defaults_to_in_and_quotes_values_with_spaces() {
    assert_eq!(
        cond_of(
            "    - name: e\n      fields: proc.name\n      values: [cron, 'my app', '\"q x\"']\n"
        ),
        "(evt.type = execve) and not (proc.name in (cron, \"my app\", \"q x\"))"
    );
    assert_eq!(
        cond_of(
            "    - name: e\n      fields: fd.name\n      comps: pmatch\n      values: [/tmp]\n"
        ),
        "(evt.type = execve) and not (fd.name pmatch (/tmp))"
    );
}

#[test]
fn list_fields_default_to_equals_and_render_tuples() {
    assert_eq!(
        cond_of(
            "    - name: e\n      fields: [proc.name, fd.name]\n      values:\n        - [a, /etc/x]\n        - [b c, /etc/y]\n"
        ),
        "(evt.type = execve) and not (( proc.name = a and  fd.name = /etc/x) or ( proc.name = \"b c\" and  fd.name = /etc/y))"
    );
}

#[test]
fn list_operators_wrap_values_and_keep_list_names() {
    assert_eq!(
        cond_of(
            "    - name: e\n      fields: [proc.name, proc.pname]\n      comps: [in, in]\n      values:\n        - [shell_binaries, [apt, 'dpkg x']]\n        - ['(a, b)', c]\n"
        ),
        "(evt.type = execve) and not (( proc.name in (shell_binaries) and  proc.pname in (apt, \"dpkg x\")) or ( proc.name in (a, b) and  proc.pname in (c)))"
    );
}

#[test]
fn exceptions_without_values_add_nothing_but_the_parentheses() {
    assert_eq!(
        cond_of("    - name: e\n      fields: [proc.name]\n"),
        "(evt.type = execve)"
    );
    let o = ok(
        "- rule: R\n  desc: d\n  condition: c\n  output: o\n  priority: INFO\n  exceptions: []\n",
    );
    assert_eq!(rule(&o, "R").condition.text, "c");
}

#[test]
fn several_exceptions_and_their_fields() {
    let o = ok(
        "- rule: R\n  desc: d\n  condition: a or b\n  output: o\n  priority: INFO\n  exceptions:\n\
         \x20   - name: one\n      fields: proc.name\n      values: [x]\n\
         \x20   - name: two\n      fields: [fd.name]\n      comps: [startswith]\n      values: [[/tmp]]\n",
    );
    let r = rule(&o, "R");
    assert_eq!(
        r.condition.text,
        "(a or b) and not (proc.name in (x)) and not (( fd.name startswith /tmp))"
    );
    assert_eq!(
        r.exception_fields.iter().collect::<Vec<_>>(),
        ["fd.name", "proc.name"]
    );
}

#[test]
fn appending_values_by_name_with_legacy_append() {
    let o = load_all(&[
        "- rule: R\n  desc: d\n  condition: c\n  output: o\n  priority: INFO\n  exceptions:\n\
         \x20   - name: e\n      fields: [proc.name]\n      values: [[a]]\n",
        "- rule: R\n  append: true\n  exceptions:\n    - name: e\n      values: [[b]]\n",
    ]);
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    assert_eq!(
        rule(&o, "R").condition.text,
        "(c) and not (( proc.name = a) or ( proc.name = b))"
    );
}

#[test]
fn exception_errors() {
    let r = |ex: &str| {
        format!(
            "- rule: R\n  desc: d\n  condition: c\n  output: o\n  priority: INFO\n  exceptions:\n{ex}"
        )
    };
    let e = error(&r(
        "    - name: e\n      fields: [proc.name, fd.name]\n      values: [[a]]\n",
    ));
    assert!(
        e.starts_with("a.yaml:9:16: error: Fields and values lists must have equal length"),
        "{e}"
    );
    let e = error(&r(
        "    - name: e\n      fields: [proc.name, fd.name]\n      comps: [=]\n      values: []\n",
    ));
    assert!(
        e.contains("Fields and comps lists must have equal length"),
        "{e}"
    );
    let e = error(&r(
        "    - name: e\n      fields: [proc.name]\n      comps: [like]\n      values: []\n",
    ));
    assert!(
        e.starts_with("a.yaml:9:15: error: 'like' is not a supported comparison operator"),
        "{e}"
    );
    let e = error(&r(
        "    - name: e\n      fields: proc.name\n      comps: =\n      values: []\n",
    ));
    assert!(
        e.contains("When fields is a single value, comps must be one of (in, pmatch, intersects)"),
        "{e}"
    );
    let e = error(&r(
        "    - name: e\n      fields: proc.name\n      values: [[a]]\n",
    ));
    assert!(
        e.contains("Expected values array to contain a list of strings"),
        "{e}"
    );
    let e = error(&r("    - name: e\n      values: [[a]]\n"));
    assert!(e.contains("Item has no mapping for key 'fields'"), "{e}");
    let e = error(&r("    - fields: [a]\n"));
    assert!(e.contains("Item has no mapping for key 'name'"), "{e}");
    let e = error(&r("    - name: e\n      fields: [a]\n      values: x\n"));
    assert!(
        e.contains("Rule exception values must be a sequence"),
        "{e}"
    );
    let e = error(
        "- rule: R\n  desc: d\n  condition: c\n  output: o\n  priority: INFO\n  exceptions: x\n",
    );
    assert!(e.contains("Rule exceptions must be a sequence"), "{e}");
    let e = error(&r("    - just a string\n"));
    assert!(e.contains("Rule exception must be a mapping"), "{e}");
}

#[test]
fn appending_errors() {
    let base = "- rule: R\n  desc: d\n  condition: c\n  output: o\n  priority: INFO\n  exceptions:\n\
                \x20   - name: e\n      fields: [proc.name]\n      values: [[a]]\n";
    let err = |more: &str| {
        let o = load_all(&[base, more]);
        assert_eq!(o.errors.len(), 1, "{:?}", o.errors);
        o.errors[0].to_string()
    };
    let e = err(
        "- rule: R\n  exceptions:\n    - name: e\n      fields: [fd.name]\n      values: [[b]]\n  override:\n    exceptions: append\n",
    );
    assert!(
        e.contains("Can not append exception fields to existing exception, only values"),
        "{e}"
    );
    let e = err(
        "- rule: R\n  exceptions:\n    - name: e\n      comps: [in]\n      values: [[b]]\n  override:\n    exceptions: append\n",
    );
    assert!(e.contains("Can not append exception comps"), "{e}");
    let e = err(
        "- rule: R\n  exceptions:\n    - name: f\n      fields: [fd.name]\n  override:\n    exceptions: append\n",
    );
    assert!(
        e.contains("Rule exception must have values property"),
        "{e}"
    );
    let e = err(
        "- rule: R\n  exceptions:\n    - name: e\n      values: [[b, c]]\n  override:\n    exceptions: append\n",
    );
    assert!(
        e.contains("Fields and values lists must have equal length"),
        "{e}"
    );
    let o = load_all(&[
        base,
        "- rule: R\n  exceptions:\n    - name: e\n  override:\n    exceptions: append\n",
    ]);
    assert_eq!(
        warnings_with(&o, "Overriding/appending exception with no values").len(),
        1
    );
}

#[test]
fn duplicate_names_in_one_item_warn() {
    let o = ok(
        "- rule: R\n  desc: d\n  condition: c\n  output: o\n  priority: INFO\n  exceptions:\n\
               \x20   - name: e\n      fields: [a]\n    - name: e\n      fields: [b]\n",
    );
    let w = warnings_with(&o, "Multiple definitions of exception 'e' in the same rule");
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].pos.to_string(), "a.yaml:9:7");
}

#[test]
fn generated_text_maps_to_the_exception() {
    let o = ok(
        "- rule: R\n  desc: d\n  condition: evt.type = execve\n  output: o\n  priority: INFO\n  exceptions:\n\
         \x20   - name: e\n      fields: [proc.name]\n      comps: [startswith]\n      values: [[cron]]\n",
    );
    let r = rule(&o, "R");
    let t = &r.condition.text;
    let at = |s: &str| {
        r.condition
            .map
            .locate(t.find(s).unwrap())
            .unwrap()
            .to_string()
    };
    assert_eq!(at("evt.type"), "a.yaml:3:14");
    assert_eq!(at(" and not"), "a.yaml:7:7");
    assert_eq!(at("proc.name"), "a.yaml:8:16");
    assert_eq!(at("startswith"), "a.yaml:9:15");
    assert_eq!(at("cron"), "a.yaml:10:17");
}
