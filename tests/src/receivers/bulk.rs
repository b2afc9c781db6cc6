//! The `_bulk` API of [`FakeElasticsearch`](super::FakeElasticsearch).
//!
//! The body is NDJSON: an action line (`{"create"|"index": {"_index", "_id", ..}}`,
//! `{"delete": {..}}`, `{"update": {..}}`), then a source line for all but `delete`. The whole
//! request is a `400` (nothing executed) when the body is empty, does not end with `\n`, has a
//! malformed action line, an unknown action or metadata parameter (`_type` included, as on 8.x),
//! no index (neither `_index` nor `/<index>/_bulk`), or an action without its source line (ES
//! silently drops a trailing one; the fake is stricter). `Content-Type` must be
//! `application/x-ndjson` or `application/json` (or the `vnd.elasticsearch+` forms), else `406`.
//!
//! Otherwise `200` with `{"took", "errors", "items": [{"<action>": {..}}]}`, items in request
//! order, each executed on its own:
//! - an invalid index name (upper case, leading `_-+`, `\/*?"<>| ,#`): `400
//!   invalid_index_name_exception`;
//! - while [`reject_items`](super::FakeElasticsearch::reject_items) lasts: `429
//!   es_rejected_execution_exception`;
//! - a source that is not a JSON object, or contains the reject marker: `400
//!   mapper_parsing_exception`;
//! - `create` of an existing `_id`: `409 version_conflict_engine_exception` (not stored again);
//! - `create`/`index` otherwise: stored (`_id` generated when absent, 20 characters), `201
//!   created` `_version` 1, or for `index` over an existing one `200 updated` `_version` + 1;
//! - `delete`: `200 deleted` or `404 not_found` (not an error, as in ES);
//! - `update`: `400 illegal_argument_exception` (unsupported by the fake).
//!
//! An index exists from the first item addressed to it with a valid name (ES auto-creates it
//! before executing the items).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use super::{
    ReceivedRequest, base64,
    elasticsearch::{Doc, EsState, Index, es_error, plain_error},
    http::Response,
};

const ACTIONS: [&str; 4] = ["create", "delete", "index", "update"];

/// Metadata parameters ES 8 accepts on an action line.
const META: [&str; 14] = [
    "_index",
    "_id",
    "routing",
    "pipeline",
    "require_alias",
    "require_data_stream",
    "if_seq_no",
    "if_primary_term",
    "version",
    "version_type",
    "dynamic_templates",
    "list_executed_pipelines",
    "retry_on_conflict",
    "_source",
];

struct Op {
    action: &'static str,
    index: String,
    id: Option<String>,
    /// The source line, for all but `delete`.
    source: Option<String>,
}

pub(crate) fn bulk(
    st: &mut EsState,
    req: &ReceivedRequest,
    default_index: Option<&str>,
) -> Response {
    let started = Instant::now();
    let media = req.media_type();
    let accepted = [
        "application/x-ndjson",
        "application/json",
        "application/vnd.elasticsearch+x-ndjson",
        "application/vnd.elasticsearch+json",
    ];
    if !accepted.contains(&media.as_str()) {
        let msg = match req.header("content-type") {
            None => "Content-Type header is missing".to_owned(),
            Some(ct) => format!("Content-Type header [{ct}] is not supported"),
        };
        return plain_error(406, &msg);
    }
    if st.reject_requests > 0 {
        st.reject_requests -= 1;
        let reason = format!(
            "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, \
             replica_bytes=0, all_bytes=0, coordinating_operation_bytes={}, \
             max_coordinating_and_primary_bytes=0]",
            req.body.len()
        );
        return es_error(429, "es_rejected_execution_exception", &reason, json!({}));
    }
    let ops = match parse(&req.body, default_index) {
        Ok(ops) => ops,
        Err((ty, reason)) => return es_error(400, ty, &reason, json!({})),
    };
    let items: Vec<Value> = ops.into_iter().map(|op| execute(st, op)).collect();
    let errors = items.iter().any(|i| {
        i.as_object()
            .into_iter()
            .flatten()
            .any(|(_, v)| v.get("error").is_some())
    });
    let took = started.elapsed().as_millis() as u64;
    Response::json(
        200,
        &json!({"took": took, "errors": errors, "items": items}),
    )
}

