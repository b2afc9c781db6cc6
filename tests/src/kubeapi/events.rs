//! The watch half of the fake: a chunked stream of watch events, as the API server sends them;
//! and the answers that never end ([`Flood`]).

use std::{io, sync::atomic::Ordering::Relaxed, time::Duration};

use serde_json::{Value, json};
use tokio::{io::AsyncWriteExt, net::tcp::OwnedWriteHalf, time::Instant};

use super::{
    Change, Flood, Kind, RecordedRequest, Selector, Shared, lock,
    serve::{send, status},
};

/// Without `timeoutSeconds` a real server picks 30–60 min.
const DEFAULT_TIMEOUT_S: u64 = 1800;

pub(super) async fn watch(
    shared: &Shared,
    req: &RecordedRequest,
    sel: &Selector,
    wr: &mut OwnedWriteHalf,
) -> io::Result<()> {
    let bookmarks = req.param("allowWatchBookmarks") == Some("true");
    let timeout = req
        .param("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .unwrap_or(DEFAULT_TIMEOUT_S);
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let from = req
        .param("resourceVersion")
        .filter(|v| !v.is_empty() && *v != "0");
    let from = match from.map(str::parse::<u64>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            let msg = "resourceVersion: Invalid value: not a number";
            return send(wr, 400, &status(400, "BadRequest", msg)).await;
        }
    };
    // Subscribed before the first read: a change in between is seen (once: `seen` dedups).
    let mut changes = shared.changes.subscribe();
    let mut closes = shared.closes.subscribe();
    let (first, mut seen, gone) = {
        let st = lock(&shared.state);
        match from {
            // "Any" version: the current objects as ADDED, then the changes.
            None => {
                let added = st.pods.values().filter(|p| sel.matches(p));
                (added.map(|p| line("ADDED", p)).collect(), st.seq, None)
            }
            Some(n) if n < st.oldest => {
                let msg = format!("too old resource version: {n} ({})", st.oldest);
                (Vec::new(), st.seq, Some(msg))
            }
            Some(n) => {
                let after = st
                    .history
                    .iter()
                    .filter(|c| c.rv > n && c.kind != Kind::Bookmark);
                (
                    after.filter_map(|c| render(c, sel, false)).collect(),
                    st.seq,
                    None,
                )
            }
        }
    };
    wr.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .await?;
    if let Some(msg) = gone {
        // What a real server sends for a compacted version: one ERROR event, then the end.
        chunk(wr, &line("ERROR", &status(410, "Expired", &msg))).await?;
        return finish(wr).await;
    }
    for l in &first {
        chunk(wr, l).await?;
    }
    if lock(&shared.state).flood == Flood::EndlessWatchEvent {
        return endless_event(shared, wr).await;
    }
    loop {
        tokio::select! {
            // Changes first: what happened before a close is still sent.
            biased;
            r = changes.changed() => if r.is_err() { break },
            _ = closes.changed() => break,
            _ = tokio::time::sleep_until(deadline) => break,
        }
        let lines: Vec<String> = {
            let st = lock(&shared.state);
            let new = st.history.iter().filter(|c| c.seq > seen);
            let lines = new.filter_map(|c| render(c, sel, bookmarks)).collect();
            seen = st.seq;
            lines
        };
        for l in &lines {
            chunk(wr, l).await?;
        }
    }
    finish(wr).await
}

/// One change as the watcher with this selector sees it: a change that moves an object into the
/// selection is ADDED, out of it DELETED, as on a real server.
fn render(c: &Change, sel: &Selector, bookmarks: bool) -> Option<String> {
    let was = c.old.as_ref().is_some_and(|o| sel.matches(o));
    let kind = match c.kind {
        Kind::Bookmark => bookmarks.then_some("BOOKMARK")?,
        Kind::Delete => was.then_some("DELETED")?,
        Kind::Put => match (was, sel.matches(&c.new)) {
            (false, true) => "ADDED",
            (true, true) => "MODIFIED",
            (true, false) => "DELETED",
            (false, false) => return None,
        },
    };
    Some(line(kind, &c.new))
}

/// Size of each chunk of a flood.
const FLOOD_CHUNK: usize = 64 * 1024;

/// A 200 `PodList` whose items never end: repeats of the selected pods (or of a made-up one)
/// until the client hangs up.
/// A list answer that starts and then never goes on; the connection stays open until the
/// client gives up.
pub(super) async fn silent_list(wr: &mut OwnedWriteHalf) -> io::Result<()> {
    wr.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .await?;
    chunk(wr, r#"{"kind":"PodList","apiVersion":"v1","#).await?;
    std::future::pending().await
}

pub(super) async fn endless_list(
    shared: &Shared,
    sel: &Selector,
    wr: &mut OwnedWriteHalf,
) -> io::Result<()> {
    let (rv, mut items) = {
        let st = lock(&shared.state);
        let items: Vec<String> = st
            .pods
            .values()
            .filter(|p| sel.matches(p))
            .map(Value::to_string)
            .collect();
        (st.rv, items)
    };
    if items.is_empty() {
        items.push(json!({"metadata": {"name": "endless", "namespace": "default"}}).to_string());
    }
    wr.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .await?;
    let head = format!(
        r#"{{"kind":"PodList","apiVersion":"v1","metadata":{{"resourceVersion":"{rv}"}},"items":["#
    );
    chunk(wr, &head).await?;
    let mut block = String::new();
    while block.len() < FLOOD_CHUNK {
        for item in &items {
            block.push_str(item);
            block.push(',');
        }
    }
    loop {
        chunk(wr, &block).await?;
        shared.flooded.fetch_add(block.len() as u64, Relaxed);
    }
}

/// One watch event whose object never ends: no newline ever comes.
async fn endless_event(shared: &Shared, wr: &mut OwnedWriteHalf) -> io::Result<()> {
    let head = r#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"endless","namespace":"default","annotations":{"endless":""#;
    chunk(wr, head).await?;
    let block = "x".repeat(FLOOD_CHUNK);
    loop {
        chunk(wr, &block).await?;
        shared.flooded.fetch_add(block.len() as u64, Relaxed);
    }
}

fn line(kind: &str, object: &Value) -> String {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    s
}

async fn chunk(wr: &mut OwnedWriteHalf, data: &str) -> io::Result<()> {
    wr.write_all(format!("{:x}\r\n{data}\r\n", data.len()).as_bytes())
        .await?;
    wr.flush().await
}

async fn finish(wr: &mut OwnedWriteHalf) -> io::Result<()> {
    wr.write_all(b"0\r\n\r\n").await?;
    wr.flush().await
}
