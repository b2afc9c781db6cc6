//! Output formats case by case: where a `%` token ends, widths, arguments, transformers, errors.

use super::*;

// ---- outputs -------------------------------------------------------------------------------

fn out_field(
    width: Option<usize>,
    operand: Operand,
    written: &str,
    span: (usize, usize),
) -> OutputPart {
    OutputPart::Field {
        width,
        operand,
        written: written.into(),
        span: Span::new(span.0, span.1),
    }
}

fn text(t: &str) -> OutputPart {
    OutputPart::Text(t.into())
}

/// Output parts with the operand spans zeroed (the token span is kept).
fn out(format: &str) -> Vec<OutputPart> {
    let parts = parse_output(format).unwrap_or_else(|e| panic!("{format:?}: {e}"));
    parts
        .into_iter()
        .map(|p| match p {
            OutputPart::Field {
                width,
                operand,
                written,
                span,
            } => OutputPart::Field {
                width,
                operand: zero_operand(operand),
                written,
                span,
            },
            t => t,
        })
        .collect()
}

#[test]
fn output_fields_end_where_the_field_grammar_ends() {
    assert_eq!(out(""), vec![]);
    assert_eq!(out("no fields"), vec![text("no fields")]);
    assert_eq!(
        out("(user=%user.name)"),
        vec![
            text("(user="),
            out_field(None, field("user.name"), "user.name", (6, 16)),
            text(")"),
        ]
    );
    assert_eq!(
        out("file=%fd.name, x"),
        vec![
            text("file="),
            out_field(None, field("fd.name"), "fd.name", (5, 13)),
            text(", x"),
        ]
    );
    assert_eq!(
        out("%proc.name."),
        vec![
            out_field(None, field("proc.name"), "proc.name", (0, 10)),
            text(".")
        ]
    );
    assert_eq!(
        out("%proc.name.é"),
        vec![
            out_field(None, field("proc.name"), "proc.name", (0, 10)),
            text(".é")
        ]
    );
    assert_eq!(
        out("%a.b%c.d"),
        vec![
            out_field(None, field("a.b"), "a.b", (0, 4)),
            out_field(None, field("c.d"), "c.d", (4, 8)),
        ]
    );
}

#[test]
fn output_widths_arguments_and_transformers() {
    assert_eq!(
        out("[%20proc.name]"),
        vec![
            text("["),
            out_field(Some(20), field("proc.name"), "proc.name", (1, 13)),
            text("]"),
        ]
    );
    assert_eq!(
        out("%0evt.num"),
        vec![out_field(Some(0), field("evt.num"), "evt.num", (0, 9))]
    );
    assert_eq!(
        out("gp=%proc.aname[2] "),
        vec![
            text("gp="),
            out_field(None, field_arg("proc.aname", "2"), "proc.aname[2]", (3, 17)),
            text(" "),
        ]
    );
    assert_eq!(
        out("%container.mount.dest[/proc*]"),
        vec![out_field(
            None,
            field_arg("container.mount.dest", "/proc*"),
            "container.mount.dest[/proc*]",
            (0, 29)
        )]
    );
    assert_eq!(
        out("n=%tolower(proc.name)!"),
        vec![
            text("n="),
            out_field(
                None,
                tr(Transformer::ToLower, field("proc.name")),
                "tolower(proc.name)",
                (2, 21)
            ),
            text("!"),
        ]
    );
    assert_eq!(
        out("%5toupper(basename(proc.exe))"),
        vec![out_field(
            Some(5),
            tr(
                Transformer::ToUpper,
                tr(Transformer::Basename, field("proc.exe"))
            ),
            "toupper(basename(proc.exe))",
            (0, 29)
        )]
    );
}

#[test]
fn official_style_output() {
    let format = "Shell spawned (user=%user.name container_id=%container.id shell=%proc.name parent=%proc.pname cmdline=%proc.cmdline terminal=%proc.tty exe_flags=%evt.arg.flags %container.info)";
    let parts = out(format);
    let written: Vec<_> = parts
        .iter()
        .filter_map(|p| match p {
            OutputPart::Field { written, .. } => Some(written.as_str()),
            OutputPart::Text(_) => None,
        })
        .collect();
    assert_eq!(
        written,
        [
            "user.name",
            "container.id",
            "proc.name",
            "proc.pname",
            "proc.cmdline",
            "proc.tty",
            "evt.arg.flags",
            "container.info",
        ]
    );
    assert_eq!(parts.first(), Some(&text("Shell spawned (user=")));
    assert_eq!(parts.last(), Some(&text(")")));
    assert!(
        parts
            .windows(2)
            .all(|w| !matches!(w, [OutputPart::Text(_), OutputPart::Text(_)]))
    );
}

/// An output at its budgets parses; one byte or one field more is refused, with where.
#[test]
fn outputs_have_budgets() {
    use crate::parse::{MAX_FIELD_WIDTH, MAX_OUTPUT_BYTES, MAX_OUTPUT_FIELDS};
    assert!(parse_output(&format!("%{MAX_FIELD_WIDTH}proc.name")).is_ok());
    let fields = "%proc.pid ".repeat(MAX_OUTPUT_FIELDS);
    assert!(parse_output(&fields).is_ok());
    let e = parse_output(&format!("{fields}%proc.pid")).unwrap_err();
    assert_eq!(e.offset, fields.len(), "{e}");
    assert!(e.message.contains("more than 1024 fields"), "{e}");
    let text = "x".repeat(MAX_OUTPUT_BYTES);
    assert!(parse_output(&text).is_ok());
    let e = parse_output(&format!("{text}x")).unwrap_err();
    assert!(e.message.contains("more than the 65536"), "{e}");
}

#[test]
fn bad_outputs() {
    for (format, offset, token, message) in [
        ("100%", 3, "%", "at the end"),
        ("50% of", 2, "%", "must be followed by a field"),
        ("%%proc.name", 0, "%%", "must be followed by a field"),
        ("%20", 0, "%20", "must be followed by a field"),
        ("%name", 0, "%name", "must be followed by a field"),
        ("x %tolower", 2, "%tolower", "must be followed by a field"),
        (
            "%99999999999999999999999proc.name",
            0,
            "%99999999999999999999999",
            "width larger than 4096",
        ),
        // Each alert would be padded to a gigabyte.
        (
            "%999999999proc.name",
            0,
            "%999999999",
            "width larger than 4096",
        ),
        ("%proc.aname[2", 13, "", "missing ']'"),
        ("%tolower(proc.name", 18, "", "missing ')'"),
        ("%val(proc.name)", 1, "val", "right-hand side"),
        ("%é", 0, "%é", "must be followed by a field"),
    ] {
        let e = match parse_output(format) {
            Ok(p) => panic!("{format:?} parsed as {p:?}"),
            Err(e) => e,
        };
        assert_eq!(
            (e.offset, e.token.as_str()),
            (offset, token),
            "{format:?}: {e}"
        );
        assert!(e.message.contains(message), "{format:?}: {e}");
    }
}