type Invalid = (&'static str, String);

fn parse(body: &[u8], default_index: Option<&str>) -> Result<Vec<Op>, Invalid> {
    let illegal = |r: String| ("illegal_argument_exception", r);
    if body.is_empty() {
        let r = "Validation Failed: 1: no requests added;".to_owned();
        return Err(("action_request_validation_exception", r));
    }
    if !body.ends_with(b"\n") {
        return Err(illegal(
            "The bulk request must be terminated by a newline [\\n]".into(),
        ));
    }
    let text = std::str::from_utf8(body).map_err(|_| illegal("the body is not UTF-8".into()))?;
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let mut ops = Vec::new();
    while let Some((n, line)) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        let malformed =
            |what: String| illegal(format!("Malformed action/metadata line [{n}], {what}"));
        let v: Value = serde_json::from_str(line)
            .map_err(|e| ("x_content_parse_exception", format!("[{n}:1] {e}")))?;
        let Some(obj) = v.as_object().filter(|o| o.len() == 1) else {
            return Err(malformed(format!(
                "expected an object with one action but found [{v}]"
            )));
        };
        let (name, meta) = obj.iter().next().expect("one entry");
        let Some(action) = ACTIONS.iter().copied().find(|a| a == name) else {
            let expected = "expected one of [create, delete, index, update]";
            return Err(malformed(format!("{expected} but found [{name}]")));
        };
        let empty = Map::new();
        let meta = match meta {
            Value::Object(m) => m,
            Value::Null => &empty,
            _ => return Err(malformed(format!("expected an object after [{name}]"))),
        };
        if let Some(k) = meta.keys().find(|k| !META.contains(&k.as_str())) {
            let r = format!("Action/metadata line [{n}] contains an unknown parameter [{k}]");
            return Err(illegal(r));
        }
        let string = |k: &str| match &meta.get(k) {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(x)) if k == "_id" => Ok(Some(x.to_string())),
            None | Some(Value::Null) => Ok(None),
            Some(_) => Err(malformed(format!("[{k}] must be a string"))),
        };
        let Some(index) = string("_index")?.or(default_index.map(str::to_owned)) else {
            let r = "Validation Failed: 1: index is missing;".to_owned();
            return Err(("action_request_validation_exception", r));
        };
        let id = string("_id")?;
        let source = if action == "delete" {
            None
        } else {
            match lines.next() {
                Some((_, s)) => Some(s.to_owned()),
                None => return Err(illegal(format!("action on line [{n}] has no source line"))),
            }
        };
        ops.push(Op {
            action,
            index,
            id,
            source,
        });
    }
    if ops.is_empty() {
        let r = "Validation Failed: 1: no requests added;".to_owned();
        return Err(("action_request_validation_exception", r));
    }
    Ok(ops)
}

