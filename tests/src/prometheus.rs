//! A real Prometheus (and promtool) for tests of what the sensor exposes and of the alert rules
//! written against it: a metric name, label or rule expression is only right if the Prometheus
//! users run accepts it, so tests ask that Prometheus instead of a model of it.
//!
//! [`Prometheus::start`] writes a `prometheus.yml` into a fresh temp dir, runs
//! `$LANNER_PROMETHEUS_BIN` (default `prometheus` on `PATH`; Debian's package is 2.42) on a free
//! loopback port with its TSDB in that dir, and waits for `/-/ready`; dropping it kills the
//! process and removes the dir (if the test is panicking, the log's tail is printed first).
//! Queries, alerts, rules and targets go through the HTTP API ([`http_get`], a minimal
//! HTTP/1.0 client, also for fetching a `/metrics` page). [`promtool_check_metrics`] and
//! [`promtool_check_rules`] run `$LANNER_PROMTOOL_BIN` (default `promtool`). [`wait_for`]
//! polls until a condition holds, reporting the last observation on timeout.

use crate::{TempDir, output_with_input};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long one HTTP exchange may take (connect, then each read or write).
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Interval at which [`wait_for`] polls.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
const INSTALL: &str = "install Debian's `prometheus` package";

/// What to scrape and which rule files to load. [`PrometheusOpts::scraping`] sets the targets;
/// the rest has defaults suited to tests (1 s intervals, job `lanner`, path `/metrics`).
#[derive(Debug, Clone)]
pub struct PrometheusOpts {
    /// `host:port` of each target, all in one job.
    pub targets: Vec<String>,
    pub job: String,
    pub metrics_path: String,
    /// Also the scrape timeout.
    pub scrape_interval: Duration,
    /// Default for rule groups; a group's own `interval:` overrides it.
    pub evaluation_interval: Duration,
    /// Rule files (made absolute: Prometheus resolves relative ones against its config dir).
    pub rule_files: Vec<PathBuf>,
    /// How long Prometheus gets to answer 200 on `/-/ready`.
    pub ready_timeout: Duration,
}

impl Default for PrometheusOpts {
    fn default() -> Self {
        PrometheusOpts {
            targets: Vec::new(),
            job: "lanner".into(),
            metrics_path: "/metrics".into(),
            scrape_interval: Duration::from_secs(1),
            evaluation_interval: Duration::from_secs(1),
            rule_files: Vec::new(),
            ready_timeout: Duration::from_secs(30),
        }
    }
}

impl PrometheusOpts {
    pub fn scraping<S: Into<String>>(targets: impl IntoIterator<Item = S>) -> Self {
        let targets = targets.into_iter().map(Into::into).collect();
        PrometheusOpts {
            targets,
            ..Self::default()
        }
    }
    pub fn with_rule_files<P: Into<PathBuf>>(mut self, files: impl IntoIterator<Item = P>) -> Self {
        self.rule_files.extend(files.into_iter().map(Into::into));
        self
    }
}

type Labels = BTreeMap<String, String>;

/// One element of an instant vector (a scalar result is one sample without labels).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

/// An active alert from `/api/v1/alerts`.
#[derive(Debug, Clone)]
pub struct AlertState {
    /// The `alertname` label.
    pub name: String,
    /// `pending` (waiting out `for:`) or `firing`.
    pub state: String,
    pub labels: Labels,
    pub annotations: Labels,
    /// The expression's value when last evaluated, if Prometheus reported one.
    pub value: Option<f64>,
}

/// A loaded rule from `/api/v1/rules`.
#[derive(Debug, Clone)]
pub struct RuleState {
    pub group: String,
    pub name: String,
    /// `alerting` or `recording`.
    pub kind: String,
    pub query: String,
    /// `ok`, `err` (see `last_error`) or `unknown` (not evaluated yet).
    pub health: String,
    pub last_error: String,
}

/// A scrape target from `/api/v1/targets`.
#[derive(Debug, Clone)]
pub struct Target {
    pub scrape_url: String,
    /// `up`, `down` (see `last_error`) or `unknown` (not scraped yet).
    pub health: String,
    pub last_error: String,
    pub labels: Labels,
}

