//! Sets of integers as ranges (`user.uid`, the return value, and a connection end's IPv4
//! address and port): the one representation every numeric dimension of a term uses, with the
//! set operations the analysis needs. Widening merges the closest neighbours (admits more).

use super::facts::Endpoint;

/// A set of integers as sorted, disjoint, inclusive ranges (`user.uid`, the return value).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ranges(pub Vec<(i64, i64)>);

impl Ranges {
    pub fn of(lo: i64, hi: i64) -> Ranges {
        Ranges(if lo <= hi { vec![(lo, hi)] } else { Vec::new() })
    }

    pub fn empty() -> Ranges {
        Ranges(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, v: i64) -> bool {
        self.0.iter().any(|&(lo, hi)| lo <= v && v <= hi)
    }

    /// `self` ⊇ `o`.
    pub fn covers(&self, o: &Ranges) -> bool {
        o.0.iter()
            .all(|&(lo, hi)| self.0.iter().any(|&(a, b)| a <= lo && hi <= b))
    }

    /// Add a range, merging with touching or overlapping ones.
    pub fn push(&mut self, lo: i64, hi: i64) {
        let mut all = std::mem::take(&mut self.0);
        all.push((lo, hi));
        all.sort_unstable();
        for (lo, hi) in all {
            match self.0.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => self.0.push((lo, hi)),
            }
        }
    }

    pub fn union(&self, o: &Ranges) -> Ranges {
        let mut r = self.clone();
        for &(lo, hi) in &o.0 {
            r.push(lo, hi);
        }
        r
    }

    pub fn intersect(&self, o: &Ranges) -> Ranges {
        let mut r = Ranges::empty();
        for &(a, b) in &self.0 {
            for &(c, d) in &o.0 {
                let (lo, hi) = (a.max(c), b.min(d));
                if lo <= hi {
                    r.push(lo, hi);
                }
            }
        }
        r
    }

    /// At most `n` ranges: the closest neighbours are merged (filling the gap between them,
    /// which admits more).
    pub fn widen_to(&mut self, n: usize) {
        while self.0.len() > n.max(1) {
            let i = (0..self.0.len() - 1)
                .min_by_key(|&i| (self.0[i + 1].0 as i128) - (self.0[i].1 as i128))
                .unwrap_or(0);
            let hi = self.0[i + 1].1;
            self.0[i].1 = hi;
            self.0.remove(i + 1);
        }
    }
}

pub const IP_ALL: (i64, i64) = (0, u32::MAX as i64);
pub const PORT_ALL: (i64, i64) = (0, u16::MAX as i64);

/// One end of a connection (the server's or the client's): its IPv4 address, as a number,
/// and its port. Default: any.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndRanges {
    pub ip: Ranges,
    pub port: Ranges,
}

impl EndRanges {
    pub fn any() -> EndRanges {
        EndRanges {
            ip: Ranges::of(IP_ALL.0, IP_ALL.1),
            port: Ranges::of(PORT_ALL.0, PORT_ALL.1),
        }
    }

    pub fn admits(&self, (ip, port): Endpoint) -> bool {
        self.ip.contains(i64::from(ip)) && self.port.contains(i64::from(port))
    }

    pub fn is_any(&self) -> bool {
        self.covers(&EndRanges::any())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ip.is_empty() || self.port.is_empty()
    }

    pub(super) fn meet(&self, o: &EndRanges) -> EndRanges {
        EndRanges {
            ip: self.ip.intersect(&o.ip),
            port: self.port.intersect(&o.port),
        }
    }

    /// Admits both (a box around two boxes: more than their union unless one side agrees).
    pub(super) fn join(&self, o: &EndRanges) -> EndRanges {
        EndRanges {
            ip: self.ip.union(&o.ip),
            port: self.port.union(&o.port),
        }
    }

    /// The exact union, when it is one box: the two agree on the address or on the port.
    pub(super) fn union_exact(&self, o: &EndRanges) -> Option<EndRanges> {
        (self.ip == o.ip || self.port == o.port).then(|| self.join(o))
    }

    pub(super) fn covers(&self, o: &EndRanges) -> bool {
        self.ip.covers(&o.ip) && self.port.covers(&o.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_intersect_and_widen() {
        let mut r = Ranges::empty();
        r.push(5, 9);
        r.push(0, 2);
        r.push(3, 4);
        assert_eq!(r.0, vec![(0, 9)]);
        r.push(100, 200);
        r.push(20, 30);
        assert_eq!(r.0, vec![(0, 9), (20, 30), (100, 200)]);
        assert_eq!(r.intersect(&Ranges::of(8, 25)).0, vec![(8, 9), (20, 25)]);
        r.widen_to(2);
        assert_eq!(r.0, vec![(0, 30), (100, 200)]);
        assert!(r.contains(15) && !r.contains(50));
        assert!(Ranges::of(i64::MIN, i64::MAX).covers(&r));
        let mut full = Ranges::of(i64::MIN, -1);
        full.push(0, i64::MAX);
        assert_eq!(full.0, vec![(i64::MIN, i64::MAX)]);
    }
}
