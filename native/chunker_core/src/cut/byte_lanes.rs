//! Two independent chains of chunks in one loop for the algorithms that roll their hash one
//! byte at a time (`v2016`, `ronomon`): the byte-wise twin of `v2020::scan_lanes`.
//!
//! Each chain's hash is a sequence of dependent operations (load, shift, add, test), so one
//! chain leaves most of a core's execution units idle; stepping two chains in the same loop
//! fills them (`cargo bench --bench chunking -- variants`: the `scan` rows of `v2016-l1` and
//! `ronomon` against `crate`). Each lane gives exactly the lengths repeated [`super::scan`]s
//! give from the lane's start: the tests in `cut/mod.rs` compare them.

use super::lane::{Lane, LaneExit, Positions};
use super::Scan;

/// How one byte-wise algorithm rolls its hash and where a match cuts.
pub(super) trait Roll {
    /// A match at position `i` (counted from the chunk's first byte) cuts the chunk at length
    /// `i + CUT_AFTER`.
    const CUT_AFTER: usize;

    /// The hash after `byte`.
    fn roll(&self, hash: u64, byte: u8) -> u64;

    /// The hashes after `first` and after `first, second`.
    #[inline(always)]
    fn roll_pair(&self, hash: u64, first: u8, second: u8) -> (u64, u64) {
        let after_first = self.roll(hash, first);
        (after_first, self.roll(after_first, second))
    }
}

/// `v2016`: the gear hash, shifted left; a match cuts before the matching byte.
pub(super) struct Gear<'a>(pub(super) &'a [u64; 256]);

impl Roll for Gear<'_> {
    const CUT_AFTER: usize = 0;

    #[inline(always)]
    fn roll(&self, hash: u64, byte: u8) -> u64 {
        // A byte indexes a 256-entry table: in bounds by type.
        #[allow(clippy::indexing_slicing)]
        let value = self.0[byte as usize];
        (hash << 1).wrapping_add(value)
    }

    /// `((h << 1) + a << 1) + b` is `(h << 2) + ((a << 1) + b)`: the second sum does not wait
    /// for the hash, so a pair of bytes costs the chain one shift and one add, not two of each.
    #[inline(always)]
    fn roll_pair(&self, hash: u64, first: u8, second: u8) -> (u64, u64) {
        #[allow(clippy::indexing_slicing)]
        let (a, b) = (self.0[first as usize], self.0[second as usize]);
        (
            (hash << 1).wrapping_add(a),
            (hash << 2).wrapping_add((a << 1).wrapping_add(b)),
        )
    }
}

/// `ronomon`: 31-bit table values, shifted right; a match cuts after the matching byte.
pub(super) struct Ronomon<'a>(pub(super) &'a [u32; 256]);

impl Roll for Ronomon<'_> {
    const CUT_AFTER: usize = 1;

    #[inline(always)]
    fn roll(&self, hash: u64, byte: u8) -> u64 {
        #[allow(clippy::indexing_slicing)]
        let value = self.0[byte as usize];
        // The hash stays below 2^32 (both terms are below 2^31), so this is the crate's u32
        // arithmetic exactly.
        (hash >> 1).wrapping_add(u64::from(value))
    }
}

/// The chunks of two independent chains over `data`, found in one loop; lane `i` gives the
/// chunk lengths from `lanes[i].0` while the next start is below `lanes[i].1`. When one lane
/// ends, the other finishes alone with `scan` (the algorithm's [`super::scan`]).
pub(super) fn scan_lanes<R: Roll>(
    roll: &R,
    masks: (u64, u64),
    at: Positions,
    scan: impl Fn(&mut Scan, &[u8], usize) -> Option<usize>,
    data: &[u8],
    lanes: [(usize, usize); 2],
) -> [(Vec<usize>, LaneExit); 2] {
    let [mut a, mut b] = lanes.map(|lane| Lane::new(lane, data.len(), at));

    while a.exit.is_none() && b.exit.is_none() {
        let (a_mask, a_phase_end) = a.phase(masks.0, masks.1);
        let (b_mask, b_phase_end) = b.phase(masks.0, masks.1);
        // Both lanes have a position left in their phase, so `n >= 1`.
        let n = (a_phase_end - a.index).min(b_phase_end - b.index);
        let (Some(xs), Some(ys)) = (
            data.get(a.start + a.index..a.start + a.index + n),
            data.get(b.start + b.index..b.start + b.index + n),
        ) else {
            break;
        };
        let (mut ha, mut hb) = (a.hash, b.hash);
        // Bytes stepped, and each lane's match among the last pair stepped (0 for its first
        // byte, 1 for its second), if any.
        let mut steps = n;
        let (mut a_cut, mut b_cut) = (None, None);
        if n == 1 {
            if let (Some(&x), Some(&y)) = (xs.first(), ys.first()) {
                ha = roll.roll(ha, x);
                hb = roll.roll(hb, y);
                a_cut = (ha & a_mask == 0).then_some(0);
                b_cut = (hb & b_mask == 0).then_some(0);
            }
        } else {
            // Whole pairs only: a lane's phase ends at most a byte later than this.
            steps = n - n % 2;
            for (k, (x, y)) in xs.chunks_exact(2).zip(ys.chunks_exact(2)).enumerate() {
                let (&[x0, x1], &[y0, y1]) = (x, y) else {
                    break;
                };
                let (a0, a1) = roll.roll_pair(ha, x0, x1);
                let (b0, b1) = roll.roll_pair(hb, y0, y1);
                ha = a1;
                hb = b1;
                let (ca0, ca1) = (a0 & a_mask == 0, a1 & a_mask == 0);
                let (cb0, cb1) = (b0 & b_mask == 0, b1 & b_mask == 0);
                if ca0 | ca1 | cb0 | cb1 {
                    let cut = |c0: bool, c1: bool| (c0 || c1).then_some(usize::from(!c0));
                    steps = 2 * (k + 1);
                    a_cut = cut(ca0, ca1);
                    b_cut = cut(cb0, cb1);
                    break;
                }
            }
        }
        for (lane, cut, hash) in [(&mut a, a_cut, ha), (&mut b, b_cut, hb)] {
            match cut {
                // The match is at position `index + steps - 2 + byte` (or `index` for a
                // single step).
                Some(byte) => {
                    let position = lane.index + steps - steps.min(2) + byte;
                    lane.cut(position + R::CUT_AFTER, data.len(), at);
                }
                None => lane.advance(steps, hash, data.len(), at),
            }
        }
    }

    // One lane is done: the other goes on alone, from where it is.
    [a, b].map(|lane| lane.finish(data, at, &scan))
}
