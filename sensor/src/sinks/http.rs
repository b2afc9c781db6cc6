//! The HTTP client of the network sinks: HTTP/1.1 with keep-alive (a pool per sink), TLS by
//! rustls with the system's roots or a given CA, and a client certificate for mutual TLS.
//! Every answer is read within a deadline and a byte budget (head and body).

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Uri, body::Incoming, header::HeaderValue};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};

/// TLS settings of a sink (all optional).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsFiles {
    /// PEM CA bundle to verify the server with, instead of the system's roots.
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate chain and key, for mutual TLS.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

/// The largest response head (status line and headers) read: hyper's read buffer, which the
/// head must fit in. Receivers answer with a few hundred bytes.
const HEAD_MAX: usize = 64 << 10;
/// Headers per response (hyper's default, set so that it cannot move under us).
const HEADERS_MAX: usize = 100;
/// With [`BodyBudget::Snippet`], how long the body is waited for once the status is in.
const SNIPPET_WAIT: Duration = Duration::from_secs(1);

/// How much of a response body a sink reads. Nothing a receiver sends is buffered without a
/// bound: a receiver answering with an endless or dripping body costs at most the budget and
/// the request's deadline.
#[derive(Clone, Copy, Debug)]
pub enum BodyBudget {
    /// The body is the answer (Elasticsearch's per-document outcomes): a body larger than
    /// this, or not complete by the deadline, is an error.
    Whole(usize),
    /// Only the status matters; up to this many bytes of the body are kept for the logs,
    /// read for at most [`SNIPPET_WAIT`]. The rest is left unread (the connection is closed).
    Snippet(usize),
}

/// A response: status and (some of) the body text.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// Why there is no usable response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No complete answer: connection refused or reset, TLS, timeout, a head past its limit.
    #[error("{0}")]
    Transport(String),
    /// A body past [`BodyBudget::Whole`]'s bound: the receiver (or a proxy) is broken; retrying
    /// alone will not fix it.
    #[error("HTTP {status}: the response body is larger than {limit} bytes")]
    TooLarge { status: u16, limit: usize },
}

impl HttpClient {
    pub fn new(tls: &TlsFiles, timeout: Duration) -> anyhow::Result<Self> {
        let config = tls_config(tls)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .http1_max_buf_size(HEAD_MAX)
            .http1_max_headers(HEADERS_MAX)
            .build(https);
        Ok(Self { client, timeout })
    }

    /// POST `body`; the whole exchange (connect, send, head, body) within the timeout.
    pub async fn post(
        &self,
        uri: &Uri,
        headers: &[(&'static str, HeaderValue)],
        body: Bytes,
        budget: BodyBudget,
    ) -> Result<Reply, HttpError> {
        let mut req = Request::post(uri.clone());
        for (k, v) in headers {
            req = req.header(*k, v.clone());
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| HttpError::Transport(format!("request: {e}")))?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let late = || HttpError::Transport(format!("no response within {:?}", self.timeout));
        let resp = tokio::time::timeout_at(deadline, self.client.request(req))
            .await
            .map_err(|_| late())?
            .map_err(|e| HttpError::Transport(format!("{e:?}")))?;
        let status = resp.status().as_u16();
        let (limit, body_deadline) = match budget {
            BodyBudget::Whole(n) => (n, deadline),
            BodyBudget::Snippet(n) => (n, deadline.min(tokio::time::Instant::now() + SNIPPET_WAIT)),
        };
        let declared = resp
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let too_large = HttpError::TooLarge { status, limit };
        if matches!(budget, BodyBudget::Whole(_)) && declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large);
        }
        let read = tokio::time::timeout_at(body_deadline, read_body(resp.into_body(), limit)).await;
        let body = match (budget, read) {
            (
                _,
                Ok(Ok(Body {
                    bytes,
                    complete: true,
                })),
            ) => bytes,
            (BodyBudget::Whole(_), Ok(Ok(_))) => return Err(too_large),
            (BodyBudget::Whole(_), Ok(Err(e))) => {
                return Err(HttpError::Transport(format!("reading the response: {e}")));
            }
            (BodyBudget::Whole(_), Err(_)) => return Err(late()),
            // Only the status counts: a part of the body is enough for the logs.
            (BodyBudget::Snippet(_), Ok(Ok(b))) => b.bytes,
            (BodyBudget::Snippet(_), _) => Vec::new(),
        };
        Ok(Reply {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// At most `limit` bytes of a body; `complete` when its end came within them.
struct Body {
    bytes: Vec<u8>,
    complete: bool,
}

async fn read_body(mut body: Incoming, limit: usize) -> Result<Body, hyper::Error> {
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers
        };
        if bytes.len() + data.len() > limit {
            bytes.extend_from_slice(&data[..limit - bytes.len()]);
            return Ok(Body {
                bytes,
                complete: false,
            });
        }
        bytes.extend_from_slice(&data);
    }
    Ok(Body {
        bytes,
        complete: true,
    })
}

fn tls_config(t: &TlsFiles) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match &t.ca_cert {
        Some(path) => {
            for cert in certs(path)? {
                roots
                    .add(cert)
                    .with_context(|| format!("{}: not a usable CA certificate", path.display()))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                let _ = roots.add(cert);
            }
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots);
    match (&t.client_cert, &t.client_key) {
        (Some(cert), Some(key)) => {
            let chain = certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("{}: reading a PEM private key", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .context("client certificate and key do not match")
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => bail!("client_cert and client_key go together"),
    }
}

fn certs(path: &PathBuf) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("{}: reading PEM certificates", path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: bad PEM certificate", path.display()))?;
    if certs.is_empty() {
        bail!("{}: no certificate in the file", path.display());
    }
    Ok(certs)
}
