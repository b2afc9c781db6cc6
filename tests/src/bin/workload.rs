//! `lanner-workload <name> <iterations>`: a syscall storm used by `cargo xtask bench`.
//!
//! Each workload does its work and exits 0; the harness times the whole process. Workloads:
//! - `getpid`: raw `getpid` syscalls (a syscall no monitor cares about: the cost of hooking
//!   the syscall path as such);
//! - `exec`: fork + execve of `/bin/true`, waiting for each child;
//! - `connect`: loopback TCP connect/accept/close, the listener in a second thread;
//! - `mount`: tmpfs mount + umount2 on a temporary directory, inside a private mount
//!   namespace (needs root).
//!
//! Plain std + libc on purpose: nothing here should cost more than the syscalls themselves.

use std::ffi::CString;
use std::io::{self, Read};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
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
        "lanner-workload: {why}\nusage: lanner-workload getpid|exec|connect|mount ITERATIONS"
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
    let dir = std::env::temp_dir().join(format!("lanner-workload-mount.{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = mount_loop(&dir, iterations);
    let _ = std::fs::remove_dir(&dir);
    result
}

fn mount_loop(dir: &std::path::Path, iterations: u64) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let target = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::other("temp dir path contains NUL"))?;
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
