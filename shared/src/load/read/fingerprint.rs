//! Compact fingerprints of item keys, for telling whether a key came up before without holding
//! every key: a 64-bit hash per key, a Bloom filter of hashes (may say "seen" for a key it never
//! saw, never the reverse), and an exact, sorted set of hashes that travels between invocations.
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

    /// Adds everything `other` holds (same size).
    pub fn absorb(&mut self, other: &Bloom) {
        for (word, theirs) in self.words.iter_mut().zip(&other.words) {
            *word |= theirs;
        }
    }

    pub fn clear(&mut self) {
        self.words.fill(0);
    }
}

/// An exact set of key hashes, sorted, stored as little-endian `u64`s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HashSet64(Vec<u64>);

impl HashSet64 {
    pub fn from_hashes(mut hashes: Vec<u64>) -> HashSet64 {
        hashes.sort_unstable();
        hashes.dedup();
        HashSet64(hashes)
    }

    pub fn contains(&self, hash: u64) -> bool {
        self.0.binary_search(&hash).is_ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|h| h.to_le_bytes()).collect()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<HashSet64, String> {
        if !bytes.len().is_multiple_of(8) {
            return Err(format!(
                "{} bytes is not a whole number of hashes",
                bytes.len()
            ));
        }
        let hashes = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        Ok(HashSet64::from_hashes(hashes))
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
        // Fixed: the same in every build, so parts dispatched before a redeploy still agree (the
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
        let mut other = Bloom::for_keys(100_000, 1 << 20);
        other.absorb(&bloom);
        assert!(other.may_contain(key_hash(&key("7", None))));
        other.clear();
        assert!(!other.may_contain(key_hash(&key("7", None))));
    }

    #[test]
    fn hash_sets_round_trip_through_bytes() {
        let set = HashSet64::from_hashes(vec![9, 3, 3, u64::MAX]);
        assert_eq!(set.len(), 3);
        let back = HashSet64::from_bytes(&set.to_bytes()).unwrap();
        assert_eq!(back, set);
        assert!(back.contains(u64::MAX) && !back.contains(4));
        assert!(HashSet64::from_bytes(&[1, 2, 3]).is_err());
    }
}
