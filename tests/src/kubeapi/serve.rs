//! The HTTP/1.1 side of the fake: routing, lists and `Status` errors (requests are read by the
//! fake receivers' `read_request`).

use std::{io, sync::Arc};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncWriteExt, BufReader},
    net::{TcpStream, tcp::OwnedWriteHalf},
};

use super::{Flood, Page, RecordedRequest, Selector, Shared, events, lock};
use crate::receivers::{form_decode, http::read_request, percent_decode};

pub(super) async fn serve_conn(stream: TcpStream, shared: Arc<Shared>) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    // The fake receivers' reader, any body size (bodies are read and ignored); a request it
    // cannot read ends the connection unanswered.
    while let Ok(Some(inc)) = read_request(&mut rd, &mut wr, 0, usize::MAX).await {
        let req = RecordedRequest {
            method: inc.req.method,
            path: percent_decode(&inc.req.path, false),
            query: form_decode(&inc.req.query),
        };
        lock(&shared.state).requests.push(req.clone());
        if respond(&shared, &req, &mut wr).await.is_err() || !inc.keep_alive {
            return;
        }
    }
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
    let flood = lock(&shared.state).flood;
    match flood {
        Flood::EndlessList => return events::endless_list(shared, &sel, wr).await,
        Flood::SilentList => return events::silent_list(wr).await,
        Flood::Off | Flood::EndlessWatchEvent => {}
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
