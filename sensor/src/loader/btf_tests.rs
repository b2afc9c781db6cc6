//! BTF parser tests: hand-built blobs, hostile input, and the running kernel's BTF.
use super::*;

/// Hand-assembles BTF blobs: base ones, or split ones continuing a base.
struct Builder {
    types: Vec<u8>,
    strings: Vec<u8>,
    str_base: u32,
    next_id: u32,
    known: HashMap<String, u32>,
}

impl Builder {
    fn new() -> Self {
        Builder {
            types: vec![],
            strings: vec![0],
            str_base: 0,
            next_id: 1,
            known: HashMap::new(),
        }
    }
    /// Split builder; reuses `base`'s strings like pahole's split output.
    fn split(base: &Builder) -> Self {
        let str_base = base.str_base + base.strings.len() as u32;
        Builder {
            types: vec![],
            strings: vec![0],
            str_base,
            next_id: base.next_id,
            known: base.known.clone(),
        }
    }
    fn s(&mut self, name: &str) -> u32 {
        if name.is_empty() {
            return 0;
        }
        if let Some(&off) = self.known.get(name) {
            return off;
        }
        let off = self.str_base + self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        self.known.insert(name.into(), off);
        off
    }
    fn ty(
        &mut self,
        name: &str,
        kind: u8,
        kflag: bool,
        vlen: u32,
        size_or_type: u32,
        extra: &[u32],
    ) -> u32 {
        let name_off = self.s(name);
        let info = vlen | u32::from(kind) << 24 | u32::from(kflag) << 31;
        for w in [name_off, info, size_or_type].iter().chain(extra) {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.next_id += 1;
        self.next_id - 1
    }
    fn int(&mut self, name: &str, size: u32, bits: u32) -> u32 {
        self.ty(name, KIND_INT, false, 0, size, &[bits])
    }
    /// `members` are (name, type, raw offset word).
    fn comp(
        &mut self,
        kind: u8,
        name: &str,
        size: u32,
        kflag: bool,
        members: &[(&str, u32, u32)],
    ) -> u32 {
        let mut extra = vec![];
        for &(n, t, o) in members {
            extra.extend([self.s(n), t, o]);
        }
        self.ty(name, kind, kflag, members.len() as u32, size, &extra)
    }
    fn build(&self) -> Vec<u8> {
        let mut out = vec![0x9f, 0xeb, 1, 0];
        let tl = self.types.len() as u32;
        for w in [HEADER_LEN as u32, 0, tl, tl, self.strings.len() as u32] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// struct outer { int a; union { int b; struct { int c; int d; }; };
///   const myint_t e; unsigned f:3; <int g at bit 164>; const inner_t in;
///   int *p; int arr[4]; }  plus enums, a legacy bitfield and a cycle.
fn sample() -> Builder {
    let mut b = Builder::new();
    let int = b.int("int", 4, 32);
    let uint = b.int("unsigned int", 4, 32);
    let myint = b.ty("myint_t", KIND_TYPEDEF, false, 0, int, &[]);
    let cmyint = b.ty("", KIND_CONST, false, 0, myint, &[]);
    let inner = b.comp(
        KIND_STRUCT,
        "inner",
        8,
        false,
        &[("x", int, 0), ("y", int, 32)],
    );
    let inner_t = b.ty("inner_t", KIND_TYPEDEF, false, 0, inner, &[]);
    let cinner = b.ty("", KIND_CONST, false, 0, inner_t, &[]);
    let anon_s = b.comp(KIND_STRUCT, "", 8, false, &[("c", int, 0), ("d", int, 32)]);
    let anon_u = b.comp(KIND_UNION, "", 8, false, &[("b", int, 0), ("", anon_s, 0)]);
    let ptr = b.ty("", KIND_PTR, false, 0, int, &[]);
    let arr = b.ty("", KIND_ARRAY, false, 0, 0, &[int, int, 4]);
    b.comp(KIND_STRUCT, "outer", 0, false, &[]); // empty duplicate, must be skipped
    b.ty("outer", KIND_FWD, false, 0, 0, &[]);
    let outer = b.comp(
        KIND_STRUCT,
        "outer",
        56,
        true,
        &[
            ("a", int, 0),
            ("", anon_u, 64),
            ("e", cmyint, 128),
            ("f", uint, 3 << 24 | 160),
            ("g", int, 164),
            ("in", cinner, 192),
            ("p", ptr, 256),
            ("arr", arr, 320),
        ],
    );
    b.ty("outer_t", KIND_TYPEDEF, false, 0, outer, &[]);
    let bits3 = b.int("u3", 4, 3);
    b.comp(
        KIND_STRUCT,
        "legacy",
        8,
        false,
        &[("h", bits3, 0), ("i", int, 32)],
    );
    let (red, blue) = (b.s("RED"), b.s("BLUE"));
    b.ty(
        "color",
        KIND_ENUM,
        true,
        2,
        4,
        &[red, 0, blue, (-5i32) as u32],
    );
    let hi = b.s("HUGE");
    b.ty("big", KIND_ENUM64, false, 1, 8, &[hi, 7, 1 << 8]);
    let lp = b.next_id;
    b.comp(KIND_STRUCT, "loop", 4, false, &[("", lp, 0)]);
    b
}

fn queries(btf: &Btf) {
    for p in [
        "a", "b", "c", "d", "e", "f", "g", "in.x", "in.y", "p", "arr", "a.x", "zz", "x..y",
    ] {
        let _ = btf.member_offset("outer", p);
        let _ = btf.member_size("outer", p);
    }
    let _ = btf.try_member_offset("legacy", "h");
    let _ = btf.member_offset("loop", "zz");
    let _ = btf.type_size("outer_t");
    let _ = btf.enum_value("color", "BLUE");
    let _ = btf.enum_value("big", "HUGE");
}

#[test]
fn offsets_sizes_and_errors() {
    let btf = Btf::from_bytes(&sample().build()).expect("parse");
    let off = |p| btf.member_offset("outer", p).expect(p);
    assert_eq!(
        [off("a"), off("b"), off("c"), off("d"), off("e")],
        [0, 8, 8, 12, 16]
    );
    assert_eq!(
        [off("in"), off("in.x"), off("in.y"), off("p"), off("arr")],
        [24, 24, 28, 32, 40]
    );
    assert_eq!(btf.member_offset("outer_t", "in.y").expect("typedef"), 28);
    assert_eq!(btf.type_size("outer").expect("size"), 56);
    assert_eq!(btf.type_size("outer_t").expect("size"), 56);
    assert_eq!(btf.type_size("inner_t").expect("size"), 8);
    assert_eq!(btf.member_size("outer", "arr").expect("arr"), 16);
    assert_eq!(
        btf.member_size("outer", "p").expect("p"),
        size_of::<usize>() as u32
    );
    assert_eq!(btf.member_size("outer", "e").expect("e"), 4);
    assert_eq!(btf.member_size("outer", "in").expect("in"), 8);
    assert!(matches!(
        btf.member_offset("outer", "f"),
        Err(BtfError::Bitfield { .. })
    ));
    assert!(matches!(
        btf.member_offset("legacy", "h"),
        Err(BtfError::Bitfield { .. })
    ));
    assert_eq!(btf.member_offset("legacy", "i").expect("i"), 4);
    assert!(matches!(
        btf.member_offset("outer", "g"),
        Err(BtfError::NotByteAligned {
            bit_offset: 164,
            ..
        })
    ));
    assert!(matches!(
        btf.member_offset("outer", "a.x"),
        Err(BtfError::NotComposite { .. })
    ));
    assert!(matches!(
        btf.member_offset("outer", "in..x"),
        Err(BtfError::BadPath { .. })
    ));
    assert!(matches!(
        btf.member_offset("outer", ""),
        Err(BtfError::BadPath { .. })
    ));
    assert!(matches!(
        btf.member_offset("outer", "in.z"),
        Err(BtfError::MemberNotFound { .. })
    ));
    assert!(matches!(
        btf.member_offset("nope", "a"),
        Err(BtfError::TypeNotFound { .. })
    ));
    assert!(matches!(
        btf.member_offset("color", "a"),
        Err(BtfError::TypeNotFound { .. })
    ));
    assert!(matches!(
        btf.member_offset("loop", "zz"),
        Err(BtfError::TooDeep { .. })
    ));
    assert_eq!(btf.try_member_offset("outer", "zz").expect("try"), None);
    assert_eq!(btf.try_member_offset("nope", "zz").expect("try"), None);
    assert_eq!(btf.try_member_offset("outer", "d").expect("try"), Some(12));
    assert!(btf.try_member_offset("outer", "f").is_err());
    assert_eq!(btf.enum_value("color", "RED").expect("enum"), Some(0));
    assert_eq!(btf.enum_value("color", "BLUE").expect("enum"), Some(-5));
    assert_eq!(btf.enum_value("color", "x").expect("enum"), None);
    assert_eq!(btf.enum_value("nope", "x").expect("enum"), None);
    assert_eq!(
        btf.enum_value("big", "HUGE").expect("enum64"),
        Some((1 << 40) | 7)
    );
    let msg = btf
        .member_offset("outer", "in.z")
        .expect_err("missing")
        .to_string();
    assert!(msg.contains("outer") && msg.contains("in.z"), "{msg}");
}

#[test]
fn split_btf() {
    let base_b = sample();
    let base = Btf::from_bytes(&base_b.build()).expect("base");
    let mut b = Builder::split(&base_b);
    let inner = base.find_named("inner").expect("find").expect("inner");
    // Type 1 ("int") and the names "x"/"inner" come from the base layer.
    let x = b.comp(
        KIND_STRUCT,
        "modstruct",
        16,
        false,
        &[("x", 1, 0), ("vfs", inner, 64)],
    );
    assert_eq!(x, base_b.next_id);
    let split = Btf::from_split_bytes(&base, &b.build()).expect("split");
    assert_eq!(
        split.member_offset("modstruct", "vfs.y").expect("vfs.y"),
        12
    );
    assert_eq!(split.member_offset("modstruct", "x").expect("x"), 0);
    assert_eq!(split.type_size("modstruct").expect("size"), 16);
    assert_eq!(
        split
            .member_offset("outer", "d")
            .expect("base type via split"),
        12
    );
    assert!(
        base.try_member_offset("modstruct", "x")
            .expect("base")
            .is_none()
    );
    let blob = b.build();
    for n in 0..blob.len() {
        assert!(
            Btf::from_split_bytes(&base, &blob[..n]).is_err(),
            "prefix {n}"
        );
    }
}

#[test]
fn bad_input_never_panics() {
    let blob = sample().build();
    for n in 0..blob.len() {
        assert!(Btf::from_bytes(&blob[..n]).is_err(), "prefix {n} parsed");
    }
    let mut be = blob.clone();
    be.swap(0, 1);
    assert!(matches!(
        Btf::from_bytes(&be),
        Err(BtfError::BadMagic { magic: 0x9feb })
    ));
    let mut v2 = blob.clone();
    v2[2] = 2;
    assert!(matches!(
        Btf::from_bytes(&v2),
        Err(BtfError::BadVersion { version: 2 })
    ));
    let mut next = crate::testutil::xorshift();
    for _ in 0..2000 {
        let len = (next() % 200) as usize;
        let mut junk: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if len >= 4 && next().is_multiple_of(2) {
            junk[..4].copy_from_slice(&[0x9f, 0xeb, 1, 0]);
        }
        if let Ok(btf) = Btf::from_bytes(&junk) {
            queries(&btf);
        }
    }
    for _ in 0..20_000 {
        let mut m = blob.clone();
        for _ in 0..1 + next() % 4 {
            let i = (next() as usize) % m.len();
            m[i] = next() as u8;
        }
        if let Ok(btf) = Btf::from_bytes(&m) {
            queries(&btf);
        }
    }
    // A longer header (future kernels) is skipped via hdr_len.
    let mut long = blob[..HEADER_LEN].to_vec();
    long[4] = 32;
    long.extend_from_slice(&[0; 8]);
    long.extend_from_slice(&blob[HEADER_LEN..]);
    let long = Btf::from_bytes(&long).expect("hdr_len 32");
    assert_eq!(long.member_offset("outer", "d").expect("d"), 12);
    let err = Btf::from_file(Path::new("/nonexistent/btf")).expect_err("missing file");
    assert!(err.to_string().contains("/nonexistent/btf"), "{err}");
}

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

#[test]
fn real_vmlinux() {
    if !Path::new(VMLINUX).exists() {
        println!("skipping: {VMLINUX} not present");
        return;
    }
    let start = std::time::Instant::now();
    let btf = Btf::from_file(Path::new(VMLINUX)).expect("parse vmlinux");
    println!("parsed {VMLINUX} in {:?}", start.elapsed());
    let fields = [
        ("task_struct", "real_parent"),
        ("task_struct", "tgid"),
        ("task_struct", "pid"),
        ("task_struct", "cred"),
        ("task_struct", "mm"),
        ("task_struct", "fs"),
        ("task_struct", "files"),
        ("task_struct", "signal"),
        ("task_struct", "loginuid"),
        ("task_struct", "thread_pid"),
        ("task_struct", "cgroups"),
        ("cred", "euid"),
        ("cred", "cap_effective"),
        ("cred", "cap_permitted"),
        ("mm_struct", "arg_start"),
        ("mm_struct", "arg_end"),
        ("mm_struct", "env_start"),
        ("mm_struct", "env_end"),
        ("fs_struct", "pwd"),
        ("fs_struct", "root"),
        ("path", "dentry"),
        ("path", "mnt"),
        ("dentry", "d_parent"),
        ("dentry", "d_name"),
        ("qstr", "name"),
        ("mount", "mnt"),
        ("mount", "mnt_parent"),
        ("mount", "mnt_mountpoint"),
        ("vfsmount", "mnt_root"),
        ("file", "f_path"),
        ("file", "f_inode"),
        ("file", "private_data"),
        ("files_struct", "fdt"),
        ("fdtable", "fd"),
        ("fdtable", "max_fds"),
        ("socket", "sk"),
        ("socket", "type"),
        ("sock", "__sk_common.skc_rcv_saddr"),
        ("sock", "__sk_common.skc_num"),
        ("sock", "__sk_common.skc_v6_rcv_saddr"),
        ("sock", "__sk_common.skc_family"),
        ("pid", "level"),
        ("pid", "numbers"),
        ("upid", "nr"),
        ("signal_struct", "tty"),
        ("tty_struct", "index"),
        ("tty_struct", "driver"),
        ("tty_driver", "major"),
        ("tty_driver", "minor_start"),
        ("css_set", "dfl_cgrp"),
        ("css_set", "subsys"),
        ("cgroup_subsys_state", "cgroup"),
        ("cgroup", "kn"),
        ("kernfs_node", "name"),
        ("linux_binprm", "file"),
        ("linux_binprm", "filename"),
        ("inode", "i_sb"),
        ("super_block", "s_magic"),
    ];
    for (s, p) in fields {
        let off = btf.member_offset(s, p).unwrap_or_else(|e| panic!("{e}"));
        let size = btf.member_size(s, p).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            off + size <= btf.type_size(s).expect("struct size"),
            "{s}.{p}"
        );
        println!("| {s}.{p} | {off} | {size} |");
    }
    let parent = ["parent", "__parent"]
        .into_iter()
        .find_map(|p| {
            btf.try_member_offset("kernfs_node", p)
                .expect("kernfs_node")
                .map(|o| (p, o))
        })
        .expect("kernfs_node parent");
    println!("| kernfs_node.{} | {} |", parent.0, parent.1);
    println!(
        "| sizeof(upid) | {} |",
        btf.type_size("upid").expect("upid")
    );
    println!(
        "| sizeof(kernel_cap_t) | {} |",
        btf.type_size("kernel_cap_t").expect("cap")
    );
    for e in ["pids_cgrp_id", "memory_cgrp_id"] {
        let v = btf.enum_value("cgroup_subsys_id", e).expect("enum");
        println!("| cgroup_subsys_id.{e} | {v:?} |");
    }
    assert_eq!(
        btf.member_offset("sock", "__sk_common.skc_family")
            .expect("family"),
        {
            btf.member_offset("sock_common", "skc_family")
                .expect("sock_common")
        }
    );
    let overlay = Path::new("/sys/kernel/btf/overlay");
    let (where_, ovl) = if overlay.exists() {
        let data = std::fs::read(overlay).expect("read overlay BTF");
        (
            "module",
            Btf::from_split_bytes(&btf, &data).expect("overlay split BTF"),
        )
    } else {
        ("vmlinux (built-in or absent)", btf.clone())
    };
    for p in ["__upperdentry", "vfs_inode"] {
        println!(
            "| ovl_inode.{p} [{where_}] | {:?} |",
            ovl.try_member_offset("ovl_inode", p).expect("ovl")
        );
    }
}
