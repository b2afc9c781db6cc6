//! The fake log receivers (`lanner_tests::receivers`) against a raw HTTP/1.1 client: Fluentd
//! `in_http` records and batches, Elasticsearch `_bulk` items and errors, failure injection,
//! auth, keep-alive, and stop/restart on the same port. Each test has its own receivers.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use lanner_tests::prometheus::url_encode;
use lanner_tests::receivers::*;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(10);
const JSON: (&str, &str) = ("Content-Type", "application/json");
const NDJSON: (&str, &str) = ("Content-Type", "application/x-ndjson");
const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

fn alert(rule: &str) -> Value {
    json!({"rule": rule, "priority": "Warning", "output_fields": {"proc.pid": 42}})
}

/// `tag:rule` of each stored Fluentd record.
fn tagged_rules(fd: &FakeFluentd) -> Vec<String> {
    let recs = fd.records().into_iter();
    recs.map(|(t, r)| format!("{t}:{}", r["rule"].as_str().unwrap_or("?")))
        .collect()
}

/// The status of each request, as the fake answered it.
fn answered(reqs: &[ReceivedRequest]) -> Vec<u16> {
    reqs.iter().map(|q| q.status).collect()
}

#[test]
fn fluentd_records_and_batches_on_one_connection() {
    let fd = FakeFluentd::start().unwrap();
    let mut c = HttpClient::new(fd.addr());
    let one = alert("one").to_string();
    let r = c.post("/falco.alerts", &[JSON], one.as_bytes()).unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let batch = json!([alert("two"), alert("three")]).to_string();
    let r = c.post("/falco/alerts", &[JSON], batch.as_bytes()).unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_eq!(c.post("/other", &[JSON], b"[]").unwrap().status, 200);

    assert_eq!(c.connects(), 1, "keep-alive: one TCP connection");
    let reqs = fd.requests();
    assert!(reqs.iter().all(|q| q.conn == reqs[0].conn), "{reqs:?}");
    let (method, path) = (&*reqs[1].method, &*reqs[1].path);
    assert_eq!((method, path), ("POST", "/falco/alerts"));
    assert_eq!(reqs[1].header("Content-Type"), Some("application/json"));
    assert_eq!(reqs[1].body_text(), batch);
    let want = ["falco.alerts:one", "falco.alerts:two", "falco.alerts:three"];
    assert_eq!(tagged_rules(&fd), want);
    assert_eq!(fd.records()[0].1, alert("one"), "records stored as sent");
    assert_eq!(fd.records_tagged("falco.alerts").len(), 3);
}

#[test]
fn fluentd_form_encoded_ndjson_and_chunked_bodies() {
    let fd = FakeFluentd::start().unwrap();
    let mut c = HttpClient::new(fd.addr());
    let form = format!("json={}", url_encode(&alert("a&b=c").to_string()));
    assert_eq!(c.post("/f", &[FORM], form.as_bytes()).unwrap().status, 200);
    let batch = json!([alert("f1"), alert("f2")]).to_string();
    let form = format!("json={}", url_encode(&batch));
    assert_eq!(c.post("/f", &[FORM], form.as_bytes()).unwrap().status, 200);
    let nd = format!("{}\n{}\n", alert("n1"), alert("n2"));
    assert_eq!(c.post("/n", &[NDJSON], nd.as_bytes()).unwrap().status, 200);
    let (a, b) = batch.as_bytes().split_at(7);
    assert_eq!(c.post_chunked("/c", &[JSON], &[a, b]).unwrap().status, 200);
    assert_eq!(c.connects(), 1);

    assert_eq!(fd.wait_records(7, T).unwrap().len(), 7);
    let want = ["f:a&b=c", "f:f1", "f:f2", "n:n1", "n:n2", "c:f1", "c:f2"];
    assert_eq!(tagged_rules(&fd), want);
    let chunked = &fd.requests()[3];
    assert_eq!(chunked.header("transfer-encoding"), Some("chunked"));
    assert_eq!(chunked.body_text(), batch, "chunked body reassembled");
}

