//! The rules commands that exit without capturing: `-V` (validate), `-L` (list rules),
//! `--list` (list fields).

use std::{io::Write as _, path::PathBuf};

use lanner_rules::Severity;

use super::files;
use crate::config::Config;

/// `-V FILE…`: load the files together, print every problem with its position. Exit status 1
/// on any error.
pub fn validate(paths: &[PathBuf], config: &Config) -> std::process::ExitCode {
    let mut out = std::io::stdout().lock();
    let sources = match files::read(paths) {
        Ok(s) => s,
        Err(e) => {
            // A file that cannot be read says where, as a diagnostic does.
            match e.downcast_ref::<crate::textfile::TextFileError>() {
                Some(e) => writeln!(out, "{e}"),
                None => writeln!(out, "error: {e:#}"),
            }
            .ok();
            let _ = writeln!(out, "validation failed: 1 error(s)");
            return std::process::ExitCode::FAILURE;
        }
    };
    let names: Vec<&str> = sources.iter().map(|s| &*s.name).collect();
    match lanner_rules::load(&sources, &config.engine_options()) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                let _ = writeln!(out, "{w}");
            }
            for n in names {
                let _ = writeln!(out, "{n}: Ok");
            }
            let _ = writeln!(
                out,
                "{} rules, {} enabled for the events Lanner captures",
                loaded.ruleset.rules().len(),
                loaded.ruleset.active_count()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(diags) => {
            let errors = diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            for d in &diags {
                let _ = writeln!(out, "{d}");
            }
            let _ = writeln!(out, "validation failed: {errors} error(s)");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `-L`: the rules that would be loaded, with priority, tags, state and event types.
pub fn list_rules(paths: &[PathBuf], config: &Config) -> std::process::ExitCode {
    let ruleset = match super::live::load(paths, &config.engine_options()) {
        Ok(r) => r,
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    for r in ruleset.rules() {
        let types: Vec<&str> = r.live_types.iter().map(|t| t.name()).collect();
        let state = match (r.enabled, r.evt_types.is_empty(), types.is_empty()) {
            (false, _, _) => "disabled",
            (true, true, _) => "never fires (events Lanner does not capture)",
            (true, false, true) => "never fires (needs fields Lanner does not fill)",
            (true, false, false) => "active",
        };
        let _ = writeln!(
            out,
            "{}\n  priority: {}  tags: [{}]  {state}{}\n  {}",
            r.name,
            r.priority,
            r.tags.join(", "),
            if types.is_empty() {
                String::new()
            } else {
                format!(" on {}", types.join(", "))
            },
            r.desc.split_whitespace().collect::<Vec<_>>().join(" "),
        );
    }
    let _ = writeln!(
        out,
        "\n{} rules, {} active",
        ruleset.rules().len(),
        ruleset.active_count()
    );
    let _ = write!(out, "{}", kernel_filters(&ruleset));
    std::process::ExitCode::SUCCESS
}

/// Terms of a filtered type `-L` shows; the rest are counted.
const TERMS_SHOWN: usize = 6;

/// `-L`'s account of the in-kernel prefilter: per event type the kernel can filter, whether
/// it is filtered (and on what), dropped whole, or passes whole and why; then the types whose
/// programs send every event.
pub fn kernel_filters(ruleset: &lanner_rules::Ruleset) -> String {
    use std::fmt::Write as _;

    use lanner_rules::{
        EvtType,
        prefilter::{TypeFilter, kernel_probe, plan},
    };
    let mut out = String::from("\nIn the kernel (the prefilter, from these rules):\n");
    for (t, f) in plan(ruleset, false).filters {
        let _ = match &f {
            TypeFilter::Drop => writeln!(
                out,
                "  {}: dropped in the kernel (no enabled rule can match it)",
                t.name()
            ),
            TypeFilter::Filter(flt) => {
                let _ = writeln!(
                    out,
                    "  {}: filtered in the kernel ({} rules; an event passes if one of these holds)",
                    t.name(),
                    flt.rules
                );
                for term in flt.terms.iter().take(TERMS_SHOWN) {
                    let _ = writeln!(out, "    - {term}");
                }
                if flt.terms.len() > TERMS_SHOWN {
                    let _ = writeln!(out, "    - … {} more", flt.terms.len() - TERMS_SHOWN);
                }
                Ok(())
            }
            TypeFilter::Pass(reasons) => {
                let _ = writeln!(out, "  {}: passes whole", t.name());
                for r in reasons {
                    let _ = writeln!(out, "    - {r}");
                }
                Ok(())
            }
        };
    }
    let whole: Vec<&str> = EvtType::ALL
        .into_iter()
        .filter(|t| kernel_probe(*t).is_none())
        .map(EvtType::name)
        .collect();
    let _ = writeln!(
        out,
        "  sent whole (their programs do not consult the prefilter): {}",
        whole.join(", ")
    );
    out
}

/// `--list`: every field with its type and meaning.
pub fn list_fields() -> std::process::ExitCode {
    print!("{}", lanner_rules::fields::list_text());
    std::process::ExitCode::SUCCESS
}
