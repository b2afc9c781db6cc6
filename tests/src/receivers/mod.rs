//! Protocol-faithful fake log receivers for the output-sink tests, standing in for services that
//! cannot run here: [`FakeFluentd`] (Fluentd's `in_http` input) and [`FakeElasticsearch`] (the
//! `_bulk` API). Not re-exported: `use lanner_tests::receivers::*;`.
//!
//! Each is a real HTTP/1.1 server on `127.0.0.1:<ephemeral port>` with its own thread and tokio
//! runtime, so sync test code drives it: persistent connections (several requests on one, bodies
//! by `Content-Length` or `Transfer-Encoding: chunked`, `Expect: 100-continue`), `Connection:
//! close` and HTTP/1.0 honoured; a malformed request gets a 400 (unrecorded) and the connection is
//! closed. Every request is recorded ([`ReceivedRequest`], with the answered status and the
//! server-side connection number that proves keep-alive reuse), the stored data survives
//! `stop()` / `restart()` on the same port, and while stopped the listener and every open
//! connection are closed, so a client sees "connection refused" as with a receiver that is down.
//! `set_answer_body` makes a fake hostile: it handles requests as usual but answers with a body
//! that never ends, fast ([`AnswerBody::Endless`]) or one byte at a time ([`AnswerBody::Drip`]).
//!
//! [`HttpClient`] is a minimal blocking keep-alive client for the tests; [`http_post`] a one-shot.
//!
//! Modules: `http` (server-side HTTP/1.1, codecs; its request reader also serves the `kubeapi`
//! fake), `client`, `fluentd`, `elasticsearch` (bulk request handling in `bulk`).

use std::{
    io,
    net::{SocketAddr, TcpListener as StdListener},
    sync::{
        Arc, Condvar, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use tokio::{io::BufReader, net::TcpListener, sync::oneshot};

/// The methods both fakes share, over their `server: Server<_>` field: `start` (a default state,
/// bodies up to `$body_limit`), address, stop/restart and the request log. A macro rather than a
/// generic type or trait: the states and [`Server`] stay crate-private, and tests call these as
/// inherent methods, importing nothing more.
macro_rules! fake_receiver_methods {
    ($body_limit:expr) => {
        pub fn start() -> ::std::io::Result<Self> {
            let server = $crate::receivers::Server::start(Default::default(), $body_limit)?;
            Ok(Self { server })
        }

        pub fn addr(&self) -> ::std::net::SocketAddr {
            self.server.addr()
        }

        /// `http://127.0.0.1:<port>`.
        pub fn url(&self) -> String {
            format!("http://{}", self.addr())
        }

        /// Closes the listener and every connection: connections are refused until
        /// [`restart`](Self::restart). The stored data and the requests are kept.
        pub fn stop(&self) {
            self.server.stop();
        }

        /// Listens again on the same port.
        pub fn restart(&self) -> ::std::io::Result<()> {
            self.server.restart()
        }

        pub fn is_running(&self) -> bool {
            self.server.is_running()
        }

        /// How the bodies of the next answers are sent (hostile receivers).
        pub fn set_answer_body(&self, a: $crate::receivers::AnswerBody) {
            self.server.set_answer_body(a);
        }

        /// Answers sent with a never-ending body so far.
        pub fn streamed_answers(&self) -> u64 {
            self.server.streamed_answers()
        }

        /// Every request received (answered or not), oldest first.
        pub fn requests(&self) -> Vec<$crate::receivers::ReceivedRequest> {
            self.server.with(|i| i.requests.clone())
        }

        pub fn request_count(&self) -> usize {
            self.server.with(|i| i.requests.len())
        }

        /// Waits until at least `n` requests came; all of them.
        pub fn wait_requests(
            &self,
            n: usize,
            timeout: ::std::time::Duration,
        ) -> ::anyhow::Result<Vec<$crate::receivers::ReceivedRequest>> {
            let got = self.server.wait(timeout, |i| {
                (i.requests.len() >= n).then(|| i.requests.clone())
            });
            got.ok_or_else(|| {
                ::anyhow::anyhow!(
                    "{} requests after {timeout:?}, wanted {n}",
                    self.request_count()
                )
            })
        }
    };
}

mod bulk;
mod client;
mod elasticsearch;
mod fluentd;
pub(crate) mod http;

pub use bulk::{bulk_items, bulk_op};
pub use client::*;
pub use elasticsearch::*;
pub use fluentd::*;
pub use http::{base64, basic_auth, form_decode, percent_decode};

use http::Response;

/// How a fake sends the body of its answers: as the protocol says, or as a hostile (or broken)
/// receiver would, to prove a client reads answers with a byte budget and a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnswerBody {
    /// `Content-Length` and the body.
    #[default]
    Normal,
    /// The status and headers as usual, then a chunked body that never ends: the real body,
    /// then spaces (valid after JSON, so only a byte budget stops a reader), 64 KiB per chunk
    /// as fast as the client reads.
    Endless,
    /// The same, one byte per interval.
    Drip(Duration),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    /// Server-side connection number (from 1, unique per receiver across restarts): equal for
    /// requests that came on one persistent connection.
    pub conn: u64,
    pub method: String,
    /// The request target's path, still percent-encoded.
    pub path: String,
    /// The raw query string (after `?`), empty if none.
    pub query: String,
    /// Names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// The status the fake answered.
    pub status: u16,
}

impl ReceivedRequest {
    /// The first header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        let mut it = self.headers.iter();
        it.find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The media type of `Content-Type`, lower-cased, without parameters (`""` if none).
    pub fn media_type(&self) -> String {
        let ct = self.header("content-type").unwrap_or_default();
        ct.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }
}

/// What a fake does with a request; runs under the receiver's lock.
pub(crate) trait Handler: Send + 'static {
    fn handle(&mut self, req: &ReceivedRequest) -> Response;
}