#[test]
fn fluentd_rejects_bad_requests_and_injects_503() {
    let fd = FakeFluentd::start().unwrap();
    let mut c = HttpClient::new(fd.addr());
    let text = ("Content-Type", "text/plain");
    let bad: [(_, &[u8]); 5] = [
        (JSON, b"{\"rule\": "),        // truncated JSON
        (JSON, b"[{\"a\":1}, 2]"),     // a non-object in a batch
        (JSON, b""),                   // no JSON at all
        (text, b"{\"a\":1}"),          // no json parameter
        (FORM, b"msgpack=%81%A1a%01"), // MessagePack: not decoded by the fake
    ];
    for (ct, body) in bad {
        let r = c.post("/t", &[ct], body).unwrap();
        let what = String::from_utf8_lossy(body);
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert!(r.body.starts_with("400 Bad Request\n"), "{what}");
    }
    assert_eq!(fd.record_count(), 0, "nothing rejected is stored");
    let r = c.get("/t").unwrap();
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));

    fd.fail_next(2);
    for _ in 0..2 {
        assert_eq!(c.post("/t", &[JSON], b"{\"a\":1}").unwrap().status, 503);
    }
    assert_eq!(c.post("/t", &[JSON], b"{\"a\":2}").unwrap().status, 200);
    assert_eq!(fd.records(), [("t".to_owned(), json!({"a": 2}))]);
    assert_eq!(c.connects(), 1, "error answers keep the connection open");
    let want = [400, 400, 400, 400, 400, 405, 503, 503, 200];
    assert_eq!(answered(&fd.requests()), want);
}

#[test]
fn connection_close_http10_and_expect_continue() {
    let fd = FakeFluentd::start().unwrap();
    let mut c = HttpClient::new(fd.addr());
    let r = c.post("/t", &[JSON, ("Connection", "close")], b"{\"n\":1}");
    let r = r.unwrap();
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert!(!c.is_connected());
    c.post("/t", &[JSON], b"{\"n\":2}").unwrap();
    assert_eq!(c.connects(), 2);
    let reqs = fd.requests();
    assert_ne!(reqs[0].conn, reqs[1].conn);

    // The server closes after a `Connection: close` answer, and after an HTTP/1.0 one
    // (`raw_exchange` returns only at EOF).
    let raw = |req: &str| raw_exchange(fd.addr(), req.as_bytes()).unwrap();
    let tail = "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    for head in ["POST /t HTTP/1.1\r\nConnection: close", "POST /t HTTP/1.0"] {
        let all = raw(&format!("{head}\r\n{tail}"));
        assert!(all.starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
    }
    // `Expect: 100-continue` gets the interim answer, then the final one.
    let head = "POST /t HTTP/1.1\r\nExpect: 100-continue\r\nConnection: close";
    let all = raw(&format!("{head}\r\n{tail}"));
    let want = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n";
    assert!(all.starts_with(want), "{all}");
    // A malformed request is a 400, and the connection is closed.
    let all = raw("POST /t HTTP/1.1\r\nContent-Length: x\r\n\r\n");
    assert!(all.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{all}");
    let posted = http_post(fd.addr(), "/t", &[JSON], b"{\"n\":3}").unwrap();
    assert_eq!(posted, (200, String::new()));
    assert_eq!(fd.record_count(), 6);
}

#[test]
fn fluentd_stop_refuses_connections_and_restarts_on_the_same_port() {
    let fd = FakeFluentd::start().unwrap();
    let addr = fd.addr();
    let mut c = HttpClient::new(addr);
    assert_eq!(c.post("/t", &[JSON], b"{\"n\":1}").unwrap().status, 200);
    fd.stop();
    assert!(!fd.is_running());
    let err = TcpStream::connect(addr).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    let stale = c.post("/t", &[JSON], b"{\"n\":2}");
    assert!(stale.is_err(), "the open connection was closed too");
    fd.restart().unwrap();
    assert_eq!(fd.addr(), addr);
    assert_eq!(c.post("/t", &[JSON], b"{\"n\":3}").unwrap().status, 200);
    let want = [("t".into(), json!({"n": 1})), ("t".into(), json!({"n": 3}))];
    assert_eq!(fd.records(), want, "records survive the restart");
}

#[test]
fn fluentd_wait_records_sees_records_from_another_thread() {
    let fd = FakeFluentd::start().unwrap();
    let addr = fd.addr();
    let sender = thread::spawn(move || {
        for n in 0..3 {
            thread::sleep(Duration::from_millis(30));
            let body = json!({"n": n}).to_string();
            http_post(addr, "/t", &[JSON], body.as_bytes()).unwrap();
        }
    });
    assert_eq!(fd.wait_records(3, T).unwrap().len(), 3);
    sender.join().unwrap();
    assert!(fd.wait_records(4, Duration::from_millis(50)).is_err());
    assert_eq!(fd.wait_requests(3, T).unwrap().len(), 3);
    assert!(wait_until(T, || fd.request_count() == 3));
}

fn ids(docs: Vec<(String, Value)>) -> Vec<String> {
    docs.into_iter().map(|(id, _)| id).collect()
}

/// `POST /_bulk` (NDJSON) on `c`.
fn post_bulk(c: &mut HttpClient, body: &str) -> HttpReply {
    c.post("/_bulk", &[NDJSON], body.as_bytes()).unwrap()
}

#[test]
fn es_info_and_bulk_create_index() {
    let es = FakeElasticsearch::start().unwrap();
    let mut c = HttpClient::new(es.addr());
    let r = c.get("/").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-elastic-product"), Some("Elasticsearch"));
    let version = r.json()["version"]["number"].clone();
    assert!(version.as_str().unwrap().starts_with("8."), "{version}");
    let r = c.request("HEAD", "/", &[], b"").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, ""));

    let body = [
        bulk_op("create", "falco-a", "1", &alert("one")),
        bulk_op("index", "falco-a", "2", &alert("two")),
        bulk_op("create", "", "", &alert("three")), // index from the path, generated id
    ];
    let r = c.post("/falco-b/_bulk", &[NDJSON], body.concat().as_bytes());
    let r = r.unwrap();
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!((&v["errors"], v["took"].is_u64()), (&json!(false), true));
    let created = ["create 201 created", "index 201 created"];
    assert_eq!(bulk_items(&v), [created[0], created[1], created[0]]);
    let first = &v["items"][0]["create"];
    let meta = ["_index", "_id", "_version", "_seq_no", "_primary_term"];
    let meta: Vec<String> = meta.iter().map(|k| first[k].to_string()).collect();
    assert_eq!(meta.join(" "), r#""falco-a" "1" 1 0 1"#);
    let auto_id = v["items"][2]["create"]["_id"].as_str().unwrap().to_owned();
    assert_eq!(auto_id.len(), 20);

    // `index` over an existing id replaces it; plain application/json is accepted too.
    let body = bulk_op("index", "falco-a", "2", &alert("two bis"));
    let v = c.post("/_bulk", &[JSON], body.as_bytes()).unwrap().json();
    assert_eq!(bulk_items(&v), ["index 200 updated"]);
    assert_eq!(v["items"][0]["index"]["_version"], 2);
    assert_eq!(es.doc_version("falco-a", "2"), Some(2));

    assert_eq!(c.connects(), 1);
    assert_eq!(es.indices(), ["falco-a", "falco-b"]);
    let want = [("1".into(), alert("one")), ("2".into(), alert("two bis"))];
    assert_eq!(es.docs("falco-a"), want);
    assert_eq!(es.docs("falco-b"), [(auto_id, alert("three"))]);
    assert_eq!(es.doc("falco-a", "1"), Some(alert("one")));
    assert_eq!(es.bulk_requests().len(), 2);
}

