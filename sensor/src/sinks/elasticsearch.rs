//! Elasticsearch's `_bulk` API, encoding and decoding only (the transport sends the body as
//! `Content-Type: application/x-ndjson` and hands back the status and body).
//!
//! Every record goes as a `create` with the record's deterministic id as `_id`: a batch re-sent
//! after a timeout, a retry or a restart with a spool gets 409 `version_conflict_engine_exception`
//! for the documents that already made it instead of storing them twice. Re-sending is therefore
//! always safe, which is what the retry classification below relies on.

use anyhow::{Context, bail};
use lanner_rules::timefmt::{civil, rfc3339};
use serde_json::{Map, Value};

use super::Record;

/// How records become index names and documents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EsFormat {
    /// The index name without its date suffix (`falco`).
    pub index_prefix: String,
    /// Replace `.` with `_` in the keys of `output_fields` (falcosidekick's `flattenfields`).
    pub flatten: bool,
    pub suffix: IndexSuffix,
}

impl Default for EsFormat {
    fn default() -> Self {
        Self {
            index_prefix: "falco".into(),
            flatten: false,
            suffix: IndexSuffix::Daily,
        }
    }
}

/// The date part of the index name, from the alert's time in UTC (falcosidekick's `suffix`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IndexSuffix {
    /// `<prefix>`
    None,
    /// `<prefix>-YYYY.MM.DD`
    #[default]
    Daily,
    /// `<prefix>-YYYY.MM`
    #[cfg_attr(not(test), allow(dead_code))] // until the config accepts monthly/annually
    Monthly,
    /// `<prefix>-YYYY`
    #[cfg_attr(not(test), allow(dead_code))] // until the config accepts monthly/annually
    Annually,
}

impl EsFormat {
    /// Checks the prefix against Elasticsearch's index name rules, so a bad setting fails at
    /// startup rather than as a 400 `invalid_index_name_exception` on every document.
    #[cfg_attr(not(test), allow(dead_code))] // until the config calls it
    pub fn validate(&self) -> anyhow::Result<()> {
        let p = &self.index_prefix;
        if p.is_empty() {
            bail!("the Elasticsearch index prefix is empty");
        }
        if let Some(c) = p
            .chars()
            .find(|c| c.is_uppercase() || "\\/*?\"<>| ,#:".contains(*c))
        {
            bail!(
                "the Elasticsearch index prefix {p:?} contains {c:?} (index names are lowercase, without \\ / * ? \" < > | space , # :)"
            );
        }
        if p.starts_with(['-', '_', '+']) || p == "." || p == ".." {
            bail!(
                "the Elasticsearch index prefix {p:?} may not start with -, _ or + nor be . or .."
            );
        }
        // 255 bytes at most, with room for "-YYYY.MM.DD".
        if p.len() > 240 {
            bail!("the Elasticsearch index prefix is longer than 240 bytes");
        }
        Ok(())
    }
}

/// The index a record with this time goes to.
pub fn index_name(fmt: &EsFormat, time_ns: u64) -> String {
    let (y, m, d, ..) = civil(time_ns);
    let p = &fmt.index_prefix;
    match fmt.suffix {
        IndexSuffix::None => p.clone(),
        IndexSuffix::Daily => format!("{p}-{y:04}.{m:02}.{d:02}"),
        IndexSuffix::Monthly => format!("{p}-{y:04}.{m:02}"),
        IndexSuffix::Annually => format!("{p}-{y:04}"),
    }
}

