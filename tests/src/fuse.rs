//! A FUSE filesystem whose reads never return until the test says so: what a hostile
//! container's FUSE daemon does to whoever reads its files. Written against the kernel's FUSE
//! protocol (`/dev/fuse`, `include/uapi/linux/fuse.h`), no libfuse.
//!
//! The mount is one directory holding one regular file, `passwd`, with the given content. Its
//! metadata (lookup, getattr, open, statfs) is answered at once; every `READ` is held until
//! [`HangingFs::release`], then answered, and answered at once from then on. Dropping the
//! value answers what is held, unmounts and aborts the connection, so no reader stays stuck.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

const ROOT: u64 = 1;
const FILE: u64 = 2;
const FILE_NAME: &[u8] = b"passwd";

// Opcodes and flags (include/uapi/linux/fuse.h).
const LOOKUP: u32 = 1;
const FORGET: u32 = 2;
const GETATTR: u32 = 3;
const OPEN: u32 = 14;
const READ: u32 = 15;
const STATFS: u32 = 17;
const RELEASE: u32 = 18;
const FLUSH: u32 = 25;
const INIT: u32 = 26;
const INTERRUPT: u32 = 36;
const BATCH_FORGET: u32 = 42;
const FOPEN_DIRECT_IO: u32 = 1;
const IN_HEADER: usize = 40;

struct State {
    /// Reads held: (unique, offset, size).
    held: Vec<(u64, u64, u32)>,
    released: bool,
}

pub struct HangingFs {
    mnt: PathBuf,
    dev: Arc<File>,
    content: Arc<Vec<u8>>,
    state: Arc<Mutex<State>>,
    reads: Arc<AtomicUsize>,
    /// The connection's number under /sys/fs/fuse/connections: the mount's device minor.
    conn: u64,
    server: Option<JoinHandle<()>>,
}

impl HangingFs {
    /// Mounts the filesystem on `mnt` (an existing empty directory).
    pub fn mount(mnt: &Path, content: &str) -> HangingFs {
        let dev = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .expect("open /dev/fuse");
        let opts = CString::new(format!(
            "fd={},rootmode=40000,user_id=0,group_id=0,allow_other",
            dev.as_raw_fd()
        ))
        .unwrap();
        let target = CString::new(mnt.as_os_str().as_bytes()).unwrap();
        // SAFETY: valid C strings; the result is checked.
        let rc = unsafe {
            libc::mount(
                c"lanner-test-fuse".as_ptr(),
                target.as_ptr(),
                c"fuse".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                opts.as_ptr().cast(),
            )
        };
        assert_eq!(rc, 0, "mount fuse: {}", std::io::Error::last_os_error());
        let dev = Arc::new(dev);
        let content = Arc::new(content.as_bytes().to_vec());
        let state = Arc::new(Mutex::new(State {
            held: Vec::new(),
            released: false,
        }));
        let reads = Arc::new(AtomicUsize::new(0));
        let server = {
            let (dev, content, state, reads) =
                (dev.clone(), content.clone(), state.clone(), reads.clone());
            std::thread::spawn(move || serve(&dev, &content, &state, &reads))
        };
        // The kernel answers this stat itself (the root's attributes came with the mount).
        let conn = std::fs::metadata(mnt).map_or(0, |m| libc::minor(m.dev()) as u64);
        HangingFs {
            conn,
            mnt: mnt.to_path_buf(),
            dev,
            content,
            state,
            reads,
            server: Some(server),
        }
    }

    /// READ requests received so far (held or answered).
    pub fn reads(&self) -> usize {
        self.reads.load(SeqCst)
    }

    /// Answers the held reads, and every later one at once.
    pub fn release(&self) {
        let mut st = self.state.lock().unwrap();
        st.released = true;
        for (unique, offset, size) in std::mem::take(&mut st.held) {
            reply_read(&self.dev, &self.content, unique, offset, size);
        }
    }
}