#[test]
fn es_duplicate_create_is_409_and_not_stored_again() {
    let es = FakeElasticsearch::start().unwrap();
    let mut c = HttpClient::new(es.addr());
    let first = bulk_op("create", "idx", "dup", &alert("first"));
    let v = post_bulk(&mut c, &first).json();
    assert_eq!(bulk_items(&v), ["create 201 created"]);
    let again = bulk_op("create", "idx", "dup", &alert("second"));
    let r = post_bulk(&mut c, &again);
    assert_eq!(r.status, 200, "item errors come in a 200");
    let v = r.json();
    assert_eq!(v["errors"], json!(true));
    let want = ["create 409 version_conflict_engine_exception"];
    assert_eq!(bulk_items(&v), want);
    let reason = "[dup]: version conflict, document already exists (current version [1])";
    assert_eq!(v["items"][0]["create"]["error"]["reason"], reason);
    assert_eq!(es.docs("idx"), [("dup".to_owned(), alert("first"))]);
}

#[test]
fn es_per_item_errors_leave_the_other_items_stored() {
    let es = FakeElasticsearch::start().unwrap();
    es.reject_marker(Some("POISON"));
    es.reject_items(1);
    let mut c = HttpClient::new(es.addr());
    let body = [
        bulk_op("create", "i", "a", &alert("throttled")),
        bulk_op("create", "i", "b", &alert("ok 1")),
        bulk_op("create", "i", "c", &alert("POISON pill")),
        bulk_op("create", "Bad-Index", "d", &alert("ok?")),
        bulk_op("create", "i", "e", &json!(["not", "an", "object"])),
        bulk_op("index", "i", "f", &alert("ok 2")),
    ];
    let v = post_bulk(&mut c, &body.concat()).json();
    assert_eq!(v["errors"], json!(true));
    let want = [
        "create 429 es_rejected_execution_exception",
        "create 201 created",
        "create 400 mapper_parsing_exception",
        "create 400 invalid_index_name_exception",
        "create 400 mapper_parsing_exception",
        "index 201 created",
    ];
    assert_eq!(bulk_items(&v), want);
    assert_eq!(ids(es.docs("i")), ["b", "f"]);
    assert_eq!(es.indices(), ["i"], "no index with an invalid name");

    // The throttled item goes through on a retry, the injected rejections being used up.
    let retry = bulk_op("create", "i", "a", &alert("throttled"));
    let v = post_bulk(&mut c, &retry).json();
    assert_eq!(bulk_items(&v), ["create 201 created"]);
    es.reject_marker(None);
    let cured = bulk_op("create", "i", "c", &alert("POISON pill"));
    let v = post_bulk(&mut c, &cured).json();
    assert_eq!(bulk_items(&v), ["create 201 created"]);
}

