//! The user tables' file system work, off the pipeline, with a deadline.
//!
//! Finding a process's root and reading its `/etc/passwd` touches a filesystem the process's
//! owner may control: a FUSE daemon can make `stat` or `read` wait forever. So a reader thread
//! does it and the enricher waits at most [`DEADLINE`]. A reader that misses it is left behind
//! (it cannot be interrupted) and a fresh one serves the next lookup; when a left-behind
//! reader finally returns, what it found is kept for the enricher to take ([`Readers::late`])
//! and the thread ends. The enricher does not ask again for a key whose reader is left behind,
//! so one hostile root holds at most one thread. At most [`MAX_STUCK`] are left behind at
//! once: past that, lookups are answered at once as `busy`, so a thousand hostile roots cost a
//! bounded number of threads and a bounded wait each.

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering::Relaxed},
        mpsc::{self, Receiver, RecvTimeoutError, SyncSender},
    },
    time::Duration,
};

use super::{RootKey, counters::UserCounters, tables::Tables};
use crate::process::rootfs::{self, RootId, Unreadable};

/// Longest the enricher waits for a lookup. Reading a passwd file from the page cache takes
/// microseconds, a cold disk a few milliseconds; on a loaded node the reader may wait tens of
/// milliseconds for a CPU. A lookup that misses it costs only the events of that key until
/// the reader comes back (`<NA>`, counted `timeout`).
pub const DEADLINE: Duration = Duration::from_millis(100);
/// Most readers left behind at once.
pub const MAX_STUCK: u64 = 16;
/// Most late results kept: one per reader left behind.
const MAX_LATE: usize = MAX_STUCK as usize;
/// A reader's stack: it only opens, reads into the heap and parses.
const STACK: usize = 256 << 10;

/// One lookup: the root of the first of `pids` that is alive, and its tables unless that
/// root is `fresh` (its tables read recently).
#[derive(Debug)]
pub struct Job {
    /// Whose lookup it is: a late answer says so.
    pub key: RootKey,
    pub pids: Vec<u32>,
    pub fresh: Option<RootId>,
}

#[derive(Debug)]
pub enum Found {
    /// `tables` is `None` when the root was `fresh`.
    Root { id: RootId, tables: Option<Tables> },
    /// None of the pids is alive (or their roots cannot be opened).
    Nothing,
}

type Late = Arc<Mutex<Vec<(RootKey, Found)>>>;

/// The reader serving lookups now.
struct Reader {
    jobs: SyncSender<Job>,
    replies: Receiver<Found>,
    /// Set when the enricher stops waiting for it (counted in `stuck_readers` until the
    /// thread ends).
    left_behind: Arc<AtomicBool>,
}

pub struct Readers {
    proc_root: PathBuf,
    current: Option<Reader>,
    late: Late,
    counters: Arc<UserCounters>,
}

impl Readers {
    pub fn new(proc_root: PathBuf, counters: Arc<UserCounters>) -> Self {
        Self {
            proc_root,
            current: None,
            late: Arc::default(),
            counters,
        }
    }

    /// Runs `job` on the reader, waiting at most [`DEADLINE`]. `Err(Timeout)`: the reader was
    /// left behind; `Err(Busy)`: too many are, the job was not tried.
    pub fn ask(&mut self, job: Job) -> Result<Found, Unreadable> {
        let reader = match self.current.take() {
            Some(r) => r,
            None => self.spawn()?,
        };
        if reader.jobs.send(job).is_err() {
            // The thread is gone (it panicked): the next lookup starts another.
            return Err(Unreadable::Io);
        }
        match reader.replies.recv_timeout(DEADLINE) {
            Ok(found) => {
                self.current = Some(reader);
                Ok(found)
            }
            Err(RecvTimeoutError::Timeout) => {
                // Dropping `reader` (after both lines) closes its channels: the thread notices
                // when its read returns, files what it read as late, and ends, uncounting
                // itself. It cannot end before the drop, so it always sees the flag.
                self.counters.stuck_readers.fetch_add(1, Relaxed);
                reader.left_behind.store(true, Relaxed);
                Err(Unreadable::Timeout)
            }
            Err(RecvTimeoutError::Disconnected) => Err(Unreadable::Io),
        }
    }

    /// What readers left behind found once they came back, by key.
    pub fn late(&self) -> Vec<(RootKey, Found)> {
        let mut late = self.late.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut *late)
    }

    fn spawn(&mut self) -> Result<Reader, Unreadable> {
        if self.counters.stuck_readers.load(Relaxed) >= MAX_STUCK {
            return Err(Unreadable::Busy);
        }
        let (jobs, job_rx) = mpsc::sync_channel::<Job>(1);
        let (reply_tx, replies) = mpsc::sync_channel::<Found>(1);
        let left_behind = Arc::new(AtomicBool::new(false));
        let (proc_root, late, counters, left) = (
            self.proc_root.clone(),
            self.late.clone(),
            self.counters.clone(),
            left_behind.clone(),
        );
        std::thread::Builder::new()
            .name("lanner-users".into())
            .stack_size(STACK)
            .spawn(move || {
                serve(&proc_root, &job_rx, &reply_tx, &late);
                if left.load(Relaxed) {
                    counters.stuck_readers.fetch_sub(1, Relaxed);
                }
            })
            .map_err(|e| {
                log::warn!("user tables: cannot start a reader thread: {e}");
                Unreadable::Busy
            })?;
        Ok(Reader {
            jobs,
            replies,
            left_behind,
        })
    }
}

