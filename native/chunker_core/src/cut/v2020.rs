//! `fastcdc::v2020`: the gear hash "rolling two bytes each time" (`cut_gear`), with
//! normalized masks and sub-minimum skipping, resumable.
//!
//! In `cut_gear` the candidate pair at index `i` covers bytes `2i` and `2i + 1`; a match on the
//! first byte cuts the chunk at length `2i`, on the second at `2i + 1`. Pairs below
//! `avg_size / 2` are tested with the strict masks, the rest with the relaxed ones, up to
//! `max_size / 2`.

use std::sync::OnceLock;

use fastcdc::v2020;

use super::lane::{Lane, LaneExit, Positions};
use super::{GearTables, Scan, Sizes};
use crate::config::Normalization;

/// The strict and relaxed masks (`v2020::select_masks`).
pub(super) fn masks(avg_size: usize, normalization: Normalization) -> (u64, u64) {
    let level = match normalization {
        Normalization::Level0 => v2020::Normalization::Level0,
        Normalization::Level1 => v2020::Normalization::Level1,
        Normalization::Level2 => v2020::Normalization::Level2,
        Normalization::Level3 => v2020::Normalization::Level3,
    };
    v2020::select_masks(avg_size, level)
}

/// The crate's gear tables with `seed` XORed in (`v2020::get_gear_with_seed`), copied into
/// fixed-size arrays so the scan's lookups need no bounds checks.
pub(super) fn tables(seed: u64) -> GearTables {
    let (gear, gear_ls) = v2020::get_gear_with_seed(seed);
    let mut tables = ([0u64; 256], [0u64; 256]);
    for (dst, src) in tables.0.iter_mut().zip(gear.iter()) {
        *dst = *src;
    }
    for (dst, src) in tables.1.iter_mut().zip(gear_ls.iter()) {
        *dst = *src;
    }
    tables
}

/// The unseeded tables, copied once.
pub(super) fn default_tables() -> &'static GearTables {
    static TABLES: OnceLock<GearTables> = OnceLock::new();
    TABLES.get_or_init(|| tables(0))
}

/// See [`super::scan`]; `state.index` counts pairs.
#[inline]
pub(super) fn scan(
    (gear, gear_ls): &GearTables,
    (mask_s, mask_l): (u64, u64),
    sizes: Sizes,
    state: &mut Scan,
    bytes: &[u8],
    at: usize,
) -> Option<usize> {
    let (mask_s_ls, mask_l_ls) = (mask_s << 1, mask_l << 1);
    let half_max = sizes.max / 2;
    // Pairs whose two bytes are both present, and below max_size.
    let limit = ((at + bytes.len()) / 2).min(half_max);
    let split = (sizes.avg / 2).clamp(state.index, limit.max(state.index));
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
    (at + bytes.len() >= sizes.max && state.index >= half_max).then_some(sizes.max)
}

/// The chunks of two independent chains over `data`, found in one loop: each step advances
/// both chains' hashes by a pair of bytes. Each gear hash is a chain of dependent operations
/// (shift, load, add, test) that leaves most of a core's execution units idle; two chains in
/// one loop fill them (`cargo bench --bench chunking -- v2020_l1`: the `lanes` rows against
/// `scan`). Each lane gives exactly the lengths [`scan`] gives from the lane's start.
pub(super) fn scan_lanes(
    tables: &GearTables,
    (mask_s, mask_l): (u64, u64),
    sizes: Sizes,
    min_size: usize,
    data: &[u8],
    lanes: [(usize, usize); 2],
) -> [(Vec<usize>, LaneExit); 2] {
    let (gear, gear_ls) = tables;
    let strict = (mask_s << 1, mask_s);
    let relaxed = (mask_l << 1, mask_l);
    let at = Positions {
        unit: 2,
        first: min_size / 2,
        split: sizes.avg / 2,
        max: sizes.max,
        avg: sizes.avg,
    };
    let [mut a, mut b] = lanes.map(|lane| Lane::new(lane, data.len(), at));

    while a.exit.is_none() && b.exit.is_none() {
        let ((a0, a1), a_phase_end) = a.phase(strict, relaxed);
        let ((b0, b1), b_phase_end) = b.phase(strict, relaxed);
        // Both lanes have a candidate left in their phase, so `n >= 1`.
        let n = (a_phase_end - a.index).min(b_phase_end - b.index);
        let (Some(xs), Some(ys)) = (
            data.get(a.start + 2 * a.index..a.start + 2 * (a.index + n)),
            data.get(b.start + 2 * b.index..b.start + 2 * (b.index + n)),
        ) else {
            break;
        };
        let (mut ha, mut hb) = (a.hash, b.hash);
        // The first matching byte of each lane in the pair where either matched, if any.
        let mut hit: Option<(usize, Option<usize>, Option<usize>)> = None;
        for (k, (x, y)) in xs.chunks_exact(2).zip(ys.chunks_exact(2)).enumerate() {
            let (&[x0, x1], &[y0, y1]) = (x, y) else {
                break;
            };
            // A byte indexes a 256-entry table: in bounds by type.
            #[allow(clippy::indexing_slicing)]
            {
                ha = (ha << 2).wrapping_add(gear_ls[x0 as usize]);
                hb = (hb << 2).wrapping_add(gear_ls[y0 as usize]);
            }
            let (ca0, cb0) = (ha & a0 == 0, hb & b0 == 0);
            #[allow(clippy::indexing_slicing)]
            {
                ha = ha.wrapping_add(gear[x1 as usize]);
                hb = hb.wrapping_add(gear[y1 as usize]);
            }
            let (ca1, cb1) = (ha & a1 == 0, hb & b1 == 0);
            if ca0 | ca1 | cb0 | cb1 {
                let cut = |c0: bool, c1: bool| (c0 || c1).then_some(usize::from(!c0));
                hit = Some((k, cut(ca0, ca1), cut(cb0, cb1)));
                break;
            }
        }
        let (steps, a_cut, b_cut) = match hit {
            Some((k, a_cut, b_cut)) => (k + 1, a_cut, b_cut),
            None => (n, None, None),
        };
        for (lane, cut, hash) in [(&mut a, a_cut, ha), (&mut b, b_cut, hb)] {
            match cut {
                Some(byte) => {
                    let length = 2 * (lane.index + steps - 1) + byte;
                    lane.cut(length, data.len(), at);
                }
                None => lane.advance(steps, hash, data.len(), at),
            }
        }
    }

    // One lane is done: the other goes on alone, from where it is.
    [a, b].map(|lane| {
        lane.finish(data, at, |state, bytes, offset| {
            scan(tables, (mask_s, mask_l), sizes, state, bytes, offset)
        })
    })
}
