use serde_json::json;

use super::*;

const NS: u64 = 1_000_000_000;

fn daily(prefix: &str) -> EsFormat {
    EsFormat {
        index_prefix: prefix.into(),
        ..EsFormat::default()
    }
}

/// A Falco-shaped alert at `secs` (+ 123456789 ns).
fn alert(secs: u64, rule: &str) -> Record {
    let t = secs * NS + 123_456_789;
    let v = json!({
        "time": rfc3339(t),
        "rule": rule,
        "priority": "Warning",
        "source": "syscall",
        "tags": ["container", "mitre_execution"],
        "hostname": "node-1",
        "output": "12:00:00.123456789: Warning Shell in container (proc.name=bash)",
        "output_fields": {
            "proc.name": "bash",
            "container.image": "nginx:1.25",
            "container.image.repository": "nginx",
            "k8s.ns.name": "default",
            "evt.time": t,
        },
    });
    Record::new(v.to_string(), t)
}

fn flat() -> EsFormat {
    EsFormat {
        flatten: true,
        ..EsFormat::default()
    }
}

fn parse(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn index_names_follow_the_utc_date_across_boundaries() {
    let f = daily("falco");
    let cases = [
        (0, "falco-1970.01.01"),
        (1_704_067_199, "falco-2023.12.31"),
        (1_704_067_200, "falco-2024.01.01"),
        (1_709_164_799, "falco-2024.02.28"),
        (1_709_164_800, "falco-2024.02.29"),
        (1_709_251_199, "falco-2024.02.29"),
        (1_709_251_200, "falco-2024.03.01"),
        (1_677_628_799, "falco-2023.02.28"),
        (1_677_628_800, "falco-2023.03.01"),
        (951_825_600, "falco-2000.02.29"),
        (4_107_542_399, "falco-2100.02.28"),
        (4_107_542_400, "falco-2100.03.01"),
        (1_719_791_999, "falco-2024.06.30"),
        (1_719_792_000, "falco-2024.07.01"),
    ];
    for (secs, want) in cases {
        // The last ns of a day is still that day.
        let t = secs * NS + if secs % 86_400 == 86_399 { NS - 1 } else { 0 };
        assert_eq!(index_name(&f, t), want, "{secs}");
    }
}

#[test]
fn index_suffixes() {
    let t = 1_709_164_800 * NS;
    assert_eq!(index_name(&EsFormat::default(), t), "falco-2024.02.29");
    assert!(!EsFormat::default().flatten);
    let with = |suffix| EsFormat {
        suffix,
        ..daily("alerts")
    };
    assert_eq!(index_name(&with(IndexSuffix::None), t), "alerts");
    assert_eq!(
        index_name(&with(IndexSuffix::Daily), t),
        "alerts-2024.02.29"
    );
    assert_eq!(index_name(&with(IndexSuffix::Monthly), t), "alerts-2024.02");
    assert_eq!(index_name(&with(IndexSuffix::Annually), t), "alerts-2024");
}

#[test]
fn prefixes_elasticsearch_would_refuse_are_caught() {
    for bad in [
        "", "Falco", "fal co", "a/b", "a*", "_falco", "-falco", "+x", ".", "..", "a#b",
    ] {
        assert!(daily(bad).validate().is_err(), "{bad:?}");
    }
    assert!(EsFormat::default().validate().is_ok());
    for good in ["lanner.alerts", "sec-falco_2", ".falco"] {
        assert!(daily(good).validate().is_ok(), "{good:?}");
    }
    assert!(daily(&"a".repeat(241)).validate().is_err());
}

#[test]
fn document_adds_timestamp_and_keeps_the_rest() {
    let r = alert(1_714_552_200, "Shell in container");
    let doc = parse(&document(&EsFormat::default(), &r).unwrap());
    let mut want = parse(&r.json);
    assert_eq!(doc["@timestamp"], "2024-05-01T08:30:00.123456789Z");
    assert_eq!(doc["@timestamp"], want["time"]);
    want["@timestamp"] = doc["@timestamp"].clone();
    assert_eq!(doc, want);
    // Unflattened: the dotted keys stay (and conflict in ES's dynamic mapping).
    assert_eq!(doc["output_fields"]["container.image"], "nginx:1.25");
}

#[test]
fn document_is_one_line_even_with_newlines_in_values() {
    let v =
        json!({"time": "2024-05-01T08:30:00.000000000Z", "output": "a\nb", "output_fields": {}});
    let doc = document(&EsFormat::default(), &Record::new(v.to_string(), 1)).unwrap();
    assert!(!doc.contains('\n'));
    assert_eq!(parse(&doc)["output"], "a\nb");
}

#[test]
fn flatten_replaces_dots_in_output_fields_keys_only() {
    let r = alert(1_714_552_200, "r");
    let doc = parse(&document(&flat(), &r).unwrap());
    let orig = parse(&r.json);
    let of = doc["output_fields"].as_object().unwrap();
    let keys: Vec<&str> = of.keys().map(String::as_str).collect();
    let want = "container_image container_image_repository evt_time k8s_ns_name proc_name";
    assert_eq!(keys.join(" "), want);
    assert_eq!(of["container_image"], "nginx:1.25");
    assert_eq!(of["container_image_repository"], "nginx");
    assert_eq!(of["evt_time"], orig["output_fields"]["evt.time"]);
    for k in [
        "time", "rule", "priority", "source", "tags", "hostname", "output",
    ] {
        assert_eq!(doc[k], orig[k], "{k}");
    }
}

#[test]
fn flatten_collisions_are_deterministic() {
    let v = json!({"time": "t", "output_fields": {"a.b": 1, "a_b": 2, "x.y_z": 3, "x_y.z": 4}});
    let doc = parse(&document(&flat(), &Record::new(v.to_string(), 1)).unwrap());
    assert_eq!(doc["output_fields"], json!({"a_b": 2, "x_y_z": 3}));
}

#[test]
fn timestamp_falls_back_to_the_record_time_and_overrides_an_existing_one() {
    let v = json!({"rule": "r", "@timestamp": "bogus"});
    let r = Record::new(v.to_string(), 1_709_164_800 * NS + 5);
    let doc = parse(&document(&EsFormat::default(), &r).unwrap());
    assert_eq!(doc["@timestamp"], "2024-02-29T00:00:00.000000005Z");
}

#[test]
fn non_objects_are_errors_naming_the_record() {
    for json in ["[1,2]", "\"x\"", "42", "{\"truncated\":", ""] {
        let r = Record::new(json.into(), 1);
        let e = document(&EsFormat::default(), &r).unwrap_err();
        assert!(format!("{e:#}").contains(&r.id), "{json}: {e:#}");
    }
}

#[test]
fn bulk_body_is_create_actions_with_ids_and_ends_with_a_newline() {
    let f = EsFormat::default();
    let a = alert(1_709_251_199, "a");
    let b = alert(1_709_251_200, "b");
    let (body, skipped) = bulk_body(&f, &[a.clone(), b.clone()]);
    assert!(skipped.is_empty());
    assert!(body.ends_with('\n'));
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 4);
    let action =
        |day: &str, id: &str| format!(r#"{{"create":{{"_index":"falco-{day}","_id":"{id}"}}}}"#);
    assert_eq!(lines[0], action("2024.02.29", &a.id));
    assert_eq!(lines[1], document(&f, &a).unwrap());
    assert_eq!(lines[2], action("2024.03.01", &b.id));
    assert_eq!(lines[3], document(&f, &b).unwrap());
}

#[test]
fn bulk_body_skips_records_that_do_not_encode() {
    let f = EsFormat::default();
    let good = alert(1_709_251_199, "a");
    let bad = Record::new("[]".into(), 1);
    let (body, skipped) = bulk_body(&f, &[bad.clone(), good.clone(), bad]);
    assert_eq!(skipped, [0, 2]);
    assert_eq!(body.lines().count(), 2);
    assert!(body.contains(&good.id));
    let (body, skipped) = bulk_body(&f, &[]);
    assert_eq!((body.as_str(), skipped.len()), ("", 0));
}

#[test]
fn bulk_body_escapes_the_index_name() {
    let (body, _) = bulk_body(&daily("a\"b"), &[alert(0, "r")]);
    let action = parse(body.lines().next().unwrap());
    assert_eq!(action["create"]["_index"], "a\"b-1970.01.01");
}

fn created(id: &str, seq: u64) -> Value {
    json!({"create": {
        "_index": "falco-2024.05.01", "_id": id, "_version": 1, "result": "created",
        "_shards": {"total": 2, "successful": 1, "failed": 0},
        "_seq_no": seq, "_primary_term": 1, "status": 201
    }})
}

#[test]
fn all_stored() {
    let body = json!({"took": 30, "errors": false, "items": [created("a", 0), created("b", 1)]});
    let got = parse_bulk_response(200, &body.to_string(), 2).unwrap();
    assert_eq!(got, [ItemOutcome::Stored, ItemOutcome::Stored]);
    let body = r#"{"took":0,"errors":false,"items":[]}"#;
    assert_eq!(parse_bulk_response(200, body, 0).unwrap(), []);
}

/// (kind, status, reason) of an outcome, for one-line assertions.
fn summary(o: &ItemOutcome) -> (&'static str, u16, &str) {
    match o {
        ItemOutcome::Stored => ("stored", 0, ""),
        ItemOutcome::Duplicate => ("duplicate", 0, ""),
        ItemOutcome::Retry { status, reason } => ("retry", *status, reason),
        ItemOutcome::Rejected { status, reason } => ("rejected", *status, reason),
    }
}

/// (kind, status, reason) of a whole-request failure.
fn failure(status: u16, body: &str, sent: usize) -> (&'static str, u16, String) {
    match parse_bulk_response(status, body, sent) {
        Err(BulkError::Retry { status, reason }) => ("retry", status, reason),
        Err(BulkError::Fatal { status, reason }) => ("fatal", status, reason),
        Ok(v) => panic!("{status} {body}: {v:?}"),
    }
}

#[test]
fn mixed_response_is_classified_per_item_in_order() {
    // As Elasticsearch 8 answers: a 409 also sets `errors`.
    let body = r#"{"errors":true,"took":12,"items":[
      {"create":{"_index":"falco-2024.05.01","_id":"0a1b","_version":1,"result":"created",
        "_shards":{"total":2,"successful":1,"failed":0},"_seq_no":7,"_primary_term":1,"status":201}},
      {"create":{"_index":"falco-2024.05.01","_id":"2c3d","status":409,"error":{
        "type":"version_conflict_engine_exception",
        "reason":"[2c3d]: version conflict, document already exists (current version [1])",
        "index_uuid":"aAsFqTI0Tc2W0LCWgPNrOA","shard":"0","index":"falco-2024.05.01"}}},
      {"create":{"_index":"falco-2024.05.01","_id":"4e5f","status":429,"error":{
        "type":"es_rejected_execution_exception",
        "reason":"rejected execution of primary operation [primary_operation_bytes=1024]"}}},
      {"create":{"_index":"falco-2024.05.01","_id":"6a7b","status":400,"error":{
        "type":"mapper_parsing_exception",
        "reason":"failed to parse field [output_fields.container.image] of type [keyword] in document with id '6a7b'. Preview of field's value: '{repository=nginx}'",
        "caused_by":{"type":"illegal_state_exception","reason":"Can't get text on a START_OBJECT at 1:412"}}}}
    ]}"#;
    let got = parse_bulk_response(200, body, 4).unwrap();
    let got: Vec<_> = got.iter().map(summary).collect();
    assert_eq!(got[0], ("stored", 0, ""));
    assert_eq!(got[1], ("duplicate", 0, ""));
    assert_eq!(
        got[2],
        (
            "retry",
            429,
            "es_rejected_execution_exception: rejected execution of primary operation \
             [primary_operation_bytes=1024]"
        )
    );
    assert_eq!(
        got[3],
        (
            "rejected",
            400,
            "mapper_parsing_exception: failed to parse field [output_fields.container.image] of \
             type [keyword] in document with id '6a7b'. Preview of field's value: \
             '{repository=nginx}' (caused by illegal_state_exception: Can't get text on a \
             START_OBJECT at 1:412)"
        )
    );
}