/// The document for a record: its JSON object with `@timestamp` (the alert's `time`, RFC 3339
/// UTC with ns, which both `date` and `date_nanos` mappings parse) and, with `flatten`, the
/// keys of `output_fields` with `.` replaced by `_`. Other keys and all values are kept as they
/// are (key order is not: serde_json's map sorts them, which Elasticsearch does not care about).
pub fn document(fmt: &EsFormat, record: &Record) -> anyhow::Result<String> {
    let v: Value = serde_json::from_str(&record.json)
        .with_context(|| format!("record {}: its JSON does not parse", record.id))?;
    let Value::Object(mut obj) = v else {
        bail!("record {}: its JSON is not an object", record.id);
    };
    let ts = match obj.get("time") {
        Some(Value::String(t)) => t.clone(),
        _ => rfc3339(record.time_ns),
    };
    if fmt.flatten
        && let Some(Value::Object(fields)) = obj.get_mut("output_fields")
    {
        *fields = flatten(std::mem::take(fields));
    }
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), Value::String(ts));
    obj.remove("@timestamp");
    doc.extend(obj);
    Ok(serde_json::to_string(&Value::Object(doc))?)
}

/// `a.b.c` → `a_b_c`. Should two keys land on the same name, the one that was already in that
/// form wins, then the first in key order: deterministic, unlike a Go map's iteration.
fn flatten(fields: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in fields {
        if k.contains('.') {
            out.entry(k.replace('.', "_")).or_insert(v);
        } else {
            out.insert(k, v);
        }
    }
    out
}

/// The `_bulk` request body for `records`: per record an action line
/// `{"create":{"_index":…,"_id":…}}` and the document line, each ending in `\n`. Records whose
/// document cannot be encoded are left out; their positions in `records` come back (ascending),
/// and the response's items then follow the remaining records in order.
pub fn bulk_body(fmt: &EsFormat, records: &[Record]) -> (String, Vec<usize>) {
    let mut body = String::new();
    let mut skipped = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let Ok(doc) = document(fmt, r) else {
            skipped.push(i);
            continue;
        };
        let index = Value::String(index_name(fmt, r.time_ns));
        let id = Value::String(r.id.clone());
        body.push_str(&format!(
            "{{\"create\":{{\"_index\":{index},\"_id\":{id}}}}}\n"
        ));
        body.push_str(&doc);
        body.push('\n');
    }
    (body, skipped)
}

/// What became of one document of a bulk request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemOutcome {
    /// 200/201: stored now.
    Stored,
    /// 409 on `create`: a document with this `_id` is already there (an earlier send that
    /// succeeded without us learning it). Counts as delivered.
    Duplicate,
    /// 429 (`es_rejected_execution_exception`, `circuit_breaking_exception`) or 5xx (e.g.
    /// `unavailable_shards_exception`): send it again later.
    Retry { status: u16, reason: String },
    /// Any other 4xx (e.g. 400 `mapper_parsing_exception`, `document_parsing_exception`): this
    /// document will never be accepted as it is. (401/403/404 per item are `Retry`: setup.)
    Rejected { status: u16, reason: String },
}

/// The bulk request as a whole failed (no per-document outcome).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BulkError {
    /// Nothing wrong with the documents: the same request may succeed later (401/403 until the
    /// credentials or privileges are fixed, 404 until the URL or index is, 408, an unreadable
    /// 2xx body). Re-sending cannot duplicate anything, thanks to `create` with fixed ids.
    #[error("Elasticsearch bulk request failed (HTTP {status}, retryable): {reason}")]
    Retry { status: u16, reason: String },
    /// Sending this request again as it is will not succeed (413: split the batch; 400: the
    /// body is malformed; a response whose items do not match what was sent).
    #[error("Elasticsearch bulk request failed (HTTP {status}): {reason}")]
    Fatal { status: u16, reason: String },
}

