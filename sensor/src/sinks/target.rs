//! What each sink does with a batch: write it to a file, POST it to Fluentd's `in_http`, or
//! send it to Elasticsearch's `_bulk`. The delivery loop (`deliver.rs`) handles queues,
//! retries and counting; a target only reports, per record, what happened.

use std::{path::PathBuf, time::Duration};

use bytes::Bytes;
use hyper::{Uri, header::HeaderValue};

use super::{
    Record,
    elasticsearch::{self, BulkError, EsFormat, ItemOutcome},
    file::FileSink,
    http::{HttpClient, TlsFiles},
};

/// The fate of one record of a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Delivered,
    /// Try again later (the receiver was busy).
    Retry(String),
    /// Will never be accepted (e.g. a document Elasticsearch cannot map): counted, logged,
    /// not resent, so it cannot block the records behind it.
    Rejected(String),
}

/// The whole batch failed (no answer, or an answer about the request as a whole): resend it
/// after a backoff. `lasting` marks failures a retry alone will not fix (bad credentials, a
/// wrong URL): logged as errors, still retried so a fixed receiver gets everything.
#[derive(Clone, Debug)]
pub struct Failure {
    pub reason: String,
    pub lasting: bool,
}

impl Failure {
    fn transient(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            lasting: false,
        }
    }
}

pub enum Target {
    File(FileTarget),
    Fluentd(FluentdTarget),
    Elastic(ElasticTarget),
}

impl Target {
    pub async fn send(&mut self, batch: &[Record]) -> Result<Vec<Item>, Failure> {
        match self {
            Target::File(t) => t.send(batch).await,
            Target::Fluentd(t) => t.send(batch).await,
            Target::Elastic(t) => t.send(batch).await,
        }
    }
}

pub struct FileTarget {
    pub path: PathBuf,
    pub max_bytes: u64,
    pub keep: usize,
    file: Option<FileSink>,
}

impl FileTarget {
    pub fn new(path: PathBuf, max_bytes: u64, keep: usize) -> Self {
        Self {
            path,
            max_bytes,
            keep,
            file: None,
        }
    }

    async fn send(&mut self, batch: &[Record]) -> Result<Vec<Item>, Failure> {
        let mut file = match self.file.take() {
            Some(f) => f,
            None => FileSink::open(self.path.clone(), self.max_bytes, self.keep)
                .map_err(|e| Failure::transient(e.to_string()))?,
        };
        let lines: Vec<String> = batch.iter().map(|r| r.json.clone()).collect();
        // File writes block: off the runtime's workers.
        let (file, result) = tokio::task::spawn_blocking(move || {
            let r = lines
                .iter()
                .try_for_each(|l| file.write_line(l))
                .and_then(|()| file.flush());
            (file, r)
        })
        .await
        .map_err(|e| Failure::transient(format!("file writer task: {e}")))?;
        match result {
            Ok(()) => {
                self.file = Some(file);
                Ok(vec![Item::Delivered; batch.len()])
            }
            // Reopen next time (the disk may come back); the batch is retried whole, so a
            // line written before the error may appear twice.
            Err(e) => Err(Failure::transient(e.to_string())),
        }
    }
}

/// Fluentd's `in_http`: `POST <url>` (the path is the tag, `/falco.alerts` by default), one
/// JSON object per request, or a JSON array of them when `batch` is on.
pub struct FluentdTarget {
    pub uri: Uri,
    pub batch: bool,
    user_agent: HeaderValue,
    client: HttpClient,
}

