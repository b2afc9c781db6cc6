//! Wiring: load probes, read the ring buffer, enrich (process, container, pod), write events,
//! count, and shut down cleanly on SIGINT/SIGTERM (drain what is already captured, report
//! counters, detach).
//!
//! reader (tokio, AsyncFd) → enrich stage (tokio task owning the process table and the pod
//! wait) → rules stage thread (evaluates every event against the current ruleset; its writer
//! writes the alerts and, with `--dump-events`, the events to stdout and the sinks). Every hop is a bounded channel with
//! back-pressure. Beside them: the metrics endpoint and the health task (kernel loss counters,
//! the drop alert, the stall check). Once stopping, the process ends within the sinks' drain
//! time plus a margin even if a stage is stuck (`shutdown.rs`).

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering::Relaxed},
    },
};

use anyhow::Context as _;
use aya::maps::{MapData, PerCpuArray, RingBuf};
use lanner_common::{EventKind, LossReason, MAP_EVENTS, MAP_LOSSES};
use lanner_rules::Alert;
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::{mpsc, watch},
};

use crate::{
    cli::Cli,
    clock::Clock,
    config::Config,
    enrich::{
        Enriched, Enricher, Interest,
        pods::{self, PodWait, PodWaitCounters},
    },
    event::Event,
    k8s::{Budget, K8sOptions, PodCache},
    loader::{self, LoadOptions, gate::Wanted, prefilter::KernelFilter},
    metrics::{self, Metrics, falco_events::FalcoEvents, health, server, stall::Stage},
    output::{alert, alert::AlertFormat, writer::Writer},
    reader,
    rules::{
        evaluate::Evaluator,
        live::LiveRules,
        reloader::{self, Reloader},
        stage::RulesStage,
    },
    shutdown::{self, Summary},
    signals, sinks,
    stats::{Counters, KernelLosses, StageGauges},
};

/// The rules the sensor runs with, loaded before any probe is attached.
pub struct RulesSetup {
    pub live: LiveRules,
    pub paths: Vec<PathBuf>,
    pub config: Config,
}