/// Reads the response to a bulk request of `sent` documents: one outcome per document, in
/// the order they were sent, or why the request as a whole failed.
pub fn parse_bulk_response(
    status: u16,
    body: &str,
    sent: usize,
) -> Result<Vec<ItemOutcome>, BulkError> {
    match status {
        200..=299 => {}
        429 | 500..=599 => {
            let reason = request_reason(body);
            return Ok(vec![ItemOutcome::Retry { status, reason }; sent]);
        }
        401 | 403 | 404 | 408 => {
            let reason = request_reason(body);
            return Err(BulkError::Retry { status, reason });
        }
        413 => {
            let reason = format!(
                "request too large for {sent} documents, send fewer per request or raise http.max_content_length ({})",
                request_reason(body)
            );
            return Err(BulkError::Fatal { status, reason });
        }
        _ => {
            let reason = request_reason(body);
            return Err(BulkError::Fatal { status, reason });
        }
    }
    let v: Value = serde_json::from_str(body).map_err(|e| BulkError::Retry {
        status,
        reason: format!("unreadable response body ({e}): {}", snippet(body)),
    })?;
    let fatal = |reason: String| BulkError::Fatal { status, reason };
    let items = match v.get("items") {
        Some(Value::Array(items)) => items,
        _ => return Err(fatal(format!("response without items: {}", snippet(body)))),
    };
    if items.len() != sent {
        return Err(fatal(format!(
            "response has {} items for {sent} documents sent: outcomes unknown",
            items.len()
        )));
    }
    if v.get("errors") == Some(&Value::Bool(false)) {
        return Ok(vec![ItemOutcome::Stored; sent]);
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| item_outcome(item).map_err(|e| fatal(format!("item {i}: {e}"))))
        .collect()
}

/// One element of `items`: `{"create": {"_index", "_id", "status", "error"?: {"type",
/// "reason", …}, …}}` (`index` for an index action).
fn item_outcome(item: &Value) -> Result<ItemOutcome, String> {
    let Some(r) = item.get("create").or_else(|| item.get("index")) else {
        return Err(format!("neither create nor index: {item}"));
    };
    let error = r.get("error");
    let status = match r.get("status").and_then(Value::as_u64) {
        Some(s) => u16::try_from(s).map_err(|_| format!("status {s}"))?,
        // Some examples leave `status` out of successful items.
        None if error.is_none() => 201,
        None => return Err(format!("an error without a status: {r}")),
    };
    let reason = || error.map_or_else(|| format!("HTTP {status}"), error_reason);
    Ok(match status {
        200..=299 if error.is_none() => ItemOutcome::Stored,
        409 => ItemOutcome::Duplicate,
        // Missing privileges or a missing index (auto-create off) come per item too: a setup
        // problem, not a bad document — keep the alert until it is fixed.
        401 | 403 | 404 => ItemOutcome::Retry {
            status,
            reason: reason(),
        },
        400..=499 if status != 429 => ItemOutcome::Rejected {
            status,
            reason: reason(),
        },
        _ => ItemOutcome::Retry {
            status,
            reason: reason(),
        },
    })
}

/// `type: reason` of an `error` object (a plain string in pre-5 versions), with the innermost
/// `caused_by` when there is one (a `mapper_parsing_exception`'s says which value failed).
fn error_reason(e: &Value) -> String {
    let Value::Object(o) = e else {
        return match e {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
    };
    let one = |o: &Map<String, Value>| {
        let ty = o.get("type").and_then(Value::as_str).unwrap_or("error");
        match o.get("reason").and_then(Value::as_str) {
            Some(r) => format!("{ty}: {r}"),
            None => ty.to_string(),
        }
    };
    let mut s = one(o);
    let mut cause = o.get("caused_by").and_then(Value::as_object);
    let mut last = None;
    while let Some(c) = cause {
        last = Some(c);
        cause = c.get("caused_by").and_then(Value::as_object);
    }
    if let Some(c) = last {
        s.push_str(&format!(" (caused by {})", one(c)));
    }
    s
}

/// Why a whole request failed: Elasticsearch's `{"error": {…}, "status": N}` when the body is
/// that, otherwise the start of whatever a proxy sent.
fn request_reason(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(v) if v.get("error").is_some() => error_reason(&v["error"]),
        _ if body.trim().is_empty() => "empty response body".into(),
        _ => snippet(body),
    }
}

fn snippet(body: &str) -> String {
    let s = body.trim();
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
#[path = "elasticsearch_tests.rs"]
mod tests;
