//! The Prometheus text exposition format (0.0.4): `# HELP`, `# TYPE`, samples with escaped
//! label values. Written by hand: it is a few rules, and the OpenMetrics encoders of the
//! client crates rename counters (`_total`), which would break `falco_events`.

use std::fmt::Write as _;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    pub fn family(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_value(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, help: &str, kind: &str, value: f64) {
        self.family(name, help, kind);
        self.sample(name, &[], value);
    }

    pub fn into_string(self) -> String {
        self.text
    }
}

/// Go's formatting of floats as Prometheus writes them: integers without a fraction.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn escape_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_numbers_written_as_prometheus_does() {
        let mut e = Exposition::default();
        e.family("m", "a \\ help\nline", "gauge");
        e.sample("m", &[("a", "x\"y\\z\nw"), ("b", "")], 3.0);
        e.sample("m", &[], 0.25);
        e.sample("m", &[], f64::INFINITY);
        assert_eq!(
            e.into_string(),
            "# HELP m a \\\\ help\\nline\n# TYPE m gauge\nm{a=\"x\\\"y\\\\z\\nw\",b=\"\"} 3\nm 0.25\nm +Inf\n"
        );
    }
}
