//! Reading a file inside another process's root (`/proc/<pid>/root/etc/passwd`) without letting
//! whoever owns that root block, exhaust or redirect the reader.
//!
//! A container controls every byte under its root: `/etc/passwd` may be a FIFO (an open or a
//! read that never returns), a symlink to `/dev/zero` (endless), a 1 GB sparse file, a symlink
//! to `/proc/kmsg` (a read that blocks and consumes the host's kernel log) or an absolute
//! symlink that, followed from the host, names a host file. Hence:
//! - the root is opened `O_PATH` (nothing of its filesystem runs) and identified by its device
//!   and inode;
//! - the file is opened with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, so every
//!   symlink resolves inside that root as the container itself sees it, and `O_NONBLOCK`, so
//!   an open never waits (a FIFO without writer, a file lease);
//! - only a regular file on a real filesystem is read (not procfs, sysfs, tracefs, … whose
//!   regular files can block or have read side effects), of at most `cap` bytes, and never
//!   more than the size it had when opened: a file that grows while read is refused, not cut.
//!
//! A filesystem can still block inside `read` (a FUSE daemon that never answers): callers run
//! these reads off the pipeline with a deadline (`users::io`).

use std::{
    ffi::{CStr, CString},
    io,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::ffi::OsStrExt,
    },
    path::Path,
};

/// A root directory, by device and inode.
pub type RootId = (u64, u64);

/// An opened root: an `O_PATH` descriptor and what it is.
#[derive(Debug)]
pub struct RootDir {
    fd: OwnedFd,
    pub id: RootId,
}

/// Why a file could not be read. Each is a counter (`users` in the counters and metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unreadable {
    /// Not there (or a path component is not a directory).
    Missing,
    /// A FIFO, device, socket or directory.
    NotRegular,
    /// A regular file of a pseudo filesystem (procfs, sysfs, tracefs, …).
    PseudoFs,
    /// Larger than the cap.
    TooLarge,
    /// Grew while being read.
    Changed,
    /// The open would wait (a lease) or the path leaves the root: refused.
    Refused,
    /// Any other error of open, stat or read.
    Io,
    /// Not read within the deadline (the reader is left behind, see `users::io`).
    Timeout,
    /// Every reader is stuck on an earlier file: not tried.
    Busy,
}

impl Unreadable {
    pub const ALL: [Unreadable; 9] = [
        Self::Missing,
        Self::NotRegular,
        Self::PseudoFs,
        Self::TooLarge,
        Self::Changed,
        Self::Refused,
        Self::Io,
        Self::Timeout,
        Self::Busy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::NotRegular => "not_regular",
            Self::PseudoFs => "pseudo_fs",
            Self::TooLarge => "too_large",
            Self::Changed => "changed",
            Self::Refused => "refused",
            Self::Io => "io_error",
            Self::Timeout => "timeout",
            Self::Busy => "busy",
        }
    }

    fn of_errno(e: &io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR) => Self::Missing,
            // EAGAIN: a lease would make the open wait. EXDEV: the path tried to leave the
            // root. ELOOP: a symlink chain too long, or a magic link.
            Some(libc::EAGAIN | libc::EXDEV | libc::ELOOP) => Self::Refused,
            _ => Self::Io,
        }
    }
}

/// Filesystems whose regular files are not files: reading one can block (`/proc/kmsg`,
/// tracefs's `trace_pipe`), consume state others need, or reach the kernel's innards.
const PSEUDO_FS: [u64; 14] = [
    libc::PROC_SUPER_MAGIC as u64,
    libc::SYSFS_MAGIC as u64,
    libc::DEBUGFS_MAGIC as u64,
    libc::TRACEFS_MAGIC as u64,
    libc::SECURITYFS_MAGIC as u64,
    libc::CGROUP_SUPER_MAGIC as u64,
    libc::CGROUP2_SUPER_MAGIC as u64,
    libc::BPF_FS_MAGIC as u64,
    libc::SELINUX_MAGIC as u64,
    libc::SMACK_MAGIC as u64,
    libc::HUGETLBFS_MAGIC as u64,
    // Not in libc: configfs, pstore, efivarfs (include/uapi/linux/magic.h).
    0x6265_6570,
    0x6165_676c,
    0xde5e_81e4,
];

/// `<proc_root>/<pid>/root`, opened without opening the directory itself.
pub fn open_root(proc_root: &Path, pid: u32) -> io::Result<RootDir> {
    let path = proc_root.join(pid.to_string()).join("root");
    let c = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: a NUL-terminated path; the result is checked.
    let raw = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor we just opened and own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let st = fstat(&fd)?;
    Ok(RootDir {
        fd,
        id: (st.st_dev, st.st_ino),
    })
}

