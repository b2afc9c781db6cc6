//! Soundness, by the engine itself: random syscalls (`World`) whose fields are drawn from the
//! rules' own literals, their prefixes and extensions, relative and unnormalized variants,
//! over-long paths, and noise; the probe's facts and the engine's event are built from the
//! same world. Whenever the reference `admits` drops an event, no enabled rule may match it;
//! and the map layout must decide as the reference does.
//!
//! Rules: the three official files (the open family on a stand-in type, `world::captured`)
//! and rules written to stress negation, `pmatch`, `glob` and lists. A seeded generator
//! (`LANNER_PREFILTER_SEED` replays a run; the seed is printed; `LANNER_PREFILTER_SCALE=N`
//! draws N times as many events).

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::Arc,
};

use super::{
    Options, TypeFilter, admits, derive,
    facts::{KINDS, KernelFacts, l4},
    maps::Maps,
    probe::{Probe, flag},
    world::{FieldKey, OPEN, World, captured, load, matching},
};
use crate::{
    EvtType, Field, FieldArg, Ruleset, fields,
    filter::{Lhs, Node, Rhs},
    loader::Source,
    ops::{Cidr, Lit},
    value::{FieldType, Value},
};

/// splitmix64: small, seedable, good enough to pick from pools.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// The literals each field is compared with, anywhere in the rules.
#[derive(Default)]
struct Literals {
    by_key: HashMap<FieldKey, Vec<Value<'static>>>,
    /// Every network literal (`fd.snet in (…)`), whatever the field.
    nets: Vec<Cidr>,
}

impl Literals {
    fn of(rs: &Ruleset) -> Literals {
        let mut l = Literals::default();
        let mut seen = HashSet::new();
        for r in rs.rules() {
            l.node(r.filter(), &mut seen);
        }
        l
    }

    fn node(&mut self, n: &Node, seen: &mut HashSet<u32>) {
        match n {
            Node::And(xs) | Node::Or(xs) => xs.iter().for_each(|x| self.node(x, seen)),
            Node::Not(x) => self.node(x, seen),
            Node::Memo(slot, x) if seen.insert(*slot) => self.node(x, seen),
            Node::Check(c) => {
                let keys: Vec<FieldKey> = match &c.lhs {
                    Lhs::One(x) => vec![(x.field, x.arg.clone())],
                    Lhs::AnyAncestor(x) => (1..=3).map(|i| (x.field, FieldArg::Index(i))).collect(),
                    Lhs::EitherEnd(a, b) => {
                        vec![(a.field, a.arg.clone()), (b.field, b.arg.clone())]
                    }
                };
                let mut values = Vec::new();
                rhs_values(&c.rhs, &mut values);
                self.nets.extend(values.iter().filter_map(|v| match v {
                    Lit::Net(n) => Some(*n),
                    _ => None,
                }));
                for k in keys {
                    let ty = fields::def(k.0).ty;
                    let typed = values.iter().filter_map(|v| typed(v, ty));
                    self.by_key.entry(k).or_default().extend(typed);
                }
            }
            _ => {}
        }
    }

    fn strings(&self, field: Field) -> Vec<String> {
        self.by_key
            .iter()
            .filter(|((f, _), _)| *f == field)
            .flat_map(|(_, vs)| vs.iter())
            .filter_map(|v| match v {
                Value::Str(s) => Some(s.to_string()),
                _ => None,
            })
            .collect()
    }
}

fn rhs_values(rhs: &Rhs, out: &mut Vec<Lit>) {
    match rhs {
        Rhs::One(l) => out.push(l.clone()),
        Rhs::Lits(ls) => out.extend(ls.iter().cloned()),
        Rhs::Strings(s) => out.extend(s.items().map(|s| Lit::Str(s.to_string()))),
        Rhs::Paths(p) => out.extend(
            p.items()
                .iter()
                .map(|c| Lit::Str(format!("/{}", c.join("/")))),
        ),
        Rhs::AnyOf(ts) => ts.iter().for_each(|(_, r)| rhs_values(r, out)),
        _ => {}
    }
}

/// A literal as a value of a field of type `ty`, with neighbours for numbers.
fn typed(l: &Lit, ty: FieldType) -> Option<Value<'static>> {
    Some(match (l, ty) {
        (Lit::Str(s), FieldType::Str) => Value::Str(s.clone().into()),
        (Lit::Int(n), FieldType::Int64) => Value::Int(*n),
        (Lit::Uint(n), _) if ty.is_numeric() && !ty.is_signed() => Value::Uint(*n),
        (Lit::Bool(b), FieldType::Bool) => Value::Bool(*b),
        (Lit::Ip(ip), FieldType::IpAddr) => Value::Ip(*ip),
        _ => return None,
    })
}

/// Pools of comms and paths to draw worlds from.
struct Pools {
    comms: Vec<Vec<u8>>,
    paths: Vec<String>,
    ips: Vec<IpAddr>,
    ports: Vec<u16>,
}

