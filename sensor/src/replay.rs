//! `lanner --replay FILE [--replay-rounds N] [-r RULES…]`: the userspace pipeline alone, for
//! `cargo xtask bench-pipeline`. No probes, one thread: every record of a `--record-raw`
//! recording goes through the sensor's own functions — `reader::decode`, `Enricher::enrich`
//! (a real process table seeded from `--proc-root`, user names from its files), the pod
//! context as the enrich stage sets it without Kubernetes (`host`/`off`), then the rules
//! stage's `RulesStage::one` (rule evaluation, Falco JSON of every alert, the alert metrics) —
//! with alerts written to memory instead of stdout. Events are not serialized (no
//! `--dump-events`), as in production. The channels between the stages, and stdout, are not
//! part of it.
//!
//! Each round plays the whole recording again, its timestamps moved past the previous
//! round's, so the process table sees time pass (exited processes expire as they would) and
//! the same pids fork, exec and exit again. Records are fed batch by batch through a region
//! the size of the sensor's ring buffer (`record::RingFeed`), as the reader meets them, and
//! only the pipeline's work is timed. A summary goes to stdout as one JSON object:
//! `events_per_second` (wall clock) and `events_per_cpu_second` (this thread's CPU time, so
//! other load on the machine does not count) cover the decode → alert JSON work only (not
//! reading the file, not seeding the table, not feeding the ring). `undisturbed` sums each
//! batch's least CPU time over the rounds: the same work with the moments other load slowed
//! it left out. `flat` is the same number of rounds read straight from one copy of the whole
//! recording, for comparison. One more round runs stage by stage over batches of 256 records
//! (the reader's batch) to split the time per stage, and one more times each event on its own
//! to give the time per event of each kind.