/// `rel` (relative, e.g. `etc/passwd`) inside `root`, whole, if it is a regular file of a real
/// filesystem of at most `cap` bytes.
pub fn read_file(root: &RootDir, rel: &CStr, cap: u64) -> Result<Vec<u8>, Unreadable> {
    let fd = open_in_root(root, rel).map_err(|e| Unreadable::of_errno(&e))?;
    let st = fstat(&fd).map_err(|_| Unreadable::Io)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Unreadable::NotRegular);
    }
    if PSEUDO_FS.contains(&fs_type(&fd).map_err(|_| Unreadable::Io)?) {
        return Err(Unreadable::PseudoFs);
    }
    let size = u64::try_from(st.st_size).map_err(|_| Unreadable::Io)?;
    if size > cap {
        return Err(Unreadable::TooLarge);
    }
    let mut file = std::fs::File::from(fd);
    let mut buf = vec![0u8; size as usize];
    let mut got = 0;
    while got < buf.len() {
        match io::Read::read(&mut file, &mut buf[got..]) {
            Ok(0) => break, // shrank: what was there is all there is
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(Unreadable::Io),
        }
    }
    buf.truncate(got);
    // One byte more means it grew since the fstat: the end read may be a torn line.
    if got == size as usize {
        let mut probe = [0u8; 1];
        if matches!(io::Read::read(&mut file, &mut probe), Ok(1)) {
            return Err(Unreadable::Changed);
        }
    }
    Ok(buf)
}

fn open_in_root(root: &RootDir, rel: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: open_how is three integers (libc marks it non-exhaustive); all zero is valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: openat2 reads `how` (of the size given) and the NUL-terminated path; the
    // result is checked.
    let raw = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.fd.as_raw_fd(),
            rel.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor openat2 just returned to us.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as i32) })
}

fn fstat(fd: &OwnedFd) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills `st` when it returns 0.
    if unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: initialised by the successful fstat.
    Ok(unsafe { st.assume_init() })
}

fn fs_type(fd: &OwnedFd) -> io::Result<u64> {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs fills `st` when it returns 0.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: initialised by the successful fstatfs. f_type's C type varies by libc; the
    // magic numbers are 32-bit.
    Ok(unsafe { st.assume_init() }.f_type as u64 & 0xffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{fs, os::unix::fs::symlink};

    const CAP: u64 = 1 << 20;

    /// `<dir>/1/root` with an etc/, as `open_root` finds it.
    fn root(dir: &lanner_tests::TempDir) -> (RootDir, std::path::PathBuf) {
        let root = dir.path().join("1/root");
        fs::create_dir_all(root.join("etc")).unwrap();
        (open_root(dir.path(), 1).unwrap(), root)
    }

    fn read(r: &RootDir) -> Result<Vec<u8>, Unreadable> {
        read_file(r, c"etc/passwd", CAP)
    }

    #[test]
    fn a_regular_file_reads_whole() {
        let dir = lanner_tests::TempDir::new("rootfs-ok");
        let (r, path) = root(&dir);
        fs::write(path.join("etc/passwd"), "root:x:0:0::/:\n").unwrap();
        assert_eq!(read(&r).unwrap(), b"root:x:0:0::/:\n");
        assert_eq!(read_file(&r, c"etc/group", CAP), Err(Unreadable::Missing));
    }

    #[test]
    fn a_fifo_is_refused_without_waiting() {
        let dir = lanner_tests::TempDir::new("rootfs-fifo");
        let (r, path) = root(&dir);
        let fifo = CString::new(path.join("etc/passwd").as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        assert_eq!(read(&r), Err(Unreadable::NotRegular));
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = lanner_tests::TempDir::new("rootfs-link");
        let (r, path) = root(&dir);
        // Followed from the host, `/dev/zero` is endless; inside this root it does not exist.
        symlink("/dev/zero", path.join("etc/passwd")).unwrap();
        assert_eq!(read(&r), Err(Unreadable::Missing));
        // An absolute link to a file the root has is that root's file, not the host's.
        fs::write(path.join("etc/real"), "app:x:1:1::/:\n").unwrap();
        fs::remove_file(path.join("etc/passwd")).unwrap();
        symlink("/etc/real", path.join("etc/passwd")).unwrap();
        assert_eq!(read(&r).unwrap(), b"app:x:1:1::/:\n");
        // `..` cannot climb out of it either.
        fs::remove_file(path.join("etc/passwd")).unwrap();
        symlink("../../../../../../../etc/real", path.join("etc/passwd")).unwrap();
        assert_eq!(read(&r).unwrap(), b"app:x:1:1::/:\n");
    }

    /// Through the host's own root, as a container's would be: its devices and its /proc.
    #[test]
    fn devices_and_pseudo_files_are_refused() {
        let host = open_root(Path::new("/proc"), std::process::id()).unwrap();
        assert_eq!(
            read_file(&host, c"dev/zero", CAP),
            Err(Unreadable::NotRegular)
        );
        assert_eq!(
            read_file(&host, c"dev/null", CAP),
            Err(Unreadable::NotRegular)
        );
        assert_eq!(
            read_file(&host, c"proc/self/status", CAP),
            Err(Unreadable::PseudoFs)
        );
        // A magic link (/proc/self/root) is not followed.
        assert_eq!(
            read_file(&host, c"proc/self/root/etc/passwd", CAP),
            Err(Unreadable::Refused)
        );
    }

    #[test]
    fn a_file_over_the_cap_is_refused_unread() {
        let dir = lanner_tests::TempDir::new("rootfs-big");
        let (r, path) = root(&dir);
        // Sparse: 1 GB of size, no blocks; a reader that trusted it would allocate 1 GB.
        let f = fs::File::create(path.join("etc/passwd")).unwrap();
        f.set_len(1 << 30).unwrap();
        assert_eq!(read(&r), Err(Unreadable::TooLarge));
    }
}
