//! `lanner`: Lanner's node agent. Thin: parse the command line, then hand over to `app`.

use clap::Parser as _;
use lanner::{app, cli, config, replay, rules, signals};

fn main() -> std::process::ExitCode {
    // First: SIGHUP's default action would end the process until the reload handler exists,
    // and stops go to a thread of their own (signals.rs).
    signals::block_at_start();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let stop = signals::StopSignals::start();
    let args = cli::Cli::parse();
    if args.list_fields {
        return rules::commands::list_fields();
    }
    let config = match config::Config::load(args.config.as_deref(), &args.options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lanner: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if !args.validate.is_empty() {
        return rules::commands::validate(&args.validate, &config);
    }
    // `-r` replaces the config's `rules_files`; neither: the built-in ruleset.
    let paths = if args.rules.is_empty() {
        config.rules_files.clone()
    } else {
        args.rules.clone()
    };
    if args.list_rules {
        return rules::commands::list_rules(&paths, &config);
    }
    // Rules are loaded before any probe: a broken rules file stops the start, with its errors.
    let ruleset = match rules::live::load(&paths, &config.engine_options()) {
        Ok(r) => r,
        Err(errors) => {
            for e in errors {
                eprintln!("lanner: {e}");
            }
            eprintln!("lanner: the rules did not load; not starting");
            return std::process::ExitCode::FAILURE;
        }
    };
    log::info!(
        "rules loaded: {} rules, {} active ({})",
        ruleset.rules().len(),
        ruleset.active_count(),
        if paths.is_empty() {
            "built-in ruleset".to_string()
        } else {
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    if let Some(file) = &args.replay {
        return replay::main(&args, file, ruleset, &config);
    }
    let setup = app::RulesSetup {
        live: rules::live::LiveRules::new(ruleset),
        paths,
        config,
    };
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
    let done = rt.block_on(app::run(args, setup, stop));
    // Every stage has finished; a task stuck in a read must not hold the exit.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    match done {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lanner: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
