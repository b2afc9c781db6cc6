//! Command line.

use std::path::PathBuf;

#[derive(Debug, clap::Parser)]
#[command(
    name = "lanner",
    version,
    about = "eBPF runtime security sensor",
    // `-V` is Falco's validate; the version is `--version` only.
    disable_version_flag = true
)]
pub struct Cli {
    /// Print the version and exit.
    #[arg(long, action = clap::ArgAction::Version)]
    pub version: Option<bool>,
    /// Rules file or directory (`*.yaml`, `*.yml`), repeatable, loaded in order; later files
    /// override earlier ones. Default: `rules_files` of the config, else the built-in ruleset.
    #[arg(short = 'r', long = "rules", value_name = "FILE|DIR")]
    pub rules: Vec<PathBuf>,
    /// Validate these rules files (loaded together, in order), print every problem with its
    /// position, and exit (status 1 on any error).
    #[arg(short = 'V', long = "validate", value_name = "FILE|DIR", num_args = 1..)]
    pub validate: Vec<PathBuf>,
    /// List the loaded rules (priority, tags, event types) and exit.
    #[arg(short = 'L', long = "list-rules")]
    pub list_rules: bool,
    /// List the fields rules can use, with type and description, and exit.
    #[arg(long = "list")]
    pub list_fields: bool,
    /// Configuration file (YAML, falco.yaml's key names).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override a configuration key (the value is YAML): `-o rule_matching=all`. Repeatable.
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Print every captured event as one JSON object per line (Falco field names).
    #[arg(long)]
    pub dump_events: bool,
    /// Create this file once every probe is attached.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// Write the event and loss counters here as JSON at exit.
    #[arg(long)]
    pub stats_file: Option<PathBuf>,
    /// Kernel ring buffer size in bytes (a power of two, multiple of the page size). 8 MiB holds
    /// about 800 exec records, several times what a burst puts in it before the reader, woken
    /// on its tick or by a filling ring, drains it; the sensor's RSS shows the ring twice (see
    /// BENCHMARKS-pipeline.md), so a bigger default costs resident memory on every node.
    #[arg(long, default_value_t = 8 * 1024 * 1024, value_parser = parse_ringbuf)]
    pub ringbuf_bytes: u32,
    /// Longest a record waits in the ring buffer before the reader takes it, in ms (sooner
    /// when an eighth of the ring is full). 0: the kernel wakes the reader for the first record
    /// into an empty ring — the lowest latency, but nearly a context switch per record when
    /// events are sparse, which costs more than the record itself.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub max_delay_ms: u64,
    /// Capture the environment of exec'd processes (`proc.env`); it may hold secrets.
    #[arg(long)]
    pub capture_env: bool,
    /// The host's /proc (in the DaemonSet the host's proc is mounted at /host/proc).
    #[arg(long, default_value = "/proc")]
    pub proc_root: PathBuf,
    /// Most processes the process table holds; beyond it, exited then any entries go.
    #[arg(long, default_value_t = 65_536)]
    pub proc_table_cap: usize,
    /// How long an exited process stays in the table, so late events still resolve it.
    #[arg(long, default_value_t = 5_000)]
    pub exited_grace_ms: u64,
    /// The node whose pods give context (default: $NODE_NAME, else the hostname).
    #[arg(long)]
    pub node_name: Option<String>,
    /// Kubeconfig to use instead of in-cluster / $KUBECONFIG discovery.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// How long an event of a container whose pod is not known yet waits for it.
    #[arg(long, default_value_t = 300)]
    pub pod_wait_ms: u64,
    /// Most events waiting for their pod at once; beyond it the oldest goes on, marked.
    #[arg(long, default_value_t = 10_000)]
    pub pod_pending_max: usize,
    /// Largest answer read from the Kubernetes API other than a watch stream (the pod list of
    /// this node, an error); a larger one fails that list, which is retried with backoff.
    #[arg(long, default_value_t = 16 << 20, value_name = "BYTES")]
    pub pod_list_max_bytes: u64,
    /// Largest single event of the pod watch stream; a larger one fails that watch.
    #[arg(long, default_value_t = 4 << 20, value_name = "BYTES")]
    pub pod_event_max_bytes: u64,
    /// Benchmarking: also append every raw ring-buffer record to FILE (u32 LE length, then
    /// the bytes), for `--replay`.
    #[arg(long, hide = true, value_name = "FILE", conflicts_with = "replay")]
    pub record_raw: Option<PathBuf>,
    /// Benchmarking: no probes; run the records of FILE (from `--record-raw`) through decode,
    /// enrichment, the rules and alert JSON on one thread, print a JSON summary and exit.
    #[arg(long, hide = true, value_name = "FILE")]
    pub replay: Option<PathBuf>,
    /// With `--replay`: how many times the recording is played.
    #[arg(long, hide = true, default_value_t = 1, requires = "replay",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub replay_rounds: u32,
}

fn parse_ringbuf(s: &str) -> Result<u32, String> {
    let n: u32 = s.parse().map_err(|e| format!("{e}"))?;
    if !n.is_power_of_two() || n < 4096 {
        return Err(format!("{n} is not a power of two of at least 4096 bytes"));
    }
    Ok(n)
}
