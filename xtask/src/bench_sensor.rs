//! The release sensor as the pipeline benchmark runs it (`bench_pipeline`, `bench_latency`):
//! started in the background and known to be attached, stopped with its counters.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::util::{self, failure_line, wait_ready};

/// `-r PATH` for each rules file.
pub fn rules_args(paths: &[PathBuf]) -> Vec<OsString> {
    paths
        .iter()
        .flat_map(|p| [OsString::from("-r"), p.clone().into_os_string()])
        .collect()
}

/// A release sensor started in the background, attached once `start` returns.
pub struct Sensor {
    pub child: Child,
    ready: PathBuf,
    stats: PathBuf,
    stderr: PathBuf,
    pub command: String,
}

impl Sensor {
    /// `lanner ARGS --ready-file … --stats-file … -o exporter.listen_address=127.0.0.1:0`,
    /// stdout as given, stderr to `dir/NAME.stderr`.
    pub fn start(
        lanner: &Path,
        args: &[OsString],
        dir: &Path,
        name: &str,
        stdout: Stdio,
    ) -> Result<Sensor> {
        let ready = dir.join(format!("{name}.ready"));
        let stats = dir.join(format!("{name}.stats.json"));
        let stderr = dir.join(format!("{name}.stderr"));
        let _ = std::fs::remove_file(&ready);
        let mut c = util::cmd(lanner);
        c.args(args)
            .args(["-o", "exporter.listen_address=127.0.0.1:0", "--ready-file"])
            .arg(&ready)
            .arg("--stats-file")
            .arg(&stats)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(std::fs::File::create(&stderr)?);
        let command = util::display(&c);
        let mut child = c
            .spawn()
            .with_context(|| format!("cannot start `{command}`"))?;
        if let Err(e) = wait_ready(&mut child, Duration::from_secs(120), "ready file", || {
            ready.exists()
        }) {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{e:#}: {}", failure_line(&stderr).unwrap_or_default());
        }
        Ok(Sensor {
            child,
            ready,
            stats,
            stderr,
            command,
        })
    }

    /// Where its metrics endpoint listens (the ready file says).
    pub fn metrics_addr(&self) -> Result<SocketAddr> {
        let text = std::fs::read_to_string(&self.ready).context("ready file")?;
        let v: Value = serde_json::from_str(&text).context("ready file")?;
        v["metrics"]
            .as_str()
            .context("no metrics endpoint in the ready file")?
            .parse()
            .context("metrics address")
    }

    /// SIGINT, then the stats file it wrote.
    pub fn stop(mut self) -> Result<Value> {
        let status = util::stop(&mut self.child, libc::SIGINT, Duration::from_secs(30))?;
        if !status.success() {
            bail!(
                "lanner exited with {status}: {}",
                failure_line(&self.stderr).unwrap_or_default()
            );
        }
        let text = std::fs::read_to_string(&self.stats).context("stats file")?;
        serde_json::from_str(&text).context("stats file")
    }
}

/// Events the sensor read (all kinds) and lost (all kinds and reasons), from its stats.
pub fn stats_events(stats: &Value) -> (u64, u64) {
    let sum = |v: &Value| -> u64 {
        v.as_object().map_or(0, |m| {
            m.values()
                .map(|x| x.as_u64().unwrap_or_else(|| sum_nested(x)))
                .sum()
        })
    };
    (sum(&stats["events"]), sum(&stats["lost"]))
}

fn sum_nested(v: &Value) -> u64 {
    v.as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

/// A loopback port nothing listens on (bound, then released): connects get ECONNREFUSED.
pub fn closed_port() -> Result<SocketAddr> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?)
}
