//! `lanner`: Lanner's node agent. Thin: parse the command line, then hand over to `app`.

mod app;
mod cli;
mod clock;
mod container;
mod enrich;
mod event;
mod k8s;
mod loader;
mod output;
mod process;
mod reader;
mod rules;
mod stats;
#[cfg(test)]
mod testutil;

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = cli::Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lanner: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(app::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lanner: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