impl Drop for HangingFs {
    fn drop(&mut self) {
        self.release();
        let target = CString::new(self.mnt.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid C string.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        // Abort the connection (fusectl, mounted if it is not), so the server's read returns
        // even if a file of the mount is still open somewhere.
        let ctl = Path::new("/sys/fs/fuse/connections");
        if std::fs::read_dir(ctl).is_ok_and(|mut d| d.next().is_none()) {
            // Empty also when mounted with no connection left: then this mount fails, quietly.
            let _ = std::process::Command::new("mount")
                .args(["-t", "fusectl", "fusectl"])
                .arg(ctl)
                .stderr(std::process::Stdio::null())
                .status();
        }
        let _ = std::fs::write(format!("/sys/fs/fuse/connections/{}/abort", self.conn), "1");
        if let Some(s) = self.server.take() {
            let _ = s.join();
        }
    }
}

fn serve(dev: &File, content: &[u8], state: &Mutex<State>, reads: &AtomicUsize) {
    let mut buf = vec![0u8; (1 << 20) + 4096];
    loop {
        let n = match (&*dev).read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            // ENODEV: unmounted or aborted.
            Err(_) => return,
        };
        if n < IN_HEADER {
            continue;
        }
        let req = &buf[..n];
        let opcode = u32_at(req, 4);
        let unique = u64_at(req, 8);
        let nodeid = u64_at(req, 16);
        let body = &req[IN_HEADER..];
        match opcode {
            INIT => {
                let mut out = Vec::with_capacity(64);
                out.extend(7u32.to_ne_bytes()); // major
                out.extend(31u32.to_ne_bytes()); // minor
                out.extend(u32_at(body, 8).to_ne_bytes()); // max_readahead as asked
                out.extend(0u32.to_ne_bytes()); // flags
                out.extend(16u16.to_ne_bytes()); // max_background
                out.extend(12u16.to_ne_bytes()); // congestion_threshold
                out.extend(4096u32.to_ne_bytes()); // max_write
                out.extend(1u32.to_ne_bytes()); // time_gran
                out.resize(64, 0);
                reply(dev, unique, 0, &out);
            }
            LOOKUP => {
                let name = body.split(|b| *b == 0).next().unwrap_or_default();
                if nodeid == ROOT && name == FILE_NAME {
                    let mut out = Vec::with_capacity(128);
                    out.extend(FILE.to_ne_bytes()); // nodeid
                    out.extend(0u64.to_ne_bytes()); // generation
                    out.extend(1u64.to_ne_bytes()); // entry_valid (s)
                    out.extend(1u64.to_ne_bytes()); // attr_valid (s)
                    out.extend([0u8; 8]); // the two nsec fields
                    out.extend(attr(FILE, content.len()));
                    reply(dev, unique, 0, &out);
                } else {
                    reply(dev, unique, -libc::ENOENT, &[]);
                }
            }
            GETATTR => {
                let mut out = Vec::with_capacity(104);
                out.extend(1u64.to_ne_bytes()); // attr_valid
                out.extend([0u8; 8]); // attr_valid_nsec, dummy
                out.extend(attr(nodeid, content.len()));
                reply(dev, unique, 0, &out);
            }
            OPEN => {
                let mut out = Vec::with_capacity(16);
                out.extend(0u64.to_ne_bytes()); // fh
                out.extend(FOPEN_DIRECT_IO.to_ne_bytes()); // every read comes here
                out.extend(0u32.to_ne_bytes());
                reply(dev, unique, 0, &out);
            }
            READ => {
                reads.fetch_add(1, SeqCst);
                let (offset, size) = (u64_at(body, 8), u32_at(body, 16));
                let mut st = state.lock().unwrap();
                if st.released {
                    reply_read(dev, content, unique, offset, size);
                } else {
                    st.held.push((unique, offset, size));
                }
            }
            STATFS => {
                let mut out = vec![0u8; 80];
                out[40..44].copy_from_slice(&4096u32.to_ne_bytes()); // bsize
                out[44..48].copy_from_slice(&255u32.to_ne_bytes()); // namelen
                out[48..52].copy_from_slice(&4096u32.to_ne_bytes()); // frsize
                reply(dev, unique, 0, &out);
            }
            RELEASE | FLUSH => reply(dev, unique, 0, &[]),
            // No answer expected.
            FORGET | BATCH_FORGET | INTERRUPT => {}
            _ => reply(dev, unique, -libc::ENOSYS, &[]),
        }
    }
}

/// `fuse_attr` of the root directory or the file.
fn attr(node: u64, size: usize) -> Vec<u8> {
    let (mode, nlink, size) = match node {
        ROOT => (libc::S_IFDIR | 0o755, 2u32, 0u64),
        _ => (libc::S_IFREG | 0o644, 1, size as u64),
    };
    let mut a = Vec::with_capacity(88);
    a.extend(node.to_ne_bytes()); // ino
    a.extend(size.to_ne_bytes());
    a.extend(size.div_ceil(512).to_ne_bytes()); // blocks
    a.extend([0u8; 24 + 12]); // atime, mtime, ctime and their nsec
    a.extend(mode.to_ne_bytes());
    a.extend(nlink.to_ne_bytes());
    a.extend([0u8; 12]); // uid, gid, rdev
    a.extend(4096u32.to_ne_bytes()); // blksize
    a.extend(0u32.to_ne_bytes()); // flags
    a
}

fn reply_read(dev: &File, content: &[u8], unique: u64, offset: u64, size: u32) {
    let start = (offset as usize).min(content.len());
    let end = (start + size as usize).min(content.len());
    reply(dev, unique, 0, &content[start..end]);
}

fn reply(dev: &File, unique: u64, error: i32, body: &[u8]) {
    let mut out = Vec::with_capacity(16 + body.len());
    out.extend(((16 + body.len()) as u32).to_ne_bytes());
    out.extend(error.to_ne_bytes());
    out.extend(unique.to_ne_bytes());
    out.extend(body);
    // One write per reply, as the protocol wants; an error means the request is gone.
    let _ = (&*dev).write(&out);
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_ne_bytes(s.try_into().unwrap()))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .map_or(0, |s| u64::from_ne_bytes(s.try_into().unwrap()))
}
