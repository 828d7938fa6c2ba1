//! Compact fingerprints of item keys: a 64-bit hash per key (which part of a fanned-out load writes
//! the key), and a Bloom filter of hashes (whether a key came up before in a segment, without
//! holding every key: it may say "seen" for a key it never saw, never the reverse).
//!
//! Hashes must agree across invocations, even across a redeploy built by another Rust release, so
//! they are this module's own (FNV-1a over the key's typed parts, then a final mix), never the
//! standard library's unspecified default; keys are hashed in their normalised form (`1.0` and `1`
//! are one number key).

use crate::load::read::keys::{ItemKey, KeyValue};

/// The key's hash: equal keys, as DynamoDB compares them, hash equal in every invocation.
pub fn key_hash(key: &ItemKey) -> u64 {
    let mut hash = Fnv1a::default();
    hash.value(&key.partition);
    match &key.sort {
        Some(sort) => {
            hash.bytes(&[1]);
            hash.value(sort);
        }
        None => hash.bytes(&[0]),
    }
    mix(hash.0)
}

/// FNV-1a, 64-bit.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn bytes(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The type, the length and the bytes: no two different values feed the same bytes.
    fn value(&mut self, value: &KeyValue) {
        let (tag, bytes) = match value {
            KeyValue::S(s) => (b'S', s.as_bytes()),
            KeyValue::N(n) => (b'N', n.as_bytes()),
            KeyValue::B(b) => (b'B', b.as_slice()),
        };
        self.bytes(&[tag]);
        self.bytes(&(bytes.len() as u64).to_le_bytes());
        self.bytes(bytes);
    }
}

/// SplitMix64's finaliser: every bit of the result depends on every bit of the input, which the
/// Bloom filter's two halves of one hash need.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A Bloom filter over key hashes.
#[derive(Debug, Clone)]
pub struct Bloom {
    words: Vec<u64>,
    probes: u32,
}

impl Bloom {
    /// About 1% false positives up to `keys` keys (10 bits and 7 probes a key), never smaller than
    /// 1 Mbit nor larger than `max_bytes`; past `keys` it over-reports more, never under-reports.
    pub fn for_keys(keys: u64, max_bytes: u64) -> Bloom {
        let bits = keys
            .saturating_mul(10)
            .clamp(1 << 20, max_bytes.max(1 << 17) * 8);
        Bloom {
            words: vec![0; bits.div_ceil(64) as usize],
            probes: 7,
        }
    }

    /// The bit of the `i`th probe: two halves of one hash give every probe (Kirsch and
    /// Mitzenmacher).
    fn bit(&self, hash: u64, i: u32) -> usize {
        let bits = self.words.len() as u64 * 64;
        let step = hash.rotate_left(32) | 1;
        (hash.wrapping_add(u64::from(i).wrapping_mul(step)) % bits) as usize
    }

    pub fn insert(&mut self, hash: u64) {
        for i in 0..self.probes {
            let bit = self.bit(hash, i);
            self.words[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// False only for a hash never inserted.
    pub fn may_contain(&self, hash: u64) -> bool {
        (0..self.probes).all(|i| {
            let bit = self.bit(hash, i);
            self.words[bit / 64] & (1 << (bit % 64)) != 0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::read::keys::KeyValue;

    fn key(p: &str, s: Option<&str>) -> ItemKey {
        ItemKey {
            partition: KeyValue::S(p.into()),
            sort: s.map(|s| KeyValue::N(s.into())),
        }
    }

    #[test]
    fn equal_keys_hash_equal_and_different_keys_differ() {
        // Fixed: the same in every build, so parts started before a redeploy still agree (the
        // value as FNV-1a and SplitMix64's finaliser give it, worked out apart from this code).
        assert_eq!(key_hash(&key("a", Some("1"))), 1_549_364_127_207_256_031);
        assert_eq!(
            key_hash(&key("a", Some("1"))),
            key_hash(&key("a", Some("1")))
        );
        assert_ne!(
            key_hash(&key("a", Some("1"))),
            key_hash(&key("a", Some("2")))
        );
        assert_ne!(key_hash(&key("a", None)), key_hash(&key("a", Some("1"))));
    }

    #[test]
    fn bloom_never_forgets_and_rarely_imagines() {
        let mut bloom = Bloom::for_keys(100_000, 1 << 20);
        for i in 0..100_000u64 {
            bloom.insert(key_hash(&key(&i.to_string(), None)));
        }
        assert!((0..100_000u64).all(|i| bloom.may_contain(key_hash(&key(&i.to_string(), None)))));
        let imagined = (100_000..200_000u64)
            .filter(|i| bloom.may_contain(key_hash(&key(&i.to_string(), None))))
            .count();
        assert!(imagined < 2_000, "{imagined} false positives in 100,000");
    }
}
