//! The HTTP client of the network sinks: HTTP/1.1 with keep-alive (a pool per sink), TLS by
//! rustls with the system's roots or a given CA, and a client certificate for mutual TLS.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Uri, header::HeaderValue};
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

/// A response: status and body text.
pub struct Reply {
    pub status: u16,
    pub body: String,
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
            .build(https);
        Ok(Self { client, timeout })
    }

    /// POST `body`; an error is a transport failure (no response), to be retried.
    pub async fn post(
        &self,
        uri: &Uri,
        headers: &[(&'static str, HeaderValue)],
        body: Bytes,
    ) -> Result<Reply, String> {
        let mut req = Request::post(uri.clone());
        for (k, v) in headers {
            req = req.header(*k, v.clone());
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| format!("request: {e}"))?;
        let call = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("{e:?}"))?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the response: {e}"))?
                .to_bytes();
            Ok(Reply {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(format!("no response within {:?}", self.timeout)),
        }
    }
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
