//! The cut-point scans of the `fastcdc` crate's three chunkers, resumable across pieces of
//! input, and the one place that picks between them.
//!
//! Each scan is its chunker's loop (gear hash, normalized masks, sub-minimum skipping) with its
//! state pulled out into [`Scan`], so that a chunk whose bytes arrive in several pieces is
//! scanned once, byte by byte, instead of rescanned from its start whenever more bytes arrive.
//! Tables and masks are the crate's, and the tests (`tests/oracle.rs`, and the golden vectors
//! of `tests/golden.rs`, which no dependency can move) hold the boundaries equal to the crate's
//! for every algorithm, level and seed.
//!
//! Why the state is so small, for all three: the mask a candidate cut point is tested with
//! depends only on its position in the chunk (a source shorter than the average only shortens
//! the loop, it never changes a tested position's mask), and a position is tested exactly when
//! its bytes exist and it lies below `max_size`. So "positions tested so far" plus the running
//! hash is all there is to remember. And every scan starts afresh (hash 0) at a chunk's start,
//! so a cut depends only on the bytes from its chunk's start: the parallel segmented scan of
//! `cut_run.rs` relies on that.

mod byte_lanes;
mod engine;
mod lane;
mod ronomon;
mod v2016;
mod v2020;

pub use engine::{cut_engine, cut_engine_warning, CutEngine};
pub(crate) use lane::LaneExit;

use std::sync::Arc;

use crate::config::{Algorithm, ChunkerConfig, Normalization};

/// Progress of the scan through one chunk: candidate positions from the chunk's minimum to
/// `index` have been tested and did not match, leaving the hash at `hash`. (`v2020` counts
/// byte pairs, the others bytes; `ronomon`'s hash is 32 bits wide.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    index: usize,
    hash: u64,
}

impl Scan {
    /// The state at the start of a chunk.
    pub(crate) fn new(config: &ChunkerConfig) -> Self {
        let index = match config.cutter() {
            Cutter::V2020 { .. } => config.min_size() / 2,
            Cutter::V2016 { .. } | Cutter::Ronomon { .. } => config.min_size(),
        };
        Self { index, hash: 0 }
    }
}

/// What one algorithm's scan needs besides the sizes, derived once per configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cutter {
    V2020 {
        mask_s: u64,
        mask_l: u64,
        gear: Gear,
    },
    V2016 {
        mask_s: u64,
        mask_l: u64,
    },
    Ronomon {
        mask_s: u32,
        mask_l: u32,
        /// Where the strict mask gives way to the eager one (bytes from the chunk start).
        center: usize,
    },
}

impl Cutter {
    pub(crate) fn new(
        algorithm: Algorithm,
        normalization: Normalization,
        seed: u64,
        min_size: usize,
        avg_size: usize,
    ) -> Self {
        match algorithm {
            Algorithm::V2020 => {
                let (mask_s, mask_l) = v2020::masks(avg_size, normalization);
                Cutter::V2020 {
                    mask_s,
                    mask_l,
                    gear: Gear::with_seed(seed),
                }
            }
            Algorithm::V2016 => {
                let (mask_s, mask_l) = v2016::masks(avg_size, normalization);
                Cutter::V2016 { mask_s, mask_l }
            }
            Algorithm::Ronomon => {
                let (mask_s, mask_l) = ronomon::masks(avg_size);
                Cutter::Ronomon {
                    mask_s,
                    mask_l,
                    center: ronomon::center(min_size, avg_size),
                }
            }
        }
    }
}

/// The gear table and its left-shifted twin (`v2020`, and `v2016` without the twin).
pub(crate) type GearTables = ([u64; 256], [u64; 256]);

/// The crate's gear tables, or a seeded copy shared by the clones of one configuration.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Gear {
    Default,
    Seeded(Arc<GearTables>),
}

impl std::fmt::Debug for Gear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Gear::Default => "Gear::Default",
            Gear::Seeded(_) => "Gear::Seeded",
        })
    }
}

impl Gear {
    fn with_seed(seed: u64) -> Self {
        if seed == 0 {
            Gear::Default
        } else {
            Gear::Seeded(Arc::new(v2020::tables(seed)))
        }
    }

    #[inline]
    fn tables(&self) -> &GearTables {
        match self {
            Gear::Default => v2020::default_tables(),
            Gear::Seeded(tables) => tables,
        }
    }
}

