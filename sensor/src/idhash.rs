//! Hashing for the per-event maps keyed by kernel ids (pids, cgroup ids). The process table is
//! looked up several times per event (the lineage walk), where SipHash cost more than the rest
//! of the walk. These keys are numbers the kernel hands out, not input an attacker chooses
//! freely, so flooding is not a concern.

use std::hash::{BuildHasherDefault, Hasher};

/// One multiplication per key.
#[derive(Default)]
pub struct IdHasher(u64);

/// `HashMap<K, V, IdHash>` for integer keys.
pub type IdHash = BuildHasherDefault<IdHasher>;

impl IdHasher {
    fn mix(&mut self, n: u64) {
        // The high bits of the product are the well-mixed ones; hashbrown takes its tag from
        // the top bits and the bucket from the low ones, so fold them together.
        let p = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = p ^ (p >> 32);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.mix(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher as _;

    /// Neighbouring ids land in different buckets and carry different tags.
    #[test]
    fn neighbouring_ids_spread() {
        let h = IdHash::default();
        let hashes: std::collections::HashSet<u64> = (0u32..4096).map(|p| h.hash_one(p)).collect();
        assert_eq!(hashes.len(), 4096);
        let buckets: std::collections::HashSet<u64> =
            (0u32..256).map(|p| h.hash_one(p) & 255).collect();
        assert!(buckets.len() > 128, "{} of 256 buckets used", buckets.len());
        let tags: std::collections::HashSet<u64> =
            (0u32..256).map(|p| h.hash_one(p) >> 57).collect();
        assert!(tags.len() > 64, "{} of 128 tags used", tags.len());
    }
}
