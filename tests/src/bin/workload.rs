//! `lanner-workload <name> <iterations>`: a syscall storm used by `cargo xtask bench`.
//!
//! Each workload does its work and exits 0; the harness times the whole process. Workloads:
//! - `getpid`: raw `getpid` syscalls (a syscall no monitor cares about: the cost of hooking
//!   the syscall path as such);
//! - `exec`: fork + execve of `/bin/true`, waiting for each child;
//! - `connect`: loopback TCP connect/accept/close, the listener in a second thread;
//! - `mount`: tmpfs mount + umount2 on a temporary directory, inside a private mount
//!   namespace (needs root);
//! - `open`: open + close (read-only) of an ordinary file in a temporary directory, a file no
//!   rule cares about;
//! - `open-sensitive`: open + read + close of `/etc/shadow` (needs root): with the official
//!   rules every open is a *Read sensitive file untrusted* alert;
//! - `unlink-rename`: the atomic-save pattern: create a temporary file (open `O_CREAT`), rename
//!   it over the final name, unlink that;
//! - `dup2`: `dup2` of a connected loopback TCP socket onto a high fd (never stdio);
//! - `accept`: a loopback TCP server accepting connections. Its clients open them with
//!   `sendto(MSG_FASTOPEN)` instead of `connect`, so that the host sees the inbound side only,
//!   as with a remote client (the kernel completes an ordinary handshake when the server does
//!   not take Fast Open data).
//!
//! Plain std + libc on purpose: nothing here should cost more than the syscalls themselves.

use std::ffi::CString;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (name, iterations) = match args.as_slice() {
        [_, name, n] => match n.parse::<u64>() {
            Ok(n) => (name.as_str(), n),
            Err(e) => return usage(&format!("bad iteration count {n:?}: {e}")),
        },
        _ => return usage("expected two arguments"),
    };
    let start = Instant::now();
    let result = match name {
        "getpid" => getpid(iterations),
        "exec" => exec(iterations),
        "connect" => connect(iterations),
        "mount" => mount(iterations),
        "open" => open(iterations),
        "open-sensitive" => open_sensitive(iterations),
        "unlink-rename" => unlink_rename(iterations),
        "dup2" => dup2(iterations),
        "accept" => accept(iterations),
        other => return usage(&format!("unknown workload {other:?}")),
    };
    match result {
        Ok(()) => {
            let secs = start.elapsed().as_secs_f64();
            println!("{name} {iterations} iterations in {secs:.3} s");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lanner-workload {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(why: &str) -> ExitCode {
    eprintln!(
        "lanner-workload: {why}\nusage: lanner-workload \
         getpid|exec|connect|mount|open|open-sensitive|unlink-rename|dup2|accept ITERATIONS"
    );
    ExitCode::from(2)
}

/// Turns a libc return value into an `io::Result`, with `what` in the error.
fn check(ret: libc::c_long, what: &str) -> io::Result<libc::c_long> {
    if ret < 0 {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    } else {
        Ok(ret)
    }
}

fn getpid(iterations: u64) -> io::Result<()> {
    for _ in 0..iterations {
        // SAFETY: getpid takes no arguments and cannot fail.
        let pid = unsafe { libc::syscall(libc::SYS_getpid) };
        std::hint::black_box(pid);
    }
    Ok(())
}

fn exec(iterations: u64) -> io::Result<()> {
    let path = CString::new("/bin/true").expect("no NUL");
    let argv = [path.as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    for _ in 0..iterations {
        // SAFETY: the child only calls async-signal-safe functions (execve, _exit) on data
        // prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: argv and envp are NULL-terminated arrays of valid C strings.
            unsafe {
                libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
                libc::_exit(127);
            }
        }
        check(pid.into(), "fork")?;
        let mut status = 0;
        // SAFETY: waiting for our own child with a valid status pointer.
        check(
            unsafe { libc::waitpid(pid, &mut status, 0) }.into(),
            "waitpid",
        )?;
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            return Err(io::Error::other(format!(
                "/bin/true: wait status {status:#x}"
            )));
        }
    }
    Ok(())
}

fn connect(iterations: u64) -> io::Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;
    // The server accepts and closes first, so TIME_WAIT stays on the listener's side and the
    // client's ephemeral ports are free again at once.
    let server = std::thread::spawn(move || -> io::Result<()> {
        for _ in 0..iterations {
            drop(listener.accept()?);
        }
        Ok(())
    });
    let mut byte = [0u8; 1];
    for _ in 0..iterations {
        let mut stream = TcpStream::connect(addr)?;
        // Wait for the server's close (EOF) before closing our side.
        let n = stream.read(&mut byte)?;
        debug_assert_eq!(n, 0);
    }
    server
        .join()
        .map_err(|_| io::Error::other("server thread panicked"))?
}

fn mount(iterations: u64) -> io::Result<()> {
    // A private mount namespace: nothing propagates to the host, and nothing stays mounted
    // if we die halfway.
    // SAFETY: plain syscalls with valid arguments.
    unsafe {
        check(
            libc::unshare(libc::CLONE_NEWNS).into(),
            "unshare(CLONE_NEWNS)",
        )?;
        let root = CString::new("/").expect("no NUL");
        let flags = libc::MS_REC | libc::MS_PRIVATE;
        let ret = libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        );
        check(ret.into(), "mount --make-rprivate /")?;
    }
    with_temp_dir("mount", |dir| mount_loop(dir, iterations))
}

