//! Chunk digests: BLAKE3 and SHA-256, one at a time or many in parallel.
//!
//! Both crates pick their SIMD / SHA-NI code paths at run time, so one build is fast on
//! every x86_64 and aarch64 machine.

use crate::observe::{count, span};
use sha2::{Digest as _, Sha256};

use crate::chunk::ChunkBytes;

/// A 32-byte digest.
pub type Digest = [u8; 32];

/// The digest computed for each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// BLAKE3 (the `blake3` crate, unkeyed, 32-byte output): the fast default.
    Blake3,
    /// SHA-256 (the `sha2` crate).
    Sha256,
}

impl HashAlgorithm {
    /// Hashes `data` with this algorithm.
    ///
    /// ```
    /// use chunker_core::HashAlgorithm;
    /// let digest = HashAlgorithm::Sha256.hash(b"abc");
    /// assert_eq!(digest[..4], [0xba, 0x78, 0x16, 0xbf]);
    /// ```
    #[inline]
    pub fn hash(self, data: &[u8]) -> Digest {
        match self {
            HashAlgorithm::Blake3 => *blake3::hash(data).as_bytes(),
            HashAlgorithm::Sha256 => Sha256::digest(data).into(),
        }
    }

    /// Hashes the concatenation of `bytes`' parts.
    #[inline]
    pub fn hash_bytes(self, bytes: &ChunkBytes<'_>) -> Digest {
        match bytes.as_slice() {
            Some(slice) => self.hash(slice),
            None => {
                let mut hasher = self.hasher();
                for part in bytes.parts() {
                    hasher.update(part);
                }
                hasher.finalize()
            }
        }
    }

    /// Hashes each of `items`, in parallel on rayon's pool (see [`crate::parallel`]); digests
    /// in input order.
    ///
    /// ```
    /// use chunker_core::HashAlgorithm;
    /// let items: [&[u8]; 2] = [b"a", b"b"];
    /// let digests = HashAlgorithm::Blake3.hash_many(&items);
    /// assert_eq!(digests[1], HashAlgorithm::Blake3.hash(b"b"));
    /// ```
    pub fn hash_many(self, items: &[&[u8]]) -> Vec<Digest> {
        span!(
            "chunker.hash_many",
            items = items.len(),
            algorithm = self.name()
        );
        count!(
            "chunker.hash.bytes",
            items.iter().map(|item| item.len()).sum::<usize>(),
            "algorithm" => self.name(),
        );
        // An item's cost: its bytes, plus about 64 bytes' worth of fixed cost.
        crate::parallel::map_by_weight(items, |item| item.len() + 64, |item| self.hash(item))
    }

    /// The algorithm's name: `"blake3"` or `"sha256"`.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Blake3 => "blake3",
            HashAlgorithm::Sha256 => "sha256",
        }
    }

    /// Returns an incremental hasher for data that arrives in pieces.
    pub fn hasher(self) -> Hasher {
        match self {
            HashAlgorithm::Blake3 => Hasher::Blake3(Box::new(blake3::Hasher::new())),
            HashAlgorithm::Sha256 => Hasher::Sha256(Sha256::new()),
        }
    }
}

/// An incremental hasher; see [`HashAlgorithm::hasher`].
#[derive(Clone)]
pub enum Hasher {
    /// BLAKE3 state (boxed: it is ~1.9 KiB).
    Blake3(Box<blake3::Hasher>),
    /// SHA-256 state.
    Sha256(Sha256),
}

impl Hasher {
    /// Adds `data` to the hash.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Blake3(h) => {
                h.update(data);
            }
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// Returns the digest of everything added.
    pub fn finalize(self) -> Digest {
        match self {
            Hasher::Blake3(h) => *h.finalize().as_bytes(),
            Hasher::Sha256(h) => h.finalize().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // FIPS 180-2 "abc" and the BLAKE3 reference's empty-input digest.
        let sha = HashAlgorithm::Sha256.hash(b"abc");
        assert_eq!(
            hex(&sha),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let b3 = HashAlgorithm::Blake3.hash(b"");
        assert_eq!(
            hex(&b3),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn incremental_equals_one_shot() {
        let len = if cfg!(miri) { 3_000 } else { 100_000u32 };
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 13) as u8).collect();
        for algo in [HashAlgorithm::Blake3, HashAlgorithm::Sha256] {
            let mut h = algo.hasher();
            for piece in data.chunks(777) {
                h.update(piece);
            }
            assert_eq!(h.finalize(), algo.hash(&data));
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