#[test]
fn item_statuses() {
    let one = |v: Value| {
        let body = json!({"errors": true, "items": [v]}).to_string();
        let o = parse_bulk_response(200, &body, 1).unwrap().remove(0);
        let (k, s, r) = summary(&o);
        (k, s, r.to_string())
    };
    let item = |key: &str, status: u16| {
        one(json!({key: {"_index": "i", "_id": "x", "status": status,
            "error": {"type": "t", "reason": "r"}}}))
    };
    let cases = [
        ("create", 409, "duplicate"),
        ("index", 409, "duplicate"),
        ("create", 503, "retry"),
        ("create", 500, "retry"),
        ("index", 429, "retry"),
        ("create", 404, "retry"),
        ("create", 403, "retry"),
        ("create", 401, "retry"),
        ("index", 400, "rejected"),
    ];
    for (key, status, kind) in cases {
        let got = item(key, status);
        assert_eq!(got.0, kind, "{key} {status}");
        if kind != "duplicate" {
            assert_eq!((got.1, got.2.as_str()), (status, "t: r"));
        }
    }
    let stored = ("stored", 0, String::new());
    assert_eq!(one(json!({"index": {"_id": "x", "status": 200}})), stored);
    // Success items without a status (as in some documentation examples).
    assert_eq!(
        one(json!({"create": {"_id": "x", "result": "created"}})),
        stored
    );
    // Pre-5.0 string errors.
    let v = json!({"create": {"_id": "x", "status": 400, "error": "MapperParsingException[x]"}});
    assert_eq!(
        one(v),
        ("rejected", 400, "MapperParsingException[x]".into())
    );
}

