//! Byte budgets on what the API server sends, as a layer of kube's client stack.
//!
//! kube reads a list answer whole into memory before parsing it, and splits a watch stream
//! into lines with no length limit, so a broken or hostile API server (or anything between it
//! and the sensor) answering with an endless list or an endless event would grow the sensor
//! until the node's OOM killer steps in. Each response body is wrapped here:
//! - a watch stream (`watch=true`, answered 2xx): at most `event_bytes` between two newlines,
//!   i.e. per watch event; the stream itself may run as long as it likes;
//! - anything else (a list, an error answer, `/version`): at most `list_bytes` in all.
//!
//! Over budget, the body fails with [`OverBudget`]: kube turns that into an error of that
//! request, the watch task counts it, marks the index stale and retries after its backoff
//! (`watch.rs`). What was read of the answer is dropped with the request.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use hyper::{
    Request, Response,
    body::{Body, Frame, SizeHint},
};

use super::{
    error::OverBudget,
    status::{Oversized, Status},
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The sizes an answer may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// A whole answer that is not a watch stream: the pod list of one node (unpaged, see
    /// `mod.rs`), or an error.
    pub list_bytes: u64,
    /// One line of a watch stream: one event, with its whole Pod object. The API server stores
    /// an object of at most 1.5 MiB (etcd's request limit); its JSON is of that order.
    pub event_bytes: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            // A node runs at most a few hundred pods of a few to some tens of KiB each.
            list_bytes: 16 << 20,
            event_bytes: 4 << 20,
        }
    }
}

/// The layer for `kube::client::ClientBuilder::with_layer`.
pub struct BudgetLayer {
    budget: Budget,
    status: Arc<Status>,
}

impl BudgetLayer {
    pub fn new(budget: Budget, status: Arc<Status>) -> Self {
        BudgetLayer { budget, status }
    }
}

impl<S> tower_layer::Layer<S> for BudgetLayer {
    type Service = BudgetService<S>;

    fn layer(&self, inner: S) -> BudgetService<S> {
        BudgetService {
            inner,
            budget: self.budget,
            status: self.status.clone(),
        }
    }
}

pub struct BudgetService<S> {
    inner: S,
    budget: Budget,
    status: Arc<Status>,
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for BudgetService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: 'static,
{
    type Response = Response<Budgeted<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let watch = is_watch(req.uri());
        let (budget, status) = (self.budget, self.status.clone());
        let answer = self.inner.call(req);
        Box::pin(async move {
            let res = answer.await?;
            let limit = if watch && res.status().is_success() {
                Limit::PerEvent(budget.event_bytes)
            } else {
                Limit::Whole(budget.list_bytes)
            };
            Ok(res.map(|body| Budgeted::new(body, limit, status)))
        })
    }
}

/// `watch=true` (or `1`) among the query parameters.
fn is_watch(uri: &hyper::Uri) -> bool {
    uri.query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Limit {
    Whole(u64),
    PerEvent(u64),
}

/// A response body that fails once it passes its budget.
pub struct Budgeted<B> {
    inner: B,
    limit: Limit,
    /// Bytes so far (`Whole`) or since the last newline (`PerEvent`).
    run: u64,
    failed: bool,
    status: Arc<Status>,
}

impl<B> Budgeted<B> {
    fn new(inner: B, limit: Limit, status: Arc<Status>) -> Self {
        Budgeted {
            inner,
            limit,
            run: 0,
            failed: false,
            status,
        }
    }

    /// Account for `data`; the error once over budget.
    fn take(&mut self, data: &[u8]) -> Result<(), OverBudget> {
        let len = data.len() as u64;
        match self.limit {
            Limit::Whole(limit) => {
                self.run = self.run.saturating_add(len);
                if self.run > limit {
                    self.status.count_oversized(Oversized::Answer);
                    return Err(OverBudget::Answer { limit });
                }
            }
            Limit::PerEvent(limit) => {
                // Every line of the chunk, not just its last: a chunk may hold several events.
                let mut start = 0;
                for nl in memchr::memchr_iter(b'\n', data) {
                    if self.run + (nl - start) as u64 > limit {
                        break;
                    }
                    self.run = 0;
                    start = nl + 1;
                }
                self.run = self.run.saturating_add((data.len() - start) as u64);
                if self.run > limit {
                    self.status.count_oversized(Oversized::WatchEvent);
                    return Err(OverBudget::WatchEvent { limit });
                }
            }
        }
        Ok(())
    }
}

impl<B> Body for Budgeted<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
            None => return Poll::Ready(None),
        };
        if let Some(data) = frame.data_ref()
            && let Err(e) = this.take(data)
        {
            this.failed = true;
            return Poll::Ready(Some(Err(Box::new(e))));
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(limit: Limit) -> (Budgeted<()>, Arc<Status>) {
        let status = Arc::new(Status::default());
        (Budgeted::new((), limit, status.clone()), status)
    }

    #[test]
    fn a_whole_answer_fails_past_its_budget_and_is_counted() {
        let (mut b, status) = body(Limit::Whole(10));
        assert!(b.take(b"12345").is_ok());
        assert!(b.take(b"67890").is_ok(), "exactly the budget");
        assert_eq!(b.take(b"x"), Err(OverBudget::Answer { limit: 10 }));
        assert_eq!(status.oversized(), (1, 0));
    }

    #[test]
    fn a_watch_stream_is_budgeted_per_line_however_long_it_runs() {
        let (mut b, status) = body(Limit::PerEvent(8));
        for _ in 0..1000 {
            assert!(b.take(b"1234567\n").is_ok());
        }
        // A line split across chunks counts as one.
        assert!(b.take(b"1234").is_ok());
        assert!(b.take(b"5678\n12").is_ok());
        assert_eq!(b.take(b"3456789"), Err(OverBudget::WatchEvent { limit: 8 }));
        assert_eq!(status.oversized(), (0, 1));
    }

    #[test]
    fn a_long_line_inside_one_chunk_is_caught_too() {
        let (mut b, _) = body(Limit::PerEvent(8));
        let chunk = b"ok\n0123456789abcdef\nok\n";
        assert_eq!(b.take(chunk), Err(OverBudget::WatchEvent { limit: 8 }));
    }

    #[test]
    fn watch_requests_are_told_by_their_query() {
        let uri = |s: &str| s.parse::<hyper::Uri>().unwrap();
        assert!(is_watch(&uri(
            "/api/v1/pods?fieldSelector=a&watch=true&timeoutSeconds=290"
        )));
        assert!(is_watch(&uri("/api/v1/pods?watch=1")));
        assert!(!is_watch(&uri(
            "/api/v1/pods?fieldSelector=spec.nodeName%3Dwatch%3Dtrue"
        )));
        assert!(!is_watch(&uri("/api/v1/pods")));
    }
}
