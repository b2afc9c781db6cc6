//! Wiring: load probes, read the ring buffer, enrich (process, container, pod), write events,
//! count, and shut down cleanly on SIGINT/SIGTERM (drain what is already captured, report
//! counters, detach).
//!
//! reader (tokio, AsyncFd) → enrich stage (tokio task owning the process table and the pod
//! wait) → rules and writer thread (evaluates every event against the current ruleset, writes
//! alerts and, with `--dump-events`, the events to stdout). Every hop is a bounded channel with
//! back-pressure.

use std::{
    io::Write as _,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

use anyhow::Context as _;
use aya::maps::{MapData, PerCpuArray, RingBuf};
use lanner_common::{EventKind, LossReason, MAP_EVENTS, MAP_LOSSES};
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::{mpsc, watch},
};

use crate::{
    cli::Cli,
    clock::Clock,
    config::Config,
    enrich::{
        Enriched, Enricher,
        pods::{self, PodWait, PodWaitCounters},
    },
    event::Event,
    k8s::{K8sOptions, PodCache},
    loader::{self, LoadOptions},
    output::{alert, alert::AlertFormat, json},
    reader,
    rules::{extract::EventView, live::LiveRules},
    stats::{self, Counters, KernelLosses},
};

/// The rules the sensor runs with, loaded before any probe is attached.
pub struct RulesSetup {
    pub live: LiveRules,
    pub paths: Vec<PathBuf>,
    pub config: Config,
}

pub async fn run(args: Cli, rules: RulesSetup) -> anyhow::Result<()> {
    let mut ebpf = loader::load(LoadOptions {
        ringbuf_bytes: args.ringbuf_bytes,
        capture_env: args.capture_env,
    })?;
    let ring = RingBuf::try_from(ebpf.take_map(MAP_EVENTS).context("map EVENTS missing")?)?;
    let losses: PerCpuArray<MapData, u64> =
        PerCpuArray::try_from(ebpf.take_map(MAP_LOSSES).context("map LOSSES missing")?)?;

    let pods = PodCache::start(K8sOptions {
        node_name: args.node_name.clone(),
        kubeconfig: args.kubeconfig.clone(),
        ..K8sOptions::default()
    })
    .await;
    let counters = Arc::new(Counters::default());
    let wait_counters = Arc::new(PodWaitCounters::default());
    let (event_tx, event_rx) = mpsc::channel::<Event>(8192);
    let (out_tx, out_rx) = mpsc::channel::<Enriched>(8192);
    let (stop_tx, stop_rx) = watch::channel(false);
    let reader = tokio::spawn(reader::run(
        ring,
        event_tx,
        counters.clone(),
        args.capture_env,
        stop_rx,
    ));
    let enricher = Enricher::new(
        &args.proc_root,
        args.proc_table_cap,
        args.exited_grace_ms * 1_000_000,
    );
    let wait = PodWait {
        max_wait: std::time::Duration::from_millis(args.pod_wait_ms),
        max_pending: args.pod_pending_max,
    };
    let stage = tokio::spawn(pods::run(
        event_rx,
        out_tx,
        enricher,
        pods.clone(),
        wait,
        wait_counters.clone(),
    ));
    let format = AlertFormat::from_config(
        &rules.config,
        rules
            .config
            .hostname
            .clone()
            .unwrap_or_else(alert::default_hostname),
    );
    let alerts = Arc::new(AtomicU64::new(0));
    let writer = spawn_writer(
        out_rx,
        rules.live.clone(),
        format,
        args.dump_events,
        alerts.clone(),
    );
    tokio::spawn(crate::rules::live::watch(
        rules.live.clone(),
        rules.paths.clone(),
        rules.config.engine_options(),
        rules.config.watch_config_files,
    ));

    if let Some(path) = &args.ready_file {
        std::fs::write(path, std::process::id().to_string())
            .with_context(|| format!("writing ready file {}", path.display()))?;
    }
    log::info!("probes attached; capturing exec, mount, connect, fork and exit");

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    // Stop reading; each stage ends when its input closes, after passing everything on.
    let _ = stop_tx.send(true);
    reader
        .await
        .context("reader task")?
        .context("reading the ring buffer")?;
    let table = stage.await.context("enrichment task")?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("output thread panicked"))??;

    let kernel = kernel_losses(&losses)?;
    let mut summary = stats::to_json(&stats::Snapshot {
        counters: &counters,
        kernel: &kernel,
        table: &table,
        pods: pods.stats(),
        pods_enabled: pods.enabled(),
        pods_synced: pods.synced(),
        pods_stale: pods.stale(),
        pods_node: pods.node(),
        pod_wait: &wait_counters,
    });
    summary["rules"] = serde_json::json!({
        "alerts": alerts.load(Relaxed),
        "loaded": rules.live.counters.rules_loaded.load(Relaxed),
        "active": rules.live.counters.rules_active.load(Relaxed),
        "reloads": rules.live.counters.reloads.load(Relaxed),
        "reload_failures": rules.live.counters.reload_failures.load(Relaxed),
    });
    eprintln!("lanner: counters {summary}");
    if let Some(path) = &args.stats_file {
        std::fs::write(path, summary.to_string())
            .with_context(|| format!("writing stats file {}", path.display()))?;
    }
    drop(ebpf);
    Ok(())
}

/// Rule evaluation and output, on their own thread: writing to stdout can block (a slow pipe)
/// and must not stall the runtime's workers. The ruleset is fetched once per batch, so a
/// reload takes effect at the next batch. Flushed after every batch, so a reader of the pipe
/// (Fluent Bit tailing the container log) sees alerts promptly.
fn spawn_writer(
    mut rx: mpsc::Receiver<Enriched>,
    rules: LiveRules,
    format: AlertFormat,
    dump: bool,
    alerts: Arc<AtomicU64>,
) -> std::thread::JoinHandle<anyhow::Result<()>> {
    std::thread::spawn(move || {
        let clock = Clock::new();
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
        while let Some(ev) = rx.blocking_recv() {
            let ruleset = rules.current();
            let mut next = Some(ev);
            while let Some(ev) = next {
                let epoch_ns = clock.epoch_ns(ev.event.boot_ns);
                let view = EventView::new(&ev, epoch_ns).with_hostname(&format.hostname);
                let mut fired = Vec::new();
                ruleset.evaluate(&view, |r| fired.push(ruleset.alert(r, &view, epoch_ns)));
                for a in &fired {
                    alert::write(&mut out, a, &format)?;
                }
                alerts.fetch_add(fired.len() as u64, Relaxed);
                if dump {
                    let line = json::enriched_json(&ev, epoch_ns);
                    serde_json::to_writer(&mut out, &line)?;
                    out.write_all(b"\n")?;
                }
                next = rx.try_recv().ok();
            }
            out.flush()?;
        }
        out.flush()?;
        Ok(())
    })
}

fn kernel_losses(map: &PerCpuArray<MapData, u64>) -> anyhow::Result<KernelLosses> {
    let mut k = KernelLosses::default();
    for kind in EventKind::ALL {
        for reason in LossReason::ALL {
            let per_cpu = map.get(&reason.slot(kind), 0)?;
            k.0[kind.index()][reason as usize] = per_cpu.iter().sum();
        }
    }
    Ok(k)
}