impl FluentdTarget {
    pub fn new(
        uri: Uri,
        batch: bool,
        user_agent: &str,
        tls: &TlsFiles,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            uri,
            batch,
            user_agent: HeaderValue::from_str(user_agent)?,
            client: HttpClient::new(tls, timeout)?,
        })
    }

    async fn send(&mut self, batch: &[Record]) -> Result<Vec<Item>, Failure> {
        let headers = [
            ("content-type", HeaderValue::from_static("application/json")),
            ("user-agent", self.user_agent.clone()),
        ];
        if self.batch {
            let body = format!(
                "[{}]",
                batch
                    .iter()
                    .map(|r| r.json.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let item = self.post(&headers, body).await?;
            return Ok(vec![item; batch.len()]);
        }
        let mut items = Vec::with_capacity(batch.len());
        for (i, r) in batch.iter().enumerate() {
            match self.post(&headers, r.json.clone()).await {
                Ok(item) => items.push(item),
                // Records already accepted stay delivered; the rest are retried.
                Err(f) if i > 0 => {
                    items.extend((i..batch.len()).map(|_| Item::Retry(f.reason.clone())));
                    break;
                }
                Err(f) => return Err(f),
            }
        }
        Ok(items)
    }

    async fn post(
        &self,
        headers: &[(&'static str, HeaderValue)],
        body: String,
    ) -> Result<Item, Failure> {
        let reply = self
            .client
            .post(&self.uri, headers, Bytes::from(body))
            .await
            .map_err(Failure::transient)?;
        match reply.status {
            200..=299 => Ok(Item::Delivered),
            // Fluentd answers 400 for a body it cannot parse: resending will not help.
            400 => Ok(Item::Rejected(format!("400 {}", reply.body.trim()))),
            s @ (401 | 403 | 404) => Err(Failure {
                reason: format!("{s} {}", reply.body.trim()),
                lasting: true,
            }),
            s => Err(Failure::transient(format!("{s} {}", reply.body.trim()))),
        }
    }
}

/// Elasticsearch's `_bulk` with `create` and deterministic ids (a resent alert is a 409, not a
/// duplicate document), per-item outcomes.
pub struct ElasticTarget {
    pub uri: Uri,
    pub format: EsFormat,
    /// `Authorization` header value (`Basic …` or `ApiKey …`), if any.
    pub auth: Option<HeaderValue>,
    client: HttpClient,
}

impl ElasticTarget {
    pub fn new(
        uri: Uri,
        format: EsFormat,
        auth: Option<HeaderValue>,
        tls: &TlsFiles,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            uri,
            format,
            auth,
            client: HttpClient::new(tls, timeout)?,
        })
    }

    async fn send(&mut self, batch: &[Record]) -> Result<Vec<Item>, Failure> {
        match self.bulk(batch).await {
            // The request as a whole cannot succeed (too large, or malformed): send the
            // records one by one, so only the one at fault is rejected.
            Err(BulkError::Fatal { status, reason }) if batch.len() > 1 => {
                log::warn!(
                    "elasticsearch: bulk of {} refused ({status} {reason}); sending one by one",
                    batch.len()
                );
                let mut items = Vec::with_capacity(batch.len());
                for r in batch {
                    items.push(match self.bulk(std::slice::from_ref(r)).await {
                        Ok(mut one) => one.pop().unwrap_or(Item::Retry("no outcome".into())),
                        Err(BulkError::Fatal { status, reason }) => {
                            Item::Rejected(format!("{status} {reason}"))
                        }
                        Err(e) => Item::Retry(e.to_string()),
                    });
                }
                Ok(items)
            }
            Err(BulkError::Fatal { status, reason }) => {
                Ok(vec![Item::Rejected(format!("{status} {reason}"))])
            }
            Err(e @ BulkError::Retry { status, .. }) => Err(Failure {
                reason: e.to_string(),
                lasting: matches!(status, 401 | 403 | 404),
            }),
            Ok(items) => Ok(items),
        }
    }

    /// One `_bulk` request; a transport failure is a retryable [`BulkError`] (status 0).
    async fn bulk(&mut self, batch: &[Record]) -> Result<Vec<Item>, BulkError> {
        let (body, unencodable) = elasticsearch::bulk_body(&self.format, batch);
        let encoded: Vec<usize> = (0..batch.len())
            .filter(|i| !unencodable.contains(i))
            .collect();
        let mut items = vec![Item::Rejected("not a JSON object".into()); batch.len()];
        if encoded.is_empty() {
            return Ok(items);
        }
        let mut headers = vec![(
            "content-type",
            HeaderValue::from_static("application/x-ndjson"),
        )];
        if let Some(a) = &self.auth {
            headers.push(("authorization", a.clone()));
        }
        let reply = self
            .client
            .post(&self.uri, &headers, Bytes::from(body))
            .await
            .map_err(|reason| BulkError::Retry { status: 0, reason })?;
        let outcomes =
            elasticsearch::parse_bulk_response(reply.status, &reply.body, encoded.len())?;
        for (pos, outcome) in encoded.into_iter().zip(outcomes) {
            items[pos] = match outcome {
                ItemOutcome::Stored | ItemOutcome::Duplicate => Item::Delivered,
                ItemOutcome::Retry { status, reason } => Item::Retry(format!("{status} {reason}")),
                ItemOutcome::Rejected { status, reason } => {
                    Item::Rejected(format!("{status} {reason}"))
                }
            };
        }
        Ok(items)
    }
}
