//! The watch half of the fake: a chunked stream of watch events, as the API server sends them.

use std::{io, time::Duration};

use serde_json::{Value, json};
use tokio::{io::AsyncWriteExt, net::tcp::OwnedWriteHalf, time::Instant};

use super::{
    Change, Kind, RecordedRequest, Selector, Shared, lock,
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
