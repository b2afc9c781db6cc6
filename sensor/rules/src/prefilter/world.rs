//! Test support: one syscall as it happened (`World`), from which both sides are built — what
//! the probe sees (`facts`) and the event the engine evaluates (`event`), with the fields as
//! Falco computes them (the absolute normalized `fd.name` of a relative path resolved against
//! the cwd, and so on). A property test compares the two on the same world.

use std::{net::IpAddr, sync::Arc};

use lanner_common::file_change::ChangeOp;

use super::{
    facts::{Endpoint, KINDS, KernelFacts, L4_NAMES, PathArg, l4},
    probe::{NetProbe, OPEN_FLAG_NAMES, Probe, flag},
};
use crate::{
    EvtType, Field, FieldArg, Matching, Options, Ruleset, loader::Source, specialize,
    testing::MapEvent, value::Value,
};

/// A field with its argument, as events key their values.
pub type FieldKey = (Field, FieldArg);

/// The stand-in for the open family until those event types exist: `open_tree`, which no
/// official rule names. `captured` rewrites the open family's names in a rules file to it.
pub const OPEN: EvtType = EvtType::OpenTree;

/// The rules text with `evt.type in (open, openat, openat2[, creat])` and `evt.type = creat`
/// on `OPEN`.
pub fn captured(text: &str) -> String {
    let re = regex::Regex::new(
        r"evt\.type\s*(?:in\s*\(\s*open\s*,\s*openat\s*,\s*openat2\s*(?:,\s*creat\s*)?\)|=\s*creat\b)",
    )
    .expect("a valid pattern");
    re.replace_all(text, "evt.type = open_tree").into_owned()
}

/// Load with every field available (the sensor fills none of the open fields yet) and every
/// matching rule reported.
pub fn load(sources: &[Source]) -> Ruleset {
    load_with(sources, specialize::everything)
}

