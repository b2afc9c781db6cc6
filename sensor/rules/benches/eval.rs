//! Rule evaluation alone: the three official Falco rules files loaded, events shaped like the
//! ones the sensor produces, evaluated through the rule index (`Ruleset::evaluate`, first
//! match). Field values come from an array indexed by field, so this measures the engine, not
//! the sensor's extraction (which borrows from the enriched event the same way).

use std::{borrow::Cow, hint::black_box, net::IpAddr};

use criterion::{Criterion, criterion_group, criterion_main};
use lanner_rules::{EventSource, EvtType, Field, FieldArg, Options, Ruleset, Value, fields};

struct BenchEvent {
    ty: EvtType,
    values: Vec<Option<Value<'static>>>,
    /// Ancestors' names, parent first (`proc.aname[1]`, …).
    ancestors: Vec<&'static str>,
}

impl BenchEvent {
    fn new(ty: EvtType) -> Self {
        Self {
            ty,
            values: vec![None; fields::FIELDS.len()],
            ancestors: Vec::new(),
        }
    }
    fn set(mut self, name: &str, v: Value<'static>) -> Self {
        let (f, _) = fields::lookup(name, None).expect("known field");
        self.values[f as usize] = Some(v);
        self
    }
    fn s(self, name: &str, v: &'static str) -> Self {
        self.set(name, Value::Str(Cow::Borrowed(v)))
    }
    fn u(self, name: &str, v: u64) -> Self {
        self.set(name, Value::Uint(v))
    }
    fn i(self, name: &str, v: i64) -> Self {
        self.set(name, Value::Int(v))
    }
    fn ip(self, name: &str, v: &str) -> Self {
        self.set(name, Value::Ip(v.parse::<IpAddr>().expect("ip")))
    }
}

impl EventSource for BenchEvent {
    fn evt_type(&self) -> EvtType {
        self.ty
    }
    fn extract(&self, field: Field, arg: &FieldArg) -> Option<Value<'_>> {
        if let FieldArg::Index(i) = arg {
            if matches!(field, Field::ProcAname) && *i > 0 {
                return self
                    .ancestors
                    .get(*i as usize - 1)
                    .map(|s| Value::Str(Cow::Borrowed(s)));
            }
            return None;
        }
        match self.values[field as usize].as_ref()? {
            Value::Str(s) => Some(Value::Str(Cow::Borrowed(s))),
            v => Some(v.clone()),
        }
    }
}

fn process(ty: EvtType) -> BenchEvent {
    BenchEvent::new(ty)
        .s(
            "evt.type",
            if ty == EvtType::Connect {
                "connect"
            } else {
                "execve"
            },
        )
        .s("evt.res", "SUCCESS")
        .i("evt.rawres", 0)
        .s("evt.arg.flags", "0")
        .s("user.name", "root")
        .u("user.uid", 0)
        .i("user.loginuid", -1)
        .s("group.name", "root")
        .s("proc.pname", "bash")
        .s("proc.pcmdline", "bash")
        .s("proc.pexe", "/bin/bash")
        .s("proc.pexepath", "/usr/bin/bash")
        .s("proc.sname", "bash")
        .s("proc.cwd", "/root/")
        .u("proc.duration", 3_000_000)
        .i("proc.vpid", 7)
        .s(
            "thread.cap_effective",
            "CAP_CHOWN CAP_DAC_OVERRIDE CAP_SETUID CAP_NET_BIND_SERVICE",
        )
        .s(
            "thread.cap_permitted",
            "CAP_CHOWN CAP_DAC_OVERRIDE CAP_SETUID CAP_NET_BIND_SERVICE",
        )
        .set("proc.is_exe_upper_layer", Value::Bool(false))
        .set("proc.is_exe_from_memfd", Value::Bool(false))
        .set("proc.is_vpgid_leader", Value::Bool(true))
}

fn events() -> Vec<(&'static str, BenchEvent)> {
    let mut shell = process(EvtType::Execve)
        .s("proc.name", "bash")
        .s("proc.exe", "bash")
        .s("proc.exepath", "/usr/bin/bash")
        .s("proc.cmdline", "bash -i")
        .s("proc.args", "-i")
        .u("proc.tty", 34816)
        .s("container.id", "0123456789ab")
        .s("container.name", "web")
        .s("container.image.repository", "docker.io/library/nginx")
        .set("container.privileged", Value::Bool(false))
        .s("k8s.ns.name", "default")
        .s("k8s.pod.name", "web-1");
    shell.ancestors = vec!["runc", "containerd-shim", "systemd"];
    let mut host = process(EvtType::Execve)
        .s("proc.name", "ls")
        .s("proc.exe", "ls")
        .s("proc.exepath", "/usr/bin/ls")
        .s("proc.cmdline", "ls -la /tmp")
        .s("proc.args", "-la /tmp")
        .u("proc.tty", 0)
        .s("container.id", "host")
        .s("container.name", "host");
    host.ancestors = vec!["bash", "sshd", "sshd", "systemd"];
    let mut connect = process(EvtType::Connect)
        .s("proc.name", "curl")
        .s("proc.cmdline", "curl https://10.0.0.1/")
        .s("container.id", "0123456789ab")
        .i("fd.num", 3)
        .s("fd.typechar", "4")
        .s("fd.type", "ipv4")
        .s("fd.sockfamily", "ip")
        .s("fd.l4proto", "tcp")
        .s("fd.name", "10.1.0.5:43512->10.0.0.1:443")
        .ip("fd.cip", "10.1.0.5")
        .ip("fd.sip", "10.0.0.1")
        .ip("fd.lip", "10.1.0.5")
        .ip("fd.rip", "10.0.0.1")
        .u("fd.cport", 43512)
        .u("fd.sport", 443)
        .u("fd.lport", 43512)
        .u("fd.rport", 443)
        .set("fd.connected", Value::Bool(true));
    connect.ancestors = vec!["sh", "runc"];
    let exit = process(EvtType::Procexit).s("proc.name", "ls");
    vec![
        ("exec_shell_in_container", shell),
        ("exec_on_host", host),
        ("connect_from_container", connect),
        ("procexit", exit),
    ]
}

fn official() -> Ruleset {
    let sources = lanner_rules::testing::official_sources();
    let options = Options {
        available: lanner_rules::availability::lanner,
        ..Options::default()
    };
    match lanner_rules::load(&sources, &options) {
        Ok(l) => l.ruleset,
        Err(e) => panic!("{:?}", e),
    }
}

fn bench(c: &mut Criterion) {
    let rules = official();
    let mut g = c.benchmark_group("evaluate_official_rules");
    for (name, ev) in events() {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut hits = 0u32;
                rules.evaluate(black_box(&ev), |_| hits += 1);
                hits
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