use std::{
    path::Path,
    sync::{Arc, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use lanner_common::{EventKind, KIND_COUNT};
use lanner_rules::Ruleset;
use serde_json::{Value, json};

use crate::{
    cli::Cli,
    clock::Clock,
    config::Config,
    enrich::{Enriched, Enricher, PodContext, pods::PodWaitCounters},
    event::Event,
    k8s::PodCache,
    metrics::{self, Metrics, falco_events::FalcoEvents},
    output::{
        alert::{self, AlertFormat},
        writer::Writer,
    },
    reader::{decode, record},
    rules::{
        evaluate::Evaluator,
        live::LiveRules,
        stage::{RulesStage, SAMPLE_EVERY},
    },
    stats::{Counters, StageGauges},
};

/// The alerts' in-memory sink is emptied (its size counted) beyond this.
const SINK_BYTES: usize = 1 << 20;
/// Records per batch in the stage-by-stage round (the reader's batch).
const BATCH: usize = 256;

/// Runs the replay and prints its summary; the exit status says whether it worked.
pub fn main(args: &Cli, file: &Path, ruleset: Ruleset, config: &Config) -> std::process::ExitCode {
    match run(args, file, ruleset, config) {
        Ok(summary) => {
            println!("{summary}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lanner: replay: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: &Cli, file: &Path, ruleset: Ruleset, config: &Config) -> anyhow::Result<Value> {
    let loading = Instant::now();
    let bytes =
        std::fs::read(file).with_context(|| format!("reading the recording {}", file.display()))?;
    let records = record::split(&bytes)?;
    let scan = Scan::of(&records, args.capture_env);
    let mut p = Pipeline::new(args, ruleset, config);
    let mut feed = record::RingFeed::new(args.ringbuf_bytes as usize);
    let load_seconds = loading.elapsed().as_secs_f64();
    // Each round's timestamps start a second after the previous round's last one.
    let period = scan.span_ns() + 1_000_000_000;
    let rounds = u64::from(args.replay_rounds);

    // The headline: records fed through a ring-sized region batch by batch, as the reader
    // meets them; only the pipeline's work on each batch is timed.
    let mut timed = Timed::default();
    // Each batch's least CPU time over the rounds: the pipeline's own cost with the moments
    // other load on the machine slowed it left out.
    let mut best = vec![u64::MAX; records.len().div_ceil(BATCH)];
    let mut events_per_round = 0;
    for round in 0..rounds {
        for (i, batch) in records.chunks(BATCH).enumerate() {
            let recs = feed.load(batch);
            let (events, cpu_ns) = timed.run(|| p.play(&recs, round * period))?;
            best[i] = best[i].min(cpu_ns);
            if round == 0 {
                events_per_round += events;
            }
        }
    }
    let best_ns: u64 = best.iter().sum();
    let alerts = p.stage.metrics.alerts.load(Relaxed);
    let alert_bytes = p.sink_bytes + p.sink.len() as u64;
    let decode_errors = p.decode_errors;

    // For comparison: the same rounds read straight from the whole recording in memory, so
    // nearly every record comes from DRAM (the recording is larger than the caches).
    let mut whole = record::RingFeed::holding(&records);
    let flat = whole.load(&records);
    let mut flat_timed = Timed::default();
    for round in rounds..2 * rounds {
        flat_timed.run(|| p.play(&flat, round * period))?;
    }

    let split = p.split_round(&mut feed, &records, 2 * rounds * period)?;
    let by_kind = p.kind_round(&mut feed, &records, (2 * rounds + 1) * period)?;
    let table = p.enricher.table_stats();
    Ok(json!({
        "file": file.display().to_string(),
        "records": records.len(),
        "kinds": scan.kinds,
        "recording_span_seconds": scan.span_ns() as f64 / 1e9,
        "rounds": args.replay_rounds,
        "events": timed.events,
        "decode_errors": decode_errors,
        "alerts": alerts,
        "alert_bytes": alert_bytes,
        "seconds": timed.wall_seconds(),
        "events_per_second": timed.per_wall_second(),
        "cpu_seconds": timed.cpu_seconds(),
        "events_per_cpu_second": timed.per_cpu_second(),
        "undisturbed": {
            "events_per_round": events_per_round,
            "cpu_seconds_per_round": best_ns as f64 / 1e9,
            "events_per_cpu_second": events_per_round as f64 / (best_ns as f64 / 1e9).max(1e-9),
        },
        "ring_bytes": args.ringbuf_bytes,
        "flat": {
            "events": flat_timed.events,
            "seconds": flat_timed.wall_seconds(),
            "events_per_second": flat_timed.per_wall_second(),
            "cpu_seconds": flat_timed.cpu_seconds(),
            "events_per_cpu_second": flat_timed.per_cpu_second(),
        },
        "load_seconds": load_seconds,
        "rules": {
            "loaded": p.ruleset.rules().len(),
            "active": p.ruleset.active_count(),
        },
        "split": split,
        "by_kind": by_kind,
        "process_table": {"size": table.size, "expired": table.expired, "evicted": table.evicted},
        "vm_hwm_kib": vm_hwm_kib(),
        // The divisor for instructions counted inside `Pipeline::one` over the whole run.
        "pipeline_events": p.played,
    }))
}

/// Events played and the time they took: wall clock, and this thread's CPU time (other load
/// on the machine does not count in it).
#[derive(Default)]
struct Timed {
    events: u64,
    wall: Duration,
    cpu_ns: u64,
}

impl Timed {
    /// Play once; the events played and the CPU time they took.
    fn run(&mut self, play: impl FnOnce() -> anyhow::Result<u64>) -> anyhow::Result<(u64, u64)> {
        let (wall, cpu) = (Instant::now(), thread_cpu_ns());
        let events = play()?;
        let cpu_ns = thread_cpu_ns().saturating_sub(cpu);
        self.events += events;
        self.cpu_ns += cpu_ns;
        self.wall += wall.elapsed();
        Ok((events, cpu_ns))
    }

    fn wall_seconds(&self) -> f64 {
        self.wall.as_secs_f64()
    }

    fn cpu_seconds(&self) -> f64 {
        self.cpu_ns as f64 / 1e9
    }

    fn per_wall_second(&self) -> f64 {
        self.events as f64 / self.wall_seconds().max(1e-9)
    }

    fn per_cpu_second(&self) -> f64 {
        self.events as f64 / self.cpu_seconds().max(1e-9)
    }
}

/// What a pass over the recording finds before the timed rounds: the events per kind and the
/// time the recording spans.
struct Scan {
    kinds: serde_json::Map<String, Value>,
    first_ns: u64,
    last_ns: u64,
}

impl Scan {
    fn of(records: &[&[u8]], capture_env: bool) -> Self {
        let mut counts = [0u64; KIND_COUNT];
        let (mut first_ns, mut last_ns) = (u64::MAX, 0);
        for ev in records
            .iter()
            .filter_map(|r| decode::decode(r, capture_env).ok())
        {
            counts[ev.kind().index()] += 1;
            first_ns = first_ns.min(ev.boot_ns);
            last_ns = last_ns.max(ev.boot_ns);
        }
        let kinds = EventKind::ALL
            .iter()
            .map(|k| (k.name().to_string(), counts[k.index()].into()))
            .collect();
        Self {
            kinds,
            first_ns,
            last_ns,
        }
    }

    fn span_ns(&self) -> u64 {
        self.last_ns.saturating_sub(self.first_ns)
    }
}

/// The stages, each as the sensor runs it, with the state they keep between events.
struct Pipeline {
    decoder: decode::Decoder,
    counters: Counters,
    decode_errors: u64,
    enricher: Enricher,
    gauges: Arc<StageGauges>,
    stage: RulesStage,
    ruleset: Arc<Ruleset>,
    clock: Clock,
    seen: u64,
    /// Records through [`Pipeline::one`], every phase of the run counted.
    played: u64,
    sink: Vec<u8>,
    sink_bytes: u64,
}

impl Pipeline {
    fn new(args: &Cli, ruleset: Ruleset, config: &Config) -> Self {
        let live = LiveRules::new(ruleset);
        let hostname = config
            .hostname
            .clone()
            .unwrap_or_else(alert::default_hostname);
        let gauges = Arc::new(StageGauges::default());
        let metrics = Arc::new(Metrics::new(
            hostname.clone(),
            FalcoEvents::new(
                config.exporter.labels.clone(),
                config.exporter.series_ttl,
                config.exporter.new_series_hold,
            ),
            metrics::Sources {
                counters: Arc::new(Counters::default()),
                stage: gauges.clone(),
                pod_wait: Arc::new(PodWaitCounters::default()),
                pods: PodCache::disabled(),
                rules: live.counters.clone(),
            },
        ));
        Self {
            decoder: decode::Decoder::new(args.capture_env),
            counters: Counters::default(),
            decode_errors: 0,
            enricher: Enricher::new(
                &args.proc_root,
                args.proc_table_cap,
                args.exited_grace_ms * 1_000_000,
                live.interest(),
                gauges.users.clone(),
            ),
            gauges,
            ruleset: live.current(),
            stage: RulesStage {
                rules: live,
                evaluator: Evaluator {
                    hostname: hostname.clone(),
                    dump: false,
                    metrics: metrics.clone(),
                },
                writer: Writer {
                    format: AlertFormat::from_config(config, hostname),
                    metrics: metrics.clone(),
                    sinks: Vec::new(),
                },
                metrics,
            },
            clock: Clock::new(),
            seen: 0,
            played: 0,
            sink: Vec::with_capacity(SINK_BYTES + (64 << 10)),
            sink_bytes: 0,
        }
    }

    /// Every stage on each record, in order; the events that decoded.
    fn play(&mut self, records: &[&[u8]], shift_ns: u64) -> anyhow::Result<u64> {
        let mut events = 0;
        for rec in records {
            if self.one(rec, shift_ns)?.is_some() {
                events += 1;
            }
        }
        Ok(events)
    }

    /// Every stage on one record, the event freed at the end as the output stage does; its
    /// kind, when it decoded.
    // Never inlined: `cargo xtask bench-pipeline` counts the instructions inside it with
    // callgrind (`--toggle-collect`), which needs the function to exist.
    #[inline(never)]
    fn one(&mut self, rec: &[u8], shift_ns: u64) -> anyhow::Result<Option<EventKind>> {
        self.played += 1;
        let Some(ev) = self.decode(rec, shift_ns) else {
            return Ok(None);
        };
        let kind = ev.kind();
        let e = self.enrich(ev);
        self.output(&e)?;
        Ok(Some(kind))
    }

    /// The reader's work on one record (`reader::drain`), the timestamp moved by `shift_ns`.
    fn decode(&mut self, rec: &[u8], shift_ns: u64) -> Option<Event> {
        match self.decoder.decode(rec) {
            Ok(mut ev) => {
                self.counters.count_read(ev.kind());
                self.counters.count_cut_paths(ev.body.cut_paths());
                ev.boot_ns += shift_ns;
                Some(ev)
            }
            Err(_) => {
                self.decode_errors += 1;
                None
            }
        }
    }

    /// The enrich stage's work on one event (`enrich::pods::run` and `admit` without
    /// Kubernetes: no pod wait).
    fn enrich(&mut self, ev: Event) -> Enriched {
        let mut e = self.enricher.enrich(ev);
        self.gauges.set_table(&self.enricher.table_stats());
        e.ctx.pod = match e.ctx.container.full_id() {
            Some(_) => PodContext::Off,
            None => PodContext::Host,
        };
        e
    }

    /// The output stage's work on one event, alerts into the in-memory sink.
    fn output(&mut self, e: &Enriched) -> anyhow::Result<()> {
        self.seen += 1;
        let sample = self.seen.is_multiple_of(SAMPLE_EVERY);
        self.stage
            .one(&self.ruleset, e, &self.clock, sample, &mut self.sink)?;
        if self.sink.len() >= SINK_BYTES {
            self.sink_bytes += self.sink.len() as u64;
            self.sink.clear();
        }
        Ok(())
    }

    /// One more round, stage by stage over batches, timing each stage.
    fn split_round(
        &mut self,
        feed: &mut record::RingFeed,
        records: &[&[u8]],
        shift_ns: u64,
    ) -> anyhow::Result<Value> {
        let mut spent = [Duration::ZERO; 3];
        let mut events = 0u64;
        for batch in records.chunks(BATCH) {
            let batch = feed.load(batch);
            let t0 = Instant::now();
            let decoded: Vec<Event> = batch
                .iter()
                .filter_map(|r| self.decode(r, shift_ns))
                .collect();
            let t1 = Instant::now();
            let enriched: Vec<Enriched> = decoded.into_iter().map(|e| self.enrich(e)).collect();
            let t2 = Instant::now();
            events += enriched.len() as u64;
            for e in &enriched {
                self.output(e)?;
            }
            // Freeing the event is the output stage's, as in the sensor.
            drop(enriched);
            let t3 = Instant::now();
            for (s, d) in spent.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2]) {
                *s += d;
            }
        }
        let per_event = |d: Duration| d.as_nanos() as f64 / events.max(1) as f64;
        let total: Duration = spent.iter().sum();
        Ok(json!({
            "events": events,
            "decode_ns_per_event": per_event(spent[0]),
            "enrich_ns_per_event": per_event(spent[1]),
            "rules_and_output_ns_per_event": per_event(spent[2]),
            "events_per_second": events as f64 / total.as_secs_f64().max(1e-9),
        }))
    }

    /// One more round with each event timed on its own, decode to alert JSON, summed by kind:
    /// what one exec costs against one connect. Two clock reads per event (~40 ns) are in it.
    fn kind_round(
        &mut self,
        feed: &mut record::RingFeed,
        records: &[&[u8]],
        shift_ns: u64,
    ) -> anyhow::Result<Value> {
        let mut spent = [(0u64, 0u64); KIND_COUNT];
        for batch in records.chunks(BATCH) {
            for rec in feed.load(batch) {
                let t0 = Instant::now();
                if let Some(kind) = self.one(rec, shift_ns)? {
                    let (n, ns) = &mut spent[kind.index()];
                    *n += 1;
                    *ns += t0.elapsed().as_nanos() as u64;
                }
            }
        }
        Ok(EventKind::ALL
            .iter()
            .map(|k| {
                let (n, ns) = spent[k.index()];
                let per = (n > 0).then(|| ns as f64 / n as f64);
                (
                    k.name().to_string(),
                    json!({"events": n, "ns_per_event": per}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into())
    }
}

/// CPU time of the calling thread (user and system), ns.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// This process's peak resident set (VmHWM), KiB.
fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
