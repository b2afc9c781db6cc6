//! The sensor process under test: start, wait for events, stop.

use crate::{Stats, assert_schema, unique, wait_or_kill};
use serde_json::Value;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Default time a test waits for one event.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(15);
/// Time the sensor gets to create its ready file (override: `LANNER_READY_TIMEOUT_SECS`;
/// several sensors loading their programs at once on 2 cores can take a while).
pub fn ready_timeout() -> Duration {
    let secs = std::env::var("LANNER_READY_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok());
    Duration::from_secs(secs.unwrap_or(60))
}
/// Time the sensor gets to exit after SIGINT/SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Path of the sensor binary under test.
pub fn lanner_bin() -> PathBuf {
    match std::env::var_os("LANNER_BIN") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/lanner"),
    }
}

type Shared<T> = Arc<Mutex<T>>;

/// How [`Sensor::launch`] starts the sensor.
#[derive(Debug, Default, Clone, Copy)]
pub struct Launch<'a> {
    /// Run through this command: `wrapper[0] wrapper[1..] lanner …` (e.g. `setpriv`, `prlimit`).
    pub wrapper: &'a [&'a str],
    /// Extra command-line arguments.
    pub args: &'a [&'a str],
    /// Keep stdout a pipe that nobody reads (a blocked log shipper): no events are collected.
    pub leave_stdout_unread: bool,
    /// Without `--dump-events`: stdout has the alerts only, and the hooks are attached as the
    /// rules need them (the production configuration).
    pub alerts_only: bool,
}

pub struct Sensor {
    child: Option<Child>,
    pid: u32,
    dir: PathBuf,
    /// The stdout pipe, held open and unread ([`Launch::leave_stdout_unread`]).
    _unread_stdout: Option<std::process::ChildStdout>,
    events: Shared<Vec<Value>>,
    bad_lines: Shared<Vec<String>>,
    stderr: Shared<String>,
    readers: Vec<JoinHandle<()>>,
}

impl Sensor {
    /// `lanner --dump-events --ready-file .. --stats-file ..`, waiting until it is ready.
    #[track_caller]
    pub fn start() -> Sensor {
        Sensor::start_with(&[])
    }

    /// Like [`Sensor::start`] with extra command-line arguments.
    #[track_caller]
    pub fn start_with(extra: &[&str]) -> Sensor {
        Sensor::start_via(&[], extra)
    }

    /// Like [`Sensor::start_with`], run through `wrapper` (e.g. `setpriv` with a reduced
    /// capability set): `wrapper[0] wrapper[1..] lanner …`.
    #[track_caller]
    pub fn start_via(wrapper: &[&str], extra: &[&str]) -> Sensor {
        let mut sensor = Sensor::launch(Launch {
            wrapper,
            args: extra,
            ..Launch::default()
        });
        sensor.wait_ready();
        sensor
    }

