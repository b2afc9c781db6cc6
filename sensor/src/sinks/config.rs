//! The sinks' configuration keys, in falco.yaml's style (`file_output`, `http_output`) plus
//! Lanner's `elasticsearch_output` and `spool`. Given as maps or dotted keys (`-o
//! http_output.url=http://fluentd:9880/falco.alerts`).

use std::{path::PathBuf, time::Duration};

use anyhow::{Context as _, bail};
use yaml_rust2::Yaml;

use super::{
    elasticsearch::{EsFormat, IndexSuffix},
    http::TlsFiles,
};
use crate::config::{boolean, non_negative, seconds, string};

#[derive(Clone, Debug, PartialEq)]
pub struct FileOutput {
    pub enabled: bool,
    pub filename: PathBuf,
    /// Rotate past this size (0: never).
    pub max_size_bytes: u64,
    /// Rotated files kept.
    pub keep: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HttpOutput {
    pub enabled: bool,
    /// Fluentd's `in_http`: the path is the tag.
    pub url: String,
    /// One JSON array per request instead of one object per request.
    pub batch: bool,
    pub user_agent: String,
    pub tls: TlsFiles,
    pub timeout: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ElasticOutput {
    pub enabled: bool,
    /// Base URL; `/_bulk` is appended.
    pub url: String,
    pub format: EsFormat,
    pub username: Option<String>,
    pub password: Option<String>,
    pub api_key: Option<String>,
    pub tls: TlsFiles,
    pub timeout: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Spool {
    /// Network sinks queue on disk (at-least-once across outages and restarts).
    pub enabled: bool,
    pub directory: PathBuf,
    pub max_bytes: u64,
    /// Without the spool: records a sink's memory queue holds before dropping (counted).
    pub memory_queue: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SinksConfig {
    pub file: FileOutput,
    pub http: HttpOutput,
    pub elastic: ElasticOutput,
    pub spool: Spool,
    pub max_batch: usize,
    /// Longest wait between retries (the backoff doubles up to it).
    pub backoff_max: Duration,
    /// At shutdown, how long the sinks keep delivering what is queued.
    pub drain: Duration,
}

impl Default for SinksConfig {
    fn default() -> Self {
        let timeout = Duration::from_secs(10);
        Self {
            file: FileOutput {
                enabled: false,
                filename: PathBuf::from("/var/log/lanner/alerts.json"),
                max_size_bytes: 100 << 20,
                keep: 5,
            },
            http: HttpOutput {
                enabled: false,
                url: "http://localhost:9880/falco.alerts".into(),
                batch: false,
                user_agent: concat!("lanner/", env!("CARGO_PKG_VERSION")).into(),
                tls: TlsFiles::default(),
                timeout,
            },
            elastic: ElasticOutput {
                enabled: false,
                url: "http://localhost:9200".into(),
                format: EsFormat::default(),
                username: None,
                password: None,
                api_key: None,
                tls: TlsFiles::default(),
                timeout,
            },
            spool: Spool {
                enabled: false,
                directory: PathBuf::from("/var/lib/lanner/spool"),
                max_bytes: 1 << 30,
                memory_queue: 10_000,
            },
            max_batch: 500,
            backoff_max: Duration::from_secs(30),
            drain: Duration::from_secs(10),
        }
    }
}

/// Section names whose map form sets `<section>.<key>`.
pub const SECTIONS: [&str; 4] = [
    "file_output",
    "http_output",
    "elasticsearch_output",
    "spool",
];

pub const KEYS: &[(&str, &str)] = &[
    ("file_output.enabled", "bool"),
    (
        "file_output.filename",
        "path of the alerts file (JSON lines)",
    ),
    (
        "file_output.max_size_bytes",
        "rotate past this size (0: never; default 100 MiB)",
    ),
    ("file_output.keep", "rotated files kept (default 5)"),
    ("http_output.enabled", "bool"),
    (
        "http_output.url",
        "Fluentd in_http URL, path = tag (http://localhost:9880/falco.alerts)",
    ),
    ("http_output.batch", "bool: a JSON array per request"),
    ("http_output.user_agent", "string"),
    ("http_output.ca_cert", "PEM CA file (alias ca_bundle)"),
    ("http_output.client_cert", "PEM client certificate (mTLS)"),
    ("http_output.client_key", "PEM client key (mTLS)"),
    ("http_output.timeout_seconds", "number"),
    ("elasticsearch_output.enabled", "bool"),
    (
        "elasticsearch_output.url",
        "base URL (http://localhost:9200)",
    ),
    ("elasticsearch_output.index", "index prefix (falco)"),
    ("elasticsearch_output.suffix", "daily | none"),
    (
        "elasticsearch_output.flatten_fields",
        "bool: output_fields keys with _ for .",
    ),
    ("elasticsearch_output.username", "basic auth"),
    ("elasticsearch_output.password", "basic auth"),
    ("elasticsearch_output.api_key", "API key (base64 id:key)"),
    ("elasticsearch_output.ca_cert", "PEM CA file"),
    ("elasticsearch_output.client_cert", "PEM client certificate"),
    ("elasticsearch_output.client_key", "PEM client key"),
    ("elasticsearch_output.timeout_seconds", "number"),
    ("spool.enabled", "bool: network sinks queue on disk"),
    ("spool.directory", "path (/var/lib/lanner/spool)"),
    ("spool.max_bytes", "per sink (1 GiB)"),
    (
        "spool.memory_queue",
        "records per sink without the spool (10000)",
    ),
    ("sinks.max_batch", "records per request (500)"),
    (
        "sinks.backoff_max_seconds",
        "longest wait between retries (30)",
    ),
    ("sinks.drain_seconds", "delivery time left at shutdown (10)"),
];

fn path(v: &Yaml) -> anyhow::Result<PathBuf> {
    Ok(PathBuf::from(string(v)?))
}

fn count(v: &Yaml) -> anyhow::Result<u64> {
    let n = non_negative(v)?;
    if n.fract() != 0.0 {
        bail!("expected a whole number");
    }
    Ok(n as u64)
}

fn tls(t: &mut TlsFiles, key: &str, v: &Yaml) -> anyhow::Result<bool> {
    match key {
        "ca_cert" | "ca_bundle" => t.ca_cert = Some(path(v)?),
        "client_cert" => t.client_cert = Some(path(v)?),
        "client_key" => t.client_key = Some(path(v)?),
        _ => return Ok(false),
    }
    Ok(true)
}

impl SinksConfig {
    /// Set `key` (dotted); `Ok(false)` when it is not a sink key.
    pub fn set(&mut self, key: &str, v: &Yaml) -> anyhow::Result<bool> {
        let Some((section, k)) = key.split_once('.') else {
            return Ok(false);
        };
        let known = match section {
            "file_output" => {
                let f = &mut self.file;
                match k {
                    "enabled" => f.enabled = boolean(v)?,
                    "filename" => f.filename = path(v)?,
                    "max_size_bytes" => f.max_size_bytes = count(v)?,
                    "keep" => f.keep = count(v)? as usize,
                    // falco.yaml's: the file stays open either way.
                    "keep_alive" => {
                        boolean(v)?;
                    }
                    _ => return unknown(key),
                }
                true
            }
            "http_output" => {
                let h = &mut self.http;
                match k {
                    "enabled" => h.enabled = boolean(v)?,
                    "url" => h.url = string(v)?,
                    "batch" => h.batch = boolean(v)?,
                    "user_agent" => h.user_agent = string(v)?,
                    "timeout_seconds" => h.timeout = seconds(v)?,
                    "keep_alive" => {
                        boolean(v)?;
                    }
                    _ if tls(&mut h.tls, k, v)? => {}
                    _ => return unknown(key),
                }
                true
            }
            "elasticsearch_output" => {
                let e = &mut self.elastic;
                match k {
                    "enabled" => e.enabled = boolean(v)?,
                    "url" | "hostport" => e.url = string(v)?,
                    "index" => e.format.index_prefix = string(v)?,
                    "suffix" => {
                        e.format.suffix = match string(v)?.as_str() {
                            "daily" => IndexSuffix::Daily,
                            "none" => IndexSuffix::None,
                            s => bail!("'{s}' is not daily or none"),
                        }
                    }
                    "flatten_fields" | "flattenfields" => e.format.flatten = boolean(v)?,
                    "username" => e.username = Some(string(v)?),
                    "password" => e.password = Some(string(v)?),
                    "api_key" | "apikey" => e.api_key = Some(string(v)?),
                    "timeout_seconds" => e.timeout = seconds(v)?,
                    _ if tls(&mut e.tls, k, v)? => {}
                    _ => return unknown(key),
                }
                true
            }
            "spool" => {
                let s = &mut self.spool;
                match k {
                    "enabled" => s.enabled = boolean(v)?,
                    "directory" => s.directory = path(v)?,
                    "max_bytes" => s.max_bytes = count(v)?,
                    "memory_queue" => s.memory_queue = count(v)?.max(1) as usize,
                    _ => return unknown(key),
                }
                true
            }
            "sinks" => {
                match k {
                    "max_batch" => self.max_batch = count(v)?.max(1) as usize,
                    "backoff_max_seconds" => {
                        self.backoff_max = seconds(v)?.max(Duration::from_millis(10))
                    }
                    "drain_seconds" => self.drain = seconds(v)?,
                    _ => return unknown(key),
                }
                true
            }
            _ => false,
        };
        Ok(known)
    }

    /// Checks that need more than one key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.http.enabled {
            self.http
                .url
                .parse::<hyper::Uri>()
                .with_context(|| format!("http_output.url: '{}' is not a URL", self.http.url))?;
        }
        if self.elastic.enabled {
            let e = &self.elastic;
            format!("{}/_bulk", e.url.trim_end_matches('/'))
                .parse::<hyper::Uri>()
                .with_context(|| format!("elasticsearch_output.url: '{}' is not a URL", e.url))?;
            if e.api_key.is_some() && (e.username.is_some() || e.password.is_some()) {
                bail!("elasticsearch_output: api_key and username/password exclude each other");
            }
            if e.username.is_some() != e.password.is_some() {
                bail!("elasticsearch_output: username and password go together");
            }
        }
        Ok(())
    }
}

fn unknown(key: &str) -> anyhow::Result<bool> {
    let (section, _) = key.split_once('.').unwrap_or((key, ""));
    let known: Vec<&str> = KEYS
        .iter()
        .filter_map(|(k, _)| k.strip_prefix(section)?.strip_prefix('.'))
        .collect();
    bail!("unknown key '{key}'; {section} takes: {}", known.join(", "))
}
