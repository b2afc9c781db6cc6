//! Wiring: load probes, read the ring buffer, write events, count, and shut down cleanly on
//! SIGINT/SIGTERM (drain what is already captured, report counters, detach).

use std::{
    io::Write as _,
    sync::{Arc, atomic::Ordering::Relaxed},
};

use anyhow::Context as _;
use aya::maps::{MapData, PerCpuArray, RingBuf};
use lanner_common::{EventKind, KIND_COUNT, LOSS_REASONS, LossReason, MAP_EVENTS, MAP_LOSSES};
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::{mpsc, watch},
};

use crate::{
    cli::Cli,
    clock::Clock,
    enrich::Enricher,
    event::Event,
    loader::{self, LoadOptions},
    output::json,
    process::TableStats,
    reader,
    stats::{self, Counters, KernelLosses},
};

pub async fn run(args: Cli) -> anyhow::Result<()> {
    let mut ebpf = loader::load(LoadOptions {
        ringbuf_bytes: args.ringbuf_bytes,
        capture_env: args.capture_env,
    })?;
    let ring = RingBuf::try_from(ebpf.take_map(MAP_EVENTS).context("map EVENTS missing")?)?;
    let losses: PerCpuArray<MapData, u64> =
        PerCpuArray::try_from(ebpf.take_map(MAP_LOSSES).context("map LOSSES missing")?)?;

    let counters = Arc::new(Counters::default());
    let (tx, rx) = mpsc::channel::<Event>(8192);
    let (stop_tx, stop_rx) = watch::channel(false);
    let reader = tokio::spawn(reader::run(
        ring,
        tx,
        counters.clone(),
        args.capture_env,
        stop_rx,
    ));
    let enricher = Enricher::new(
        &args.proc_root,
        args.proc_table_cap,
        args.exited_grace_ms * 1_000_000,
    );
    let sink = spawn_sink(rx, enricher, args.dump_events);

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
    let _ = stop_tx.send(true);
    reader
        .await
        .context("reader task")?
        .context("reading the ring buffer")?;
    let table = sink
        .join()
        .map_err(|_| anyhow::anyhow!("output thread panicked"))??;

    let kernel = kernel_losses(&losses)?;
    let summary = stats::to_json(&counters, &kernel, &table);
    eprintln!("lanner: counters {summary}");
    if let Some(path) = &args.stats_file {
        std::fs::write(path, summary.to_string())
            .with_context(|| format!("writing stats file {}", path.display()))?;
    }
    log::debug!(
        "detaching probes ({} events read)",
        counters.read.iter().map(|c| c.load(Relaxed)).sum::<u64>()
    );
    drop(ebpf);
    Ok(())
}

/// Writing to stdout can block (a slow pipe): keep it off the runtime's workers. Flushed after
/// every batch the channel hands over, so a reader of the pipe sees events promptly.
fn spawn_sink(
    mut rx: mpsc::Receiver<Event>,
    mut enricher: Enricher,
    dump: bool,
) -> std::thread::JoinHandle<anyhow::Result<TableStats>> {
    std::thread::spawn(move || {
        let clock = Clock::new();
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
        while let Some(ev) = rx.blocking_recv() {
            let mut next = Some(ev);
            while let Some(ev) = next {
                let boot_ns = ev.boot_ns;
                let ev = enricher.enrich(ev);
                if dump {
                    let line = json::enriched_json(&ev, clock.epoch_ns(boot_ns));
                    serde_json::to_writer(&mut out, &line)?;
                    out.write_all(b"\n")?;
                }
                next = rx.try_recv().ok();
            }
            out.flush()?;
        }
        out.flush()?;
        Ok(enricher.table_stats())
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
    debug_assert_eq!(k.0.len(), KIND_COUNT);
    debug_assert_eq!(k.0[0].len(), LOSS_REASONS);
    Ok(k)
}
