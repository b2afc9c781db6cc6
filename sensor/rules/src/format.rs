//! Output formats: `%field` tokens compiled once per rule, rendered per alert into the text
//! line and the typed `output_fields` (falco-fields.md 4.1–4.4).

use serde_json::Value as Json;

use crate::{
    compile::Compiler,
    diag::Diagnostic,
    event::{EventSource, FieldArg},
    fields::{self, Field, flag},
    filter::Extractor,
    loader::Located,
    outfields::{self, OutputFields},
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
    /// Where its value goes among the rule's `output_fields` (`assign_slots`).
    slot: u32,
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
                        slot: u32::MAX,
                    }));
                }
            }
        }
        Ok(Format { parts })
    }

    /// The text, with `<NA>` for missing values; typed values (null when missing) go into
    /// `fields` under each token as written.
    pub fn render<E: EventSource>(&self, ev: &E, fields: &mut OutputFields) -> String {
        self.render_into(ev, |slot, json| fields.set(slot, json))
    }

    /// The text; each typed value goes to `put` with its slot.
    fn render_into<E: EventSource>(&self, ev: &E, mut put: impl FnMut(u32, Json)) -> String {
        let mut out = String::with_capacity(256);
        for p in &self.parts {
            match p {
                Part::Text(s) => out.push_str(s),
                Part::Field(f) => {
                    let json = match f.width {
                        None => f.write(ev, &mut out),
                        Some(w) => {
                            let mut text = String::new();
                            let json = f.write(ev, &mut text);
                            out.push_str(&format!("{text:<w$.w$}"));
                            json
                        }
                    };
                    if f.in_json {
                        put(f.slot, json);
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
            [Part::Field(f)] if f.in_json && f.width.is_none() => f.write(ev, &mut String::new()),
            _ => Json::String(self.render_into(ev, |_, _| {})),
        }
    }

    /// Place each token that goes into `output_fields` among the rule's `keys`.
    pub(crate) fn assign_slots(&mut self, keys: &[Box<str>]) {
        for p in &mut self.parts {
            if let Part::Field(f) = p {
                f.slot = outfields::slot_of(keys, &f.written);
            }
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
    /// Append the value's text (`<NA>` when missing) to `out`; return its typed value.
    fn write<E: EventSource>(&self, ev: &E, out: &mut String) -> Json {
        const NA: &str = "<NA>";
        if self.ancestors {
            let names: Vec<String> = (1..=256)
                .map_while(|i| ev.extract(self.x.field, &FieldArg::Index(i)))
                .map(|v| v.render().into_owned())
                .collect();
            if names.is_empty() {
                out.push_str(NA);
                return Json::Null;
            }
            let s = names.join(" ");
            out.push_str(&s);
            return Json::String(s);
        }
        let Some(v) = self.x.extract(ev) else {
            out.push_str(NA);
            return Json::Null;
        };
        if let (Value::Uint(ns), true) = (&v, self.x.transforms.is_empty()) {
            let text = match self.x.field {
                Field::EvtTime => Some(timefmt::time(*ns)),
                Field::EvtTimeS => Some(timefmt::time_s(*ns)),
                Field::EvtTimeIso8601 => Some(timefmt::iso8601(*ns)),
                Field::EvtDatetime => Some(timefmt::datetime(*ns)),
                Field::EvtDatetimeS => Some(timefmt::datetime_s(*ns)),
                _ => None,
            };
            if let Some(t) = text {
                out.push_str(&t);
                return Json::from(*ns);
            }
        }
        // The text straight into the line: no String of its own (a borrowed value is copied
        // once, here, and once more only if it goes into `output_fields`).
        out.push_str(&v.render());
        v.to_json()
    }
}