/// A reader's life: jobs until the enricher stops waiting for it (or is gone).
fn serve(
    proc_root: &std::path::Path,
    jobs: &Receiver<Job>,
    replies: &SyncSender<Found>,
    late: &Late,
) {
    while let Ok(job) = jobs.recv() {
        let key = job.key.clone();
        let found = work(proc_root, job);
        if let Err(mpsc::SendError(found)) = replies.send(found) {
            // Left behind: tell the enricher what was found (it waits for this before asking
            // about the key again), and go.
            let mut late = late.lock().unwrap_or_else(PoisonError::into_inner);
            if late.len() < MAX_LATE {
                late.push((key, found));
            }
            return;
        }
    }
}

/// The first root with a passwd file among the pids' (a process not yet pivoted into its
/// container's root has the host's); else the first root opened, with what its files gave.
fn work(proc_root: &std::path::Path, job: Job) -> Found {
    let mut first = None;
    for pid in job.pids {
        let Ok(root) = rootfs::open_root(proc_root, pid) else {
            continue;
        };
        if job.fresh == Some(root.id) {
            return Found::Root {
                id: root.id,
                tables: None,
            };
        }
        let tables = Tables::read(&root);
        if tables.users != Err(Unreadable::Missing) {
            return Found::Root {
                id: root.id,
                tables: Some(tables),
            };
        }
        first.get_or_insert((root.id, tables));
    }
    match first {
        Some((id, t)) => Found::Root {
            id,
            tables: Some(t),
        },
        None => Found::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanner_tests::{TempDir, fuse::HangingFs};
    use std::{fs, time::Instant};

    /// `<dir>/<pid>/root/etc`, standing for `/proc/<pid>/root/etc`.
    fn etc(dir: &TempDir, pid: u32) -> PathBuf {
        let etc = dir.path().join(format!("{pid}/root/etc"));
        fs::create_dir_all(&etc).unwrap();
        etc
    }

    fn job(pid: u32) -> Job {
        Job {
            key: RootKey::Container(pid.to_string().into()),
            pids: vec![pid],
            fresh: None,
        }
    }

    fn name(t: &Tables, uid: u32) -> Option<&str> {
        t.users().and_then(|u| u.get(&uid)).map(|n| &**n)
    }

    #[track_caller]
    fn wait_unstuck(counters: &UserCounters) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while counters.snapshot().stuck_readers > 0 {
            assert!(Instant::now() < deadline, "readers still stuck");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A FUSE read that never returns (what a hostile container's daemon does) costs one
    /// deadline; the next lookup gets a fresh reader; what the stuck one reads once the
    /// filesystem answers is kept.
    #[test]
    fn a_read_that_never_returns_costs_one_deadline_and_comes_back_late() {
        let dir = TempDir::new("users-fuse");
        let fuse = HangingFs::mount(&etc(&dir, 1), "app:x:1000:1000::/:\n");
        let counters = Arc::new(UserCounters::default());
        let mut readers = Readers::new(dir.path().to_path_buf(), counters.clone());
        assert_eq!(readers.ask(job(1)).unwrap_err(), Unreadable::Timeout);
        assert!(fuse.reads() >= 1, "the reader never got to the read");
        assert_eq!(counters.snapshot().stuck_readers, 1);
        fs::write(etc(&dir, 2).join("passwd"), "other:x:7:7::/:\n").unwrap();
        match readers.ask(job(2)) {
            Ok(Found::Root {
                tables: Some(t), ..
            }) => assert_eq!(name(&t, 7), Some("other")),
            other => panic!("another root must be read at once: {other:?}"),
        }
        assert!(readers.late().is_empty());
        fuse.release();
        wait_unstuck(&counters);
        let late = readers.late();
        assert_eq!(late.len(), 1, "{late:?}");
        let (
            key,
            Found::Root {
                tables: Some(t), ..
            },
        ) = &late[0]
        else {
            panic!("{late:?}")
        };
        assert_eq!(*key, job(1).key);
        assert_eq!(name(t, 1000), Some("app"));
    }

    /// Past [`MAX_STUCK`] readers left behind, a lookup is answered `busy` without waiting,
    /// until they come back.
    #[test]
    fn past_the_stuck_budget_lookups_are_busy_at_once() {
        let dir = TempDir::new("users-fuse-busy");
        let fuse = HangingFs::mount(&etc(&dir, 1), "app:x:1000:1000::/:\n");
        let counters = Arc::new(UserCounters::default());
        let mut readers = Readers::new(dir.path().to_path_buf(), counters.clone());
        for _ in 0..MAX_STUCK {
            assert_eq!(readers.ask(job(1)).unwrap_err(), Unreadable::Timeout);
        }
        assert_eq!(counters.snapshot().stuck_readers, MAX_STUCK);
        let asked = Instant::now();
        assert_eq!(readers.ask(job(1)).unwrap_err(), Unreadable::Busy);
        assert!(asked.elapsed() < DEADLINE, "a busy answer must not wait");
        fuse.release();
        wait_unstuck(&counters);
        assert!(matches!(
            readers.ask(job(1)),
            Ok(Found::Root {
                tables: Some(_),
                ..
            })
        ));
    }
}
