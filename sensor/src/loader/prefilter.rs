//! The in-kernel prefilter's maps, written from the loaded rules (`lanner_rules::prefilter`:
//! the analysis, the maps' layout and the per-event algorithm the kernel runs): at start, and
//! on every reload without detaching anything. While two rulesets may be in use (between the
//! reload's widening and the swap) every type passes whole; then, per the maps' reload order,
//! the old entries are deleted, the new ones written, and the real headers last (see
//! `KernelFilter::write` for how a program reading a header as it is written stays sound). A
//! write that fails leaves its types passing whole (sound: the kernel only drops what a
//! written header says), logged and counted.

use std::sync::{
    Arc, Mutex, PoisonError,
    atomic::{AtomicU64, Ordering::Relaxed},
};

use aya::{
    Ebpf,
    maps::{Array, HashMap, LpmTrie, MapData, MapError, PerCpuArray, lpm_trie::Key},
};
use lanner_common::prefilter::{
    CommKey, KNeedle, KTerm, LPM_DATA, LpmKey, MAP_COMM, MAP_DIRS, MAP_DROPPED, MAP_NEEDLES,
    MAP_PAIRS, MAP_PREFIX, MAP_SUFFIX, MAP_TERMS, MAP_TYPES, MODE_PASS, PairTable, TypeHeader,
    pair_table,
};
use lanner_rules::{
    EvtType, Ruleset,
    prefilter::{PassReason, TypeFilter, maps::Maps, plan},
};

/// What the metrics and `-L` report of the prefilter in use.
pub struct Status {
    /// Per type the kernel can filter: what it does now.
    filters: Mutex<Vec<(EvtType, TypeFilter)>>,
    /// The kernel's per-type drop counters (`PREFILTER_DROPPED`).
    dropped: Mutex<PerCpuArray<MapData, u64>>,
    /// Map writes that failed (their types pass whole).
    pub write_failures: AtomicU64,
}

impl Status {
    /// Per type the kernel can filter: events it dropped (summed over CPUs) and its filter.
    pub fn types(&self) -> Vec<(EvtType, u64, TypeFilter)> {
        let filters = lock(&self.filters).clone();
        let dropped = lock(&self.dropped);
        filters
            .into_iter()
            .map(|(t, f)| {
                let n = dropped
                    .get(&(t as u32), 0)
                    .map_or(0, |per_cpu| per_cpu.iter().sum());
                (t, n, f)
            })
            .collect()
    }
}

/// The maps, and what they hold now (to delete on the next write).
pub struct KernelFilter {
    types: Array<MapData, TypeHeader>,
    terms: Array<MapData, KTerm>,
    needles: Array<MapData, KNeedle>,
    pairs: Array<MapData, PairTable>,
    comm: HashMap<MapData, CommKey, u64>,
    prefix: LpmTrie<MapData, [u8; LPM_DATA], u64>,
    suffix: LpmTrie<MapData, [u8; LPM_DATA], u64>,
    dirs: LpmTrie<MapData, [u8; LPM_DATA], u64>,
    written: Maps,
    dump_events: bool,
    status: Arc<Status>,
}

fn take<T: TryFrom<aya::maps::Map, Error = MapError>>(
    ebpf: &mut Ebpf,
    name: &'static str,
) -> anyhow::Result<T> {
    let map = ebpf
        .take_map(name)
        .ok_or_else(|| anyhow::anyhow!("map {name} missing"))?;
    Ok(T::try_from(map)?)
}

impl KernelFilter {
    /// The maps of the loaded object; nothing is written yet (every type passes).
    pub fn take(ebpf: &mut Ebpf, dump_events: bool) -> anyhow::Result<(Self, Arc<Status>)> {
        let status = Arc::new(Status {
            filters: Mutex::default(),
            dropped: Mutex::new(take(ebpf, MAP_DROPPED)?),
            write_failures: AtomicU64::new(0),
        });
        let f = KernelFilter {
            types: take(ebpf, MAP_TYPES)?,
            terms: take(ebpf, MAP_TERMS)?,
            needles: take(ebpf, MAP_NEEDLES)?,
            pairs: take(ebpf, MAP_PAIRS)?,
            comm: take(ebpf, MAP_COMM)?,
            prefix: take(ebpf, MAP_PREFIX)?,
            suffix: take(ebpf, MAP_SUFFIX)?,
            dirs: take(ebpf, MAP_DIRS)?,
            written: Maps::default(),
            dump_events,
            status: status.clone(),
        };
        Ok((f, status))
    }

