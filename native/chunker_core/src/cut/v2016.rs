//! `fastcdc::v2016`: the FastCDC paper's algorithm, the gear hash rolled one byte at a time.
//!
//! Its `cut` hashes the byte at position `i` (from `min_size` on) and, on a match, cuts the
//! chunk at length `i`: the byte that matched begins the next chunk. Positions below
//! `avg_size` are tested with the strict mask, the rest with the relaxed one, up to
//! `max_size`. Its gear table and masks are `v2020`'s (the same constants in the crate).

use fastcdc::v2016;

use super::{logarithm2, Scan, Sizes};
use crate::config::Normalization;

/// The strict and relaxed masks of `v2016::FastCDC::with_level`.
pub(super) fn masks(avg_size: usize, normalization: Normalization) -> (u64, u64) {
    let bits = logarithm2(avg_size);
    let level = normalization.level();
    // avg_size 256..=4 MiB and levels 0..=3 keep both indices in the table; a miss would
    // be a mask of 0, which cuts at once, never a panic.
    let mask = |bits: Option<u32>| {
        bits.and_then(|bits| v2016::MASKS.get(bits as usize))
            .copied()
            .unwrap_or(0)
    };
    (mask(bits.checked_add(level)), mask(bits.checked_sub(level)))
}

/// See [`super::scan`]; `state.index` counts bytes.
#[inline]
pub(super) fn scan(
    (mask_s, mask_l): (u64, u64),
    sizes: Sizes,
    state: &mut Scan,
    bytes: &[u8],
    at: usize,
) -> Option<usize> {
    let (gear, _) = super::v2020::default_tables();
    let limit = (at + bytes.len()).min(sizes.max);
    let split = sizes.avg.clamp(state.index, limit.max(state.index));
    debug_assert!(state.index >= at, "positions before `at` must be scanned");
    let mut hash = state.hash;
    for (first, last, mask) in [(state.index, split, mask_s), (split, limit, mask_l)] {
        if first >= last {
            continue;
        }
        let window = bytes.get(first - at..last - at).unwrap_or_default();
        for (k, &byte) in window.iter().enumerate() {
            // A byte indexes a 256-entry table: in bounds by type.
            #[allow(clippy::indexing_slicing)]
            let value = gear[byte as usize];
            hash = (hash << 1).wrapping_add(value);
            if hash & mask == 0 {
                return Some(first + k);
            }
        }
    }
    state.index = state.index.max(limit);
    state.hash = hash;
    (at + bytes.len() >= sizes.max && state.index >= sizes.max).then_some(sizes.max)
}
