//! Where alerts go besides stdout: a file, Fluentd's `in_http`, Elasticsearch's `_bulk`.
//! Each sink runs on its own task behind a bounded queue (or an on-disk spool), so a slow or
//! down sink never blocks capture, stdout or the other sinks (`deliver.rs`).

pub mod config;
pub mod deliver;
pub mod elasticsearch;
pub mod file;
pub mod http;
pub mod record;
pub mod spool;
pub mod stats;
pub mod target;

use std::sync::{Arc, atomic::Ordering::Relaxed};

use anyhow::Context as _;
use base64::Engine as _;
use hyper::header::HeaderValue;
use tokio::sync::{Notify, mpsc, watch};

pub use record::Record;

use config::SinksConfig;
use deliver::{Delivery, Input, Policy, SinkHandle, Source};
use stats::SinkStats;
use target::{ElasticTarget, FileTarget, FluentdTarget, Target};

/// The running sinks: the output thread's handles and each sink's counters.
pub struct Sinks {
    pub handles: Vec<SinkHandle>,
    pub stats: Vec<(String, Arc<SinkStats>)>,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Start the enabled sinks; errors name the key or file at fault.
pub fn start(cfg: &SinksConfig, stop: &watch::Receiver<bool>) -> anyhow::Result<Sinks> {
    let mut targets: Vec<(&str, Target, bool)> = Vec::new();
    if cfg.file.enabled {
        let f = &cfg.file;
        // Opened now: a path that cannot be a regular file (a directory, a FIFO, a missing
        // directory) fails the start instead of being retried forever.
        let file = file::FileSink::open(f.filename.clone(), f.max_size_bytes, f.keep)
            .context("file_output.filename")?;
        targets.push(("file", Target::File(FileTarget::new(file)), false));
    }
    if cfg.http.enabled {
        let h = &cfg.http;
        let uri = h
            .url
            .parse()
            .with_context(|| format!("http_output.url '{}'", h.url))?;
        let t = FluentdTarget::new(uri, h.batch, &h.user_agent, &h.tls, h.timeout)
            .context("http_output")?;
        targets.push(("http", Target::Fluentd(t), true));
    }
    if cfg.elastic.enabled {
        let e = &cfg.elastic;
        let url = format!("{}/_bulk", e.url.trim_end_matches('/'));
        let uri = url
            .parse()
            .with_context(|| format!("elasticsearch_output.url '{}'", e.url))?;
        let auth = match (&e.username, &e.password, &e.api_key) {
            (Some(u), Some(p), _) => {
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                Some(format!("Basic {token}"))
            }
            (_, _, Some(k)) => Some(format!("ApiKey {k}")),
            _ => None,
        };
        let auth = auth
            .map(|a| HeaderValue::from_str(&a))
            .transpose()
            .context("elasticsearch_output: credentials are not valid in a header")?;
        let t = ElasticTarget::new(uri, e.format.clone(), auth, &e.tls, e.timeout)
            .context("elasticsearch_output")?;
        targets.push(("elasticsearch", Target::Elastic(t), true));
    }
    let policy = Policy {
        max_batch: cfg.max_batch,
        backoff_max: cfg.backoff_max,
        drain: cfg.drain,
        ..Policy::default()
    };
    let mut sinks = Sinks {
        handles: Vec::new(),
        stats: Vec::new(),
        tasks: Vec::new(),
    };
    for (name, target, network) in targets {
        let stats = Arc::new(SinkStats::default());
        let (input, source) = if network && cfg.spool.enabled {
            let dir = cfg.spool.directory.join(name);
            let (w, r) = spool::open(&dir, cfg.spool.max_bytes)
                .with_context(|| format!("spool of sink {name} (spool.directory)"))?;
            stats.spool_bytes.store(w.bytes(), Relaxed);
            let notify = Arc::new(Notify::new());
            (Input::Spool(w, notify.clone()), Source::Spool(r, notify))
        } else {
            let (tx, rx) = mpsc::channel(cfg.spool.memory_queue);
            let max_bytes = cfg.spool.memory_queue_bytes;
            (Input::Memory(tx, max_bytes), Source::Memory(rx))
        };
        let delivery = Delivery {
            name: name.to_string(),
            target,
            source,
            stats: stats.clone(),
            policy,
        };
        sinks.tasks.push(tokio::spawn(delivery.run(stop.clone())));
        sinks
            .handles
            .push(SinkHandle::new(name.to_string(), input, stats.clone()));
        sinks.stats.push((name.to_string(), stats));
        log::info!("alerts also go to the {name} sink");
    }
    Ok(sinks)
}
