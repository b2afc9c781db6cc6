//! Every field the engine knows: its name, type, what argument it takes, and its meaning.
//! Fields of events Lanner does not capture (open, ptrace, setuid, …) are known too: rules on
//! them load and never fire, because the sensor never has a value for them.

use crate::{event::FieldArg, value::FieldType};

/// What may follow a field's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    None,
    /// `[N]`, optional: `proc.aname` alone has "any ancestor" semantics.
    Index,
    /// `[N]`, required (`proc.args[N]` is also fine without: see `optional_arg`).
    IndexRequired,
    /// `[KEY]`, required (`k8s.pod.label[app]`, `proc.env[HOME]`).
    Key,
    /// `[N]` or `[KEY]`: all digits (no leading 0) is an index (`container.mount.dest[/etc]`).
    IndexOrKey,
    /// `evt.arg.NAME`, `evt.arg[NAME]` or `evt.arg[N]`.
    EvtArg,
}

/// Field flags.
pub mod flag {
    /// Only usable in conditions, not in outputs (`fd.net`, `fd.ip`).
    pub const FILTER_ONLY: u8 = 1;
    /// No transformers on it, and it cannot be the target of `val()`.
    pub const NO_TRANSFORMER: u8 = 2;
    /// Without an index: true if any ancestor from the parent upward satisfies the operator.
    pub const ANY_ANCESTOR: u8 = 4;
    /// The argument may be omitted even though the field takes one (`proc.args`, `proc.env`).
    pub const OPTIONAL_ARG: u8 = 8;
    /// Deprecated; warned about at load.
    pub const DEPRECATED: u8 = 16;
}

#[derive(Clone, Copy, Debug)]
pub struct FieldDef {
    pub field: Field,
    pub name: &'static str,
    pub ty: FieldType,
    pub arg: ArgKind,
    pub flags: u8,
    pub desc: &'static str,
}

impl FieldDef {
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// Defines `Field` and `FIELDS` from one table (`table.rs`), so the two cannot disagree.
macro_rules! fields {
    ($( $variant:ident = $name:literal, $ty:ident, $arg:ident, $flags:expr, $desc:literal; )*) => {
        /// A known field. `FIELDS[f as usize]` is its definition.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum Field { $( $variant, )* }

        /// Names in `Field` order, for what is worked out at compile time (`Class`).
        pub(crate) const NAMES: &[&str] = &[$( $name, )*];

        pub static FIELDS: &[$crate::fields::FieldDef] = &[
            $( $crate::fields::FieldDef {
                field: Field::$variant,
                name: $name,
                ty: $crate::value::FieldType::$ty,
                arg: $crate::fields::ArgKind::$arg,
                flags: $flags,
                desc: $desc,
            }, )*
        ];
    };
}

mod table;
#[cfg(test)]
mod tests;

pub use table::{FIELDS, Field};

/// The class of a field: its name up to the first dot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Evt,
    Proc,
    Thread,
    User,
    Group,
    Fd,
    FsPath,
    Container,
    K8s,
    Lanner,
}

/// Each field's class, worked out when compiling: an event source dispatches on it per
/// extracted value, where comparing name prefixes cost a chain of string tests.
static CLASS_OF: [Class; table::NAMES.len()] = {
    let mut out = [Class::Evt; table::NAMES.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = class_of(table::NAMES[i].as_bytes());
        i += 1;
    }
    out
};

const fn class_of(name: &[u8]) -> Class {
    const fn starts(name: &[u8], prefix: &[u8]) -> bool {
        if name.len() < prefix.len() {
            return false;
        }
        let mut i = 0;
        while i < prefix.len() {
            if name[i] != prefix[i] {
                return false;
            }
            i += 1;
        }
        true
    }
    const PREFIXES: [(&[u8], Class); 10] = [
        (b"evt.", Class::Evt),
        (b"proc.", Class::Proc),
        (b"thread.", Class::Thread),
        (b"user.", Class::User),
        (b"group.", Class::Group),
        (b"fd.", Class::Fd),
        (b"fs.path.", Class::FsPath),
        (b"container.", Class::Container),
        (b"k8s.", Class::K8s),
        (b"lanner.", Class::Lanner),
    ];
    let mut i = 0;
    while i < PREFIXES.len() {
        if starts(name, PREFIXES[i].0) {
            return PREFIXES[i].1;
        }
        i += 1;
    }
    // A field of a new class fails the build here, not a dispatch at run time.
    panic!("a field of an unknown class")
}

