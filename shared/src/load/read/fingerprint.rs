//! A 64-bit fingerprint of an item key: which part of a fanned-out load writes the key.
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

/// SplitMix64's finaliser: every bit of the result depends on every bit of the input, so a hash
/// modulo a few parts spreads keys evenly.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
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
}