pub async fn run(args: Cli, rules: RulesSetup, stop: signals::StopSignals) -> anyhow::Result<()> {
    let exporter = &rules.config.exporter;
    // Bound before the probes load, so a taken port fails the start with its address.
    let listener = match exporter.enabled {
        true => Some(server::bind(&exporter.listen_address).await?),
        false => None,
    };
    // Sinks too: a bad URL or certificate file fails the start before any probe loads.
    let (stop_tx, stop_rx) = watch::channel(false);
    let sinks = sinks::start(&rules.config.sinks, &stop_rx)?;
    // Opened before the probes load, so a bad path fails the start.
    let record = args
        .record_raw
        .as_deref()
        .map(reader::record::Recorder::create)
        .transpose()?;
    let delivery = reader::Delivery::from_ms(args.max_delay_ms);
    let mut hooks = loader::load(LoadOptions {
        ringbuf_bytes: args.ringbuf_bytes,
        capture_env: args.capture_env,
        wake_on_first: delivery.wake_on_first(),
        proc_root: args.proc_root.clone(),
        wanted: match args.dump_events {
            true => Wanted::All,
            false => Wanted::Types(rules.live.current().types()),
        },
    })?;
    let ebpf = hooks.ebpf_mut();
    let ring = RingBuf::try_from(ebpf.take_map(MAP_EVENTS).context("map EVENTS missing")?)?;
    let losses: PerCpuArray<MapData, u64> =
        PerCpuArray::try_from(ebpf.take_map(MAP_LOSSES).context("map LOSSES missing")?)?;
    // The kernel's prefilter: written from the rules now and after every reload, in place.
    let (filter, filter_status) = KernelFilter::take(ebpf, args.dump_events)?;
    let filter = Mutex::new(filter);
    lock(&filter).apply(Some(&rules.live.current()));
    rules.live.follow_ruleset(move |rs| lock(&filter).apply(rs));
    // From now on a reload attaches and detaches hooks with the types its rules match.
    let hooks = Arc::new(Mutex::new(hooks));
    if !args.dump_events {
        let hooks = hooks.clone();
        rules
            .live
            .follow_types(move |types| lock(&hooks).set(Wanted::Types(types)));
    }
    let losses = Arc::new(Mutex::new(losses));

    let pods = PodCache::start(K8sOptions {
        node_name: args.node_name.clone(),
        kubeconfig: args.kubeconfig.clone(),
        budget: Budget {
            list_bytes: args.pod_list_max_bytes,
            event_bytes: args.pod_event_max_bytes,
        },
        ..K8sOptions::default()
    })
    .await;
    let counters = Arc::new(Counters::default());
    let wait_counters = Arc::new(PodWaitCounters::default());
    let gauges = Arc::new(StageGauges::default());
    let hostname = rules
        .config
        .hostname
        .clone()
        .unwrap_or_else(alert::default_hostname);
    let metrics = Arc::new(Metrics::new(
        hostname.clone(),
        FalcoEvents::new(
            exporter.labels.clone(),
            exporter.series_ttl,
            exporter.new_series_hold,
        ),
        metrics::Sources {
            counters: counters.clone(),
            stage: gauges.clone(),
            pod_wait: wait_counters.clone(),
            pods: pods.clone(),
            rules: rules.live.counters.clone(),
        },
    ));
    let pipeline = metrics.pipeline.clone();
    let (event_tx, event_rx) = mpsc::channel::<Event>(8192);
    let (out_tx, out_rx) = mpsc::channel::<Enriched>(8192);
    let (internal_tx, internal_rx) = mpsc::channel::<Alert>(64);
    let reader = tokio::spawn({
        let running = pipeline.guard(Stage::Reader);
        let read = reader::run(
            ring,
            event_tx,
            counters.clone(),
            args.capture_env,
            delivery,
            stop_rx.clone(),
            record,
        );
        async move {
            let _running = running;
            read.await
        }
    });
    let enricher = Enricher::new(
        &args.proc_root,
        args.proc_table_cap,
        args.exited_grace_ms * 1_000_000,
        // `--dump-events` writes every event with its context.
        if args.dump_events {
            Interest::all()
        } else {
            rules.live.interest()
        },
        gauges.users.clone(),
    );
    let wait = PodWait {
        max_wait: std::time::Duration::from_millis(args.pod_wait_ms),
        max_pending: args.pod_pending_max,
    };
    let stage = tokio::spawn({
        let running = pipeline.guard(Stage::Enrich);
        let enrich = pods::run(
            event_rx,
            out_tx,
            enricher,
            pods.clone(),
            wait,
            wait_counters.clone(),
            gauges.clone(),
        );
        async move {
            let _running = running;
            enrich.await
        }
    });
    let format = AlertFormat::from_config(&rules.config, hostname);
    metrics.set_sinks(sinks.stats.clone());
    metrics.set_prefilter(filter_status);
    let writer = RulesStage {
        rules: rules.live.clone(),
        evaluator: Evaluator {
            hostname: format.hostname.clone(),
            dump: args.dump_events,
            metrics: metrics.clone(),
        },
        writer: Writer {
            format,
            metrics: metrics.clone(),
            sinks: sinks.handles,
        },
        metrics: metrics.clone(),
    }
    .spawn(out_rx, internal_rx);
    // The handler first, then the signal unblocked (`signals.rs`): a SIGHUP of the start-up is
    // delivered now, to this handler, and reloads the rules once.
    let hangup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    signals::unblock_hangup();
    // Reloads run on their own thread; SIGHUP only signals it.
    let reloader = Reloader::spawn(
        rules.live.clone(),
        rules.paths.clone(),
        rules.config.engine_options(),
        rules.config.watch_config_files,
    )
    .context("starting the rules reload thread")?;
    tokio::spawn(reloader::on_sighup(reloader, hangup));
    let health = {
        let losses = losses.clone();
        tokio::spawn(health::run(
            metrics.clone(),
            move || kernel_losses(&lock(&losses)),
            rules.config.syscall_event_drops.clone(),
            // Events held back by the pod wait do not move on purpose.
            rules.config.exporter.stall + wait.max_wait,
            internal_tx,
            Clock::new(),
            stop_rx.clone(),
        ))
    };
    let metrics_addr = listener.as_ref().and_then(server::local_addr);
    if let Some(l) = listener {
        let limits = server::Limits::default();
        tokio::spawn(server::serve(l, metrics.clone(), limits, stop_rx.clone()));
        if let Some(a) = metrics_addr {
            log::info!("metrics endpoint on http://{a}/metrics (/healthz, /readyz)");
        }
    }
    metrics.capturing.store(true, Relaxed);
    trim_heap();
    tokio::spawn(trim_heap_every(TRIM_EVERY, stop_rx.clone()));

    if let Some(path) = &args.ready_file {
        let ready = serde_json::json!({
            "pid": std::process::id(),
            "metrics": metrics_addr.map(|a| a.to_string()),
        });
        write_whole(path, &ready.to_string())
            .with_context(|| format!("writing ready file {}", path.display()))?;
    }
    log::info!(
        "probes attached; capturing exec, mount, connect, file opens and changes, the network \
         fd calls, the privilege calls, fork and exit"
    );

    let summary = Summary {
        counters: counters.clone(),
        gauges,
        pod_wait: wait_counters.clone(),
        pods: pods.clone(),
        metrics: metrics.clone(),
        rules: rules.live.counters.clone(),
    };
    // At SIGTERM/SIGINT the deadline starts on the signal thread, whatever the runtime does.
    let finished = Arc::new(AtomicBool::new(false));
    let mut stopping = stop.arm({
        let (drain, summary, stats_file) = (
            rules.config.sinks.drain,
            summary.clone(),
            args.stats_file.clone(),
        );
        let (pipeline, finished, hooks) = (pipeline.clone(), finished.clone(), hooks.clone());
        move || {
            pipeline.stop();
            // try_lock: a reload stuck while holding them must not hold the exit too.
            let detach = move || {
                if let Ok(mut h) = hooks.try_lock() {
                    h.detach_all();
                }
            };
            shutdown::arm_deadline(drain, summary, stats_file, finished, detach);
        }
    });
    let _ = stopping.changed().await;
    // Stop reading; each stage ends when its input closes, after passing everything on.
    let _ = stop_tx.send(true);
    reader
        .await
        .context("reader task")?
        .context("reading the ring buffer")?;
    let table = stage.await.context("enrichment task")?;
    // The health task ends on the stop signal, closing the internal alerts channel, so the
    // writer can finish.
    let _ = health.await;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("output thread panicked"))??;
    // The sinks deliver what is queued, for at most their drain time.
    for t in sinks.tasks {
        let _ = t.await;
    }

    let kernel = kernel_losses(&lock(&losses))?;
    finished.store(true, Relaxed);
    let counters = summary.json(Some(&table), Some(&kernel));
    summary.report(&counters, args.stats_file.as_ref())?;
    // Not left to the process's exit: it would close the links one after the other.
    lock(&hooks).detach_all();
    Ok(())
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Give freed memory back to the kernel. glibc keeps a free heap resident unless asked: the
/// start-up's (parsing the kernel's BTF, megabytes, the rules files and `/proc`) would stay in
/// the sensor's RSS for its life, and so would the high-water mark of every burst (the
/// pipeline's queues hold up to 8,192 events each, with their arguments and paths) and of
/// every reload. Then RSS shows the memory in use, and a leak would show as growth.
fn trim_heap() {
    // SAFETY: malloc_trim only walks glibc's own arenas; no pointers of ours are involved.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How often [`trim_heap`] runs after the start: it takes a few milliseconds of the arenas'
/// locks.
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

async fn trim_heap_every(period: std::time::Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            _ = tick.tick() => trim_heap(),
            _ = stop.changed() => return,
        }
    }
}

/// Write `path` whole or not at all: whoever waits for the ready file polls for it to exist and
/// then reads it, and a plain write shows an empty file for a moment (a test caught one). The
/// text goes to a file beside it first, then is renamed over it, atomically.
fn write_whole(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, path)
}
