//! Kernel struct layout for the kernel programs, resolved from the running kernel's BTF.
//!
//! Required members fail the start with an error naming the member; optional ones (audit
//! login uid, IPv6, overlayfs) degrade to "unknown" for that field only.

use std::path::Path;

use lanner_common::Offsets;

use super::btf::{Btf, BtfError};

#[derive(Debug, thiserror::Error)]
pub enum OffsetsError {
    #[error("kernel BTF")]
    Btf(#[from] BtfError),
    #[error("kernel BTF has no {strukt}.{member}, which Lanner needs (kernel too old or too new?)")]
    Missing {
        strukt: &'static str,
        member: &'static str,
    },
    #[error("kernel BTF: {strukt}.{member} is {size} bytes, Lanner reads {expected}")]
    Size {
        strukt: &'static str,
        member: &'static str,
        size: u32,
        expected: u32,
    },
}

struct Resolver<'a> {
    btf: &'a Btf,
    module: Option<&'a Btf>,
}

impl Resolver<'_> {
    fn req(&self, strukt: &'static str, member: &'static str) -> Result<u32, OffsetsError> {
        self.opt(strukt, member)?
            .filter(|o| *o != Offsets::MISSING)
            .ok_or(OffsetsError::Missing { strukt, member })
    }

    fn opt(&self, strukt: &str, member: &str) -> Result<Option<u32>, OffsetsError> {
        if let Some(o) = self.btf.try_member_offset(strukt, member)? {
            return Ok(Some(o));
        }
        match self.module {
            Some(m) => Ok(m.try_member_offset(strukt, member)?),
            None => Ok(None),
        }
    }

    /// A required member the programs read as `expected` bytes: a kernel where it has another
    /// size (a bitfield before, a wider type after) fails the start rather than read garbage.
    fn sized(
        &self,
        strukt: &'static str,
        member: &'static str,
        expected: u32,
    ) -> Result<u32, OffsetsError> {
        let off = self.req(strukt, member)?;
        let size = self.btf.member_size(strukt, member)?;
        if size != expected {
            return Err(OffsetsError::Size {
                strukt,
                member,
                size,
                expected,
            });
        }
        Ok(off)
    }

    /// An optional one-byte member: `MISSING` where the kernel lacks it or has it as a
    /// bitfield (no byte offset to read).
    fn opt_byte(&self, strukt: &str, member: &str) -> u32 {
        match (
            self.btf.try_member_offset(strukt, member),
            self.btf.member_size(strukt, member),
        ) {
            (Ok(Some(off)), Ok(1)) => off,
            _ => Offsets::MISSING,
        }
    }

    fn opt_or_missing(&self, strukt: &str, member: &str) -> Result<u32, OffsetsError> {
        Ok(self.opt(strukt, member)?.unwrap_or(Offsets::MISSING))
    }

    /// First of several names a member has had across kernel versions.
    fn req_any(&self, strukt: &'static str, members: &[&'static str]) -> Result<u32, OffsetsError> {
        for m in members {
            if let Some(o) = self.opt(strukt, m)? {
                return Ok(o);
            }
        }
        Err(OffsetsError::Missing {
            strukt,
            member: members[0],
        })
    }
}

