//! What the targets do with what they produced, as the agent would, and the invariants they
//! assert on the way.

use std::sync::LazyLock;

use lanner_rules::{
    Diagnostic, EventSource, Field, FieldArg, Matching, Ruleset, availability,
    fields::{self, ArgKind, FIELDS, flag},
};
use serde_json::Value as Json;

use super::{quote, samples};
use crate::{
    config::Config,
    enrich::Enriched,
    event::{Body, Event, Peer, Text},
    k8s::{PodMeta, meta::split_image},
    output::{
        alert::{self, AlertFormat},
        dump,
    },
    rules::{extract::EventView, files},
};

/// The sensor's rule options (`Config::engine_options` of the defaults), every matching rule
/// firing so that every rule's output is rendered.
pub fn options() -> lanner_rules::Options {
    lanner_rules::Options {
        matching: Matching::All,
        ..Config::default().engine_options()
    }
}

fn load(text: String, what: &str) -> Ruleset {
    let source = lanner_rules::loader::Source {
        name: what.into(),
        text,
    };
    match lanner_rules::load(&[source], &options()) {
        Ok(l) => l.ruleset,
        Err(diags) => panic!("{what} does not load: {diags:?}"),
    }
}

/// The built-in ruleset.
pub fn builtin_rules() -> &'static Ruleset {
    static RULES: LazyLock<Ruleset> =
        LazyLock::new(|| load(files::builtin().text, "the built-in rules"));
    &RULES
}

/// One rule that fires on every event and prints every field that can be printed.
pub fn every_field_rule() -> &'static Ruleset {
    static RULES: LazyLock<Ruleset> = LazyLock::new(|| {
        let file = quote::rule_file(&quote::every_event_condition(), &every_field_format());
        load(file, "the every-field rule")
    });
    &RULES
}

/// `%field` for every field an output can show, with an argument where it takes one.
pub fn every_field_format() -> String {
    let mut out = String::from("every field:");
    for d in FIELDS.iter().filter(|d| !d.has(flag::FILTER_ONLY)) {
        let args: &[&str] = match d.arg {
            ArgKind::None => &[""],
            ArgKind::Index => &["", "[1]", "[3]"],
            ArgKind::IndexRequired => &["[0]", "[1]"],
            ArgKind::Key => &["[app]", "[PATH]"],
            ArgKind::IndexOrKey => &["[0]", "[/etc]"],
            ArgKind::EvtArg => &["[0]", "[1]"],
        };
        for a in args {
            out.push_str(&format!(" {}=%{}{a}", d.name, d.name));
        }
    }
    out
}

/// The alert formats the agent writes: Falco's JSON with every property, and the text line.
static JSON: LazyLock<AlertFormat> = LazyLock::new(|| AlertFormat {
    json: true,
    include_output: true,
    include_tags: true,
    include_output_fields: true,
    include_message: true,
    hostname: "node-1".into(),
});
static TEXT: LazyLock<AlertFormat> = LazyLock::new(|| AlertFormat {
    json: false,
    ..JSON.clone()
});

/// Evaluate `ruleset` on `ev` as the output stage does, and write every alert in both formats.
/// The JSON line must be JSON, and say what the alert says. Returns how many rules fired.
pub fn evaluate(ruleset: &Ruleset, ev: &Enriched) -> usize {
    let epoch_ns = samples::epoch_ns(&ev.event);
    let view = EventView::new(ev, epoch_ns).with_hostname(&JSON.hostname);
    let mut fired = Vec::new();
    ruleset.evaluate(&view, |r| fired.push(r));
    for &r in &fired {
        let a = ruleset.alert(r, &view, epoch_ns);
        let line = alert::json_text(&a, &JSON);
        let v: Json = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the alert's JSON does not parse ({e}): {line}"));
        assert_eq!(v["rule"].as_str(), Some(&*a.rule), "rule in {line}");
        assert_eq!(v["output"].as_str(), Some(&*a.output), "output in {line}");
        let fields = v["output_fields"].as_object().map_or(0, |m| m.len());
        assert_eq!(fields, a.output_fields.len(), "output_fields in {line}");
        let mut text = Vec::new();
        alert::write(&mut text, &a, &TEXT, None).expect("writing to memory");
    }
    fired.len()
}

/// Fields the dump leaves out although the event's type has them: other renderings of
/// `evt.time`, an alias, `evt.args` (every parameter again), the deprecated `evt.dir`.
const NOT_DUMPED: &[Field] = &[
    Field::EvtTimeS,
    Field::EvtTimeIso8601,
    Field::EvtDatetime,
    Field::EvtDatetimeS,
    Field::EvtRawtime,
    Field::K8sPodId,
    Field::EvtArgs,
    Field::EvtDir,
];