#[test]
fn malformed_items_are_fatal() {
    for item in [
        json!({"delete": {"_id": "x", "status": 200}}),
        json!({"create": {"_id": "x", "error": {"type": "t"}}}),
        json!({"create": {"_id": "x", "status": 70000}}),
    ] {
        let body = json!({"errors": true, "items": [item]}).to_string();
        let (kind, status, reason) = failure(200, &body, 1);
        assert_eq!((kind, status), ("fatal", 200));
        assert!(reason.starts_with("item 0: "), "{reason}");
    }
}

#[test]
fn item_count_mismatch_is_fatal() {
    let body = json!({"took": 3, "errors": false, "items": [created("a", 0)]}).to_string();
    let (kind, _, reason) = failure(200, &body, 2);
    assert_eq!(kind, "fatal");
    assert!(reason.contains("1 items for 2 documents"), "{reason}");
    for body in [r#"{"errors":false}"#, r#"{"errors":true,"items":{}}"#] {
        assert_eq!(failure(200, body, 1).0, "fatal");
    }
}

#[test]
fn unreadable_success_bodies_are_retried() {
    for body in [
        "",
        "<html>ok</html>",
        r#"{"errors":false,"items":[{"create""#,
    ] {
        assert_eq!(failure(200, body, 1).0, "retry", "{body}");
    }
}

