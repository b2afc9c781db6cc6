//! One alert as the sinks carry it: its JSON line as written to stdout, its time, and a
//! deterministic id (the same alert always gets the same id, so a sink that may deliver twice —
//! after a retry or a restart with a spool — lets the receiver drop the duplicate).

use std::hash::Hasher;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// 32 hex digits, derived from the JSON line.
    pub id: String,
    /// The alert's JSON object, one line, no trailing newline.
    pub json: String,
    /// ns since the epoch (the alert's `time`).
    pub time_ns: u64,
}

impl Record {
    pub fn new(json: String, time_ns: u64) -> Self {
        Self {
            id: id_of(&json),
            json,
            time_ns,
        }
    }
}

/// Two independent 64-bit FNV-1a-style hashes of the line (different offsets and primes), as
/// 128 bits of hex: stable across runs and builds, unlike `std`'s randomly seeded hasher.
fn id_of(line: &str) -> String {
    let mut a = Fnv(0xcbf2_9ce4_8422_2325, 0x0000_0100_0000_01b3);
    let mut b = Fnv(0x6c62_272e_07bb_0142, 0x0000_0000_0100_0193 | (1 << 40));
    a.write(line.as_bytes());
    b.write(line.as_bytes());
    format!("{:016x}{:016x}", a.finish(), b.finish())
}

struct Fnv(u64, u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &x in bytes {
            self.0 = (self.0 ^ u64::from(x)).wrapping_mul(self.1);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_differ_per_line() {
        let a = Record::new("{\"rule\":\"a\"}".into(), 1);
        assert_eq!(a.id, Record::new("{\"rule\":\"a\"}".into(), 1).id);
        assert_ne!(a.id, Record::new("{\"rule\":\"b\"}".into(), 1).id);
        assert_eq!(a.id.len(), 32);
        assert!(a.id.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
