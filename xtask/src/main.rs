//! Project tasks: `cargo xtask setup | build | run | test | fuzz | bench | bench-rules |
//! bench-pipeline | soak` (see each module).

mod audit;
mod bench;
mod bench_alerts;
mod bench_cpu;
mod bench_latency;
mod bench_log;
mod bench_pipeline;
mod bench_pipeline_report;
mod bench_report_lanner;
mod bench_rules;
mod bench_sensor;
mod build;
mod fuzz;
mod monitors;
mod report;
mod run;
mod setup;
mod soak;
mod soak_report;
mod test;
mod util;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Lanner project tasks")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Check and install the build prerequisites (toolchains, LLVM 22, bpf-linker, tracefs).
    Setup,
    /// Setup, then `cargo build --release`.
    Build,
    /// Build, then run `lanner [ARGS]` in the foreground: the built-in ruleset, alerts as
    /// JSON lines on stdout (add `-- --dump-events` to see every event too).
    Run {
        /// Extra arguments for lanner (after `--`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Setup, fmt, clippy (user crates and eBPF), build, the test suite, then the fuzzers for
    /// a fixed time each.
    Test,
    /// Run the fuzz targets (tests/fuzz/) for SECONDS each: all, or those named.
    Fuzz {
        #[arg(long, default_value_t = fuzz::CI_SECONDS)]
        seconds: u64,
        /// rules_file, condition, output, config, decode, pod_json.
        targets: Vec<String>,
    },
    /// Measure the overhead of Lanner and peer monitors; writes BENCHMARKS.md, then runs
    /// bench-rules and bench-pipeline (unless --overhead-only).
    Bench(bench::Opts),
    /// Rule evaluation alone with the official Falco rules; writes BENCHMARKS-rules.md.
    BenchRules,
    /// Userspace pipeline throughput (replay of a recording), exec-to-alert latency and RSS;
    /// writes BENCHMARKS-pipeline.md.
    BenchPipeline,
    /// The sensor with the official rules under a steady load (default 20,000 events/s for
    /// 10 minutes): RSS curve, loss and health; writes SOAK.md. Not part of `test`.
    Soak(soak::Opts),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Task::Setup => setup::run(),
        Task::Build => build::run(),
        Task::Run { args } => run::run(&args),
        Task::Test => test::run(),
        Task::Fuzz { seconds, targets } => fuzz::run(seconds, &targets),
        Task::Bench(opts) if opts.overhead_only => bench::run(&opts),
        Task::Bench(opts) => bench::run(&opts)
            .and_then(|()| bench_rules::run())
            .and_then(|()| bench_pipeline::run()),
        Task::BenchRules => bench_rules::run(),
        Task::BenchPipeline => bench_pipeline::run(),
        Task::Soak(opts) => soak::run(&opts),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(argv: &[&str]) -> Vec<String> {
        match Cli::try_parse_from(argv).expect("parses").command {
            Task::Run { args } => args,
            _ => panic!("not run"),
        }
    }

    #[test]
    fn run_passes_lanner_args_through() {
        let expected = ["--ringbuf-bytes", "4096", "--capture-env"];
        let with_dashes = [
            "xtask",
            "run",
            "--",
            "--ringbuf-bytes",
            "4096",
            "--capture-env",
        ];
        assert_eq!(run_args(&with_dashes), expected);
        let without = ["xtask", "run", "--ringbuf-bytes", "4096", "--capture-env"];
        assert_eq!(run_args(&without), expected);
        assert!(run_args(&["xtask", "run"]).is_empty());
    }

    #[test]
    fn bench_options() {
        let cli = Cli::try_parse_from([
            "xtask",
            "bench",
            "--rounds",
            "3",
            "--monitors",
            "auditd,bpftrace",
        ])
        .expect("parses");
        let Task::Bench(opts) = cli.command else {
            panic!("not bench")
        };
        assert_eq!(opts.rounds, 3);
        assert_eq!(opts.monitors, ["auditd", "bpftrace"]);
        assert!(Cli::try_parse_from(["xtask", "bench", "--rounds", "0"]).is_err());
    }
}