impl Pools {
    fn of(lits: &Literals) -> Pools {
        let mut comms: Vec<Vec<u8>> =
            ["cat", "bash", "sshd", "x", "", "python3", "a-name-longer-t"]
                .iter()
                .map(|s| s.as_bytes().to_vec())
                .collect();
        comms.push(vec![0xff, b'a']);
        comms.extend(
            lits.strings(Field::ProcName)
                .iter()
                .map(|s| s.as_bytes().to_vec()),
        );
        let mut paths: Vec<String> = [
            "/home/u/x.txt",
            "/tmp/a",
            "/",
            "x",
            "../etc/shadow",
            "/etc/shadow",
            "/proc/1/environ",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for f in [
            Field::FdName,
            Field::FdDirectory,
            Field::FdFilename,
            Field::EvtArg,
            Field::FdNameraw,
            Field::ProcExepath,
        ] {
            paths.extend(lits.strings(f));
        }
        let mut ips: Vec<IpAddr> = [
            "0.0.0.0",
            "127.0.0.1",
            "10.0.0.1",
            "169.254.169.254",
            "8.8.8.8",
            "255.255.255.255",
            "::1",
            "::ffff:127.0.0.1",
        ]
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
        let mut ports: Vec<u16> = vec![0, 1, 22, 53, 80, 443, 65535];
        for vs in lits.by_key.values() {
            for v in vs {
                match v {
                    Value::Ip(ip) => ips.push(*ip),
                    Value::Uint(n) if *n <= 65535 => {
                        let n = *n as u16;
                        ports.extend([n, n.wrapping_add(1), n.wrapping_sub(1)]);
                    }
                    _ => {}
                }
            }
        }
        // A network's first and last address and their outer neighbours.
        for net in &lits.nets {
            if let IpAddr::V4(a) = net.addr {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(net.prefix.min(32)))
                    .unwrap_or(0);
                let (lo, hi) = (u32::from(a) & mask, u32::from(a) | !mask);
                for n in [lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)] {
                    ips.push(IpAddr::V4(n.into()));
                }
            }
        }
        Pools {
            comms,
            paths,
            ips,
            ports,
        }
    }

    fn ip(&self, rng: &mut Rng) -> IpAddr {
        *rng.pick(&self.ips)
    }

    fn port(&self, rng: &mut Rng) -> u16 {
        *rng.pick(&self.ports)
    }

    /// A path from the pool, maybe changed the ways that matter to the kernel's decision.
    fn path(&self, rng: &mut Rng) -> String {
        let p = rng.pick(&self.paths).clone();
        let other = rng.pick(&self.paths).clone();
        let cut = |s: &str, rng: &mut Rng| {
            let ends: Vec<usize> = (0..=s.len()).filter(|&i| s.is_char_boundary(i)).collect();
            s[..*rng.pick(&ends)].to_string()
        };
        match rng.below(16) {
            0 => format!("{p}/x"),
            1 => format!("{p}x"),
            2 => cut(&p, rng),
            3 => format!("/etc/{}", other.trim_start_matches('/')),
            4 => format!(
                "{}/{}",
                p.trim_end_matches('/'),
                other.rsplit('/').next().unwrap_or("")
            ),
            5 => p.replacen('/', "//", 1),
            6 => p.replacen('/', "/./", 1),
            7 => format!("/tmp/..{p}"),
            8 => p.trim_start_matches('/').to_string(),
            9 => format!("./{}", p.trim_start_matches('/')),
            10 => format!("{p}/"),
            11 => format!("{p}/{}", "l".repeat(250)),
            12 => format!("{p}é"),
            _ => p,
        }
    }
}

fn world(rng: &mut Rng, pools: &Pools) -> World {
    let comm = rng.pick(&pools.comms).clone();
    World {
        comm: KernelFacts::comm_of(&comm),
        uid: *rng.pick(&[0, 1, 33, 1000, 65534, u32::MAX]),
        raw: (!rng.chance(20)).then(|| pools.path(rng)),
        cwd: rng
            .pick(&["/", "/etc", "/home/u", "/root/.ssh", "/tmp", "/proc/1"])
            .to_string(),
        flags: (rng.next() as u32) & (flag::ALL | flag::CONNECTED),
        ret: *rng.pick(&[-115, -13, -2, -1, 0, 1, 2, 3, 4, 100, -9999]),
        kind: (!rng.chance(8)).then(|| rng.below(KINDS.len()) as u8),
        l4: rng.below(usize::from(l4::NONE) + 1) as u8,
        server: (!rng.chance(8)).then(|| (pools.ip(rng), pools.port(rng))),
        client: (!rng.chance(8)).then(|| (pools.ip(rng), pools.port(rng))),
        domain: *rng.pick(&[0, 1, 2, 10, 16, 17, 27, 40, 65_538, 65_553, u64::MAX]),
    }
}

/// The other fields: each set (half the time) to a literal of its own, maybe extended.
fn extras(rng: &mut Rng, lits: &Literals) -> Vec<(FieldKey, Value<'static>)> {
    let mut out = Vec::new();
    for (k, vs) in &lits.by_key {
        if vs.is_empty() || rng.chance(2) {
            continue;
        }
        let v = match rng.pick(vs).clone() {
            Value::Str(s) if rng.chance(4) => Value::Str(format!("{s}x").into()),
            Value::Uint(n) if rng.chance(4) => Value::Uint(n.wrapping_add(1)),
            v => v,
        };
        out.push((k.clone(), v));
    }
    out
}

