//! Files for the programs a test runs: busybox applets under their own names (so the process
//! has the comm a rule looks for: `nc`, `dpkg`, `nsenter`, ...), scripts and data files, in a
//! [`RuncContainer`]'s root filesystem or in a host directory.

use crate::{RuncContainer, TempDir, canonical};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Symlinks `<dir>/<name>` to `target` for each name. Exec'ing such a link gives the process
/// the link's name as comm, and busybox picks the applet from argv[0]'s base name.
pub fn busybox_links(dir: &Path, target: &str, names: &[&str]) {
    fs::create_dir_all(dir).unwrap();
    for name in names {
        let link = dir.join(name);
        if link.symlink_metadata().is_err() {
            std::os::unix::fs::symlink(target, &link)
                .unwrap_or_else(|e| panic!("symlink {}: {e}", link.display()));
        }
    }
}

/// `/bin/<name>` in the container, for each name, as busybox applets.
pub fn ctr_applets(ctr: &RuncContainer, names: &[&str]) {
    busybox_links(&ctr.rootfs().join("bin"), "busybox", names);
}

/// A host directory holding `<name>` links to busybox, for the same commands on the host.
pub fn host_applets(names: &[&str]) -> TempDir {
    let dir = TempDir::new("applets");
    busybox_links(dir.path(), &canonical("/bin/busybox"), names);
    dir
}

/// Writes `content` to `path` with permissions `mode`, creating the parent directories.
pub fn write_file(path: &Path, content: &str, mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// `path` inside the container (absolute, as the container sees it) on the host.
pub fn in_rootfs(ctr: &RuncContainer, path: &str) -> std::path::PathBuf {
    ctr.rootfs().join(path.trim_start_matches('/'))
}