pub(crate) struct Inner<S> {
    pub requests: Vec<ReceivedRequest>,
    pub state: S,
}

struct Shared<S> {
    inner: Mutex<Inner<S>>,
    /// Notified after every request.
    changed: Condvar,
    conns: AtomicU64,
    body_limit: usize,
    answer: Mutex<AnswerBody>,
    streamed: AtomicU64,
}

struct Running {
    shutdown: oneshot::Sender<()>,
    thread: thread::JoinHandle<()>,
}

/// The HTTP server under a fake: a thread with a current-thread runtime per start.
pub(crate) struct Server<S: Handler> {
    addr: SocketAddr,
    shared: Arc<Shared<S>>,
    running: Mutex<Option<Running>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: Handler> Server<S> {
    pub fn start(state: S, body_limit: usize) -> io::Result<Server<S>> {
        let listener = StdListener::bind(("127.0.0.1", 0))?;
        let server = Server {
            addr: listener.local_addr()?,
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    requests: Vec::new(),
                    state,
                }),
                changed: Condvar::new(),
                conns: AtomicU64::new(0),
                body_limit,
                answer: Mutex::new(AnswerBody::Normal),
                streamed: AtomicU64::new(0),
            }),
            running: Mutex::new(None),
        };
        server.serve(listener)?;
        Ok(server)
    }

    fn serve(&self, listener: StdListener) -> io::Result<()> {
        listener.set_nonblocking(true)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (shutdown, stop) = oneshot::channel();
        let shared = self.shared.clone();
        let thread = thread::Builder::new()
            .name(format!("fake-receiver-{}", self.addr.port()))
            .spawn(move || {
                rt.block_on(accept_loop(listener, shared, stop));
                // Dropping the runtime drops every connection task, closing its socket.
                drop(rt);
            })?;
        *lock(&self.running) = Some(Running { shutdown, thread });
        Ok(())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes the listener and every open connection; returns once they are closed.
    pub fn stop(&self) {
        if let Some(r) = lock(&self.running).take() {
            let _ = r.shutdown.send(());
            let _ = r.thread.join();
        }
    }

    /// Listens again on the same port (stopping first if running), with the same state.
    pub fn restart(&self) -> io::Result<()> {
        self.stop();
        self.serve(StdListener::bind(self.addr)?)
    }

    pub fn is_running(&self) -> bool {
        lock(&self.running).is_some()
    }

    pub fn set_answer_body(&self, a: AnswerBody) {
        *lock(&self.shared.answer) = a;
    }

    pub fn streamed_answers(&self) -> u64 {
        self.shared.streamed.load(Ordering::Relaxed)
    }

    /// Runs `f` on the state under the lock.
    pub fn with<R>(&self, f: impl FnOnce(&mut Inner<S>) -> R) -> R {
        f(&mut lock(&self.shared.inner))
    }

    /// Waits until `f` returns `Some` (checked now and after each request), up to `timeout`.
    pub fn wait<R>(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&Inner<S>) -> Option<R>,
    ) -> Option<R> {
        let deadline = Instant::now() + timeout;
        let mut g = lock(&self.shared.inner);
        loop {
            if let Some(r) = f(&g) {
                return Some(r);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            g = self
                .shared
                .changed
                .wait_timeout(g, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl<S: Handler> Drop for Server<S> {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop<S: Handler>(
    listener: StdListener,
    shared: Arc<Shared<S>>,
    mut stop: oneshot::Receiver<()>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(serve_conn(stream, shared.clone()));
                }
            }
        }
    }
}

async fn serve_conn<S: Handler>(stream: tokio::net::TcpStream, shared: Arc<Shared<S>>) {
    let conn = shared.conns.fetch_add(1, Ordering::Relaxed) + 1;
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    loop {
        let incoming = http::read_request(&mut rd, &mut wr, conn, shared.body_limit).await;
        let (resp, head, keep_alive) = match incoming {
            Ok(None) => return,
            Ok(Some(inc)) => {
                let mut g = lock(&shared.inner);
                let mut req = inc.req;
                let resp = g.state.handle(&req);
                req.status = resp.status;
                let head = req.method == "HEAD";
                g.requests.push(req);
                drop(g);
                shared.changed.notify_all();
                (resp, head, inc.keep_alive)
            }
            Err(e) => match e.response() {
                Some(resp) => (resp, false, false),
                None => return,
            },
        };
        let answer = *lock(&shared.answer);
        if answer != AnswerBody::Normal && !head {
            shared.streamed.fetch_add(1, Ordering::Relaxed);
            // Until the client hangs up (or the fake stops): nothing after it on this
            // connection.
            let _ = http::write_endless(&mut wr, &resp, answer).await;
            return;
        }
        if http::write_response(&mut wr, &resp, head, keep_alive)
            .await
            .is_err()
            || !keep_alive
        {
            return;
        }
    }
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes; whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}