#[test]
fn whole_request_429_and_5xx_retry_every_item() {
    let why = "rejected execution of coordinating operation [coordinating_and_primary_bytes=\
               104857600, replica_bytes=0, all_bytes=104857600, coordinating_operation_bytes=\
               2048, max_coordinating_and_primary_bytes=104857600]";
    let cause = json!({"type": "es_rejected_execution_exception", "reason": why});
    let mut error = cause.clone();
    error["root_cause"] = json!([cause]);
    let body = json!({"error": error, "status": 429}).to_string();
    let got = parse_bulk_response(429, &body, 3).unwrap();
    let want = format!("es_rejected_execution_exception: {why}");
    assert_eq!(
        got.iter().map(summary).collect::<Vec<_>>(),
        [("retry", 429, want.as_str()); 3]
    );
    let html = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
    let got = parse_bulk_response(502, html, 1).unwrap();
    assert_eq!(summary(&got[0]), ("retry", 502, html));
    let got = parse_bulk_response(503, "", 2).unwrap();
    assert_eq!(summary(&got[1]), ("retry", 503, "empty response body"));
}

#[test]
fn whole_request_client_errors() {
    let auth = r#"{"error":{"root_cause":[{"type":"security_exception","reason":"unable to authenticate user [lanner] for REST request [/_bulk]","header":{"WWW-Authenticate":["Basic realm=\"security\" charset=\"UTF-8\"","ApiKey"]}}],"type":"security_exception","reason":"unable to authenticate user [lanner] for REST request [/_bulk]","header":{"WWW-Authenticate":["Basic realm=\"security\" charset=\"UTF-8\"","ApiKey"]}},"status":401}"#;
    let why = "security_exception: unable to authenticate user [lanner] for REST request [/_bulk]";
    assert_eq!(failure(401, auth, 1), ("retry", 401, why.into()));
    for s in [403, 404, 408] {
        assert_eq!(
            failure(s, "", 1),
            ("retry", s, "empty response body".into())
        );
    }
    let (kind, _, reason) = failure(413, "", 500);
    assert_eq!(kind, "fatal");
    assert!(reason.contains("500 documents"), "{reason}");
    let bad = r#"{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"The bulk request must be terminated by a newline [\\n]"}],"type":"illegal_argument_exception","reason":"The bulk request must be terminated by a newline [\\n]"},"status":400}"#;
    let e = parse_bulk_response(400, bad, 1).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Elasticsearch bulk request failed (HTTP 400): illegal_argument_exception: \
         The bulk request must be terminated by a newline [\\n]"
    );
    assert_eq!(failure(405, "", 1).0, "fatal");
    assert_eq!(failure(302, "", 1).0, "fatal");
}

#[test]
fn long_proxy_bodies_are_cut() {
    let got = parse_bulk_response(500, &"x".repeat(5000), 1).unwrap();
    let (_, _, reason) = summary(&got[0]);
    assert!(reason.len() < 300 && reason.ends_with('…'), "{reason}");
}
