//! The field table: every field a condition or an output may name, with Falco's type,
//! argument form and flags (falco-fields.md section 1), grouped by class in `--list` order.
//!
//! The description says what the value is; "Lanner:" notes where the sensor's value differs
//! from Falco's, or when it never has one (the field is known so that rules naming it load).

use super::flag::*;

fields! {
    // evt: the event.
    EvtType = "evt.type", Str, None, 0,
        "Event type name (execve, connect, mount, clone, procexit, ...).";
    EvtArg = "evt.arg", Str, EvtArg, 0,
        "One event argument as text, resolved where Falco resolves it (evt.arg.NAME, evt.arg[N]); missing if the event has no such argument.";
    EvtRawarg = "evt.rawarg", Int64, EvtArg, NO_TRANSFORMER,
        "One event argument as its raw number (evt.rawarg.res < 0). Lanner: numeric arguments only (Falco types it per argument).";
    EvtArgs = "evt.args", Str, None, 0,
        "All arguments as name=value, space separated.";
    EvtRes = "evt.res", Str, None, 0,
        "SUCCESS if the return value is >= 0, else the errno name (ENOENT, EPERM, ...); missing without a return value.";
    EvtRawres = "evt.rawres", Int64, None, 0,
        "Return value as a number; missing without a return value.";
    EvtFailed = "evt.failed", Bool, None, 0,
        "True if the event returned an error.";
    EvtNum = "evt.num", Uint64, None, 0,
        "Event sequence number. Lanner: never set.";
    EvtTime = "evt.time", AbsTime, None, 0,
        "Event time: text HH:MM:SS.nnnnnnnnn local time, JSON ns since the epoch. Lanner: compares as ns (Falco: as text).";
    EvtTimeS = "evt.time.s", AbsTime, None, 0,
        "Event time: text HH:MM:SS, JSON ns since the epoch.";
    EvtTimeIso8601 = "evt.time.iso8601", AbsTime, None, 0,
        "Event time: text YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+0000 (UTC), JSON ns since the epoch.";
    EvtDatetime = "evt.datetime", AbsTime, None, 0,
        "Event time: text YYYY-MM-DD HH:MM:SS.nnnnnnnnn local time, JSON ns since the epoch.";
    EvtDatetimeS = "evt.datetime.s", AbsTime, None, 0,
        "Event time: text YYYY-MM-DD HH:MM:SS local time, JSON ns since the epoch.";
    EvtRawtime = "evt.rawtime", AbsTime, None, 0,
        "Event time in ns since the epoch.";
    EvtDir = "evt.dir", Str, None, DEPRECATED,
        "Event direction: always < (exit), enter events are not delivered.";
    EvtSource = "evt.source", Str, None, 0,
        "Event source name: syscall.";
    EvtHostname = "evt.hostname", Str, None, 0,
        "Name of the host the sensor runs on.";
    EvtIsOpenRead = "evt.is_open_read", Bool, None, 0,
        "True for an open with read access; false for other events.";
    EvtIsOpenWrite = "evt.is_open_write", Bool, None, 0,
        "True for an open with write access; false for other events.";
    EvtIsOpenExec = "evt.is_open_exec", Bool, None, 0,
        "True for an open or creat that creates an executable file; false for other events.";
    EvtBuffer = "evt.buffer", Bytes, None, 0,
        "I/O data buffer of read/write events. Lanner: recvfrom's first 80 bytes only.";

    // proc: the process and its ancestors.
    ProcPid = "proc.pid", Int64, None, 0,
        "Process id (thread group id) in the host pid namespace.";
    ProcPpid = "proc.ppid", Int64, None, 0,
        "Pid of the parent process; missing if the parent is unknown.";
    ProcVpid = "proc.vpid", Int64, None, 0,
        "Pid inside the process's own pid namespace (1 for a container's init).";
    ProcName = "proc.name", Str, None, 0,
        "Kernel comm of the thread: the executable's name, at most 15 characters.";
    ProcExe = "proc.exe", Str, None, 0,
        "argv[0] exactly as passed to exec (bash, ./x.sh, -bash).";
    ProcExepath = "proc.exepath", Str, None, 0,
        "Full path of the executable as the kernel resolved it (symlinks resolved; the interpreter for scripts).";
    ProcArgs = "proc.args", Str, IndexRequired, OPTIONAL_ARG,
        "Arguments after argv[0], space separated (\"\" when none); proc.args[N] = the Nth one, \"\" past the end.";
    ProcCmdline = "proc.cmdline", Str, None, 0,
        "proc.name followed by the arguments, space separated.";
    ProcExeline = "proc.exeline", Str, None, 0,
        "proc.exe followed by the arguments, space separated.";
    ProcCmdnargs = "proc.cmdnargs", Uint64, None, 0,
        "Number of arguments after argv[0].";
    ProcEnv = "proc.env", Str, Key, OPTIONAL_ARG,
        "Environment as K=V, space separated; proc.env[NAME] = the value of NAME, \"\" if unset. Lanner: only where exec captured the environment.";
    ProcCwd = "proc.cwd", Str, None, 0,
        "Working directory, always ending with /.";
    ProcTty = "proc.tty", Uint32, None, 0,
        "Controlling terminal device number, 0 for none. Lanner: exec events only.";
    ProcSid = "proc.sid", Int64, None, 0,
        "Session id. Lanner: in the host pid namespace, exec events only.";
    ProcPgid = "proc.pgid", Int64, None, 0,
        "Process group id in the host pid namespace. Lanner: exec events only.";
    ProcVpgid = "proc.vpgid", Int64, None, 0,
        "Process group id inside the process's own pid namespace.";
    ProcSname = "proc.sname", Str, None, 0,
        "Name (comm) of the session leader.";
    ProcIsVpgidLeader = "proc.is_vpgid_leader", Bool, None, 0,
        "True if the process leads its process group (proc.vpgid = proc.vpid): started from a shell, not by a script.";
    ProcPname = "proc.pname", Str, None, 0,
        "Name (comm) of the parent process; missing if the parent is unknown.";
    ProcPexe = "proc.pexe", Str, None, 0,
        "argv[0] of the parent process.";
    ProcPexepath = "proc.pexepath", Str, None, 0,
        "Executable path of the parent process.";
    ProcPcmdline = "proc.pcmdline", Str, None, 0,
        "Command line (proc.cmdline) of the parent process.";
    ProcAname = "proc.aname", Str, Index, NO_TRANSFORMER | ANY_ANCESTOR,
        "Name of the Nth ancestor (0 = the process, 1 = parent); without index: any ancestor from the parent up.";
    ProcAexe = "proc.aexe", Str, Index, NO_TRANSFORMER | ANY_ANCESTOR,
        "argv[0] of the Nth ancestor; without index: any ancestor from the parent up.";
    ProcAexepath = "proc.aexepath", Str, Index, NO_TRANSFORMER | ANY_ANCESTOR,
        "Executable path of the Nth ancestor; without index: any ancestor from the parent up.";
    ProcApid = "proc.apid", Int64, Index, NO_TRANSFORMER | ANY_ANCESTOR,
        "Pid of the Nth ancestor; without index: any ancestor from the parent up.";
    ProcAcmdline = "proc.acmdline", Str, Index, NO_TRANSFORMER | ANY_ANCESTOR,
        "Command line of the Nth ancestor; without index: any ancestor from the parent up.";
    ProcDuration = "proc.duration", RelTime, None, 0,
        "ns since the process was created; missing if its start is unknown.";
    ProcIsExeUpperLayer = "proc.is_exe_upper_layer", Bool, None, 0,
        "True if the executable is in the overlayfs upper layer (written in the container). Lanner: exec events only.";
    ProcIsExeFromMemfd = "proc.is_exe_from_memfd", Bool, None, 0,
        "True if the executable is a memfd (fileless execution). Lanner: exec events only.";
    ProcIsExeWritable = "proc.is_exe_writable", Bool, None, 0,
        "True if the executable is writable by the process's user. Lanner: never set.";
    ProcExeIno = "proc.exe_ino", Uint64, None, 0,
        "Inode number of the executable. Lanner: never set.";
    ProcExeInoCtime = "proc.exe_ino.ctime", AbsTime, None, 0,
        "ctime of the executable's inode, ns since the epoch. Lanner: never set.";
    ProcExeInoMtime = "proc.exe_ino.mtime", AbsTime, None, 0,
        "mtime of the executable's inode, ns since the epoch. Lanner: never set.";
    ProcExeInoCtimeDurationProcStart = "proc.exe_ino.ctime_duration_proc_start", AbsTime, None, 0,
        "ns between the executable's inode ctime and the process start. Lanner: never set.";

    // thread: the thread.
    ThreadTid = "thread.tid", Int64, None, 0,
        "Thread id in the host pid namespace.";
    ThreadVtid = "thread.vtid", Int64, None, 0,
        "Thread id inside the process's own pid namespace. Lanner: known for the main thread only.";
    ThreadCapPermitted = "thread.cap_permitted", Str, None, 0,
        "Permitted capabilities, names in bit order, space separated. Lanner: exec events only.";
    ThreadCapEffective = "thread.cap_effective", Str, None, 0,
        "Effective capabilities, names in bit order, space separated. Lanner: exec events only.";
    ThreadCapInheritable = "thread.cap_inheritable", Str, None, 0,
        "Inheritable capabilities. Lanner: never set.";

    // user / group.
    UserUid = "user.uid", Uint32, None, 0,
        "User id of the thread.";
    UserName = "user.name", Str, None, 0,
        "User name from the passwd file of the process's container (or host); <NA> if unknown.";
    UserEuid = "user.euid", Uint32, None, 0,
        "Effective user id. Lanner extra, exec events only.";
    UserLoginuid = "user.loginuid", Int64, None, 0,
        "Audit login uid, -1 when unset. Lanner: exec events only.";
    UserLoginname = "user.loginname", Str, None, 0,
        "User name of the login uid; <NA> if unknown.";
    GroupGid = "group.gid", Uint32, None, 0,
        "Group id of the thread.";
    GroupName = "group.name", Str, None, 0,
        "Group name from the group file of the process's container (or host); <NA> if unknown.";

    // fd: the file descriptor: of an open, connect, or a network-family call.
    FdNum = "fd.num", Int64, None, 0,
        "File descriptor number; -1 when the call failed.";
    FdName = "fd.name", Str, None, 0,
        "Files: absolute path. IP sockets: cip:cport->sip:sport. Unix sockets: the path.";
    FdNameraw = "fd.nameraw", Str, None, 0,
        "Path as passed to the syscall, repeated / collapsed.";
    FdDirectory = "fd.directory", Str, None, 0,
        "Directory of a file fd, without the trailing /.";
    FdFilename = "fd.filename", Str, None, 0,
        "Last path component of a file fd.";
    FdType = "fd.type", Str, None, 0,
        "Kind of fd: file, directory, ipv4, ipv6, unix, pipe, event, ... .";
    FdTypechar = "fd.typechar", Str, None, 0,
        "Kind of fd as one character: f, d, 4, 6, u, p, e, ... .";
    FdSockfamily = "fd.sockfamily", Str, None, 0,
        "Socket family: ip or unix; missing for other fds.";
    FdL4proto = "fd.l4proto", Str, None, 0,
        "Transport protocol of an IP socket: tcp, udp, icmp, raw; <NA> otherwise.";
    FdConnected = "fd.connected", Bool, None, 0,
        "True if the socket is connected (connect succeeded or is in progress).";
    FdNameChanged = "fd.name_changed", Bool, None, 0,
        "True if this event changed the fd's name (a UDP send to a new peer).";
    FdCip = "fd.cip", IpAddr, None, 0,
        "Client IP (for connect: the local side).";
    FdSip = "fd.sip", IpAddr, None, 0,
        "Server IP (for connect: the peer).";
    FdLip = "fd.lip", IpAddr, None, 0,
        "Local IP of a connected socket.";
    FdRip = "fd.rip", IpAddr, None, 0,
        "Remote IP of a connected socket.";
    FdCport = "fd.cport", Port, None, 0,
        "Client port.";
    FdSport = "fd.sport", Port, None, 0,
        "Server port.";
    FdLport = "fd.lport", Port, None, 0,
        "Local port of a connected socket.";
    FdRport = "fd.rport", Port, None, 0,
        "Remote port of a connected socket.";
    FdCipName = "fd.cip.name", Str, None, NO_TRANSFORMER,
        "DNS name of the client IP. Lanner: never set.";
    FdSipName = "fd.sip.name", Str, None, NO_TRANSFORMER,
        "DNS name of the server IP. Lanner: never set.";
    FdLipName = "fd.lip.name", Str, None, NO_TRANSFORMER,
        "DNS name of the local IP. Lanner: never set.";
    FdRipName = "fd.rip.name", Str, None, NO_TRANSFORMER,
        "DNS name of the remote IP. Lanner: never set.";
    FdIp = "fd.ip", IpAddr, None, FILTER_ONLY | NO_TRANSFORMER,
        "Client or server IP (= matches either, != both).";
    FdPort = "fd.port", Port, None, FILTER_ONLY | NO_TRANSFORMER,
        "Client or server port (= matches either, != both).";
    FdNet = "fd.net", IpNet, None, FILTER_ONLY | NO_TRANSFORMER,
        "Client or server IP inside the CIDR.";
    FdCnet = "fd.cnet", IpNet, None, FILTER_ONLY | NO_TRANSFORMER,
        "Client IP inside the CIDR.";
    FdSnet = "fd.snet", IpNet, None, FILTER_ONLY | NO_TRANSFORMER,
        "Server IP inside the CIDR.";
    FdLnet = "fd.lnet", IpNet, None, FILTER_ONLY | NO_TRANSFORMER,
        "Local IP inside the CIDR.";
    FdRnet = "fd.rnet", IpNet, None, FILTER_ONLY | NO_TRANSFORMER,
        "Remote IP inside the CIDR.";

    // container.
    ContainerId = "container.id", Str, None, 0,
        "First 12 hex digits of the container id; host outside containers.";
    ContainerFullId = "container.full_id", Str, None, 0,
        "The whole 64-hex container id; host outside containers.";
    ContainerName = "container.name", Str, None, 0,
        "Container name; host outside containers. Lanner: the name in the pod spec, missing without pod context.";
    ContainerType = "container.type", Str, None, 0,
        "Container runtime: containerd, cri-o, docker, podman; host outside containers. Lanner: from the cgroup name, missing when it does not say.";
    ContainerImage = "container.image", Str, None, 0,
        "Full image reference (docker.io/library/nginx:1.25); \"\" outside containers. Lanner: missing without pod context.";
    ContainerImageRepository = "container.image.repository", Str, None, 0,
        "Image repository (docker.io/library/nginx); \"\" outside containers. Lanner: missing without pod context.";
    ContainerImageTag = "container.image.tag", Str, None, 0,
        "Image tag (1.25); \"\" outside containers. Lanner: missing without pod context.";
    ContainerPrivileged = "container.privileged", Bool, None, 0,
        "True for a privileged container; false outside containers. Lanner: missing without pod context.";
    ContainerStartTs = "container.start_ts", AbsTime, None, 0,
        "Container start, ns since the epoch. Lanner: the pod status's startedAt, missing without pod context (Falco: the pid namespace's start, set on the host too).";
    ContainerDuration = "container.duration", RelTime, None, 0,
        "ns since the container started.";
    ContainerMounts = "container.mounts", Str, None, 0,
        "Mounts as source:dest:mode:rdwr:propagation joined with ','; \"\" outside containers. Lanner: hostPath mounts of the pod spec.";
    ContainerMountSource = "container.mount.source", Str, IndexOrKey, 0,
        "Source of a mount: [N] the Nth one, [REGEX] the first whose destination matches; missing if none.";
    ContainerMountDest = "container.mount.dest", Str, IndexOrKey, 0,
        "Destination of a mount: [N] the Nth one, [REGEX] the first whose source (host path) matches (unanchored); missing if none.";

    // k8s: the pod of the container.
    K8sNsName = "k8s.ns.name", Str, None, 0,
        "Namespace of the pod; missing outside Kubernetes. Lanner: <pending> while the pod is not known yet.";
    K8sPodName = "k8s.pod.name", Str, None, 0,
        "Name of the pod; missing outside Kubernetes. Lanner: <pending> while the pod is not known yet.";
    K8sPodUid = "k8s.pod.uid", Str, None, 0,
        "UID of the pod.";
    K8sPodId = "k8s.pod.id", Str, None, 0,
        "UID of the pod (alias of k8s.pod.uid).";
    K8sPodLabel = "k8s.pod.label", Str, Key, 0,
        "Value of the pod label KEY (k8s.pod.label[app.kubernetes.io/name]); missing if absent.";
    K8sPodLabels = "k8s.pod.labels", Str, None, 0,
        "Pod labels as key:value joined with ', ' (io.kubernetes.* left out); \"\" when none.";
    K8sPodIp = "k8s.pod.ip", Str, None, 0,
        "Pod IP as text; \"\" when the pod has none.";

    // fs.path: the paths of the calls that change the file tree (and of opens), whatever
    // their fd. Missing when the call failed, as in Falco.
    FsPathName = "fs.path.name", Str, None, 0,
        "The path a file call operates on (unlink, rmdir, mkdir, chmod, the opens; fchmod: its fd's path), absolute and normalized. Missing when the call failed. Lanner: a relative path is joined to its dirfd's directory (Falco: always to the cwd).";
    FsPathNameraw = "fs.path.nameraw", Str, None, 0,
        "fs.path.name as passed to the syscall. Missing when the call failed.";
    FsPathSource = "fs.path.source", Str, None, 0,
        "The source of a rename (oldpath), a link (newpath: the new link, as Falco has it) or a symlink (linkpath), absolute and normalized. Missing when the call failed.";
    FsPathSourceraw = "fs.path.sourceraw", Str, None, 0,
        "fs.path.source as passed to the syscall. Missing when the call failed.";
    FsPathTarget = "fs.path.target", Str, None, 0,
        "The target of a rename (newpath), a link (oldpath: the existing file) or a symlink (its content, joined to the cwd when relative, as Falco does), absolute and normalized. Missing when the call failed.";
    FsPathTargetraw = "fs.path.targetraw", Str, None, 0,
        "fs.path.target as passed to the syscall. Missing when the call failed.";

    // lanner: how the sensor captured the event (no Falco equivalent).
    LannerPathTruncated = "lanner.path_truncated", Bool, None, 0,
        "True if a path the event shows was cut short: proc.exepath or proc.cwd (longer than PATH_MAX, built one relative step at a time, or nested deeper than the sensor walks), an exec's evt.arg.filename, a mount's source or target. The value shows //…// where components were left out (its root side and leaf are kept, so startswith /dir/ still works), or starts with …// when its root side is unknown.";
}