/// Continues scanning a chunk, given the chunk's bytes at positions `at .. at + bytes.len()`
/// (positions count from the chunk's first byte). Every candidate before `at` must already have
/// been scanned, and `at` must be even (`v2020` tests positions in pairs).
///
/// Returns the chunk's length once it is decided: a matching cut point, or `max_size` when
/// the scan reaches it. Returns `None` when the bytes ran out first; `state` then holds the
/// progress to resume from with the following bytes. At the end of the input, a `None` means
/// the chunk is everything that is left.
#[inline]
pub(crate) fn scan(
    config: &ChunkerConfig,
    state: &mut Scan,
    bytes: &[u8],
    at: usize,
) -> Option<usize> {
    let sizes = Sizes {
        avg: config.avg_size(),
        max: config.max_size(),
    };
    match config.cutter() {
        Cutter::V2020 {
            mask_s,
            mask_l,
            gear,
        } => v2020::scan(gear.tables(), (*mask_s, *mask_l), sizes, state, bytes, at),
        Cutter::V2016 { mask_s, mask_l } => {
            v2016::scan((*mask_s, *mask_l), sizes, state, bytes, at)
        }
        Cutter::Ronomon {
            mask_s,
            mask_l,
            center,
        } => ronomon::scan((*mask_s, *mask_l), *center, sizes.max, state, bytes, at),
    }
}

/// The chunks of two independent chains over `data` found together by `engine`, lane `i`
/// giving the chunk lengths from `lanes[i].0` while the next start is below `lanes[i].1`,
/// each exactly what repeated [`scan`]s give; `None` when `engine` scans one chain at a time
/// (the caller then scans each chain alone).
pub(crate) fn scan_lanes(
    config: &ChunkerConfig,
    engine: CutEngine,
    data: &[u8],
    lanes: [(usize, usize); 2],
) -> Option<[(Vec<usize>, LaneExit); 2]> {
    let sizes = Sizes {
        avg: config.avg_size(),
        max: config.max_size(),
    };
    match (engine, config.cutter()) {
        (
            CutEngine::Interleaved,
            Cutter::V2020 {
                mask_s,
                mask_l,
                gear,
            },
        ) => Some(v2020::scan_lanes(
            gear.tables(),
            (*mask_s, *mask_l),
            sizes,
            config.min_size(),
            data,
            lanes,
        )),
        (CutEngine::Interleaved, Cutter::V2016 { mask_s, mask_l }) => {
            let (gear, _) = v2020::default_tables();
            let masks = (*mask_s, *mask_l);
            let positions = lane::Positions {
                unit: 1,
                first: config.min_size(),
                split: sizes.avg,
                max: sizes.max,
                avg: sizes.avg,
            };
            let scan = |state: &mut Scan, bytes: &[u8], at: usize| {
                v2016::scan(masks, sizes, state, bytes, at)
            };
            Some(byte_lanes::scan_lanes(
                &byte_lanes::Gear(gear),
                masks,
                positions,
                scan,
                data,
                lanes,
            ))
        }
        (
            CutEngine::Interleaved,
            Cutter::Ronomon {
                mask_s,
                mask_l,
                center,
            },
        ) => {
            let masks = (*mask_s, *mask_l);
            let positions = lane::Positions {
                unit: 1,
                first: config.min_size(),
                split: *center,
                max: sizes.max,
                avg: sizes.avg,
            };
            let scan = |state: &mut Scan, bytes: &[u8], at: usize| {
                ronomon::scan(masks, *center, sizes.max, state, bytes, at)
            };
            Some(byte_lanes::scan_lanes(
                &byte_lanes::Ronomon(&ronomon::TABLE),
                (u64::from(*mask_s), u64::from(*mask_l)),
                positions,
                scan,
                data,
                lanes,
            ))
        }
        (CutEngine::Scalar, _) => None,
    }
}

/// The sizes a scan tests against.
#[derive(Clone, Copy)]
struct Sizes {
    avg: usize,
    max: usize,
}