#[test]
fn es_whole_request_429_stores_nothing() {
    let es = FakeElasticsearch::start().unwrap();
    es.reject_requests(1);
    let mut c = HttpClient::new(es.addr());
    let body = bulk_op("create", "i", "x", &alert("x"));
    let r = post_bulk(&mut c, &body);
    assert_eq!(r.status, 429);
    let v = r.json();
    assert_eq!(v["status"], 429);
    assert_eq!(v["error"]["type"], "es_rejected_execution_exception");
    assert_eq!(v["error"]["root_cause"][0]["type"], v["error"]["type"]);
    assert_eq!(es.total_docs(), 0);
    assert_eq!(post_bulk(&mut c, &body).status, 200);
    assert_eq!(ids(es.wait_docs("i", 1, T).unwrap()), ["x"]);
}

#[test]
fn es_auth_basic_and_api_key() {
    let es = FakeElasticsearch::start().unwrap();
    let key = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==";
    es.require_auth(EsAuth::basic("elastic", "s3cret"));
    es.require_auth(EsAuth::api_key(key));
    let mut c = HttpClient::new(es.addr());
    let body = bulk_op("create", "i", "", &alert("x"));
    let body = body.as_bytes();
    let r = c.post("/_bulk", &[NDJSON], body).unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.headers_named("www-authenticate").len(), 3);
    assert_eq!(r.header("x-elastic-product"), None, "not on 401s");
    let v = r.json();
    assert_eq!(v["error"]["type"], "security_exception");
    let reason = "missing authentication credentials for REST request [/_bulk]";
    assert_eq!(v["error"]["reason"], reason);
    let wrong = basic_auth("elastic", "nope");
    let r = c.post("/_bulk", &[NDJSON, ("Authorization", &wrong)], body);
    let r = r.unwrap();
    assert_eq!(r.status, 401);
    let reason = "unable to authenticate user [elastic] for REST request [/_bulk]";
    assert_eq!(r.json()["error"]["reason"], reason);
    let bad_key = [("Authorization", "ApiKey wrong")];
    assert_eq!(c.request("GET", "/", &bad_key, b"").unwrap().status, 401);
    assert_eq!(es.total_docs(), 0);

    let good = basic_auth("elastic", "s3cret");
    assert_eq!(good, EsAuth::basic("elastic", "s3cret").header_value());
    let r = c.post("/_bulk", &[NDJSON, ("Authorization", &good)], body);
    assert_eq!(r.unwrap().status, 200);
    let api_key = format!("ApiKey {key}");
    let r = c.post("/_bulk", &[NDJSON, ("Authorization", &api_key)], body);
    assert_eq!(r.unwrap().status, 200);
    assert_eq!(es.total_docs(), 2);
    assert_eq!(c.connects(), 1, "401s keep the connection open");
    assert_eq!(answered(&es.requests()), [401, 401, 401, 200, 200]);
    let rfc7617 = "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==";
    assert_eq!(basic_auth("Aladdin", "open sesame"), rfc7617);
}

