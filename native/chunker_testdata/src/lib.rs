//! Seeded inputs for chunker's tests, benches and examples: one generator, so that every
//! place that needs "random bytes" or "text-like bytes" gets the same data for the same seed.
//!
//! The generator is xorshift64 (Marsaglia 2003): fast enough to make gigabytes for a bench,
//! and not meant for anything but test data.
//!
//! [`oracle`] is the other shared piece: the `fastcdc` crate's own boundaries, for every
//! variant; [`golden`] the fixture and file format of the golden vectors.

pub mod golden;
pub mod oracle;

/// An endless xorshift64 sequence; a seed of 0 is made odd, since 0 would stay 0.
pub fn xorshift(seed: u64) -> impl Iterator<Item = u64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    std::iter::from_fn(move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        Some(x)
    })
}

/// `len` pseudo-random bytes, the same for the same `seed`.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut out: Vec<u8> = xorshift(seed)
        .take(len.div_ceil(8))
        .flat_map(u64::to_le_bytes)
        .collect();
    out.truncate(len);
    out
}

/// `len` bytes of text-like data, the same for the same `seed`: words of varying length
/// separated by spaces and newlines, with a stray binary byte now and then. Far from uniform,
/// as source code and logs are, so it compresses well but not trivially.
pub fn text_bytes(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&[u8]; 16] = [
        b"the",
        b"chunk",
        b"boundary",
        b"of",
        b"content",
        b"defined",
        b"data",
        b"a",
        b"fn",
        b"let",
        b"return",
        b"0x2f",
        b"{",
        b"}",
        b"deduplication",
        b"store",
    ];
    let mut out = Vec::with_capacity(len + 16);
    for x in xorshift(seed) {
        if out.len() >= len {
            break;
        }
        if x.is_multiple_of(17) {
            out.push((x >> 24) as u8);
            continue;
        }
        out.extend_from_slice(WORDS[(x % 16) as usize]);
        out.push(if x.is_multiple_of(11) { b'\n' } else { b' ' });
    }
    out.truncate(len);
    out
}

/// A sample of real files: the file at `CHUNKER_REAL_DATA`, else `tmp/otp.tar` at the
/// repository's root (a tar of the OTP installation that `script/test` makes); `None` when
/// neither exists or it is empty.
pub fn real_data() -> Option<Vec<u8>> {
    let path = std::env::var("CHUNKER_REAL_DATA")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../tmp/otp.tar").into());
    std::fs::read(path).ok().filter(|data| !data.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_bytes() {
        assert_eq!(random_bytes(1000, 7), random_bytes(1000, 7));
        assert_ne!(random_bytes(1000, 7), random_bytes(1000, 8));
        assert_eq!(random_bytes(13, 0).len(), 13);
        let text = text_bytes(10_000, 3);
        assert_eq!(text.len(), 10_000);
        assert!(text.iter().filter(|&&b| b == b' ').count() > 1000);
    }
}
