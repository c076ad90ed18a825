//! The FastCDC 2020 cut-point scan, resumable across pieces of input.
//!
//! This is the loop of `fastcdc::v2020::cut_gear` (gear hash, "rolling two bytes each time",
//! normalized masks, sub-minimum skipping) with its state pulled out into [`Scan`], so that a
//! chunk whose bytes arrive in several pieces is scanned once, byte by byte, instead of
//! rescanned from its start whenever more bytes arrive. The gear tables and masks are taken
//! from the `fastcdc` crate itself, and the tests in `tests/oracle.rs` hold the boundaries equal
//! to the crate's for every size set.
//!
//! Why the state is so small: in `cut_gear` the mask a candidate pair is tested with depends
//! only on its position relative to `avg_size` (a source shorter than `avg_size` only shortens
//! the loop, it never changes a tested pair's mask), and a pair is tested exactly when both its
//! bytes exist and it lies below `max_size`. So "pairs tested so far" plus the running hash is
//! all there is to remember.

use std::sync::OnceLock;

use fastcdc::v2020;

use crate::config::ChunkerConfig;

/// Progress of the scan through one chunk: candidate pairs `min_size / 2 .. index` have been
/// tested and did not match, leaving the gear hash at `hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    index: usize,
    hash: u64,
}

impl Scan {
    /// The state at the start of a chunk.
    pub(crate) fn new(config: &ChunkerConfig) -> Self {
        Self {
            index: config.min_size() / 2,
            hash: 0,
        }
    }
}

/// The gear table and its left-shifted twin, copied once from the `fastcdc` crate.
fn gear_tables() -> &'static ([u64; 256], [u64; 256]) {
    static TABLES: OnceLock<([u64; 256], [u64; 256])> = OnceLock::new();
    TABLES.get_or_init(|| {
        let (gear, gear_ls) = v2020::get_gear_with_seed(0);
        let mut tables = ([0u64; 256], [0u64; 256]);
        for (dst, src) in tables.0.iter_mut().zip(gear.iter()) {
            *dst = *src;
        }
        for (dst, src) in tables.1.iter_mut().zip(gear_ls.iter()) {
            *dst = *src;
        }
        tables
    })
}

/// Continues scanning a chunk, given the chunk's bytes at positions `at .. at + bytes.len()`
/// (positions count from the chunk's first byte). Every pair before `at` must already have
/// been scanned, and `at` must be even.
///
/// Returns the chunk's length once it is decided: a matching cut point, or `max_size` when
/// the scan reaches it. Returns `None` when the bytes ran out first; `scan` then holds the
/// progress to resume from with the following bytes. At the end of the input, a `None` means
/// the chunk is everything that is left.
#[inline]
pub(crate) fn scan(
    config: &ChunkerConfig,
    state: &mut Scan,
    bytes: &[u8],
    at: usize,
) -> Option<usize> {
    let (gear, gear_ls) = gear_tables();
    let (mask_s, mask_l) = config.masks();
    let (mask_s_ls, mask_l_ls) = (mask_s << 1, mask_l << 1);
    let half_max = config.max_size() / 2;
    // Pairs whose two bytes are both present, and below max_size.
    let limit = ((at + bytes.len()) / 2).min(half_max);
    let split = (config.avg_size() / 2).clamp(state.index, limit.max(state.index));
    debug_assert!(
        at.is_multiple_of(2) && 2 * state.index >= at,
        "pairs before `at` must be scanned"
    );
    let mut hash = state.hash;

    // Pairs below avg_size are tested with the stricter mask, the rest with the looser one.
    for (first, last, mask_a, mask_b) in [
        (state.index, split, mask_s_ls, mask_s),
        (split, limit, mask_l_ls, mask_l),
    ] {
        if first >= last {
            continue;
        }
        let window = bytes.get(2 * first - at..2 * last - at).unwrap_or_default();
        for (k, pair) in window.chunks_exact(2).enumerate() {
            let &[a, b] = pair else { break };
            // A byte indexes a 256-entry table: in bounds by type, and `get` here would cost
            // the hot loop a branch per byte.
            #[allow(clippy::indexing_slicing)]
            let low = gear_ls[a as usize];
            hash = (hash << 2).wrapping_add(low);
            if hash & mask_a == 0 {
                return Some(2 * (first + k));
            }
            #[allow(clippy::indexing_slicing)]
            let high = gear[b as usize];
            hash = hash.wrapping_add(high);
            if hash & mask_b == 0 {
                return Some(2 * (first + k) + 1);
            }
        }
    }
    state.index = state.index.max(limit);
    state.hash = hash;
    // The whole window up to max_size is present and had no cut point.
    (at + bytes.len() >= config.max_size() && state.index >= half_max).then_some(config.max_size())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chunker_testdata::random_bytes;

    /// The length of the chunk at the start of `source`, where `source` is all the input
    /// there is from that point.
    fn cut_final(config: &ChunkerConfig, source: &[u8]) -> usize {
        let mut state = Scan::new(config);
        scan(config, &mut state, source, 0).unwrap_or(source.len())
    }

    fn crate_cut(config: &ChunkerConfig, source: &[u8]) -> usize {
        let (s, l) = config.masks();
        v2020::cut(
            source,
            config.min_size(),
            config.avg_size(),
            config.max_size(),
            s,
            l,
            s << 1,
            l << 1,
        )
        .1
    }

    #[test]
    fn final_cut_equals_the_crate_for_every_length() {
        let config = ChunkerConfig::new(64, 256, 1024).unwrap();
        // Under Miri (~1000x slower) a sample of the lengths, so it finishes in minutes.
        let (seeds, step) = if cfg!(miri) { (1..3, 97) } else { (1..40, 1) };
        for seed in seeds {
            let data = random_bytes(1500, seed);
            for len in (0..data.len()).step_by(step) {
                assert_eq!(
                    cut_final(&config, &data[..len]),
                    crate_cut(&config, &data[..len]),
                    "seed {seed} len {len}"
                );
            }
        }
    }

    #[test]
    fn equal_min_and_max_sizes_cut_like_the_crate() {
        let config = ChunkerConfig::new(1024, 1024, 1024).unwrap();
        let data = random_bytes(5000, 7);
        for len in [0, 1, 500, 1023, 1024, 1025, 2047, 5000] {
            assert_eq!(
                cut_final(&config, &data[..len]),
                crate_cut(&config, &data[..len])
            );
        }
    }

    #[test]
    fn resuming_in_even_steps_equals_one_scan() {
        let config = ChunkerConfig::new(64, 256, 1024).unwrap();
        let seeds = if cfg!(miri) { 1..3 } else { 1..200 };
        for seed in seeds {
            let data = random_bytes(1200, seed);
            let want = cut_final(&config, &data);
            for step in [2, 4, 6, 100, 254, 1000] {
                let mut state = Scan::new(&config);
                let mut got = None;
                let mut at = 0;
                while got.is_none() && at < data.len() {
                    let end = (at + step).min(data.len());
                    got = scan(&config, &mut state, &data[at..end], at);
                    at = end;
                }
                assert_eq!(got.unwrap_or(data.len()), want, "seed {seed} step {step}");
            }
        }
    }
}
