//! The bookkeeping of one chain of chunks in the interleaved scans (`v2020::scan_lanes`,
//! `byte_lanes::scan_lanes`): where its chunk starts, which positions it tests with which mask,
//! the chunks that need no scan, and finishing alone once the other chain has ended. The
//! loops that roll the hashes stay with each algorithm; the rules of which positions a chunk
//! tests are the same for all three, in the scan's unit (a byte pair for `v2020`, a byte for
//! the others).

use super::Scan;

/// Where a chunk's tested positions lie, counted from its first byte in units of `unit` bytes.
#[derive(Clone, Copy)]
pub(super) struct Positions {
    /// Bytes per position: 2 for `v2020`'s pairs, 1 for the byte-wise algorithms.
    pub(super) unit: usize,
    /// The first position tested.
    pub(super) first: usize,
    /// Positions from here on are tested with the relaxed mask(s).
    pub(super) split: usize,
    /// max_size, in bytes.
    pub(super) max: usize,
    /// avg_size, in bytes: how many chunks to make room for.
    pub(super) avg: usize,
}

/// Where a lane of a scan stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LaneExit {
    /// The first chunk start at or after the lane's end.
    At(usize),
    /// The chunk starting here runs past the end of the data.
    Open(usize),
}

/// One chain of chunks: chunks start from `start` while it is below `end` (a chunk may run on
/// past `end`, to the end of the data).
pub(super) struct Lane {
    /// The current chunk's first byte.
    pub(super) start: usize,
    end: usize,
    /// The next position to test, counted from `start`.
    pub(super) index: usize,
    split: usize,
    /// Positions present and below max_size end here.
    limit: usize,
    pub(super) hash: u64,
    lengths: Vec<usize>,
    pub(super) exit: Option<LaneExit>,
}

impl Lane {
    /// A lane over `data_len` bytes of data, set up for its first chunk.
    pub(super) fn new((start, end): (usize, usize), data_len: usize, at: Positions) -> Self {
        let capacity = end.min(data_len).saturating_sub(start) / at.avg.max(1) + 2;
        let mut lane = Self {
            start,
            end,
            index: 0,
            split: 0,
            limit: 0,
            hash: 0,
            lengths: Vec::with_capacity(capacity),
            exit: None,
        };
        lane.begin(data_len, at);
        lane
    }

    /// Sets the lane up for the chunk at `start`, after pushing the chunks that need no scan
    /// (max_size chunks when no position can be tested); or ends it.
    fn begin(&mut self, data_len: usize, at: Positions) {
        loop {
            if self.start >= self.end {
                self.exit = Some(LaneExit::At(self.start));
                return;
            }
            let len = data_len.saturating_sub(self.start);
            let limit = (len / at.unit).min(at.max / at.unit);
            if at.first < limit {
                self.index = at.first;
                self.split = at.split.clamp(at.first, limit);
                self.limit = limit;
                self.hash = 0;
                return;
            }
            if !self.no_cut_before_limit(len, at.max) {
                return;
            }
        }
    }

    /// Every position of the chunk failed: it is max_size long if the data reach that far
    /// (pushed, and the lane goes on), else it is open at the end of the data (the lane ends).
    /// Returns whether the lane goes on.
    fn no_cut_before_limit(&mut self, len: usize, max: usize) -> bool {
        if len >= max {
            self.lengths.push(max);
            self.start += max;
            true
        } else {
            self.exit = Some(LaneExit::Open(self.start));
            false
        }
    }

    /// The chunk ends after `length` bytes: the next one begins.
    pub(super) fn cut(&mut self, length: usize, data_len: usize, at: Positions) {
        self.lengths.push(length);
        self.start += length;
        self.begin(data_len, at);
    }

    /// `steps` positions tested without a match, leaving the hash at `hash`.
    pub(super) fn advance(&mut self, steps: usize, hash: u64, data_len: usize, at: Positions) {
        self.index += steps;
        self.hash = hash;
        if self.index >= self.limit {
            let len = data_len.saturating_sub(self.start);
            if self.no_cut_before_limit(len, at.max) {
                self.begin(data_len, at);
            }
        }
    }

    /// The mask(s) of the lane's next position and where they stop applying.
    #[inline]
    pub(super) fn phase<M>(&self, strict: M, relaxed: M) -> (M, usize) {
        if self.index < self.split {
            (strict, self.split)
        } else {
            (relaxed, self.limit)
        }
    }

    /// Goes on alone with `scan` (the algorithm's resumable scan, given the chunk's bytes from
    /// a byte offset) until the lane ends; returns its chunk lengths and where it stopped.
    pub(super) fn finish(
        mut self,
        data: &[u8],
        at: Positions,
        mut scan: impl FnMut(&mut Scan, &[u8], usize) -> Option<usize>,
    ) -> (Vec<usize>, LaneExit) {
        while self.exit.is_none() {
            let mut state = Scan {
                index: self.index,
                hash: self.hash,
            };
            let offset = at.unit * self.index;
            let rest = data.get(self.start + offset..).unwrap_or_default();
            match scan(&mut state, rest, offset) {
                Some(length) => self.cut(length, data.len(), at),
                None => self.exit = Some(LaneExit::Open(self.start)),
            }
        }
        let exit = self.exit.unwrap_or(LaneExit::At(self.start));
        (self.lengths, exit)
    }
}