impl Field {
    pub fn class(self) -> Class {
        CLASS_OF[self as usize]
    }

    pub fn def(self) -> &'static FieldDef {
        def(self)
    }

    pub fn name(self) -> &'static str {
        def(self).name
    }
}

/// Classes (the part before the first dot) with a short description, for `--list`.
pub static CLASSES: &[(&str, &str)] = &[
    ("evt", "the event: type, time, arguments, result"),
    (
        "proc",
        "the process (and its ancestors) that caused the event",
    ),
    ("thread", "the thread that caused the event"),
    ("user", "the user of the process"),
    ("group", "the group of the process"),
    ("fd", "the file descriptor (socket) the event is about"),
    (
        "fs",
        "the paths a file call operates on (fs.path.*), fd or none",
    ),
    ("container", "the container of the process"),
    ("k8s", "the Kubernetes pod of the container"),
    ("lanner", "how Lanner captured the event: values cut short"),
];

use flag::*;

/// Names an event argument may have (`evt.arg.NAME`): the parameter names of the events in
/// Falco's event table that rules use, plus those of the events Lanner emits.
pub static EVT_ARG_NAMES: &[&str] = &[
    "res",
    "fd",
    "name",
    "flags",
    "mode",
    "dev",
    "dir",
    "type",
    "path",
    "filename",
    "oldpath",
    "newpath",
    "linkpath",
    "target",
    "uid",
    "gid",
    "request",
    "cmd",
    "domain",
    "dirfd",
    "status",
    "fsname",
    "attr_flags",
    "from_dfd",
    "from_pathname",
    "to_dfd",
    "to_pathname",
    "dfd",
    "addr",
    "tuple",
    "data",
    "size",
    "pid",
    "sig",
    "ruid",
    "euid",
    "suid",
    "rgid",
    "egid",
    "sgid",
    "newdirfd",
    "olddirfd",
    "linkdirfd",
    // linkat's directory fds.
    "olddir",
    "newdir",
    "exe",
    "args",
    "cwd",
    "env",
    "tty",
    "pgid",
    "loginuid",
    "cap_inheritable",
    "cap_permitted",
    "cap_effective",
    "exe_ino",
    "trusted_exepath",
    "ptid",
    "vpid",
    "vtid",
    "comm",
    "cgroups",
    "protocol",
    "backlog",
    "length",
    "resource",
    "nstype",
    "special",
    "id",
    "addr",
    "prot",
    "option",
    "arg2",
    "arg3",
    "op",
    "operation",
    // init_module and finit_module (the module's parameters, the image).
    "uargs",
    "img",
    // socket, dup*.
    "proto",
    "oldfd",
    "newfd",
    "resolve",
];

