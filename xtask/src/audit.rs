//! auditd as a bench monitor: our own configuration (logs in a scratch directory), one
//! keyed rule, and the kernel's audit state put back afterwards.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{self, output};

/// The key of our rule, so that we only ever delete our own rules.
const KEY: &str = "lanner-bench";
/// Our rules (`auditctl -a always,exit -F arch=b64` + these + `-k lanner-bench`): what a user
/// who wants the coverage of Lanner with the official rules from auditd would write. Every
/// call of the syscalls Lanner captures or will (issue 16) is a record, except dups: those
/// only onto stdin, stdout or stderr (the reverse shell, as Falco's rule tests the result).
pub const RULES: [&[&str]; 2] = [
    &[
        "-S",
        "execve,execveat,connect,mount,umount2,open,openat,openat2,creat,unlink,unlinkat,\
         rename,renameat,renameat2,accept,accept4",
    ],
    &["-S", "dup,dup2,dup3", "-F", "exit>=0", "-F", "exit<=2"],
];
/// Debian's default rules file uses this backlog; the kernel's default (64) overflows at once.
const BACKLOG: &str = "8192";

/// The kernel's audit state, from `auditctl -s`.
#[derive(Clone, Copy, Debug)]
pub struct Status {
    pub enabled: u32,
    pub pid: u32,
    pub lost: u64,
    pub backlog_limit: u64,
}

pub fn status() -> Option<Status> {
    let text = output(util::cmd("auditctl").arg("-s"))?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some(Status {
        enabled: u32::try_from(field("enabled")?).ok()?,
        pid: u32::try_from(field("pid")?).ok()?,
        lost: field("lost")?,
        backlog_limit: field("backlog_limit")?,
    })
}

fn auditctl(args: &[&str]) -> Result<()> {
    let out = util::cmd("auditctl").args(args).output()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("auditctl {} failed: {}", args.join(" "), err.trim());
    }
    Ok(())
}

/// Sets the backlog and adds our rule (once auditd is registered with the kernel).
pub fn add_rules() -> Result<()> {
    auditctl(&["-b", BACKLOG])?;
    for rule in RULES {
        let mut args = vec!["-a", "always,exit", "-F", "arch=b64"];
        args.extend_from_slice(rule);
        args.extend(["-k", KEY]);
        auditctl(&args)?;
    }
    Ok(())
}

/// Deletes the rules carrying our key (and no other).
pub fn remove_rules() -> Result<()> {
    auditctl(&["-D", "-k", KEY])
}

/// Puts back the enabled flag and backlog limit seen before we started.
pub fn restore(before: &Status) {
    let _ = auditctl(&["-e", &before.enabled.to_string()]);
    let _ = auditctl(&["-b", &before.backlog_limit.to_string()]);
}

/// Checks that no audit daemon runs, writes our configuration under `scratch`, and returns
/// the `auditd` command to spawn (in the foreground) with the audit state before it.
pub fn prepare(scratch: &Path) -> Result<(Command, Status)> {
    let before = status().context("`auditctl -s` failed (is auditd installed?)")?;
    if before.pid != 0 {
        bail!(
            "an audit daemon is already running (pid {}); leaving it alone",
            before.pid
        );
    }
    let _ = remove_rules(); // left over from an interrupted run
    let conf_dir = scratch.join("audit");
    let log_dir = conf_dir.join("log");
    let plugins = conf_dir.join("plugins.d");
    std::fs::create_dir_all(&log_dir)?;
    std::fs::create_dir_all(&plugins)?;
    // Debian's defaults, except: logs in the scratch directory (rotated, at most 4 x 32 MiB),
    // no plugins, no network listener, and never suspend or halt on disk trouble.
    let conf = format!(
        "local_events = yes\nwrite_logs = yes\nlog_file = {log}\nlog_group = root\n\
         log_format = ENRICHED\nflush = INCREMENTAL_ASYNC\nfreq = 50\nmax_log_file = 32\n\
         num_logs = 4\nmax_log_file_action = ROTATE\npriority_boost = 4\nname_format = NONE\n\
         space_left = 75\nspace_left_action = IGNORE\nadmin_space_left = 50\n\
         admin_space_left_action = IGNORE\ndisk_full_action = IGNORE\n\
         disk_error_action = IGNORE\nuse_libwrap = no\nplugin_dir = {plugins}\n\
         q_depth = 2000\noverflow_action = IGNORE\nend_of_event_timeout = 2\n",
        log = log_dir.join("audit.log").display(),
        plugins = plugins.display(),
    );
    let conf_file = conf_dir.join("auditd.conf");
    std::fs::write(&conf_file, conf)?;
    std::fs::set_permissions(&conf_file, std::fs::Permissions::from_mode(0o640))?;
    let mut c = util::cmd("auditd");
    c.arg("-n").arg("-c").arg(&conf_dir);
    Ok((c, before))
}
