//! [`FakeElasticsearch`]: the parts of an Elasticsearch 8 node a log shipper talks to.
//!
//! - `GET`/`HEAD /`: the node info (version 8.15.0), as clients probe it;
//! - `POST`/`PUT /_bulk` and `/<index>/_bulk`: the bulk API
//!   (<https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-bulk>), see `bulk`;
//! - another method on those paths: `405 Incorrect HTTP method …`; any other path: `400 no
//!   handler found …` (ES's plain `{"error": "...", "status": N}` bodies).
//!
//! Every answer carries `X-Elastic-Product: Elasticsearch` (which the official clients check),
//! except 401s as on a real node. Auth: once [`require_auth`](FakeElasticsearch::require_auth)
//! is called, every request needs one of the accepted `Authorization: Basic …` / `ApiKey …`
//! credentials, else `401` with ES's `security_exception` body and `WWW-Authenticate` headers.
//!
//! Failure injection (bulk only, after auth): [`reject_requests`](FakeElasticsearch::reject_requests)
//! (whole request `429 es_rejected_execution_exception`, nothing stored),
//! [`reject_items`](FakeElasticsearch::reject_items) (item `429`) and
//! [`reject_marker`](FakeElasticsearch::reject_marker) (item `400 mapper_parsing_exception` for
//! each source containing the marker); the other items of the request are executed.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use anyhow::{Result, anyhow};
use serde_json::{Value, json};

use super::{Handler, ReceivedRequest, Server, http::Response};

/// ES's default `http.max_content_length` (100 MiB): larger bodies get a 413.
pub const ES_BODY_LIMIT: usize = 100 << 20;

/// The version the fake reports at `GET /`.
pub const ES_VERSION: &str = "8.15.0";

/// A credential the fake accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EsAuth {
    /// `Authorization: Basic base64(user:pass)`.
    Basic { user: String, pass: String },
    /// `Authorization: ApiKey <key>`: the key as sent (ES's "encoded" form, base64 of `id:key`).
    ApiKey(String),
}

impl EsAuth {
    pub fn basic(user: &str, pass: &str) -> EsAuth {
        EsAuth::Basic {
            user: user.to_owned(),
            pass: pass.to_owned(),
        }
    }

    pub fn api_key(key: &str) -> EsAuth {
        EsAuth::ApiKey(key.to_owned())
    }

    /// The `Authorization` header value that presents this credential.
    pub fn header_value(&self) -> String {
        match self {
            EsAuth::Basic { user, pass } => super::basic_auth(user, pass),
            EsAuth::ApiKey(k) => format!("ApiKey {k}"),
        }
    }
}

pub(crate) struct Doc {
    pub version: u64,
    pub source: Value,
}

/// One index: documents by id, and their ids in creation order.
#[derive(Default)]
pub(crate) struct Index {
    pub order: Vec<String>,
    pub docs: HashMap<String, Doc>,
    pub seq_no: u64,
    pub uuid: String,
}

#[derive(Default)]
pub(crate) struct EsState {
    pub indices: BTreeMap<String, Index>,
    pub credentials: Vec<EsAuth>,
    pub reject_requests: usize,
    pub reject_items: usize,
    pub reject_marker: Option<String>,
    pub auto_ids: u64,
}

/// A fake Elasticsearch on `127.0.0.1:<ephemeral port>`; see the module doc.
pub struct FakeElasticsearch {
    server: Server<EsState>,
}

impl FakeElasticsearch {
    fake_receiver_methods!(ES_BODY_LIMIT);

    /// Accepts `auth` (in addition to those already accepted) and requires credentials.
    pub fn require_auth(&self, auth: EsAuth) {
        self.server.with(|i| i.state.credentials.push(auth));
    }

    /// Requires no credentials any more.
    pub fn clear_auth(&self) {
        self.server.with(|i| i.state.credentials.clear());
    }

    /// Answers the next `n` bulk requests with a whole-request `429`.
    pub fn reject_requests(&self, n: usize) {
        self.server.with(|i| i.state.reject_requests = n);
    }

    /// Rejects the next `n` bulk items with an item `429`.
    pub fn reject_items(&self, n: usize) {
        self.server.with(|i| i.state.reject_items = n);
    }

    /// Rejects (item `400 mapper_parsing_exception`) every document whose source line contains
    /// `marker`; `None` to stop.
    pub fn reject_marker(&self, marker: Option<&str>) {
        self.server
            .with(|i| i.state.reject_marker = marker.map(str::to_owned));
    }

    /// The documents of `index` as `(id, source)`, in creation order (empty if no such index).
    pub fn docs(&self, index: &str) -> Vec<(String, Value)> {
        self.server.with(|i| docs_of(&i.state, index))
    }

    pub fn doc(&self, index: &str, id: &str) -> Option<Value> {
        self.server.with(|i| {
            let idx = i.state.indices.get(index)?;
            idx.docs.get(id).map(|d| d.source.clone())
        })
    }

    /// The version of a document (1 when created, +1 per overwrite).
    pub fn doc_version(&self, index: &str, id: &str) -> Option<u64> {
        self.server
            .with(|i| Some(i.state.indices.get(index)?.docs.get(id)?.version))
    }

    /// The names of the indices (created by the first write to them), sorted.
    pub fn indices(&self) -> Vec<String> {
        self.server
            .with(|i| i.state.indices.keys().cloned().collect())
    }

    /// The number of documents in every index.
    pub fn total_docs(&self) -> usize {
        self.server
            .with(|i| i.state.indices.values().map(|x| x.docs.len()).sum())
    }

