//! `fastcdc::v2020`: the gear hash "rolling two bytes each time" (`cut_gear`), with
//! normalized masks and sub-minimum skipping, resumable.
//!
//! In `cut_gear` the candidate pair at index `i` covers bytes `2i` and `2i + 1`; a match on the
//! first byte cuts the chunk at length `2i`, on the second at `2i + 1`. Pairs below
//! `avg_size / 2` are tested with the strict masks, the rest with the relaxed ones, up to
//! `max_size / 2`.

use std::sync::OnceLock;

use fastcdc::v2020;

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

/// One chain of chunks in [`scan_lanes`]: chunks start from `start` while it is below `end`
/// (a chunk may run on past `end`, to the end of the data).
struct Lane {
    /// The current chunk's first byte.
    start: usize,
    end: usize,
    /// The next candidate pair, counted from `start`.
    pair: usize,
    /// Pairs from here on are tested with the relaxed masks.
    split: usize,
    /// Pairs present and below max_size end here.
    limit: usize,
    hash: u64,
    lengths: Vec<usize>,
    exit: Option<LaneExit>,
}

impl Lane {
    fn new(start: usize, end: usize, capacity: usize) -> Self {
        Self {
            start,
            end,
            pair: 0,
            split: 0,
            limit: 0,
            hash: 0,
            lengths: Vec::with_capacity(capacity),
            exit: None,
        }
    }

    /// Sets the lane up for the chunk at `start`, after pushing the chunks that need no scan
    /// (max_size chunks when no pair can be a candidate); or ends it.
    fn begin(&mut self, data_len: usize, sizes: Sizes, first: usize) {
        loop {
            if self.start >= self.end {
                self.exit = Some(LaneExit::At(self.start));
                return;
            }
            let len = data_len - self.start;
            let limit = (len / 2).min(sizes.max / 2);
            if first < limit {
                self.pair = first;
                self.split = (sizes.avg / 2).clamp(first, limit);
                self.limit = limit;
                self.hash = 0;
                return;
            }
            if !self.no_cut_before_limit(len, sizes) {
                return;
            }
        }
    }

    /// Every candidate of the chunk failed: it is max_size long if the data reach that far
    /// (pushed, and the lane moves on), else it is open at the end of the data (the lane ends).
    /// Returns whether the lane goes on.
    fn no_cut_before_limit(&mut self, len: usize, sizes: Sizes) -> bool {
        if len >= sizes.max {
            self.lengths.push(sizes.max);
            self.start += sizes.max;
            true
        } else {
            self.exit = Some(LaneExit::Open(self.start));
            false
        }
    }

    fn cut(&mut self, length: usize, data_len: usize, sizes: Sizes, first: usize) {
        self.lengths.push(length);
        self.start += length;
        self.begin(data_len, sizes, first);
    }

    /// The masks of the lane's current pair and where they stop applying.
    #[inline]
    fn phase(&self, strict: (u64, u64), relaxed: (u64, u64)) -> (u64, u64, usize) {
        if self.pair < self.split {
            (strict.0, strict.1, self.split)
        } else {
            (relaxed.0, relaxed.1, self.limit)
        }
    }
}

/// Where a lane of [`scan_lanes`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LaneExit {
    /// The first chunk start at or after the lane's end.
    At(usize),
    /// The chunk starting here runs past the end of the data.
    Open(usize),
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
    let first = min_size / 2;
    let capacity =
        |(start, end): (usize, usize)| end.min(data.len()).saturating_sub(start) / sizes.avg + 2;
    let [(a_start, a_end), (b_start, b_end)] = lanes;
    let mut a = Lane::new(a_start, a_end, capacity(lanes[0]));
    let mut b = Lane::new(b_start, b_end, capacity(lanes[1]));
    a.begin(data.len(), sizes, first);
    b.begin(data.len(), sizes, first);

    while a.exit.is_none() && b.exit.is_none() {
        let (a0, a1, a_phase_end) = a.phase(strict, relaxed);
        let (b0, b1, b_phase_end) = b.phase(strict, relaxed);
        // Both lanes have a candidate left in their phase, so `n >= 1`.
        let n = (a_phase_end - a.pair).min(b_phase_end - b.pair);
        let (Some(xs), Some(ys)) = (
            data.get(a.start + 2 * a.pair..a.start + 2 * (a.pair + n)),
            data.get(b.start + 2 * b.pair..b.start + 2 * (b.pair + n)),
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
                    let length = 2 * (lane.pair + steps - 1) + byte;
                    lane.cut(length, data.len(), sizes, first);
                }
                None => {
                    lane.pair += steps;
                    lane.hash = hash;
                    if lane.pair >= lane.limit {
                        let len = data.len() - lane.start;
                        if lane.no_cut_before_limit(len, sizes) {
                            lane.begin(data.len(), sizes, first);
                        }
                    }
                }
            }
        }
    }

    // One lane is done: the other goes on alone, from where it is.
    [a, b].map(|mut lane| {
        while lane.exit.is_none() {
            let mut state = Scan {
                index: lane.pair,
                hash: lane.hash,
            };
            let rest = data.get(lane.start + 2 * lane.pair..).unwrap_or_default();
            match scan(
                tables,
                (mask_s, mask_l),
                sizes,
                &mut state,
                rest,
                2 * lane.pair,
            ) {
                Some(length) => lane.cut(length, data.len(), sizes, first),
                None => lane.exit = Some(LaneExit::Open(lane.start)),
            }
        }
        let exit = lane.exit.unwrap_or(LaneExit::At(lane.start));
        (lane.lengths, exit)
    })
}