    /// `None`: two rulesets may be in use, every type passes whole. `Some`: the filters of
    /// this one.
    pub fn apply(&mut self, rs: Option<&Ruleset>) {
        let Some(rs) = rs else {
            self.pass_all();
            return;
        };
        let plan = plan(rs, self.dump_events);
        for (t, f) in &plan.filters {
            for r in f.pass_reasons() {
                if !matches!(r, PassReason::DumpEvents) {
                    log::debug!("prefilter: {} passes whole: {r}", t.name());
                }
            }
        }
        let count = |mode| {
            plan.filters
                .iter()
                .filter(|(_, f)| f.mode() == mode)
                .count()
        };
        let (filter, drop, pass) = (count("filter"), count("drop"), count("pass"));
        match self.write(plan.maps) {
            Ok(()) => {
                log::info!(
                    "prefilter: of {} event types the kernel can filter, {filter} filtered, \
                     {drop} dropped whole (no loaded rule matches), {pass} passing whole",
                    plan.filters.len()
                );
                *lock(&self.status.filters) = plan.filters;
            }
            Err(e) => {
                self.status.write_failures.fetch_add(1, Relaxed);
                log::error!("prefilter: writing the kernel's maps failed, every type passes: {e}");
                let passing = plan
                    .filters
                    .into_iter()
                    .map(|(t, _)| (t, TypeFilter::Pass(Vec::new())))
                    .collect();
                *lock(&self.status.filters) = passing;
            }
        }
    }

    /// Every type passes: each header written again with `MODE_PASS`, its other bytes
    /// unchanged (see [`write`](Self::write)); the entries stay until the next write.
    fn pass_all(&mut self) {
        for (t, h) in &self.written.headers {
            let pass = TypeHeader {
                mode: MODE_PASS,
                ..*h
            };
            if let Err(e) = self.types.set(u32::from(*t), pass, 0) {
                log::error!("prefilter: header of type {t}: {e}");
            }
        }
    }

    /// The reload order: headers pass, old entries deleted, new entries written, real
    /// headers. On an error the headers not yet written stay `MODE_PASS`.
    ///
    /// A program reads a header in place while this writes it, and an array update is a
    /// copy, not atomic: so a header write changes either only its mode byte, or only its
    /// other bytes while the mode reads `MODE_PASS` (a program that sees `MODE_PASS` reads
    /// nothing else). And a program that read the old mode before it turned `MODE_PASS` may
    /// still be running: the entries change only [`GRACE`] later.
    fn write(&mut self, maps: Maps) -> Result<(), MapError> {
        self.pass_all();
        std::thread::sleep(GRACE);
        let old = std::mem::replace(&mut self.written, maps);
        // A key already gone is no failure: deleting is best effort, the headers are PASS.
        for (k, _) in &old.comm {
            let _ = self.comm.remove(k);
        }
        for (k, _) in &old.prefix {
            let _ = self.prefix.remove(&lpm(k));
        }
        for (k, _) in &old.suffix {
            let _ = self.suffix.remove(&lpm(k));
        }
        for (k, _) in &old.dirs {
            let _ = self.dirs.remove(&lpm(k));
        }
        // A type of the old set only keeps its `MODE_PASS` header; one of the new set gets
        // its header with `MODE_PASS` first.
        let new = &self.written;
        for (t, h) in &new.headers {
            let pass = TypeHeader {
                mode: MODE_PASS,
                ..*h
            };
            self.types.set(u32::from(*t), pass, 0)?;
        }
        for (i, t) in new.terms.iter().enumerate() {
            self.terms.set(i as u32, t, 0)?;
        }
        for (i, n) in new.needles.iter().enumerate() {
            self.needles.set(i as u32, n, 0)?;
        }
        // Written while every header passes: a filtering type's needles are all in it.
        self.pairs.set(0, pair_table(&new.needles), 0)?;
        for (k, v) in &new.comm {
            self.comm.insert(k, v, 0)?;
        }
        for (k, v) in &new.prefix {
            self.prefix.insert(&lpm(k), v, 0)?;
        }
        for (k, v) in &new.suffix {
            self.suffix.insert(&lpm(k), v, 0)?;
        }
        for (k, v) in &new.dirs {
            self.dirs.insert(&lpm(k), v, 0)?;
        }
        for (t, h) in &new.headers {
            self.types.set(u32::from(*t), h, 0)?;
        }
        Ok(())
    }
}

/// How long a program may still run on a header it read before the header turned
/// `MODE_PASS`: the probes run for microseconds, without sleeping.
const GRACE: std::time::Duration = std::time::Duration::from_millis(20);

fn lpm(k: &LpmKey) -> Key<[u8; LPM_DATA]> {
    Key::new(k.prefixlen, k.data)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
