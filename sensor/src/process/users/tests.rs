//! The user tables: names by id in a root, caching, and readers that do not come back.

use super::*;
use std::{fs, path::PathBuf};

fn query(key: &RootKey, now_ns: u64, uid: u32, gid: u32) -> Query<'_> {
    Query {
        key,
        now_ns,
        exec: false,
        uid,
        gid,
        loginuid: None,
        arg_uid: None,
    }
}

#[test]
fn host_names_resolve_and_unknown_ids_are_na() {
    let mut db = UserDb::new(Path::new("/proc"), Arc::default());
    let me = std::process::id();
    let u = db.context(&query(&RootKey::Host, 0, 0, 0), || vec![me]);
    assert_eq!((&*u.name, &*u.group, &*u.loginname), ("root", "root", NA));
    let big = 4_000_000_000;
    let u = db.context(&query(&RootKey::Host, 1, big, big), || vec![me]);
    assert_eq!((&*u.name, &*u.group), (NA, NA));
}

/// A uid a parameter names (setuid's) is named in the same root as the process's own,
/// `<NA>` when the tables lack it, `<NONE>` for -1; an event without one has none, and
/// the last answer is not reused across a different parameter.
#[test]
fn a_parameters_uid_is_named_in_the_processes_root() {
    let dir = lanner_tests::TempDir::new("users-arg");
    root_of(&dir, 7, "app:x:1000:1000::/:\nnobody:x:65534:65534::/:\n");
    let key = RootKey::Container("c".into());
    let mut db = UserDb::new(dir.path(), Arc::default());
    let with_arg = |arg_uid| Query {
        arg_uid,
        ..query(&key, 0, 1000, 1000)
    };
    let name = |db: &mut UserDb, arg| db.context(&with_arg(arg), || vec![7]).arg_name.clone();
    assert_eq!(name(&mut db, Some(65534)).as_deref(), Some("nobody"));
    assert_eq!(name(&mut db, Some(0)).as_deref(), Some("root"));
    assert_eq!(name(&mut db, Some(4242)).as_deref(), Some(NA));
    assert_eq!(name(&mut db, Some(u32::MAX)).as_deref(), Some(NONE));
    assert_eq!(name(&mut db, None), None);
    let u = db.context(&with_arg(Some(65534)), || vec![7]);
    assert_eq!((&*u.name, u.arg_name.as_deref()), ("app", Some("nobody")));
}

/// `<dir>/<pid>/root` with `passwd` as its /etc/passwd; the root.
fn root_of(dir: &lanner_tests::TempDir, pid: u32, passwd: &str) -> PathBuf {
    let root = dir.path().join(format!("{pid}/root"));
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/passwd"), passwd).unwrap();
    root
}

/// The cache answers without `/proc` until it is due or the event is an exec.
#[test]
fn roots_are_cached_until_due_or_exec() {
    let dir = lanner_tests::TempDir::new("users");
    root_of(&dir, 7, "app:x:1000:1000::/:\n");
    let key = RootKey::Container("c".into());
    let mut db = UserDb::new(dir.path(), Arc::default());
    let asked = std::cell::Cell::new(0);
    let pids = || {
        asked.set(asked.get() + 1);
        vec![7]
    };
    assert_eq!(&*db.context(&query(&key, 0, 1000, 0), pids).name, "app");
    assert_eq!(
        &*db.context(&query(&key, RECHECK_NS - 1, 1000, 0), pids).name,
        "app"
    );
    assert_eq!(asked.get(), 1, "a fresh root is not looked up again");
    let exec = Query {
        exec: true,
        ..query(&key, RECHECK_NS - 1, 1000, 0)
    };
    db.context(&exec, pids);
    assert_eq!(asked.get(), 2, "an exec looks again");
    // The process is gone: the last root still answers, and is asked about once per
    // recheck period, not per event.
    fs::remove_dir_all(dir.path().join("7")).unwrap();
    let late = 3 * RECHECK_NS;
    assert_eq!(&*db.context(&query(&key, late, 1000, 0), pids).name, "app");
    assert_eq!(
        &*db.context(&query(&key, late + 1, 1000, 0), pids).name,
        "app"
    );
    assert_eq!(asked.get(), 3);
}

/// The same question gets the same shared answer, until the tables are read again.
#[test]
fn answers_are_shared_until_the_tables_reload() {
    let dir = lanner_tests::TempDir::new("users-answers");
    let root = root_of(&dir, 7, "app:x:1000:1000::/:\n");
    let key = RootKey::Container("c".into());
    let mut db = UserDb::new(dir.path(), Arc::default());
    let first = db.context(&query(&key, 0, 1000, 0), || vec![7]);
    let again = db.context(&query(&key, 1, 1000, 0), || vec![7]);
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(&*db.context(&query(&key, 2, 0, 0), || vec![7]).name, "root");
    // Another container, the same ids, in between: each key gets its own root's names.
    root_of(&dir, 8, "other:x:1000:1000::/:\n");
    let other = RootKey::Container("d".into());
    assert_eq!(
        &*db.context(&query(&other, 3, 1000, 0), || vec![8]).name,
        "other"
    );
    assert_eq!(
        &*db.context(&query(&key, 4, 1000, 0), || vec![7]).name,
        "app"
    );
    assert_eq!(
        &*db.context(&query(&other, 5, 1000, 0), || vec![8]).name,
        "other"
    );
    fs::write(root.join("etc/passwd"), "renamed:x:1000:1000::/:\n").unwrap();
    let later = RELOAD_AFTER_NS + RECHECK_NS;
    let renamed = db.context(&query(&key, later, 1000, 0), || vec![7]);
    assert_eq!(&*renamed.name, "renamed");
}

/// A root whose passwd read never returns: one deadline, then the key's events (exec or
/// not) answer at once with `<NA>`, without a new read, until the reader comes back; then
/// the names come.
#[test]
fn a_hanging_root_is_not_asked_again_until_its_reader_returns() {
    let dir = lanner_tests::TempDir::new("users-hang");
    let etc = dir.path().join("7/root/etc");
    fs::create_dir_all(&etc).unwrap();
    let fuse = lanner_tests::fuse::HangingFs::mount(&etc, "app:x:1000:1000::/:\n");
    let counters = Arc::new(UserCounters::default());
    let mut db = UserDb::new(dir.path(), counters.clone());
    let key = RootKey::Container("c".into());
    let exec = |now_ns| Query {
        exec: true,
        ..query(&key, now_ns, 1000, 0)
    };
    assert_eq!(&*db.context(&exec(0), || vec![7]).name, NA);
    let reads = fuse.reads();
    for later in [1, RELOAD_AFTER_NS, 10 * RELOAD_AFTER_NS] {
        assert_eq!(&*db.context(&exec(later), || vec![7]).name, NA);
    }
    assert_eq!(fuse.reads(), reads, "no new read while the reader is stuck");
    let snap = counters.snapshot();
    assert_eq!(snap.unreadable[Unreadable::Timeout as usize], 1);
    assert_eq!(snap.stuck_readers, 1);
    fuse.release();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while counters.snapshot().stuck_readers > 0 {
        assert!(std::time::Instant::now() < deadline, "reader still stuck");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let name = db
        .context(&exec(10 * RELOAD_AFTER_NS + 1), || vec![7])
        .name
        .clone();
    assert_eq!(&*name, "app");
}