/// The crate's rounded base-2 logarithm (its mask buckets pick the closest power of two).
fn logarithm2(value: usize) -> u32 {
    (value as f64).log2().round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigBuilder;
    use chunker_testdata::oracle::{fastcdc_chunks, Variant};
    use chunker_testdata::{random_bytes, text_bytes};

    /// The length of the chunk at the start of `source`, where `source` is all the input
    /// there is from that point.
    fn cut_final(config: &ChunkerConfig, source: &[u8]) -> usize {
        let mut state = Scan::new(config);
        scan(config, &mut state, source, 0).unwrap_or(source.len())
    }

    /// The first chunk's length by the crate's own iterator.
    fn crate_cut(config: &ChunkerConfig, source: &[u8]) -> usize {
        let variant = Variant::parse(
            config.algorithm().name(),
            config.normalization().level(),
            config.seed(),
        )
        .unwrap();
        let sizes = (config.min_size(), config.avg_size(), config.max_size());
        fastcdc_chunks(variant, source, sizes)
            .first()
            .map_or(0, |&(_, length)| length)
    }

    /// Small sizes for every algorithm, level and a seed: each scan sees many cut points
    /// and the max_size cut.
    fn configs() -> Vec<ChunkerConfig> {
        let mut configs = Vec::new();
        for level in 0..=3 {
            let level = Normalization::from_level(level).unwrap();
            for seed in [0, 0x9e37_79b9_7f4a_7c15] {
                configs.push(
                    ChunkerConfig::builder(Algorithm::V2020)
                        .sizes(64, 256, 1024)
                        .normalization(level)
                        .seed(seed),
                );
            }
            configs.push(
                ChunkerConfig::builder(Algorithm::V2016)
                    .sizes(64, 256, 1024)
                    .normalization(level),
            );
            configs.push(
                ChunkerConfig::builder(Algorithm::V2016)
                    .sizes(65, 300, 1025)
                    .normalization(level),
            );
        }
        configs.push(ChunkerConfig::builder(Algorithm::Ronomon).sizes(64, 256, 1024));
        configs.push(ChunkerConfig::builder(Algorithm::Ronomon).sizes(101, 256, 1031));
        // min + min/2 beyond the average: ronomon uses the eager mask from min_size.
        configs.push(ChunkerConfig::builder(Algorithm::Ronomon).sizes(200, 256, 1024));
        configs
            .into_iter()
            .map(|builder: ConfigBuilder| builder.build().unwrap())
            .collect()
    }

    #[test]
    fn final_cut_equals_the_crate_for_every_length() {
        // Under Miri (~1000x slower) a sample of the lengths, so it finishes in minutes.
        let (seeds, step) = if cfg!(miri) { (1..2, 211) } else { (1..12, 1) };
        for config in configs() {
            for seed in seeds.clone() {
                for data in [random_bytes(1500, seed), text_bytes(1500, seed)] {
                    for len in (0..data.len()).step_by(step) {
                        assert_eq!(
                            cut_final(&config, &data[..len]),
                            crate_cut(&config, &data[..len]),
                            "{config:?} seed {seed} len {len}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn equal_min_and_max_sizes_cut_like_the_crate() {
        for algorithm in Algorithm::ALL {
            let config = ChunkerConfig::builder(algorithm)
                .sizes(1024, 1024, 1024)
                .build()
                .unwrap();
            let data = random_bytes(5000, 7);
            for len in [0, 1, 500, 1023, 1024, 1025, 2047, 5000] {
                assert_eq!(
                    cut_final(&config, &data[..len]),
                    crate_cut(&config, &data[..len]),
                    "{algorithm} len {len}"
                );
            }
        }
    }

    /// The chunk lengths from `start` while the next start is below `end`, by [`scan`]
    /// alone, and where that stops.
    fn lane_by_scan(
        config: &ChunkerConfig,
        data: &[u8],
        start: usize,
        end: usize,
    ) -> (Vec<usize>, LaneExit) {
        let mut lengths = Vec::new();
        let mut at = start;
        while at < end {
            let mut state = Scan::new(config);
            match scan(config, &mut state, &data[at..], 0) {
                Some(length) => {
                    lengths.push(length);
                    at += length;
                }
                None => return (lengths, LaneExit::Open(at)),
            }
        }
        (lengths, LaneExit::At(at))
    }

    #[test]
    fn interleaved_lanes_equal_scans_from_their_starts() {
        let mut configs = configs();
        for algorithm in Algorithm::ALL {
            for (min, avg, max) in [(66, 300, 1026), (1024, 1024, 1024), (64, 256, 100_000)] {
                configs.push(
                    ChunkerConfig::builder(algorithm)
                        .sizes(min, avg, max)
                        .build()
                        .unwrap(),
                );
            }
        }
        // Under Miri (~1000x slower) a sixth of the configurations.
        let (len, seeds, every) = if cfg!(miri) {
            (3_000, 1..2, 6)
        } else {
            (40_000, 1..4, 1)
        };
        for config in configs.into_iter().step_by(every) {
            assert!(scan_lanes(&config, CutEngine::Scalar, &[], [(0, 0), (0, 0)]).is_none());
            for seed in seeds.clone() {
                let random = random_bytes(len, seed);
                let text = text_bytes(len, seed);
                let zeros = vec![0u8; len];
                for data in [&random, &text, &zeros] {
                    let n = data.len();
                    // Lanes of every shape: apart, overlapping, empty, reaching the end, one
                    // far longer than the other (it finishes alone).
                    for lanes in [
                        [(0, n / 2), (n / 2, usize::MAX)],
                        [(0, n / 3), (n / 3 + 17, n - 5)],
                        [(101, 101), (7, n)],
                        [(0, 1_000), (999, usize::MAX)],
                        [(n - 3, usize::MAX), (0, n)],
                        [(5, n), (5, n)],
                    ] {
                        let got = scan_lanes(&config, CutEngine::Interleaved, data, lanes).unwrap();
                        for (lane, (start, end)) in got.iter().zip(lanes) {
                            assert_eq!(
                                *lane,
                                lane_by_scan(&config, data, start, end),
                                "{config:?} seed {seed} lane {start}..{end}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn resuming_in_even_steps_equals_one_scan() {
        let seeds = if cfg!(miri) { 1..2 } else { 1..60 };
        for config in configs() {
            for seed in seeds.clone() {
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
                    assert_eq!(
                        got.unwrap_or(data.len()),
                        want,
                        "{config:?} seed {seed} step {step}"
                    );
                }
            }
        }
    }
}
