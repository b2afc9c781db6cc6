//! Rules files that attack the loader: a macro bomb (each level uses the one below twice, so
//! the condition doubles per level while the file grows by a line), and a legal but large
//! condition.

use std::fmt::Write as _;

/// `levels` macros `m1`… each using the one below twice, and a rule `Macro bomb` using the top
/// one. Written out, the condition has about 2^(levels+2) nodes; the file is ~50 bytes a level.
pub fn macro_bomb(levels: usize) -> String {
    let mut t = "- macro: m0\n  condition: proc.name = a or proc.name = b\n".to_string();
    for i in 1..=levels {
        let _ = write!(
            t,
            "- macro: m{i}\n  condition: m{p} or (m{p} and proc.pid > {i})\n",
            p = i - 1
        );
    }
    let _ = write!(
        t,
        "- rule: Macro bomb\n  desc: d\n  condition: evt.type = execve and m{levels}\n  output: o\n  priority: WARNING\n"
    );
    t
}

/// A rule named `rule` whose condition is an exec with `marker` in its command line and `terms`
/// more checks of names no process has: legal, large, and matching every exec with the marker.
pub fn long_condition_rule(rule: &str, marker: &str, terms: usize) -> String {
    let mut cond = format!("evt.type in (execve, execveat) and proc.cmdline contains {marker}");
    for i in 1..=terms {
        let _ = write!(cond, " and proc.name != absent-{i}");
    }
    format!(
        "- rule: {rule}\n  desc: a long condition\n  condition: {cond}\n  output: \"{rule} fired (cmdline=%proc.cmdline)\"\n  priority: WARNING\n"
    )
}