/// `vmlinux` is the kernel's BTF; `overlay` the overlayfs module's split BTF when overlayfs is
/// a module (its structs are then not in vmlinux). `cgroup_v1` selects a v1 controller to read
/// a task's cgroup name from on hybrid hosts.
pub fn resolve(
    vmlinux: &Btf,
    overlay: Option<&Btf>,
    cgroup_v1: bool,
) -> Result<Offsets, OffsetsError> {
    let r = Resolver {
        btf: vmlinux,
        module: overlay,
    };
    let v1_subsys_id = if cgroup_v1 {
        let mem = vmlinux.enum_value("cgroup_subsys_id", "memory_cgrp_id")?;
        let pids = vmlinux.enum_value("cgroup_subsys_id", "pids_cgrp_id")?;
        mem.or(pids)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(Offsets::MISSING)
    } else {
        Offsets::MISSING
    };
    // Capability sets are read as one u64 (kernel_cap_t has been 8 bytes since 2.6.25).
    for member in ["cap_effective", "cap_permitted"] {
        let size = vmlinux.member_size("cred", member)?;
        if size != 8 {
            return Err(OffsetsError::Size {
                strukt: "cred",
                member,
                size,
                expected: 8,
            });
        }
    }
    Ok(Offsets {
        task_real_parent: r.req("task_struct", "real_parent")?,
        task_tgid: r.req("task_struct", "tgid")?,
        task_pid: r.req("task_struct", "pid")?,
        task_cred: r.req("task_struct", "cred")?,
        task_mm: r.req("task_struct", "mm")?,
        task_fs: r.req("task_struct", "fs")?,
        task_files: r.req("task_struct", "files")?,
        task_signal: r.req("task_struct", "signal")?,
        task_loginuid: r.opt_or_missing("task_struct", "loginuid")?,
        task_thread_pid: r.req("task_struct", "thread_pid")?,
        task_cgroups: r.req("task_struct", "cgroups")?,
        task_exit_code: r.req("task_struct", "exit_code")?,
        cred_euid: r.req("cred", "euid")?,
        cred_cap_effective: r.req("cred", "cap_effective")?,
        cred_cap_permitted: r.req("cred", "cap_permitted")?,
        mm_arg_start: r.req("mm_struct", "arg_start")?,
        mm_arg_end: r.req("mm_struct", "arg_end")?,
        mm_env_start: r.req("mm_struct", "env_start")?,
        mm_env_end: r.req("mm_struct", "env_end")?,
        fs_pwd: r.req("fs_struct", "pwd")?,
        fs_root: r.req("fs_struct", "root")?,
        path_dentry: r.req("path", "dentry")?,
        path_mnt: r.req("path", "mnt")?,
        dentry_parent: r.req("dentry", "d_parent")?,
        dentry_name: r.req("dentry", "d_name")?,
        qstr_name: r.req("qstr", "name")?,
        mount_mnt: r.req("mount", "mnt")?,
        mount_parent: r.req("mount", "mnt_parent")?,
        mount_mountpoint: r.req("mount", "mnt_mountpoint")?,
        vfsmount_root: r.req("vfsmount", "mnt_root")?,
        file_path: r.req("file", "f_path")?,
        file_inode: r.req("file", "f_inode")?,
        file_private: r.req("file", "private_data")?,
        files_fdt: r.req("files_struct", "fdt")?,
        fdtable_fd: r.req("fdtable", "fd")?,
        fdtable_max_fds: r.req("fdtable", "max_fds")?,
        socket_sk: r.req("socket", "sk")?,
        socket_type: r.req("socket", "type")?,
        sk_rcv_saddr: r.req("sock", "__sk_common.skc_rcv_saddr")?,
        sk_num: r.req("sock", "__sk_common.skc_num")?,
        sk_v6_rcv_saddr: r.opt_or_missing("sock", "__sk_common.skc_v6_rcv_saddr")?,
        sk_family: r.req("sock", "__sk_common.skc_family")?,
        pid_level: r.req("pid", "level")?,
        pid_numbers: r.req("pid", "numbers")?,
        upid_nr: r.req("upid", "nr")?,
        upid_size: vmlinux.type_size("upid")?,
        signal_tty: r.req("signal_struct", "tty")?,
        signal_pids: r.req("signal_struct", "pids")?,
        pidtype_pgid: enum_req(vmlinux, "pid_type", "PIDTYPE_PGID")?,
        pidtype_sid: enum_req(vmlinux, "pid_type", "PIDTYPE_SID")?,
        tty_index: r.req("tty_struct", "index")?,
        tty_driver: r.req("tty_struct", "driver")?,
        driver_major: r.req("tty_driver", "major")?,
        driver_minor_start: r.req("tty_driver", "minor_start")?,
        css_set_dfl_cgrp: r.req("css_set", "dfl_cgrp")?,
        css_set_subsys: r.req("css_set", "subsys")?,
        css_cgroup: r.req("cgroup_subsys_state", "cgroup")?,
        cgroup_kn: r.req("cgroup", "kn")?,
        kn_name: r.req("kernfs_node", "name")?,
        // Renamed `__parent` in 6.15.
        kn_parent: r.req_any("kernfs_node", &["__parent", "parent"])?,
        v1_subsys_id,
        bprm_file: r.req("linux_binprm", "file")?,
        bprm_filename: r.req("linux_binprm", "filename")?,
        inode_sb: r.req("inode", "i_sb")?,
        sb_magic: r.req("super_block", "s_magic")?,
        ovl_vfs_inode: r.opt_or_missing("ovl_inode", "vfs_inode")?,
        ovl_upperdentry: r.opt_or_missing("ovl_inode", "__upperdentry")?,
        inode_mode: r.sized("inode", "i_mode", 2)?,
        sk_daddr: r.sized("sock", "__sk_common.skc_daddr", 4)?,
        sk_dport: r.sized("sock", "__sk_common.skc_dport", 2)?,
        sk_v6_daddr: r.opt_or_missing("sock", "__sk_common.skc_v6_daddr")?,
        sk_state: r.sized("sock", "__sk_common.skc_state", 1)?,
        // u16 since 5.6 (bitfields before): the floor (5.17) has them as members.
        sk_protocol: r.sized("sock", "sk_protocol", 2)?,
        sk_type: r.sized("sock", "sk_type", 2)?,
        sk_userlocks: r.opt_byte("sock", "sk_userlocks"),
    })
}

fn enum_req(btf: &Btf, name: &'static str, value: &'static str) -> Result<u32, OffsetsError> {
    btf.enum_value(name, value)?
        .and_then(|v| u32::try_from(v).ok())
        .ok_or(OffsetsError::Missing {
            strukt: name,
            member: value,
        })
}

/// Where the kernel publishes BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";
const OVERLAY_BTF: &str = "/sys/kernel/btf/overlay";

/// Load vmlinux BTF and, when overlayfs is a loaded module, its split BTF.
pub fn load_btf() -> Result<(Btf, Option<Btf>), BtfError> {
    let vmlinux = Btf::from_file(Path::new(VMLINUX_BTF))?;
    let overlay = match std::fs::read(OVERLAY_BTF) {
        Ok(bytes) => Some(Btf::from_split_bytes(&vmlinux, &bytes)?),
        Err(_) => None,
    };
    Ok((vmlinux, overlay))
}
