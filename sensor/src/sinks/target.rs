//! What each sink does with a batch: write it to a file, POST it to Fluentd's `in_http`, or
//! send it to Elasticsearch's `_bulk`. The delivery loop (`deliver.rs`) handles queues,
//! retries and counting; a target only reports, per record, what happened.

use std::time::Duration;

use bytes::Bytes;
use hyper::{Uri, header::HeaderValue};

use super::{
    Record,
    elasticsearch::{self, BulkError, EsFormat, ItemOutcome},
    file::FileSink,
    http::{BodyBudget, HttpClient, HttpError, TlsFiles},
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
    /// Could not be written and will not be tried again (the file output's disk failed the
    /// write): counted as dropped, the sink backs off before its next batch.
    Dropped(String),
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

impl From<HttpError> for Failure {
    fn from(e: HttpError) -> Self {
        Self {
            lasting: matches!(e, HttpError::TooLarge { .. }),
            reason: e.to_string(),
        }
    }
}

/// What of Fluentd's answer is read: its status is the answer (in_http sends an empty body).
const FLUENTD_BODY: BodyBudget = BodyBudget::Snippet(4 << 10);

/// What of a `_bulk` answer is read: its items, a few hundred bytes per document (more with an
/// error's reason), plus room for a proxy's error page.
fn bulk_budget(docs: usize) -> BodyBudget {
    BodyBudget::Whole((1 << 20) + docs.saturating_mul(4 << 10))
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
    /// Away on the blocking thread during a write (gone only if that thread panicked).
    file: Option<FileSink>,
}

impl FileTarget {
    /// Writes to `file`, opened at start (so that a path that cannot be a file fails it).
    pub fn new(file: FileSink) -> Self {
        Self { file: Some(file) }
    }

    /// Each line is written whole or not at all; the lines after a failed write are dropped
    /// (a full disk is not retried for each alert: the loop backs off before the next batch).
    async fn send(&mut self, batch: &[Record]) -> Result<Vec<Item>, Failure> {
        let Some(mut file) = self.file.take() else {
            return Err(Failure {
                reason: "the file writer was lost".into(),
                lasting: true,
            });
        };
        let lines: Vec<String> = batch.iter().map(|r| r.json.clone()).collect();
        // File writes block: off the runtime's workers.
        let (file, written, error) = tokio::task::spawn_blocking(move || {
            let (written, error) = file.write_lines(&lines);
            (file, written, error)
        })
        .await
        .map_err(|e| Failure::transient(format!("file writer task: {e}")))?;
        self.file = Some(file);
        let mut items = vec![Item::Delivered; written];
        if let Some(e) = error {
            items.resize(batch.len(), Item::Dropped(e.to_string()));
        }
        Ok(items)
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
            .post(&self.uri, headers, Bytes::from(body), FLUENTD_BODY)
            .await?;
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
                // Setup problems, and 2xx answers that could not be used (unreadable, or
                // past their budget): a broken receiver or proxy.
                lasting: matches!(status, 200..=299 | 401 | 403 | 404),
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
        // An answer past its budget is a retryable failure of the whole request: whether
        // the documents were stored is unknown, and sending them again is safe (`create` with
        // fixed ids: what is already stored answers 409, which counts as delivered).
        let reply = self
            .client
            .post(
                &self.uri,
                &headers,
                Bytes::from(body),
                bulk_budget(encoded.len()),
            )
            .await
            .map_err(|e| BulkError::Retry {
                status: match e {
                    HttpError::TooLarge { status, .. } => status,
                    HttpError::Transport(_) => 0,
                },
                reason: e.to_string(),
            })?;
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
