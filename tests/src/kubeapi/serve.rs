//! The HTTP/1.1 side of the fake: request parsing, routing, lists and `Status` errors.

use std::{io, sync::Arc};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpStream, tcp::OwnedWriteHalf},
};

use super::{Page, RecordedRequest, Selector, Shared, events, lock};

pub(super) async fn serve_conn(stream: TcpStream, shared: Arc<Shared>) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    while let Ok(Some((req, close))) = read_request(&mut rd).await {
        lock(&shared.state).requests.push(req.clone());
        if respond(&shared, &req, &mut wr).await.is_err() || close {
            return;
        }
    }
}

/// Reads one request head (and discards a body); `None` at a clean end of the connection.
async fn read_request<R: AsyncBufReadExt + Unpin>(
    rd: &mut R,
) -> io::Result<Option<(RecordedRequest, bool)>> {
    let mut line = String::new();
    if rd.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad request line",
        ));
    };
    let (method, target) = (method.to_owned(), target.to_owned());
    let (mut length, mut close) = (0usize, false);
    loop {
        line.clear();
        if rd.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let h = line.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            } else if name == "connection" && value.eq_ignore_ascii_case("close") {
                close = true;
            }
        }
    }
    let mut body = vec![0; length];
    rd.read_exact(&mut body).await?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect();
    let req = RecordedRequest {
        method,
        path: percent_decode(path, false),
        query,
    };
    Ok(Some((req, close)))
}

/// `%XX` escapes; `+` is a space in a query (form encoding) but not in a path.
fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let hex = |j: usize| b.get(j).and_then(|&c| (c as char).to_digit(16));
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
            (b'+', ..) if plus_is_space => out.push(b' '),
            (c, ..) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn respond(
    shared: &Shared,
    req: &RecordedRequest,
    wr: &mut OwnedWriteHalf,
) -> io::Result<()> {
    if req.method != "GET" {
        return send(
            wr,
            405,
            &status(405, "MethodNotAllowed", "the fake serves GET only"),
        )
        .await;
    }
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["version"] => {
            let v = json!({"major": "1", "minor": "35", "gitVersion": "v1.35.0-lanner-fake",
                "platform": "linux/amd64"});
            send(wr, 200, &v).await
        }
        ["api", "v1", "pods"] => collection(shared, req, None, wr).await,
        ["api", "v1", "namespaces", ns, "pods"] => collection(shared, req, Some(*ns), wr).await,
        ["api", "v1", "namespaces", ns, "pods", name] => {
            let pod = lock(&shared.state)
                .pods
                .get(&((*ns).to_owned(), (*name).to_owned()))
                .cloned();
            match pod {
                Some(p) => send(wr, 200, &p).await,
                None => {
                    let msg = format!("pods \"{name}\" not found");
                    send(wr, 404, &status(404, "NotFound", &msg)).await
                }
            }
        }
        _ => {
            send(
                wr,
                404,
                &status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                ),
            )
            .await
        }
    }
}

async fn collection(
    shared: &Shared,
    req: &RecordedRequest,
    ns: Option<&str>,
    wr: &mut OwnedWriteHalf,
) -> io::Result<()> {
    let sel = match Selector::parse(ns, req.param("fieldSelector"), req.param("labelSelector")) {
        Ok(s) => s,
        Err(msg) => return send(wr, 400, &status(400, "BadRequest", &msg)).await,
    };
    if req.is_watch() {
        return events::watch(shared, req, &sel, wr).await;
    }
    let (code, body) = list(shared, req, &sel);
    send(wr, code, &body).await
}

/// A list response: one page of the selected pods, or 410 for an expired `continue` token.
fn list(shared: &Shared, req: &RecordedRequest, sel: &Selector) -> (u16, Value) {
    let limit: usize = req.param("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut st = lock(&shared.state);
    let (rv, mut items) = match req.param("continue").filter(|c| !c.is_empty()) {
        Some(token) => match st.pages.remove(token) {
            Some(page) => (page.rv, page.items),
            None => {
                let msg = "The provided continue parameter is too old to display a consistent \
                           list result.";
                return (410, status(410, "Expired", msg));
            }
        },
        None => {
            let selected = st.pods.values().filter(|p| sel.matches(p));
            (st.rv, selected.cloned().collect())
        }
    };
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if limit > 0 && items.len() > limit {
        let rest = items.split_off(limit);
        st.next_page += 1;
        let token = format!("fake-continue-{}", st.next_page);
        meta["continue"] = json!(token);
        meta["remainingItemCount"] = json!(rest.len());
        st.pages.insert(token, Page { rv, items: rest });
    }
    for item in &mut items {
        if let Some(o) = item.as_object_mut() {
            o.remove("kind"); // list items carry no kind/apiVersion on a real server
            o.remove("apiVersion");
        }
    }
    let list = json!({"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items});
    (200, list)
}

pub(super) fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code})
}

pub(super) async fn send(wr: &mut OwnedWriteHalf, code: u16, body: &Value) -> io::Result<()> {
    let body = body.to_string();
    let head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        reason(code),
        body.len()
    );
    wr.write_all(head.as_bytes()).await?;
    wr.write_all(body.as_bytes()).await?;
    wr.flush().await
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        410 => "Gone",
        _ => "Error",
    }
}