struct Run {
    dropped: usize,
    total: usize,
}

/// `n` worlds per type of `probes`, each checked; the drop counts per type.
fn check(name: &str, rs: &Ruleset, probes: &[(EvtType, Probe)], n: usize) -> Vec<(EvtType, Run)> {
    let seed = std::env::var("LANNER_PREFILTER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    // More events per type for a longer run.
    let n = n * std::env::var("LANNER_PREFILTER_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    println!("{name}: LANNER_PREFILTER_SEED={seed}");
    let mut rng = Rng(seed);
    let lits = Literals::of(rs);
    let pools = Pools::of(&lits);
    let mut filters: Vec<(EvtType, TypeFilter)> = probes
        .iter()
        .map(|(t, p)| (*t, derive(rs, *t, p, &Options::default())))
        .collect();
    let maps = Maps::build(&mut filters);
    let mut out = Vec::new();
    for ((ty, probe), (_, filter)) in probes.iter().zip(&filters) {
        let mut run = Run {
            dropped: 0,
            total: 0,
        };
        for _ in 0..n {
            let mut w = world(&mut rng, &pools);
            w.fit(probe);
            let facts = w.facts(probe);
            let admitted = admits(filter, &facts);
            assert_eq!(
                maps.admits(*ty, &facts),
                admitted,
                "{name}: maps disagree on {w:?}"
            );
            run.total += 1;
            if admitted {
                continue;
            }
            run.dropped += 1;
            let ev = w.event(*ty, &extras(&mut rng, &lits));
            let hit = matching(rs, &ev);
            assert!(
                hit.is_empty(),
                "{name} ({}): dropped, yet {hit:?} match.\nworld: {w:?}\nfacts: {facts:?}\nevent: {ev:?}\nfilter: {filter:?}",
                ty.name()
            );
        }
        out.push((*ty, run));
    }
    out
}

/// The drops per type, for `--nocapture`.
fn report(runs: &[(EvtType, Run)]) {
    for (ty, r) in runs {
        println!(
            "  {:<10} dropped {:>5} of {}",
            ty.name(),
            r.dropped,
            r.total
        );
    }
}

/// Every type, with the probe the sensor will have for it.
fn probes() -> Vec<(EvtType, Probe)> {
    EvtType::ALL
        .into_iter()
        .map(|t| (t, super::official::probe_of(t)))
        .collect()
}

#[test]
fn no_official_rule_matches_an_event_the_kernel_drops() {
    let rs = super::official::official();
    let runs = check("official", &rs, &probes(), 4000);
    report(&runs);
    let open = runs
        .iter()
        .find(|(t, _)| *t == OPEN)
        .map(|(_, r)| r.dropped)
        .unwrap_or(0);
    assert!(open > 0, "the open filter drops some random opens");
}

/// The official rules as the sensor loads them (the rule that needs `fd.sip.name` cannot
/// fire): connects, accepts and sends are filtered in the kernel.
#[test]
fn no_official_rule_the_sensor_can_fire_matches_a_connection_the_kernel_drops() {
    let rs = super::official::official_as_sensor();
    let probes: Vec<(EvtType, Probe)> = [
        EvtType::Connect,
        EvtType::Accept,
        EvtType::Accept4,
        EvtType::Sendto,
    ]
    .into_iter()
    .map(|t| (t, super::official::probe_of(t)))
    .collect();
    let runs = check("official, as the sensor loads them", &rs, &probes, 20_000);
    report(&runs);
    for (ty, r) in &runs {
        assert!(r.dropped > 0, "{} events are filtered", ty.name());
    }
}

/// Negation, `pmatch`, `glob`, lists, names longer than a comm, transformers, `val()`, and
/// every dimension at once.
const STRESS: &str = include_str!("props_stress.yaml");

/// Each stress rule alone (no other rule masks an imprecision of its own), then all
/// together.
#[test]
fn no_stress_rule_matches_an_event_the_kernel_drops() {
    let (preamble, rules) = STRESS
        .split_once("- rule:")
        .expect("the stress text has rules");
    let rules: Vec<String> = rules
        .split("- rule:")
        .map(|r| format!("- rule:{r}"))
        .collect();
    for (i, rule) in rules.iter().enumerate() {
        let rs = load(&[Source {
            name: Arc::from("stress.yaml"),
            text: captured(&format!("{preamble}{rule}")),
        }]);
        check(&format!("stress rule {i}"), &rs, &probes(), 3000);
    }
    let rs = load(&[Source {
        name: Arc::from("stress.yaml"),
        text: captured(STRESS),
    }]);
    let runs = check("stress", &rs, &probes(), 20000);
    report(&runs);
    let open = runs
        .iter()
        .find(|(t, _)| *t == OPEN)
        .map(|(_, r)| r.dropped)
        .unwrap_or(0);
    assert!(open > 0);
}