#[test]
fn es_rejects_malformed_bulk_requests_whole() {
    let es = FakeElasticsearch::start().unwrap();
    let mut c = HttpClient::new(es.addr());
    let ok = bulk_op("create", "i", "", &alert("x"));
    let r = post_bulk(&mut c, ok.trim_end());
    assert_eq!(r.status, 400);
    let reason = "The bulk request must be terminated by a newline [\\n]";
    assert_eq!(r.json()["error"]["reason"], reason);
    let (invalid, illegal) = (
        "action_request_validation_exception",
        "illegal_argument_exception",
    );
    let type_ = r#"{"create":{"_index":"i","_type":"_doc"}}"#;
    let cases = [
        ("", invalid),
        ("{\"upsert\":{\"_index\":\"i\"}}\n{}\n", illegal),
        (&format!("{type_}\n{{}}\n"), illegal),
        ("{\"create\":{}}\n{}\n", invalid), // no index at all
        ("{\"create\":{\"_index\":\"i\"}}\n", illegal), // no source line
        ("not json\n{}\n", "x_content_parse_exception"),
    ];
    for (body, ty) in cases {
        let r = post_bulk(&mut c, body);
        let got = (r.status, r.json()["error"]["type"].clone());
        assert_eq!(got, (400, json!(ty)), "{body:?}: {}", r.body);
    }
    let r = c.post("/_bulk", &[("Content-Type", "text/plain")], ok.as_bytes());
    let r = r.unwrap();
    assert_eq!(r.status, 406);
    let msg = "Content-Type header [text/plain] is not supported";
    assert_eq!(r.json()["error"], msg);
    assert_eq!(c.get("/_bulk").unwrap().status, 405);
    assert_eq!(c.get("/nowhere/else").unwrap().status, 400);
    assert_eq!((es.total_docs(), es.indices().len()), (0, 0));
    assert_eq!(post_bulk(&mut c, &ok).status, 200);
}

#[test]
fn es_stop_refuses_connections_and_restarts_on_the_same_port() {
    let es = FakeElasticsearch::start().unwrap();
    let addr = es.addr();
    let doc = |id: &str| bulk_op("create", "i", id, &alert(id)).into_bytes();
    let mut c = HttpClient::new(addr);
    assert_eq!(c.post("/_bulk", &[NDJSON], &doc("1")).unwrap().status, 200);
    es.stop();
    let refused = TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    assert!(c.post("/_bulk", &[NDJSON], &doc("2")).is_err());
    thread::sleep(Duration::from_millis(200)); // down for a while
    assert!(http_post(addr, "/_bulk", &[NDJSON], &doc("2")).is_err());
    es.restart().unwrap();
    assert_eq!(es.addr(), addr);
    assert_eq!(c.post("/_bulk", &[NDJSON], &doc("2")).unwrap().status, 200);
    let docs = es.wait_docs("i", 2, T).unwrap();
    assert_eq!(ids(docs), ["1", "2"], "documents survive the restart");
    es.restart().unwrap(); // while running: stops first
    let posted = http_post(addr, "/_bulk", &[NDJSON], &doc("3"));
    assert_eq!(posted.unwrap().0, 200);
}

/// Reads from `s` for `how_long` (or until `cap` bytes); what came.
fn read_for(s: &mut TcpStream, how_long: Duration, cap: usize) -> Vec<u8> {
    use std::io::Read;
    let end = std::time::Instant::now() + how_long;
    let mut got = Vec::new();
    let mut buf = vec![0; 64 << 10];
    while got.len() < cap && std::time::Instant::now() < end {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
    }
    got
}

#[test]
fn hostile_answers_never_end_fast_or_dripping() {
    use std::io::Write;
    let fd = FakeFluentd::start().unwrap();
    let post = |fd: &FakeFluentd| {
        let mut s = TcpStream::connect(fd.addr()).unwrap();
        let body = alert("x").to_string();
        let req = format!(
            "POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        s
    };
    fd.set_answer_body(AnswerBody::Endless);
    let mut s = post(&fd);
    let got = read_for(&mut s, T, 8 << 20);
    let head = String::from_utf8_lossy(&got[..200]).to_string();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    assert!(got.len() >= 8 << 20, "{} bytes: not endless", got.len());
    assert_eq!(fd.record_count(), 1, "the request was handled as usual");

    fd.set_answer_body(AnswerBody::Drip(Duration::from_millis(100)));
    let mut s = post(&fd);
    let got = read_for(&mut s, Duration::from_secs(1), 1 << 20);
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    let body = &got[got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
    // "1\r\n \r\n" per 100 ms: about ten in a second, never the end of the body.
    let drops = body.windows(6).filter(|w| w == b"1\r\n \r\n").count();
    assert!((3..=15).contains(&drops), "{drops} drops: {body:?}");
    assert!(!body.ends_with(b"0\r\n\r\n"));
    assert_eq!(fd.streamed_answers(), 2);
    assert_eq!(fd.record_count(), 2);

    fd.set_answer_body(AnswerBody::Normal);
    let mut c = HttpClient::new(fd.addr());
    assert_eq!(c.post("/t", &[JSON], b"{}").unwrap().status, 200);
}