fn invalid_index_name(name: &str) -> Option<String> {
    let why = if name.is_empty() || name == "." || name == ".." {
        "must not be empty, '.' or '..'"
    } else if name.chars().any(|c| c.is_uppercase()) {
        "must be lowercase"
    } else if name.starts_with(['_', '-', '+']) {
        "must not start with '_', '-', or '+'"
    } else if name.contains(['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':']) {
        "must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?, #, :]"
    } else {
        return None;
    };
    Some(format!("Invalid index name [{name}], {why}"))
}

fn execute(st: &mut EsState, op: Op) -> Value {
    let Op {
        action,
        index,
        id,
        source,
    } = op;
    let fail = |id: &Option<String>, status: u16, ty: &str, reason: &str, uuid: &str| {
        let error =
            json!({"type": ty, "reason": reason, "index_uuid": uuid, "shard": "0", "index": index});
        json!({action: {"_index": index, "_id": id, "status": status, "error": error}})
    };
    if let Some(reason) = invalid_index_name(&index) {
        let error = json!({"type": "invalid_index_name_exception", "reason": reason, "index_uuid": "_na_", "index": index});
        return json!({action: {"_index": index, "_id": id, "status": 400, "error": error}});
    }
    let id = match (id, action) {
        (None, "create" | "index") => Some(auto_id(st)),
        (id, _) => id,
    };
    if action == "delete" && !st.indices.contains_key(&index) {
        let reason = format!("no such index [{index}]");
        let error = json!({"type": "index_not_found_exception", "reason": reason, "index_uuid": "_na_", "index": index});
        return json!({action: {"_index": index, "_id": id, "status": 404, "error": error}});
    }
    let reject_marker = st.reject_marker.clone();
    let rejected_item = st.reject_items > 0;
    st.reject_items = st.reject_items.saturating_sub(1);
    let idx = st.indices.entry(index.clone()).or_insert_with(|| Index {
        uuid: base64(index.as_bytes()).replace(['+', '/', '='], "_"),
        ..Index::default()
    });
    let uuid = idx.uuid.clone();
    if rejected_item {
        let reason = "rejected execution of primary operation [coordinating_and_primary_bytes=0, \
                      replica_bytes=0, all_bytes=0, primary_operation_bytes=0, \
                      max_coordinating_and_primary_bytes=0]";
        return fail(&id, 429, "es_rejected_execution_exception", reason, &uuid);
    }
    let Some(id) = id else {
        let reason = "Validation Failed: 1: id is missing;";
        return fail(
            &None,
            400,
            "action_request_validation_exception",
            reason,
            &uuid,
        );
    };
    let some_id = Some(id.clone());
    let source = match (action, source) {
        ("delete", _) => Value::Null,
        ("update", _) => {
            let reason = "the fake Elasticsearch does not support update";
            return fail(&some_id, 400, "illegal_argument_exception", reason, &uuid);
        }
        (_, src) => {
            let src = src.unwrap_or_default();
            if let Some(m) = reject_marker.as_deref().filter(|m| src.contains(m)) {
                let reason = format!("failed to parse: document contains the reject marker [{m}]");
                return fail(&some_id, 400, "mapper_parsing_exception", &reason, &uuid);
            }
            match serde_json::from_str::<Value>(&src) {
                Ok(v) if v.is_object() => v,
                _ => {
                    let reason = "failed to parse: the source is not a JSON object";
                    return fail(&some_id, 400, "mapper_parsing_exception", reason, &uuid);
                }
            }
        }
    };
    let existing = idx.docs.get(&id).map(|d| d.version);
    let (status, result, version) = match (action, existing) {
        ("create", Some(v)) => {
            let reason = format!(
                "[{id}]: version conflict, document already exists (current version [{v}])"
            );
            return fail(
                &some_id,
                409,
                "version_conflict_engine_exception",
                &reason,
                &uuid,
            );
        }
        ("delete", None) => (404, "not_found", 1),
        ("delete", Some(v)) => {
            idx.docs.remove(&id);
            idx.order.retain(|x| *x != id);
            (200, "deleted", v + 1)
        }
        (_, Some(v)) => {
            idx.docs.insert(
                id.clone(),
                Doc {
                    version: v + 1,
                    source,
                },
            );
            (200, "updated", v + 1)
        }
        (_, None) => {
            idx.docs.insert(id.clone(), Doc { version: 1, source });
            idx.order.push(id.clone());
            (201, "created", 1)
        }
    };
    let seq_no = idx.seq_no;
    idx.seq_no += 1;
    json!({action: {
        "_index": index, "_id": id, "_version": version, "result": result,
        "_shards": {"total": 2, "successful": 1, "failed": 0},
        "_seq_no": seq_no, "_primary_term": 1, "status": status,
    }})
}

/// One bulk operation as NDJSON: the action line (`_index`, `_id` left out when empty) and the
/// source line, each ending with `\n`.
pub fn bulk_op(action: &str, index: &str, id: &str, source: &Value) -> String {
    let mut meta = Map::new();
    for (k, v) in [("_index", index), ("_id", id)] {
        if !v.is_empty() {
            meta.insert(k.to_owned(), json!(v));
        }
    }
    format!("{}\n{source}\n", json!({ action: meta }))
}

/// `"<action> <status> <result or error type>"` for each item of a bulk answer, e.g.
/// `"create 409 version_conflict_engine_exception"`.
pub fn bulk_items(reply: &Value) -> Vec<String> {
    let items = reply["items"].as_array().into_iter().flatten();
    let one = |i: &Value| {
        let Some((action, item)) = i.as_object().and_then(|o| o.iter().next()) else {
            return format!("? {i}");
        };
        let what = item["result"].as_str().or(item["error"]["type"].as_str());
        format!("{action} {} {}", item["status"], what.unwrap_or("?"))
    };
    items.map(one).collect()
}

/// A 20-character URL-safe id like ES's time-based ones.
fn auto_id(st: &mut EsState) -> String {
    st.auto_ids += 1;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let mut raw = [0u8; 15];
    raw[..8].copy_from_slice(&nanos.to_be_bytes());
    raw[8..15].copy_from_slice(&st.auto_ids.to_be_bytes()[1..]);
    base64(&raw).replace('+', "-").replace('/', "_")
}