/// …with the fields `available` says the sensor fills (a rule that needs another cannot
/// fire).
pub fn load_with(sources: &[Source], available: specialize::Availability) -> Ruleset {
    let options = Options {
        matching: Matching::All,
        available,
        ..Options::default()
    };
    match crate::load(sources, &options) {
        Ok(l) => l.ruleset,
        Err(e) => panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

pub fn load_text(text: &str) -> Ruleset {
    load(&[Source {
        name: Arc::from("test.yaml"),
        text: captured(text),
    }])
}

#[derive(Clone, Debug)]
pub struct World {
    pub comm: [u8; 16],
    pub uid: u32,
    /// The path as passed; `None`: unreadable.
    pub raw: Option<String>,
    pub cwd: String,
    pub flags: u32,
    pub ret: i64,
    pub kind: Option<u8>,
    /// An `l4` index (`l4::NONE`: no `fd.l4proto`).
    pub l4: u8,
    /// The connection's server and client ends, when the event has them.
    pub server: Option<(IpAddr, u16)>,
    pub client: Option<(IpAddr, u16)>,
    /// socket's domain argument.
    pub domain: u64,
}

impl World {
    /// `comm` opening `path` with these flag classes, returning `ret`, a regular file.
    pub fn open(comm: &str, path: &str, flags: u32, ret: i64) -> World {
        World {
            comm: KernelFacts::comm_of(comm.as_bytes()),
            uid: 1000,
            raw: Some(path.to_string()),
            cwd: "/home/u".into(),
            flags,
            ret,
            kind: Some(0),
            l4: l4::NONE,
            server: None,
            client: None,
            domain: 0,
        }
    }

    /// Within what the probe's type guarantees: an accept's `fd.l4proto` is one of a few.
    /// …and a socket's new fd has its domain's kind (none when the call failed).
    pub fn fit(&mut self, probe: &Probe) {
        if probe.net == NetProbe::Socket {
            self.kind =
                (self.ret >= 0).then(|| lanner_common::net_fd::family_kind(self.domain as u16));
        }
        if let NetProbe::L4Within(values) = probe.net {
            let index = |v: &Option<&str>| match v {
                Some(name) => L4_NAMES.iter().position(|n| n == name).map(|i| i as u8),
                None => Some(l4::NONE),
            };
            let allowed: Vec<u8> = values.iter().filter_map(index).collect();
            if !allowed.contains(&self.l4) {
                self.l4 = allowed[usize::from(self.l4) % allowed.len()];
            }
        }
    }

    /// What a probe described by `probe` sees.
    pub fn facts(&self, probe: &Probe) -> KernelFacts {
        KernelFacts {
            comm: self.comm,
            uid: self.uid,
            path: match (&self.raw, probe.path) {
                (_, false) => PathArg::Absent,
                (None, true) => PathArg::Fault,
                (Some(p), true) => PathArg::from_user(p.as_bytes()),
            },
            flags: probe.open_flags.then_some(self.flags),
            ret: probe.ret.map(|_| self.ret),
            kind: if probe.fd_kind { self.kind } else { None },
            l4: (probe.net == NetProbe::Connect).then_some(self.l4),
            server: self.end_fact(probe, self.server),
            client: self.end_fact(probe, self.client),
        }
    }

    /// An IPv4 end, on a probe that reads the ends.
    fn end_fact(&self, probe: &Probe, end: Option<(IpAddr, u16)>) -> Option<Endpoint> {
        match (probe.net, end) {
            (NetProbe::Connect, Some((IpAddr::V4(ip), port))) => Some((u32::from(ip), port)),
            _ => None,
        }
    }

    /// `fd.name`: the path made absolute against the cwd and normalized.
    pub fn fd_name(&self) -> Option<String> {
        let raw = self.raw.as_ref()?;
        let abs = if raw.starts_with('/') {
            raw.clone()
        } else {
            format!("{}/{raw}", self.cwd)
        };
        let mut parts: Vec<&str> = Vec::new();
        for c in abs.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                c => parts.push(c),
            }
        }
        Some(format!("/{}", parts.join("/")))
    }

    /// The event the engine sees, with `extra` fields that are none of the world's.
    pub fn event(&self, ty: EvtType, extra: &[(FieldKey, Value<'static>)]) -> MapEvent {
        let comm = &self.comm[..self.comm.iter().position(|&b| b == 0).unwrap_or(16)];
        let mut ev = MapEvent::new(ty)
            .str("evt.type", ty.name())
            .str("proc.name", &String::from_utf8_lossy(comm))
            .uint("user.uid", u64::from(self.uid))
            .int("evt.rawres", self.ret)
            .str("evt.res", &res_text(self.ret))
            .bool("evt.failed", self.ret < 0)
            .int("fd.num", self.ret.max(-1))
            .bool("evt.is_open_read", self.flags & flag::READ != 0)
            .bool("evt.is_open_write", self.flags & flag::WRITE != 0)
            .bool("evt.is_open_exec", self.flags & flag::EXEC != 0)
            .str("evt.arg.flags", &flags_text(self.flags))
            .bool("fd.connected", self.flags & flag::CONNECTED != 0);
        if let Some(k) = self.kind {
            let (c, t) = KINDS[k as usize];
            ev = ev.str("fd.typechar", c).str("fd.type", t);
        }
        if ty == EvtType::Socket {
            ev = ev.str("evt.arg.domain", &domain_text(self.domain));
        }
        if let Some(name) = L4_NAMES.get(usize::from(self.l4)) {
            ev = ev.str("fd.l4proto", name);
        }
        for (end, names) in [
            (self.server, ["fd.sip", "fd.rip", "fd.sport", "fd.rport"]),
            (self.client, ["fd.cip", "fd.lip", "fd.cport", "fd.lport"]),
        ] {
            if let Some((ip, port)) = end {
                ev = ev
                    .set(names[0], Value::Ip(ip))
                    .set(names[1], Value::Ip(ip))
                    .uint(names[2], u64::from(port))
                    .uint(names[3], u64::from(port));
            }
        }
        if let Some(name) = self.fd_name() {
            let is_dir = self.kind == Some(1);
            let (dir, file) = match name.rsplit_once('/') {
                _ if is_dir => (name.clone(), None),
                Some(("", f)) => ("/".to_string(), Some(f.to_string())),
                Some((d, f)) => (d.to_string(), Some(f.to_string())),
                None => (name.clone(), None),
            };
            ev = ev.str("fd.directory", &dir);
            if let Some(f) = file.filter(|f| !f.is_empty()) {
                ev = ev.str("fd.filename", &f);
            }
            // The parameters that render the path: an open's `name`, a file change's `path`,
            // `name`, `oldpath` or `filename` (one of them per type; the analysis binds only
            // that one, so the others may be anything).
            for k in ["name", "path", "oldpath", "filename"] {
                ev = ev.str(&format!("evt.arg.{k}"), &name);
            }
            ev = ev.str("fd.name", &name);
        }
        if let Some(raw) = &self.raw {
            let mut collapsed = raw.clone();
            while collapsed.contains("//") {
                collapsed = collapsed.replace("//", "/");
            }
            ev = ev.str("fd.nameraw", &collapsed);
        }
        // A field the world decides (even by leaving it out: `fd.filename` of a directory)
        // takes no other value.
        let mut owned: Vec<FieldKey> = ev.values.keys().cloned().collect();
        owned.extend(
            [
                Field::FdTypechar,
                Field::FdType,
                Field::FdL4proto,
                Field::FdSip,
                Field::FdRip,
                Field::FdSport,
                Field::FdRport,
                Field::FdCip,
                Field::FdLip,
                Field::FdCport,
                Field::FdLport,
            ]
            .map(|f| (f, FieldArg::None)),
        );
        if ty == EvtType::Socket {
            owned.push((Field::EvtArg, FieldArg::Key("domain".into())));
        }
        if self.raw.is_some() {
            owned.push((Field::FdFilename, FieldArg::None));
        }
        for (k, v) in extra {
            if !owned.contains(k) {
                ev.values.insert(k.clone(), v.clone());
            }
        }
        // A file change has only its own parameters (`ChangeOp::params`).
        if let Some(op) = ChangeOp::of_evt_type(ty) {
            let params = op.params();
            ev.values.retain(|(f, a), _| match (f, a) {
                (Field::EvtArg, FieldArg::Key(k)) => params.contains(&Some(k.as_str())),
                _ => true,
            });
        }
        ev
    }
}

/// socket's `evt.arg.domain`: the family's names, or the number (as the sensor renders it).
pub fn domain_text(domain: u64) -> String {
    let names: Vec<&str> = lanner_common::net_fd::SOCKET_FAMILIES
        .iter()
        .filter(|(v, _)| u64::from(*v) == domain)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        (domain as i64).to_string()
    } else {
        names.join("|")
    }
}

/// `evt.res`: `SUCCESS`, an errno name, or the number.
pub fn res_text(ret: i64) -> String {
    match ret {
        0.. => "SUCCESS".into(),
        -1 => "EPERM".into(),
        -2 => "ENOENT".into(),
        -13 => "EACCES".into(),
        -17 => "EEXIST".into(),
        -115 => "EINPROGRESS".into(),
        n => n.to_string(),
    }
}

/// `evt.arg.flags` of an open with these class bits.
pub fn flags_text(flags: u32) -> String {
    let mode = match (flags & flag::READ != 0, flags & flag::WRITE != 0) {
        (true, true) => "O_RDWR",
        (false, true) => "O_WRONLY",
        _ => "O_RDONLY",
    };
    let mut names = vec![mode];
    names.extend(
        OPEN_FLAG_NAMES
            .iter()
            .filter(|(_, b)| b.is_some_and(|b| flags & b != 0))
            .map(|(n, _)| *n),
    );
    names.join("|")
}

/// The names of the enabled rules that match `ev`.
pub fn matching(rs: &Ruleset, ev: &MapEvent) -> Vec<String> {
    let mut out = Vec::new();
    rs.evaluate(ev, |r| out.push(r.name.to_string()));
    out
}