    /// The requests to `…/_bulk`, oldest first.
    pub fn bulk_requests(&self) -> Vec<ReceivedRequest> {
        let all = self.requests().into_iter();
        all.filter(|r| r.path.ends_with("/_bulk")).collect()
    }

    /// Forgets the documents, indices and requests (not the auth and injection settings).
    pub fn clear(&self) {
        self.server.with(|i| {
            i.requests.clear();
            i.state.indices.clear();
        });
    }

    /// Waits until `index` holds at least `n` documents; all of them.
    pub fn wait_docs(
        &self,
        index: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<(String, Value)>> {
        let got = self.server.wait(timeout, |i| {
            let docs = docs_of(&i.state, index);
            (docs.len() >= n).then_some(docs)
        });
        got.ok_or_else(|| {
            let have = self.docs(index);
            anyhow!(
                "{} docs in {index:?} after {timeout:?}, wanted {n}: {have:?}",
                have.len()
            )
        })
    }
}

fn docs_of(st: &EsState, index: &str) -> Vec<(String, Value)> {
    let Some(idx) = st.indices.get(index) else {
        return Vec::new();
    };
    let it = idx.order.iter();
    it.map(|id| (id.clone(), idx.docs[id].source.clone()))
        .collect()
}

/// ES's structured error body: `{"error": {"root_cause": [..], "type", "reason", ..}, "status"}`.
pub(crate) fn es_error(status: u16, ty: &str, reason: &str, extra: Value) -> Response {
    let mut cause = json!({"type": ty, "reason": reason});
    if let (Some(c), Some(x)) = (cause.as_object_mut(), extra.as_object()) {
        c.extend(x.clone());
    }
    let mut error = cause.clone();
    error["root_cause"] = json!([cause]);
    Response::json(status, &json!({"error": error, "status": status}))
}

/// ES's plain error body, for errors raised before a handler runs.
pub(crate) fn plain_error(status: u16, msg: &str) -> Response {
    Response::json(status, &json!({"error": msg, "status": status}))
}

impl Handler for EsState {
    fn handle(&mut self, req: &ReceivedRequest) -> Response {
        let uri = match req.query.as_str() {
            "" => req.path.clone(),
            q => format!("{}?{q}", req.path),
        };
        if let Some(resp) = self.authenticate(req, &uri) {
            return resp;
        }
        let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
        let m = req.method.as_str();
        let resp = match (segs.as_slice(), m) {
            ([], "GET" | "HEAD") => Response::json(200, &info()),
            ([], _) => wrong_method(&uri, m, "HEAD, GET"),
            (["_bulk"] | [_, "_bulk"], "POST" | "PUT") => {
                let index = (segs.len() == 2).then(|| super::percent_decode(segs[0], false));
                super::bulk::bulk(self, req, index.as_deref())
            }
            (["_bulk"] | [_, "_bulk"], _) => wrong_method(&uri, m, "POST, PUT"),
            _ => plain_error(
                400,
                &format!("no handler found for uri [{uri}] and method [{m}]"),
            ),
        };
        let ct = if req
            .media_type()
            .starts_with("application/vnd.elasticsearch+")
        {
            "application/vnd.elasticsearch+json;compatible-with=8"
        } else {
            "application/json"
        };
        resp.content_type(ct)
            .header("X-Elastic-Product", "Elasticsearch")
    }
}

fn wrong_method(uri: &str, method: &str, allowed: &str) -> Response {
    let msg = format!(
        "Incorrect HTTP method for uri [{uri}] and method [{method}], allowed: [{allowed}]"
    );
    plain_error(405, &msg)
}

impl EsState {
    /// `None` if the request may proceed, else the 401.
    fn authenticate(&self, req: &ReceivedRequest, uri: &str) -> Option<Response> {
        if self.credentials.is_empty() {
            return None;
        }
        let given = req.header("authorization").map(str::trim);
        if given.is_some_and(|g| self.credentials.iter().any(|c| c.header_value() == g)) {
            return None;
        }
        let reason = match given.and_then(|g| g.split_once(' ')) {
            None => format!("missing authentication credentials for REST request [{uri}]"),
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("basic") => {
                let user = decode_basic_user(token.trim()).unwrap_or_default();
                format!("unable to authenticate user [{user}] for REST request [{uri}]")
            }
            Some(_) => "unable to authenticate with provided credentials and anonymous access is \
                        not allowed for this request"
                .to_owned(),
        };
        let challenges = [
            "Basic realm=\"security\", charset=\"UTF-8\"",
            "Bearer realm=\"security\"",
            "ApiKey",
        ];
        let extra = json!({"header": {"WWW-Authenticate": challenges}});
        let mut resp = es_error(401, "security_exception", &reason, extra);
        for c in challenges {
            resp = resp.header("WWW-Authenticate", c);
        }
        Some(resp)
    }
}

/// The user name of a Basic token, for the error message.
fn decode_basic_user(token: &str) -> Option<String> {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in token.bytes().take_while(|&c| c != b'=') {
        bits = (bits << 6) | ABC.iter().position(|&a| a == c)? as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    let text = String::from_utf8(out).ok()?;
    Some(text.split_once(':')?.0.to_owned())
}

fn info() -> Value {
    json!({
        "name": "lanner-fake-es",
        "cluster_name": "lanner-fake",
        "cluster_uuid": "bGFubmVyLWZha2UtZXM",
        "version": {
            "number": ES_VERSION,
            "build_flavor": "default",
            "build_type": "docker",
            "build_hash": "0000000000000000000000000000000000000000",
            "build_date": "2024-08-05T10:05:34.233336849Z",
            "build_snapshot": false,
            "lucene_version": "9.11.1",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    })
}
