//! What the endpoint answers: `/metrics` (the exposition), `/healthz` (the pipeline moves:
//! 503 with the reason when it is stalled, see `stall.rs`) and `/readyz` (probes attached and
//! the pod cache usable and synced: 503 with the reason otherwise). GET and HEAD only; a
//! request that announces a body is refused (nothing here takes one, and an unread body must not
//! sit in the connection).

use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    Method, Request, Response, StatusCode,
    body::{Body as _, Incoming},
    header,
};

use super::{Metrics, text::CONTENT_TYPE};

pub fn respond(req: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
    }
    if !req.body().is_end_stream() {
        let mut r = plain(StatusCode::PAYLOAD_TOO_LARGE, "no request body here\n");
        r.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        return r;
    }
    match req.uri().path() {
        "/metrics" => Response::builder()
            .header(header::CONTENT_TYPE, CONTENT_TYPE)
            .body(Full::new(Bytes::from(metrics.render())))
            .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "response\n")),
        "/healthz" => match metrics.pipeline.verdict() {
            None => plain(StatusCode::OK, "ok\n"),
            Some(why) => plain(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("unhealthy: {why}\n"),
            ),
        },
        "/readyz" => match metrics.ready() {
            Ok(None) => plain(StatusCode::OK, "ready\n"),
            Ok(Some(degraded)) => plain(StatusCode::OK, &format!("ready ({degraded})\n")),
            Err(why) => plain(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("not ready: {why}\n"),
            ),
        },
        _ => plain(
            StatusCode::NOT_FOUND,
            "not found: /metrics, /healthz, /readyz\n",
        ),
    }
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
