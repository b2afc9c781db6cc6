//! The log file of a monitor of `cargo xtask bench`: its stdout is a pipe that a thread of the
//! harness copies to a file, as a container runtime does with a container's stdout.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ChildStdout;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::thread::JoinHandle;

use anyhow::{Context, Result};

use crate::bench_cpu;

/// Reads a monitor's stdout (a pipe, as a container's stdout is) and appends it to a file,
/// as containerd's shim does with a container's log: the monitor pays for writing to a pipe
/// that is read, and the copying is CPU the deployment pays too (counted with the monitor's).
pub struct LogCopier {
    pub path: PathBuf,
    /// The copier thread's id, for its CPU time.
    tid: Arc<AtomicI32>,
    /// Set once `marker` was seen at the start of the output.
    pub ready: Arc<AtomicBool>,
    thread: JoinHandle<std::io::Result<u64>>,
}

impl LogCopier {
    pub fn spawn(mut from: ChildStdout, path: &Path, marker: Option<&'static str>) -> Result<Self> {
        let mut to = File::create(path).with_context(|| format!("create {}", path.display()))?;
        let tid = Arc::new(AtomicI32::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let (tid2, ready2) = (tid.clone(), ready.clone());
        let thread = std::thread::spawn(move || -> std::io::Result<u64> {
            // SAFETY: gettid has no preconditions.
            tid2.store(unsafe { libc::gettid() }, Ordering::SeqCst);
            let mut buf = vec![0u8; 1 << 15];
            // The first 4 KiB, where a marker printed at start-up is.
            let mut head = Vec::new();
            let mut copied = 0u64;
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                to.write_all(&buf[..n])?;
                copied += n as u64;
                if let Some(m) = marker.filter(|_| head.len() < 4096) {
                    head.extend_from_slice(&buf[..n.min(4096)]);
                    if head.windows(m.len()).any(|w| w == m.as_bytes()) {
                        ready2.store(true, Ordering::SeqCst);
                    }
                }
            }
            Ok(copied)
        });
        Ok(LogCopier {
            path: path.to_owned(),
            tid,
            ready,
            thread,
        })
    }

    pub fn cpu(&self) -> f64 {
        match self.tid.load(Ordering::SeqCst) {
            0 => 0.0,
            tid => bench_cpu::own_thread_cpu(tid),
        }
    }

    pub fn finish(self) -> Result<u64> {
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("output copier panicked"))?
            .context("copying the output")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_the_output_and_sees_the_marker() {
        let dir = std::env::temp_dir().join(format!("xtask-log.{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out");
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "echo Attaching; echo ready-now; seq 1 20000"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let log = LogCopier::spawn(child.stdout.take().unwrap(), &path, Some("ready-now")).unwrap();
        let ready = log.ready.clone();
        assert!(child.wait().unwrap().success());
        let copied = log.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(ready.load(Ordering::SeqCst));
        assert_eq!(copied, text.len() as u64);
        assert!(text.ends_with("19999\n20000\n"));
    }
}