fn mount_loop(dir: &Path, iterations: u64) -> io::Result<()> {
    let target = c_path(dir)?;
    let source = CString::new("lanner-bench").expect("no NUL");
    let fstype = CString::new("tmpfs").expect("no NUL");
    let data = CString::new("size=1m").expect("no NUL");
    for _ in 0..iterations {
        // SAFETY: all pointers are valid NUL-terminated strings that outlive the calls.
        unsafe {
            let ret = libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                data.as_ptr().cast(),
            );
            check(ret.into(), "mount tmpfs")?;
            check(libc::umount2(target.as_ptr(), 0).into(), "umount2")?;
        }
    }
    Ok(())
}

/// Runs `f` in a fresh directory `$TMPDIR/lanner-workload-NAME.PID`, removed afterwards.
fn with_temp_dir(name: &str, f: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<()> {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("lanner-workload-{name}.{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = f(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::other(format!("{} contains NUL", path.display())))
}

fn open(iterations: u64) -> io::Result<()> {
    with_temp_dir("open", |dir| {
        let file = dir.join("plain.txt");
        std::fs::write(&file, b"nothing to see\n")?;
        let path = c_path(&file)?;
        for _ in 0..iterations {
            // SAFETY: a valid NUL-terminated path; the fd is ours and closed at once.
            unsafe {
                let fd = check(
                    libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC).into(),
                    "open",
                )?;
                check(libc::close(fd as libc::c_int).into(), "close")?;
            }
        }
        Ok(())
    })
}

/// What `cat /etc/shadow` does, minus the write: open, one read, close.
fn open_sensitive(iterations: u64) -> io::Result<()> {
    let path = CString::new("/etc/shadow").expect("no NUL");
    let mut buf = [0u8; 4096];
    for _ in 0..iterations {
        // SAFETY: a valid path and a buffer of the length given; the fd is ours.
        unsafe {
            let fd = check(
                libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC).into(),
                "open /etc/shadow",
            )? as libc::c_int;
            let read = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            libc::close(fd);
            check(read as libc::c_long, "read /etc/shadow")?;
        }
    }
    Ok(())
}

fn unlink_rename(iterations: u64) -> io::Result<()> {
    with_temp_dir("unlink-rename", |dir| {
        let temp = c_path(&dir.join("state.json.tmp"))?;
        let target = c_path(&dir.join("state.json"))?;
        for _ in 0..iterations {
            // SAFETY: valid NUL-terminated paths; the fd is ours and closed at once.
            unsafe {
                let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC;
                let fd = check(
                    libc::open(temp.as_ptr(), flags, 0o600 as libc::c_uint).into(),
                    "create",
                )?;
                check(libc::close(fd as libc::c_int).into(), "close")?;
                check(
                    libc::rename(temp.as_ptr(), target.as_ptr()).into(),
                    "rename",
                )?;
                check(libc::unlink(target.as_ptr()).into(), "unlink")?;
            }
        }
        Ok(())
    })
}

/// Far above stdio and the few fds the workload holds, below any RLIMIT_NOFILE (1024 at least).
const DUP2_TARGET_FD: libc::c_int = 900;

fn dup2(iterations: u64) -> io::Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let stream = TcpStream::connect(listener.local_addr()?)?;
    let (_peer, _) = listener.accept()?;
    let fd = stream.as_raw_fd();
    for _ in 0..iterations {
        // SAFETY: `fd` is an open socket we own; the target fd is free or an earlier copy
        // of it, which dup2 closes atomically.
        let ret = unsafe { libc::dup2(fd, DUP2_TARGET_FD) };
        if check(ret.into(), "dup2")? != libc::c_long::from(DUP2_TARGET_FD) {
            return Err(io::Error::other(format!("dup2 returned {ret}")));
        }
    }
    // SAFETY: the copy is ours.
    unsafe { libc::close(DUP2_TARGET_FD) };
    Ok(())
}

fn accept(iterations: u64) -> io::Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;
    let client = std::thread::spawn(move || -> io::Result<()> {
        for _ in 0..iterations {
            fast_open_request(addr)?;
        }
        Ok(())
    });
    let mut byte = [0u8; 1];
    let served = (|| -> io::Result<()> {
        for _ in 0..iterations {
            // The server reads the request and closes first (TIME_WAIT stays on its side).
            let (mut conn, _) = listener.accept()?;
            conn.read_exact(&mut byte)?;
        }
        Ok(())
    })();
    // On a server error the client thread is stuck in a read: leave it to the exit.
    served?;
    client
        .join()
        .map_err(|_| io::Error::other("client thread panicked"))?
}

/// One request of the `accept` workload's client: a socket opened by `sendto(MSG_FASTOPEN)`
/// (no `connect` syscall), one byte sent, then the server's close awaited.
fn fast_open_request(addr: SocketAddr) -> io::Result<()> {
    let SocketAddr::V4(v4) = addr else {
        return Err(io::Error::other("IPv4 listener expected"));
    };
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: plain socket calls on an fd we own, with a valid sockaddr and buffer.
    unsafe {
        let fd = check(
            libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0).into(),
            "socket",
        )? as libc::c_int;
        let sent = libc::sendto(
            fd,
            b"x".as_ptr().cast(),
            1,
            libc::MSG_FASTOPEN,
            (&raw const sin).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        let mut byte = 0u8;
        let read = if sent == 1 {
            libc::read(fd, (&raw mut byte).cast(), 1)
        } else {
            0
        };
        libc::close(fd);
        check(
            sent as libc::c_long,
            "sendto(MSG_FASTOPEN) (net.ipv4.tcp_fastopen lacks bit 1?)",
        )?;
        check(read as libc::c_long, "read")?;
    }
    Ok(())
}
