//! Project tasks: `cargo xtask setup | build | run | test | bench` (see each module).

mod audit;
mod bench;
mod build;
mod monitors;
mod report;
mod run;
mod setup;
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
    /// Build, then run `lanner --dump-events [ARGS]` in the foreground.
    Run {
        /// Extra arguments for lanner (after `--`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Setup, fmt, clippy (user crates and eBPF), build, then the test suite.
    Test,
    /// Measure the overhead of Lanner and peer monitors; writes BENCHMARKS.md.
    Bench(bench::Opts),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Task::Setup => setup::run(),
        Task::Build => build::run(),
        Task::Run { args } => run::run(&args),
        Task::Test => test::run(),
        Task::Bench(opts) => bench::run(&opts),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
