//! Output formats: `%field` tokens compiled once per rule, rendered per alert into the text
//! line and the typed `output_fields` (falco-fields.md 4.1–4.4).

use serde_json::{Map, Value as Json};

use crate::{
    compile::Compiler,
    diag::Diagnostic,
    event::{EventSource, FieldArg},
    fields::{self, flag},
    filter::Extractor,
    loader::Located,
    parse::{self, OutputPart},
    timefmt,
    value::Value,
};

#[derive(Clone, Debug)]
enum Part {
    Text(String),
    Field(FieldPart),
}

#[derive(Clone, Debug)]
struct FieldPart {
    /// The token as written (`proc.aname[2]`): the key in `output_fields`.
    written: String,
    width: Option<usize>,
    x: Extractor,
    /// `proc.aname` without index: the ancestors, parent first.
    ancestors: bool,
    /// Transformed tokens are printed but not put in `output_fields`.
    in_json: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Format {
    parts: Vec<Part>,
}

impl Format {
    /// Compile `src`. `%container.info` (deprecated in Falco, replaced by the suggested
    /// container fields) prints nothing and gets a warning.
    pub fn compile(
        src: &Located,
        compiler: &mut Compiler,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<Format, Diagnostic> {
        let tokens = parse::parse_output(&src.text).map_err(|e| {
            Diagnostic::error(crate::compile::at(src, e.offset), e.message).with_token(e.token)
        })?;
        let mut parts = Vec::with_capacity(tokens.len());
        for t in tokens {
            match t {
                OutputPart::Text(s) => parts.push(Part::Text(s)),
                OutputPart::Field {
                    width,
                    operand,
                    written,
                    span,
                } => {
                    let pos = || crate::compile::at(src, span.start);
                    if written == "container.info" {
                        warnings.push(
                            Diagnostic::warning(pos(), "%container.info is deprecated and prints nothing; the container and pod fields are appended to every output")
                                .with_token("%container.info"),
                        );
                        continue;
                    }
                    let x = compiler.operand(&operand, src)?;
                    let def = fields::def(x.field);
                    if def.has(flag::FILTER_ONLY) {
                        return Err(Diagnostic::error(
                            pos(),
                            format!(
                                "'{}' is filter only and cannot be used as a display field",
                                def.name
                            ),
                        )
                        .with_token(written));
                    }
                    let ancestors = def.has(flag::ANY_ANCESTOR) && x.arg == FieldArg::None;
                    let in_json = x.transforms.is_empty();
                    parts.push(Part::Field(FieldPart {
                        written,
                        width,
                        x,
                        ancestors,
                        in_json,
                    }));
                }
            }
        }
        Ok(Format { parts })
    }

    /// The text, with `<NA>` for missing values; typed values (null when missing) go into
    /// `fields` under each token as written.
    pub fn render<E: EventSource>(&self, ev: &E, fields: &mut Map<String, Json>) -> String {
        let mut out = String::with_capacity(256);
        for p in &self.parts {
            match p {
                Part::Text(s) => out.push_str(s),
                Part::Field(f) => {
                    let (text, json) = f.value(ev);
                    match f.width {
                        Some(w) => out.push_str(&format!("{text:<w$.w$}")),
                        None => out.push_str(&text),
                    }
                    if f.in_json {
                        fields.insert(f.written.clone(), json);
                    }
                }
            }
        }
        out
    }

    /// The value of an `append_output` extra field: typed (null when missing) when the format
    /// is a single field, as Falco stores a bare field; the rendered text otherwise.
    pub fn render_value<E: EventSource>(&self, ev: &E) -> Json {
        match self.parts.as_slice() {
            [Part::Field(f)] if f.in_json && f.width.is_none() => f.value(ev).1,
            _ => Json::String(self.render(ev, &mut Map::new())),
        }
    }

    /// Tokens that go into `output_fields`.
    pub fn json_keys(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(f) if f.in_json => Some(f.written.as_str()),
            _ => None,
        })
    }
}

impl FieldPart {
    fn value<E: EventSource>(&self, ev: &E) -> (String, Json) {
        const NA: &str = "<NA>";
        if self.ancestors {
            let names: Vec<String> = (1..=256)
                .map_while(|i| ev.extract(self.x.field, &FieldArg::Index(i)))
                .map(|v| v.render().into_owned())
                .collect();
            if names.is_empty() {
                return (NA.into(), Json::Null);
            }
            let s = names.join(" ");
            return (s.clone(), Json::String(s));
        }
        let Some(v) = self.x.extract(ev) else {
            return (NA.into(), Json::Null);
        };
        let name = fields::def(self.x.field).name;
        if let (Value::Uint(ns), true) = (&v, self.x.transforms.is_empty()) {
            let text = match name {
                "evt.time" => Some(timefmt::time(*ns)),
                "evt.time.s" => Some(timefmt::time_s(*ns)),
                "evt.time.iso8601" => Some(timefmt::iso8601(*ns)),
                "evt.datetime" => Some(timefmt::datetime(*ns)),
                "evt.datetime.s" => Some(timefmt::datetime_s(*ns)),
                _ => None,
            };
            if let Some(t) = text {
                return (t, Json::from(*ns));
            }
        }
        (v.render().into_owned(), v.to_json())
    }
}