/// An API answer with `"status": "error"` (`bad_data` for an expression that does not parse).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub error_type: String,
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Prometheus API error ({}): {}",
            self.error_type, self.message
        )
    }
}

impl std::error::Error for ApiError {}

/// A running Prometheus; killed (and its temp dir removed) on drop.
pub struct Prometheus {
    child: Child,
    addr: String,
    expected_targets: usize,
    dir: TempDir,
}

impl Prometheus {
    /// Starts Prometheus with `opts` and waits until it is ready. A port taken between choosing
    /// it and Prometheus binding it (tests run in parallel) is retried with another port.
    pub fn start(opts: &PrometheusOpts) -> Result<Prometheus> {
        for _ in 0..2 {
            match Self::start_once(opts) {
                Err(e) if format!("{e:#}").contains("address already in use") => {}
                other => return other,
            }
        }
        Self::start_once(opts)
    }

    fn start_once(opts: &PrometheusOpts) -> Result<Prometheus> {
        let dir = TempDir::new("prometheus");
        let path = |name: &str| dir.path().join(name).display().to_string();
        fs::write(path("prometheus.yml"), config_yaml(opts)?).context("writing prometheus.yml")?;
        let free = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr());
        let addr = format!("127.0.0.1:{}", free.context("choosing a free port")?.port());
        let log = File::create(path("prometheus.log")).context("creating prometheus.log")?;
        let bin = std::env::var_os("LANNER_PROMETHEUS_BIN").unwrap_or("prometheus".into());
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", path("prometheus.yml")))
            .arg(format!("--storage.tsdb.path={}", path("data")))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--web.enable-lifecycle")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("running {bin:?}: {INSTALL} or set LANNER_PROMETHEUS_BIN"))?;
        let expected_targets = opts.targets.len();
        let mut prom = Prometheus {
            child,
            addr,
            expected_targets,
            dir,
        };
        let deadline = Instant::now() + opts.ready_timeout;
        loop {
            if let Some(status) = prom.child.try_wait()? {
                bail!(
                    "prometheus exited ({status}) before ready; log:\n{}",
                    prom.log_tail(30)
                );
            }
            if http_get(&prom.addr, "/-/ready").is_ok_and(|r| r.status == 200) {
                return Ok(prom);
            }
            if Instant::now() > deadline {
                let (t, log) = (opts.ready_timeout, prom.log_tail(30));
                bail!(
                    "prometheus on {} not ready after {t:?}; log:\n{log}",
                    prom.addr
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `127.0.0.1:port` of the web/API listener.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The temp dir holding `prometheus.yml`, `prometheus.log` and `data/`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `lines` lines of Prometheus's log (stdout and stderr).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(self.dir().join("prometheus.log"))
            .unwrap_or_else(|e| format!("(no log: {e})"));
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// GETs an API path and returns its `data`; an `"status": "error"` answer is an [`ApiError`].
    pub fn api(&self, path: &str) -> Result<Value> {
        let resp = http_get(&self.addr, path)?;
        let what = || format!("GET {path}: HTTP {}: {:.300}", resp.status, resp.body);
        let mut body: Value = serde_json::from_str(&resp.body).with_context(what)?;
        match body["status"].as_str() {
            Some("success") => Ok(body["data"].take()),
            Some("error") => {
                let error_type = str_field(&body, "errorType");
                let message = str_field(&body, "error");
                Err(ApiError {
                    error_type,
                    message,
                })
                .with_context(|| format!("GET {path}"))
            }
            _ => bail!("unexpected answer to {}", what()),
        }
    }

    /// Instant query at the current time. Vector and scalar results only.
    pub fn query(&self, expr: &str) -> Result<Vec<Sample>> {
        let path = format!("/api/v1/query?query={}", url_encode(expr));
        let data = self.api(&path).with_context(|| format!("query `{expr}`"))?;
        let result = &data["result"];
        match data["resultType"].as_str() {
            Some("vector") => array(result)?.iter().map(sample).collect(),
            Some("scalar") => Ok(vec![Sample {
                labels: Labels::new(),
                value: value_at(result)?,
            }]),
            other => bail!("query `{expr}`: unsupported resultType {other:?}"),
        }
    }

    /// Whether `expr` parses (2.42 has no `/api/v1/parse_query`: it is evaluated once). Only a
    /// `bad_data` answer (parse or type error) fails; an expression that parses but fails at
    /// evaluation time (e.g. many-to-many matching) is `Ok`.
    pub fn parse_ok(&self, expr: &str) -> Result<()> {
        let Err(e) = self.query(expr) else {
            return Ok(());
        };
        match e.downcast_ref::<ApiError>() {
            Some(api) if api.error_type != "bad_data" => Ok(()),
            _ => Err(e),
        }
    }

    /// Polls `expr` until `accept` holds for its samples; the timeout error shows the last ones.
    pub fn wait_query(
        &self,
        expr: &str,
        timeout: Duration,
        accept: impl Fn(&[Sample]) -> bool,
    ) -> Result<Vec<Sample>> {
        wait_for(&format!("query `{expr}`"), timeout, || {
            let samples = self.query(expr)?;
            match accept(&samples) {
                true => Ok(Some(samples)),
                false => bail!("not accepted: {samples:?}"),
            }
        })
    }

    pub fn alerts(&self) -> Result<Vec<AlertState>> {
        let data = self.api("/api/v1/alerts")?;
        let alert = |a: &Value| {
            let labels = label_map(&a["labels"]);
            AlertState {
                name: labels.get("alertname").cloned().unwrap_or_default(),
                state: str_field(a, "state"),
                annotations: label_map(&a["annotations"]),
                value: a["value"].as_str().and_then(|v| v.parse().ok()),
                labels,
            }
        };
        Ok(array(&data["alerts"])?.iter().map(alert).collect())
    }

    pub fn rules(&self) -> Result<Vec<RuleState>> {
        let data = self.api("/api/v1/rules")?;
        let mut out = Vec::new();
        for g in array(&data["groups"])? {
            for r in array(&g["rules"])? {
                out.push(RuleState {
                    group: str_field(g, "name"),
                    name: str_field(r, "name"),
                    kind: str_field(r, "type"),
                    query: str_field(r, "query"),
                    health: str_field(r, "health"),
                    last_error: str_field(r, "lastError"),
                });
            }
        }
        Ok(out)
    }

    pub fn targets(&self) -> Result<Vec<Target>> {
        let data = self.api("/api/v1/targets?state=active")?;
        let target = |t: &Value| Target {
            scrape_url: str_field(t, "scrapeUrl"),
            health: str_field(t, "health"),
            last_error: str_field(t, "lastError"),
            labels: label_map(&t["labels"]),
        };
        Ok(array(&data["activeTargets"])?.iter().map(target).collect())
    }

    /// Waits until every configured target has been scraped successfully (health `up`).
    pub fn wait_targets_up(&self, timeout: Duration) -> Result<Vec<Target>> {
        wait_for("all scrape targets up", timeout, || {
            let targets = self.targets()?;
            let down: Vec<_> = targets.iter().filter(|t| t.health != "up").collect();
            if targets.len() == self.expected_targets && down.is_empty() {
                return Ok(Some(targets));
            }
            let (n, expected) = (targets.len(), self.expected_targets);
            bail!("{n} of {expected} targets, not up: {down:?}")
        })
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "prometheus on {}, log tail:\n{}",
                self.addr,
                self.log_tail(40)
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls `poll` every [`POLL_INTERVAL`] until it returns `Ok(Some(_))`. `Ok(None)` and `Err`
/// both mean "not yet"; an `Err` is kept as the last observation and shown if `timeout` passes,
/// so a closure should `bail!` with what it saw rather than return `Ok(None)`.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut poll: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    loop {
        match poll() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = Some(e),
        }
        if Instant::now() >= deadline {
            let last = last.map_or("none (not ready, no error)".into(), |e| format!("{e:#}"));
            bail!("timed out after {timeout:?} waiting for {what}; last observation: {last}");
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// `promtool check metrics` on `text` (an exposition page); its findings are the error.
pub fn promtool_check_metrics(text: &str) -> Result<()> {
    promtool(&["check", "metrics"], Some(text))
}

/// `promtool check rules FILE`.
pub fn promtool_check_rules(path: impl AsRef<Path>) -> Result<()> {
    promtool(&["check", "rules", &path.as_ref().to_string_lossy()], None)
}

fn promtool(args: &[&str], stdin: Option<&str>) -> Result<()> {
    let bin = std::env::var_os("LANNER_PROMTOOL_BIN").unwrap_or("promtool".into());
    let out = output_with_input(Command::new(&bin).args(args), stdin)
        .with_context(|| format!("running {bin:?}: {INSTALL} or set LANNER_PROMTOOL_BIN"))?;
    if !out.status.success() {
        let (o, e) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        bail!(
            "promtool {} failed ({}):\n{o}{e}",
            args.join(" "),
            out.status
        );
    }
    Ok(())
}

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` on `addr` (`host:port`) as HTTP/1.0, so that the server sends the body as is
/// (never chunked) and closes the connection after it.
pub fn http_get(addr: &str, path: &str) -> Result<HttpResponse> {
    let ctx = || format!("GET http://{addr}{path}");
    let sock = addr
        .to_socket_addrs()
        .with_context(ctx)?
        .next()
        .with_context(ctx)?;
    let mut stream = TcpStream::connect_timeout(&sock, HTTP_TIMEOUT).with_context(ctx)?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
    let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(req.as_bytes()).with_context(ctx)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).with_context(ctx)?;
    parse_response(&raw).with_context(ctx)
}

fn parse_response(raw: &[u8]) -> Result<HttpResponse> {
    let text = std::str::from_utf8(raw).context("response not UTF-8")?;
    let (head, body) = text.split_once("\r\n\r\n").context("no end of headers")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok());
    let status = status.with_context(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let resp = HttpResponse {
        status,
        headers,
        body: body.to_string(),
    };
    if let Some(te) = resp.header("transfer-encoding") {
        bail!("Transfer-Encoding {te:?} in the answer to an HTTP/1.0 request");
    }
    if let Some(len) = resp.header("content-length")
        && len.parse() != Ok(resp.body.len())
    {
        bail!("body of {} bytes, Content-Length {len}", resp.body.len());
    }
    Ok(resp)
}

/// Percent-encodes everything but RFC 3986's unreserved characters (for a query parameter).
pub fn url_encode(s: &str) -> String {
    let keep = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    s.bytes()
        .map(|b| {
            if keep(b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn config_yaml(opts: &PrometheusOpts) -> Result<String> {
    // Strings are written JSON-quoted: valid YAML, and any character is safe.
    let q = |s: &str| Value::from(s).to_string();
    let (scrape, eval) = (
        opts.scrape_interval.as_millis(),
        opts.evaluation_interval.as_millis(),
    );
    let mut y = format!("global:\n  scrape_interval: {scrape}ms\n  scrape_timeout: {scrape}ms\n");
    y += &format!("  evaluation_interval: {eval}ms\nrule_files:\n");
    for f in &opts.rule_files {
        let abs = std::path::absolute(f).with_context(|| format!("rule file {}", f.display()))?;
        y += &format!("  - {}\n", q(&abs.to_string_lossy()));
    }
    let targets: Vec<String> = opts.targets.iter().map(|t| q(t)).collect();
    y += &format!("scrape_configs:\n  - job_name: {}\n", q(&opts.job));
    y += &format!("    metrics_path: {}\n", q(&opts.metrics_path));
    y += &format!(
        "    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    );
    Ok(y)
}

fn array(v: &Value) -> Result<&Vec<Value>> {
    v.as_array().with_context(|| format!("not an array: {v}"))
}

fn str_field(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

fn label_map(v: &Value) -> Labels {
    let obj = v.as_object().into_iter().flatten();
    obj.map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// `[<unix time>, "<value>"]`; values are strings so that NaN and ±Inf survive JSON.
fn value_at(v: &Value) -> Result<f64> {
    let s = v[1]
        .as_str()
        .with_context(|| format!("not a [time, \"value\"] pair: {v}"))?;
    s.parse().with_context(|| format!("sample value {s:?}"))
}

fn sample(v: &Value) -> Result<Sample> {
    Ok(Sample {
        labels: label_map(&v["metric"]),
        value: value_at(&v["value"])?,
    })
}