/// `--dump-events`'s line for `ev` says what the rules see: every key named after a field holds
/// the extraction's value of that field (element N of an array its `[N]`; `evt.arg.NAME` and
/// `evt.rawarg.NAME` the parameter's), every other key is Lanner's own (`lanner.*`), and every
/// field the event's type can have is a key (`null` when missing), never omitted. Returns the
/// line.
pub fn dump_agrees(ev: &Enriched) -> Json {
    let epoch_ns = samples::epoch_ns(&ev.event);
    let view = EventView::new(ev, epoch_ns).with_hostname(&JSON.hostname);
    let line = dump::event_json(&EventView::new(ev, epoch_ns).with_hostname(&JSON.hostname));
    let ty = view.evt_type().name();
    let obj = line.as_object().expect("the dump is a JSON object");
    let rules = |f: Field, a: &FieldArg| view.extract(f, a).map_or(Json::Null, |v| v.to_json());
    for (key, value) in obj {
        let Ok((field, arg)) = fields::lookup(key, None) else {
            assert!(
                key.starts_with("lanner."),
                "{ty}: {key} is no field: {line}"
            );
            continue;
        };
        match value {
            Json::Array(items) if field.def().has(flag::ANY_ANCESTOR) => {
                assert_eq!(items.len(), view.lineage_len(), "{ty}: {key}: {line}");
                for (n, item) in items.iter().enumerate() {
                    let want = rules(field, &FieldArg::Index(n as u32));
                    assert_eq!(item, &want, "{ty}: {key}[{n}] in the dump: {line}");
                }
            }
            _ => assert_eq!(
                value,
                &rules(field, &arg),
                "{ty}: {key} in the dump: {line}"
            ),
        }
    }
    for field in availability::fields(view.evt_type()) {
        let d = field.def();
        let plain = d.arg == ArgKind::None || d.has(flag::OPTIONAL_ARG);
        if plain && !d.has(flag::FILTER_ONLY) && !NOT_DUMPED.contains(&field) {
            assert!(obj.contains_key(d.name), "{ty}: {} omitted: {line}", d.name);
        }
    }
    for name in view.shown_params() {
        assert!(
            obj.contains_key(&format!("evt.arg.{name}")),
            "{ty}: evt.arg.{name}"
        );
    }
    line
}

/// A diagnostic as `lanner -V` prints it.
pub fn render_diagnostic(d: &Diagnostic) {
    let _ = d.to_string();
}

/// No string of a decoded record is longer (in characters) than the record: every one was read
/// from inside it, and an invalid byte becomes one U+FFFD, never more.
pub fn strings_within(ev: &Event, record_len: usize) {
    let check = |what: &str, s: &str| {
        assert!(
            s.chars().count() <= record_len,
            "{what} of {} characters from a {record_len}-byte record",
            s.chars().count()
        );
    };
    let text = |what: &str, t: &Text| {
        if let Some(v) = &t.value {
            check(what, v);
        }
    };
    check("comm", &ev.task.comm);
    if let Some(c) = &ev.task.cgroup {
        check("cgroup", c);
    }
    match &ev.body {
        Body::Exec(e) => {
            text("filename", &e.filename);
            let i = &e.image;
            for (what, s) in [("exe", &i.exe), ("cmdline", &i.cmdline)] {
                check(what, s);
            }
            for (what, s) in [("exepath", &i.exepath), ("cwd", &i.cwd)] {
                if let Some(s) = s {
                    check(what, s);
                }
            }
            let argv: usize = i.args.iter().map(|a| a.chars().count() + 1).sum();
            assert!(argv <= record_len, "argv of {argv} characters");
            let env: usize = e.env.iter().flatten().map(|v| v.chars().count() + 1).sum();
            assert!(env <= record_len, "env of {env} characters");
        }
        Body::Mount(m) => {
            text("source", &m.source);
            text("target", &m.target);
            text("fstype", &m.fstype);
        }
        Body::Connect(c) => {
            if let Peer::Unix(p) = &c.peer {
                check("unix path", p);
            }
        }
        Body::Privilege(p) => {
            if let Some(uargs) = p.uargs() {
                text("uargs", uargs);
            }
        }
        Body::Open(o) => {
            for (what, v) in [("open raw path", &o.path.raw), ("open name", &o.path.name)] {
                if let Some(v) = v {
                    check(what, v);
                }
            }
        }
        Body::FileChange(c) => {
            for p in std::iter::once(&c.path).chain(&c.second) {
                for (what, v) in [("change raw path", &p.raw), ("change name", &p.name)] {
                    if let Some(v) = v {
                        check(what, v);
                    }
                }
            }
        }
        Body::NetFd(_) | Body::Fork(_) | Body::Exit(_) => {}
    }
}

/// `container.image.repository` and `.tag` are parts of the image they were split from.
pub fn image_split(m: &PodMeta) {
    let source = if m.runtime_image.is_empty() {
        &m.image
    } else {
        &m.runtime_image
    };
    let (repo, tag) = split_image(source);
    assert_eq!((repo, tag), (&*m.image_repository, &*m.image_tag));
    assert!(source.starts_with(repo), "{repo:?} starts {source:?}");
    assert!(source.contains(tag), "{tag:?} is in {source:?}");
}
