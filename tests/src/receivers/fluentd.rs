//! [`FakeFluentd`]: Fluentd's `in_http` input (<https://docs.fluentd.org/input/http>), default
//! format.
//!
//! `POST /<tag>` (the path without its `/`, percent-decoded, `/` → `.`: `/falco/alerts` and
//! `/falco.alerts` are both tag `falco.alerts`) takes the record(s) from:
//! - `Content-Type: application/json`: the body;
//! - `application/x-ndjson`: one JSON value per line;
//! - `application/x-www-form-urlencoded`: the `json=` (or `ndjson=`) parameter of the body;
//! - parameters of the query string, as in_http (the body's win).
//!
//! A JSON object is one record, an array of objects a batch (in order), `null` nothing. The
//! answer is in_http's: `200 OK`, `text/plain`, empty body; `400 Bad Request` with the reason in a
//! `text/plain` body for unparseable JSON, a non-object record, another Content-Type or no
//! `json` parameter (`msgpack=` included: the fake does not decode MessagePack), and nothing of
//! that request is stored. Failure injection: [`fail_next`](FakeFluentd::fail_next) answers
//! `503` (before parsing, storing nothing).
//!
//! Deliberate difference: in_http does not look at the method (a `GET /tag?json=…` is a record,
//! a bare `GET` a 400); the fake answers any method but POST with `405` (`Allow: POST`), so a
//! client sending anything else is caught.
//!
//! Not modelled: in_http takes a `time` key out of each record as the event time unless
//! `keep_time_key` is set (records are stored here as sent); `?time=`; MessagePack; CORS.

use std::time::Duration;

use anyhow::{Result, anyhow};
use serde_json::Value;

use super::{Handler, ReceivedRequest, Server, form_decode, http::Response, percent_decode};

/// in_http's default `body_size_limit` (32 MiB): larger bodies get a 413.
pub const FLUENTD_BODY_LIMIT: usize = 32 << 20;

#[derive(Default)]
pub(crate) struct FluentdState {
    records: Vec<(String, Value)>,
    fail_next: usize,
}

/// A fake Fluentd `in_http` on `127.0.0.1:<ephemeral port>`; see the module doc.
pub struct FakeFluentd {
    server: Server<FluentdState>,
}

impl FakeFluentd {
    fake_receiver_methods!(FLUENTD_BODY_LIMIT);

    /// Answers the next `n` requests with `503 Service Unavailable` (storing nothing).
    pub fn fail_next(&self, n: usize) {
        self.server.with(|i| i.state.fail_next = n);
    }

    /// Every stored `(tag, record)`, in arrival order.
    pub fn records(&self) -> Vec<(String, Value)> {
        self.server.with(|i| i.state.records.clone())
    }

    pub fn record_count(&self) -> usize {
        self.server.with(|i| i.state.records.len())
    }

    /// The records stored under `tag`, in arrival order.
    pub fn records_tagged(&self, tag: &str) -> Vec<Value> {
        let all = self.records().into_iter();
        all.filter(|(t, _)| t == tag).map(|(_, r)| r).collect()
    }

    /// Forgets the stored records and requests.
    pub fn clear(&self) {
        self.server.with(|i| {
            i.requests.clear();
            i.state.records.clear();
        });
    }

    /// Waits until at least `n` records are stored; all of them.
    pub fn wait_records(&self, n: usize, timeout: Duration) -> Result<Vec<(String, Value)>> {
        let got = self.server.wait(timeout, |i| {
            (i.state.records.len() >= n).then(|| i.state.records.clone())
        });
        got.ok_or_else(|| {
            let have = self.records();
            anyhow!(
                "{} records after {timeout:?}, wanted {n}: {have:?}",
                have.len()
            )
        })
    }
}

fn text(status: u16, body: &str) -> Response {
    Response::new(status, "text/plain", body.to_owned())
}

impl Handler for FluentdState {
    fn handle(&mut self, req: &ReceivedRequest) -> Response {
        if req.method != "POST" {
            return text(405, "405 Method Not Allowed\n").header("Allow", "POST");
        }
        if self.fail_next > 0 {
            self.fail_next -= 1;
            return text(503, "503 Service Unavailable\n");
        }
        let path = req.path.strip_prefix('/').unwrap_or(&req.path);
        let tag = percent_decode(path, false)
            .split('/')
            .collect::<Vec<_>>()
            .join(".");
        match records_of(req) {
            Ok(records) => {
                let tagged = records.into_iter().map(|r| (tag.clone(), r));
                self.records.extend(tagged);
                text(200, "")
            }
            Err(why) => text(400, &format!("400 Bad Request\n{why}\n")),
        }
    }
}

/// The records of a request, as in_http's default format reads them.
fn records_of(req: &ReceivedRequest) -> Result<Vec<Value>, String> {
    let mut params = form_decode(&req.query);
    let body = || String::from_utf8(req.body.clone()).map_err(|_| "body is not UTF-8".to_owned());
    match req.media_type().as_str() {
        "application/x-www-form-urlencoded" => params.extend(form_decode(&body()?)),
        "application/json" => params.push(("json".into(), body()?)),
        "application/x-ndjson" => params.push(("ndjson".into(), body()?)),
        _ => {}
    }
    let param = |name| params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v);
    let values = if param("msgpack").is_some() {
        return Err("msgpack is not supported by the fake".into());
    } else if let Some(js) = param("json") {
        match serde_json::from_str(js).map_err(|e| format!("invalid JSON: {e}"))? {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            one => vec![one],
        }
    } else if let Some(nd) = param("ndjson") {
        let lines = nd.lines().filter(|l| !l.trim().is_empty());
        let parsed =
            lines.map(|l| serde_json::from_str(l).map_err(|e| format!("invalid JSON: {e}")));
        parsed.collect::<Result<_, _>>()?
    } else {
        return Err("'json', 'ndjson' or 'msgpack' parameter is required".into());
    };
    match values.iter().find(|v| !v.is_object()) {
        Some(v) => Err(format!("record is not a JSON object: {v}")),
        None => Ok(values),
    }
}