    /// Starts the sensor as `launch` says and returns at once, before it is ready (see
    /// [`Sensor::wait_ready`]).
    #[track_caller]
    pub fn launch(launch: Launch<'_>) -> Sensor {
        let (wrapper, extra) = (launch.wrapper, launch.args);
        let bin = lanner_bin();
        assert!(
            bin.exists(),
            "sensor binary {} not found: build it (release) or set LANNER_BIN",
            bin.display()
        );
        let dir = std::env::temp_dir().join(unique("sensor"));
        fs::create_dir_all(&dir).unwrap();
        let ready = dir.join("ready");
        // Sensors of parallel tests must not fight over port 9376: an ephemeral port unless the
        // test picks the endpoint itself ([`Sensor::metrics_addr`] tells which port it got).
        // A new falco_events series shows its count from the second scrape, without the 30 s
        // hold meant for HA scrapers (tests of the hold set it).
        let sets = |key: &str| extra.iter().any(|a| a.starts_with(key));
        let mut exporter: Vec<&str> = Vec::new();
        if !sets("exporter.listen_address") && !sets("exporter.enabled") {
            exporter.extend(["-o", "exporter.listen_address=127.0.0.1:0"]);
        }
        if !sets("exporter.new_series_hold_seconds") {
            exporter.extend(["-o", "exporter.new_series_hold_seconds=0"]);
        }
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        if !launch.alerts_only {
            command.arg("--dump-events");
        }
        let mut child = command
            .arg("--ready-file")
            .arg(&ready)
            .arg("--stats-file")
            .arg(dir.join("stats.json"))
            .args(&exporter)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let events: Shared<Vec<Value>> = Arc::default();
        let bad_lines: Shared<Vec<String>> = Arc::default();
        let stderr: Shared<String> = Arc::default();
        let out = child.stdout.take().unwrap();
        let (ev, bad) = (events.clone(), bad_lines.clone());
        let mut readers = Vec::new();
        let mut unread_stdout = None;
        if launch.leave_stdout_unread {
            unread_stdout = Some(out);
        } else {
            readers.push(std::thread::spawn(move || {
                for line in BufReader::with_capacity(1 << 20, out).lines() {
                    let Ok(line) = line else { break };
                    match serde_json::from_str::<Value>(&line) {
                        Ok(v) if v.is_object() => ev.lock().unwrap().push(v),
                        _ => bad.lock().unwrap().push(line),
                    }
                }
            }));
        }
        let mut err = child.stderr.take().unwrap();
        let se = stderr.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut s = se.lock().unwrap();
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
                if s.len() > 1 << 20 {
                    let cut = s.len() - (1 << 19);
                    let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap();
                    s.drain(..cut);
                }
            }
        });
        readers.push(stderr_reader);
        let child_pid = child.id();
        Sensor {
            child: Some(child),
            pid: child_pid,
            dir,
            _unread_stdout: unread_stdout,
            events,
            bad_lines,
            stderr,
            readers,
        }
    }

    /// Waits until the sensor has created its ready file (every probe attached); panics if it
    /// exits first or takes longer than [`ready_timeout`].
    #[track_caller]
    pub fn wait_ready(&mut self) {
        let ready = self.dir.join("ready");
        let ready_timeout = ready_timeout();
        let deadline = Instant::now() + ready_timeout;
        while !ready.exists() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(200));
                self.fail(&format!(
                    "sensor exited ({status}) before creating its ready file"
                ));
            }
            if Instant::now() > deadline {
                self.fail(&format!("sensor not ready after {ready_timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` to the sensor (which must still run).
    pub fn signal(&self, signal: libc::c_int) {
        assert!(self.child.is_some(), "sensor already stopped");
        // SAFETY: signalling our own child, which has not been reaped yet.
        unsafe { libc::kill(self.pid as i32, signal) };
    }

    /// Waits up to `timeout` for the sensor to exit; its status, or `None` if it still runs
    /// (it is then killed). Checks nothing about the status or the output.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let status = wait_or_kill(&mut child, Instant::now() + timeout);
        self._unread_stdout = None;
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        status
    }

    /// Resident memory of the sensor now, in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| self.fail("no VmRSS: the sensor is gone"))
    }

    pub fn pid(&self) -> i64 {
        i64::from(self.pid)
    }

    /// Where the metrics endpoint listens (from the ready file); panics when it is off.
    #[track_caller]
    pub fn metrics_addr(&self) -> String {
        let text = fs::read_to_string(self.dir.join("ready")).unwrap_or_default();
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("ready file is not JSON ({e}): {text}"));
        match v["metrics"].as_str() {
            Some(a) => a.to_string(),
            None => panic!("the sensor reports no metrics endpoint: {text}"),
        }
    }

    /// Waits until an event matches `pred`, checks it with [`assert_schema`] and returns it;
    /// panics (with the sensor's stderr and a dump of all events) on timeout.
    #[track_caller]
    pub fn wait_for(&self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        match self.try_wait_for(pred, timeout) {
            Some(ev) => {
                assert_schema(&ev);
                ev
            }
            None => self.fail(&format!("no matching event within {timeout:?}")),
        }
    }

    /// Like [`Sensor::wait_for`] but returns None on timeout (and checks nothing).
    pub fn try_wait_for(&self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        let mut seen = 0;
        loop {
            {
                let evs = self.events.lock().unwrap();
                if let Some(ev) = evs[seen..].iter().find(|e| pred(e)) {
                    return Some(ev.clone());
                }
                seen = evs.len();
            }
            if Instant::now() > deadline || !self.alive() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Copies of the events received so far that match `pred`.
    pub fn events_where(&self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| pred(e))
            .cloned()
            .collect()
    }

    /// Number of events received so far that match `pred`.
    pub fn count_where(&self, pred: impl Fn(&Value) -> bool) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| pred(e))
            .count()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn alive(&self) -> bool {
        match fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Ok(s) => !s
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
            Err(_) => false,
        }
    }

    /// Panics with `why`, the tail of the sensor's stderr, and the path of a dump of every
    /// event received (the sensor's temp dir is kept).
    #[track_caller]
    pub fn fail(&self, why: &str) -> ! {
        let dump = self.dir.join("events.jsonl");
        let n = {
            let evs = self.events.lock().unwrap();
            let mut text = String::new();
            for e in evs.iter() {
                text.push_str(&e.to_string());
                text.push('\n');
            }
            let _ = fs::write(&dump, text);
            evs.len()
        };
        let err = self.stderr();
        let tail = &err[err.len().saturating_sub(4000)..];
        let tail = tail.trim_start_matches(|c: char| !c.is_ascii());
        panic!(
            "{why}\nsensor pid {}; {n} events received (all in {}); {} non-JSON stdout lines\n--- sensor stderr (tail) ---\n{tail}\n---",
            self.pid,
            dump.display(),
            self.bad_lines.lock().unwrap().len()
        );
    }

    /// SIGINT, wait for exit (which must be a success), drain stdout, parse the stats file.
    /// The events stay available afterwards. Every stdout line must have been a JSON object.
    #[track_caller]
    pub fn stop(&mut self) -> Stats {
        self.stop_with(libc::SIGINT)
    }

    /// Like [`Sensor::stop`], sending `signal` (`SIGINT` or `SIGTERM`) instead of SIGINT.
    #[track_caller]
    pub fn stop_with(&mut self, signal: libc::c_int) -> Stats {
        self.signal(signal);
        self.stopped(signal)
    }

    /// Like [`Sensor::stop`] for a sensor already sent `signal` (a second stop signal would
    /// make it exit at once, without its drain).
    #[track_caller]
    pub fn stopped(&mut self, signal: libc::c_int) -> Stats {
        let sig = match signal {
            libc::SIGINT => "SIGINT".to_string(),
            libc::SIGTERM => "SIGTERM".to_string(),
            n => format!("signal {n}"),
        };
        let Some(mut child) = self.child.take() else {
            panic!("sensor already stopped")
        };
        let Some(status) = wait_or_kill(&mut child, Instant::now() + STOP_TIMEOUT) else {
            self.fail(&format!(
                "sensor did not exit within {STOP_TIMEOUT:?} of {sig}"
            ));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        if !status.success() {
            self.fail(&format!("sensor exited with {status} after {sig}"));
        }
        let bad = self.bad_lines.lock().unwrap().clone();
        if !bad.is_empty() {
            let first = bad.iter().take(3).cloned().collect::<Vec<_>>().join("\n");
            self.fail(&format!(
                "{} stdout lines are not JSON objects, e.g.:\n{first}",
                bad.len()
            ));
        }
        let path = self.dir.join("stats.json");
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| self.fail(&format!("stats file {}: {e}", path.display())));
        Stats::parse(&text).unwrap_or_else(|e| self.fail(&format!("stats file: {e}\n{text}")))
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