/// Why a field reference did not resolve.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("unknown field")]
    Unknown,
    #[error("field '{0}' takes no argument")]
    NoArgAllowed(&'static str),
    #[error("field '{0}' needs an argument in brackets")]
    ArgRequired(&'static str),
    #[error("field '{0}' needs a number in brackets")]
    BadIndex(&'static str),
    #[error("unknown event argument '{0}'")]
    UnknownEvtArg(String),
}

pub fn def(f: Field) -> &'static FieldDef {
    &FIELDS[f as usize]
}

/// Resolve a field as written (`name` is the whole dotted token, `arg` the bracket content).
/// The longest known name wins; `evt.arg.NAME` / `evt.rawarg.NAME` take a dotted suffix.
pub fn lookup(name: &str, arg: Option<&str>) -> Result<(Field, FieldArg), LookupError> {
    if let Some(d) = FIELDS.iter().find(|d| d.name == name) {
        return resolve_arg(d, arg);
    }
    // Dotted argument: `evt.arg.flags` = `evt.arg` with key `flags`.
    let d = FIELDS
        .iter()
        .filter(|d| d.arg == ArgKind::EvtArg)
        .find(|d| {
            name.strip_prefix(d.name)
                .is_some_and(|rest| rest.starts_with('.') && rest.len() > 1)
        })
        .ok_or(LookupError::Unknown)?;
    if arg.is_some() {
        return Err(LookupError::Unknown);
    }
    let key = &name[d.name.len() + 1..];
    evt_arg(key).map(|a| (d.field, a))
}

fn evt_arg(key: &str) -> Result<FieldArg, LookupError> {
    if let Ok(n) = key.parse::<u32>() {
        return Ok(FieldArg::Index(n));
    }
    if EVT_ARG_NAMES.contains(&key) {
        Ok(FieldArg::Key(key.to_string()))
    } else {
        Err(LookupError::UnknownEvtArg(key.to_string()))
    }
}

fn resolve_arg(d: &'static FieldDef, arg: Option<&str>) -> Result<(Field, FieldArg), LookupError> {
    let index = |a: &str| a.parse::<u32>().map_err(|_| LookupError::BadIndex(d.name));
    let a = match (d.arg, arg) {
        (ArgKind::None, None) => FieldArg::None,
        (ArgKind::None, Some(_)) => return Err(LookupError::NoArgAllowed(d.name)),
        (_, None) if d.arg == ArgKind::Index || d.has(OPTIONAL_ARG) => FieldArg::None,
        (_, None) => return Err(LookupError::ArgRequired(d.name)),
        (ArgKind::Index | ArgKind::IndexRequired, Some(a)) => FieldArg::Index(index(a)?),
        (ArgKind::Key, Some(a)) => FieldArg::Key(a.to_string()),
        (ArgKind::IndexOrKey, Some(a)) => {
            let digits = !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit());
            if digits && (a == "0" || !a.starts_with('0')) {
                FieldArg::Index(index(a)?)
            } else {
                FieldArg::Key(a.to_string())
            }
        }
        (ArgKind::EvtArg, Some(a)) => evt_arg(a)?,
    };
    Ok((d.field, a))
}

/// The field as `--list` shows it: with its argument form (`proc.aname[N]`, `evt.arg.NAME`).
pub fn display_name(d: &FieldDef) -> String {
    match d.arg {
        ArgKind::None => d.name.to_string(),
        ArgKind::Index | ArgKind::IndexRequired => format!("{}[N]", d.name),
        ArgKind::Key => format!("{}[KEY]", d.name),
        ArgKind::IndexOrKey => format!("{}[N|KEY]", d.name),
        ArgKind::EvtArg => format!("{}.NAME", d.name),
    }
}

/// `lanner --list`: the table grouped by class, one field per line (name with its argument
/// form, type, description), like Falco's `--list`.
pub fn list_text() -> String {
    use std::fmt::Write as _;
    let width = FIELDS
        .iter()
        .map(|d| display_name(d).len())
        .max()
        .unwrap_or(0)
        + 2;
    let mut out = String::new();
    for (i, (class, about)) in CLASSES.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "Field class: {class} ({about})\n");
        let in_class = FIELDS
            .iter()
            .filter(|d| d.name.split('.').next() == Some(class));
        for d in in_class {
            let mut notes = String::new();
            if d.has(FILTER_ONLY) {
                notes.push_str("(filter only) ");
            }
            if d.has(DEPRECATED) {
                notes.push_str("(deprecated) ");
            }
            let _ = writeln!(
                out,
                "{:width$}{:9}{notes}{}",
                display_name(d),
                d.ty.name(),
                d.desc
            );
        }
    }
    out
}
