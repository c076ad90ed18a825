//! Finding every cut point of a run of bytes (and hashing its chunks), on several cores at
//! once when that pays.
//!
//! A FastCDC cut depends only on the bytes from its chunk's first byte: the scan starts afresh
//! at every cut. So a long run can be split into segments, and each segment scanned
//! *speculatively*, as if a chunk began at its first byte. The true chain of chunks, coming
//! from the left, enters a segment at some chunk start; from the first chunk start that the
//! segment's speculative chain has too, both chains are the same chunks. Until they meet, the
//! true chain is scanned one chunk at a time. On real data the chains meet within a chunk or
//! two of a segment's start, so each core scans (and hashes) about its share of the run, and
//! the result is exactly the sequential one (the tests compare them on random, repetitive and
//! all-zero data, for many segment counts).
//!
//! Runs too short to split are scanned on the calling thread, with the chunks found hashed on
//! rayon's pool meanwhile (`pipeline.rs`) when the run is long enough for that to pay.

use rayon::prelude::*;

use crate::chunk::{Chunk, ChunkBytes};
use crate::config::ChunkerConfig;
use crate::cut::{cut_engine, scan, scan_lanes, CutEngine, LaneExit, Scan};
use crate::hash::HashAlgorithm;
use crate::pipeline::{with_hashing, PARALLEL_MIN_BYTES};

/// The chunks of a run of bytes that begins at a chunk start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Run {
    /// The complete chunks, in order, with digests if asked for; offsets index the run.
    pub(crate) chunks: Vec<Chunk>,
    /// Where the chunk still open at the end of the run begins (the run's length if none).
    pub(crate) open: usize,
    /// The scan's progress through the open chunk.
    pub(crate) state: Scan,
}

/// Segments are at least this long, and at least [`SEGMENT_MIN_CHUNKS`] average chunks: each
/// costs up to a chunk or two of scanning before it meets the true chain, and a hand-off to
/// the pool. There is one segment per pool thread at most: more (so that a thread slowed by
/// other work would leave its share to the others) measured slower. `cargo bench --bench
/// chunking -- vs_reference`, 256 MiB fed in 1 MiB pieces, 2-core reference machine, at
/// 16/64/256 KiB average chunks: 106.7/110.3/123.1 ms with 512 KiB and 16 chunks,
/// 93.9/106.5/120.2 ms with 128 KiB and 4 chunks, 125.7/138.7/122.7 ms with 4 segments per
/// thread (the sequential scan: 117.6/122.1/110.7 ms).
const SEGMENT_MIN: usize = 128 * 1024;

/// Segments are also at least this many average chunks long, for the same reason.
const SEGMENT_MIN_CHUNKS: usize = 4;

/// Every cut of `data`, which begins at a chunk start, each complete chunk hashed with `hash`.
/// With `parallel`, the work may be spread over rayon's pool; the result is the same.
pub(crate) fn cut_run(
    config: &ChunkerConfig,
    data: &[u8],
    hash: Option<HashAlgorithm>,
    parallel: bool,
) -> Run {
    cut_run_with(config, data, hash, parallel, cut_engine())
}

/// [`cut_run`] with the cut-point scans of `engine`.
pub(crate) fn cut_run_with(
    config: &ChunkerConfig,
    data: &[u8],
    hash: Option<HashAlgorithm>,
    parallel: bool,
    engine: CutEngine,
) -> Run {
    #[cfg(feature = "panic_injection")]
    crate::fault::check();
    let segment_min = segment_min(config);
    let segments = if parallel {
        (data.len() / segment_min).min(rayon::current_num_threads())
    } else {
        1
    };
    if segments < 2 {
        let pool = parallel && data.len() >= PARALLEL_MIN_BYTES;
        if !pool && data.len() >= 2 * segment_min {
            if let Some(run) = laned_chain(config, data, hash, engine, data.len() / 2) {
                return run;
            }
        }
        return pipelined_chain(config, data, hash, pool);
    }
    split_run(config, data, hash, segments, engine)
}

fn segment_min(config: &ChunkerConfig) -> usize {
    SEGMENT_MIN.max(SEGMENT_MIN_CHUNKS * config.avg_size())
}

/// The sequential chain on the calling thread, scanned as two speculative segments split at
/// `mid` in one loop and stitched; `None` when `engine` has no such scan for the algorithm.
pub(crate) fn laned_chain(
    config: &ChunkerConfig,
    data: &[u8],
    hash: Option<HashAlgorithm>,
    engine: CutEngine,
    mid: usize,
) -> Option<Run> {
    let mid = mid.min(data.len());
    let segments = lane_segments(config, engine, data, [(0, mid), (mid, usize::MAX)], None)?;
    let mut run = stitch(config, data, &[0, mid], &segments, None);
    if let Some(algo) = hash {
        for chunk in &mut run.chunks {
            let at = chunk.offset as usize;
            chunk.hash = Some(algo.hash(data.get(at..at + chunk.length).unwrap_or_default()));
        }
    }
    Some(run)
}

/// Two speculative segments scanned together by `engine`, their chunks hashed with `hash`.
fn lane_segments(
    config: &ChunkerConfig,
    engine: CutEngine,
    data: &[u8],
    lanes: [(usize, usize); 2],
    hash: Option<HashAlgorithm>,
) -> Option<[Segment; 2]> {
    let found = scan_lanes(config, engine, data, lanes)?;
    let [a, b] = found.map(|(lengths, exit)| lane_segment(config, data, lengths, exit, hash));
    Some([a?, b?])
}

fn lane_segment(
    config: &ChunkerConfig,
    data: &[u8],
    lengths: Vec<usize>,
    exit: LaneExit,
    hash: Option<HashAlgorithm>,
) -> Option<Segment> {
    let end = match exit {
        LaneExit::At(at) | LaneExit::Open(at) => at,
    };
    let mut at = end - lengths.iter().sum::<usize>();
    let chunks = lengths
        .into_iter()
        .map(|length| {
            let digest = hash.map(|algo| algo.hash(data.get(at..at + length).unwrap_or_default()));
            let chunk = chunk(at, length, digest);
            at += length;
            chunk
        })
        .collect();
    let exit = match exit {
        LaneExit::At(at) => Exit::At(at),
        // The scan state of the open chunk, for resuming it: the lane scan does not keep it.
        LaneExit::Open(at) => Exit::Open(at, next_cut(config, data, at).err()?),
    };
    Some(Segment { chunks, exit })
}

/// The sequential chain, its chunks hashed on the pool while the scan goes on when `pool`.
fn pipelined_chain(
    config: &ChunkerConfig,
    data: &[u8],
    hash: Option<HashAlgorithm>,
    pool: bool,
) -> Run {
    let Some(algo) = hash else {
        return chain(config, data, 0, None);
    };
    let (mut run, digests) = with_hashing(algo, pool, |hashing| {
        chain_with(config, data, 0, |bytes| {
            hashing.submit(ChunkBytes::contiguous(bytes));
            None
        })
    });
    for (chunk, digest) in run.chunks.iter_mut().zip(digests) {
        chunk.hash = Some(digest);
    }
    run
}

/// [`cut_run`] split into `segments` speculative segments, each scanned and hashed on the
/// pool, as two lanes of `engine` when it has them (one segment or a run too short for them:
/// the sequential scan).
fn split_run(
    config: &ChunkerConfig,
    data: &[u8],
    hash: Option<HashAlgorithm>,
    segments: usize,
    engine: CutEngine,
) -> Run {
    if segments < 2 || data.len() < segments {
        return chain(config, data, 0, hash);
    }
    let step = data.len() / segments;
    let bounds: Vec<usize> = (0..segments).map(|i| i * step).collect();
    let halves = step >= 2 * segment_min(config);
    let speculative: Vec<Vec<(usize, Segment)>> = bounds
        .par_iter()
        .enumerate()
        .with_max_len(1)
        .map(|(i, &start)| {
            // The last segment runs to the end of the data, so it always ends open.
            let end = bounds.get(i + 1).copied().unwrap_or(usize::MAX);
            let mid = start + step / 2;
            let laned = halves
                .then(|| lane_segments(config, engine, data, [(start, mid), (mid, end)], hash))
                .flatten();
            match laned {
                Some([a, b]) => vec![(start, a), (mid, b)],
                None => vec![(start, segment(config, data, start, end, hash))],
            }
        })
        .collect();
    let (bounds, speculative): (Vec<usize>, Vec<Segment>) =
        speculative.into_iter().flatten().unzip();
    stitch(config, data, &bounds, &speculative, hash)
}

/// The sequential chain of chunks from `start` to the end of `data`, hashed inline.
fn chain(config: &ChunkerConfig, data: &[u8], start: usize, hash: Option<HashAlgorithm>) -> Run {
    chain_with(config, data, start, |bytes| {
        hash.map(|algo| algo.hash(bytes))
    })
}

/// The sequential chain, each chunk's digest given by `digest` (called in order).
fn chain_with<'d>(
    config: &ChunkerConfig,
    data: &'d [u8],
    start: usize,
    mut digest: impl FnMut(&'d [u8]) -> Option<crate::Digest>,
) -> Run {
    let mut chunks = Vec::with_capacity(data.len().saturating_sub(start) / config.avg_size() + 1);
    let mut at = start;
    loop {
        if let Err(state) = push_next(config, data, &mut at, &mut chunks, &mut digest) {
            return Run {
                chunks,
                open: at,
                state,
            };
        }
    }
}

/// Pushes the chunk starting at `*at`, with its digest, and moves `*at` past it; or returns
/// the scan state if that chunk runs past the end of `data`.
fn push_next<'d>(
    config: &ChunkerConfig,
    data: &'d [u8],
    at: &mut usize,
    chunks: &mut Vec<Chunk>,
    digest: &mut impl FnMut(&'d [u8]) -> Option<crate::Digest>,
) -> Result<(), Scan> {
    let length = next_cut(config, data, *at)?;
    let hash = digest(data.get(*at..*at + length).unwrap_or_default());
    chunks.push(chunk(*at, length, hash));
    *at += length;
    Ok(())
}

fn chunk(at: usize, length: usize, hash: Option<crate::Digest>) -> Chunk {
    Chunk {
        offset: at as u64,
        length,
        hash,
    }
}

/// The length of the chunk starting at `at`, or the scan state if it runs past the end.
fn next_cut(config: &ChunkerConfig, data: &[u8], at: usize) -> Result<usize, Scan> {
    let mut state = Scan::new(config);
    match scan(config, &mut state, data.get(at..).unwrap_or_default(), 0) {
        Some(length) => Ok(length),
        None => Err(state),
    }
}

/// A segment's speculative chain: the chunks starting in `[start, end)` when a chunk starts
/// at `start`, hashed, and where that chain leaves the segment.
struct Segment {
    chunks: Vec<Chunk>,
    exit: Exit,
}

enum Exit {
    /// The first chunk start at or after the segment's end.
    At(usize),
    /// A chunk starting here is still open at the end of the data.
    Open(usize, Scan),
}

fn segment(
    config: &ChunkerConfig,
    data: &[u8],
    start: usize,
    end: usize,
    hash: Option<HashAlgorithm>,
) -> Segment {
    let mut chunks = Vec::new();
    let mut at = start;
    while at < end {
        match next_cut(config, data, at) {
            Ok(length) => {
                let digest =
                    hash.map(|algo| algo.hash(data.get(at..at + length).unwrap_or_default()));
                chunks.push(chunk(at, length, digest));
                at += length;
            }
            Err(state) => {
                return Segment {
                    chunks,
                    exit: Exit::Open(at, state),
                }
            }
        }
    }
    Segment {
        chunks,
        exit: Exit::At(at),
    }
}

/// Follows the true chain from the start of `data` through the segments, taking over each
/// segment's speculative chunks (and digests) from the first start both chains share.
fn stitch(
    config: &ChunkerConfig,
    data: &[u8],
    bounds: &[usize],
    segments: &[Segment],
    hash: Option<HashAlgorithm>,
) -> Run {
    let mut chunks = Vec::with_capacity(segments.iter().map(|s| s.chunks.len()).sum());
    // The true chain's next chunk start.
    let mut at = 0;
    for (i, segment) in segments.iter().enumerate() {
        let end = bounds.get(i + 1).copied().unwrap_or(usize::MAX);
        while at < end {
            let met = segment
                .chunks
                .binary_search_by_key(&(at as u64), |chunk| chunk.offset);
            if let Ok(first) = met {
                chunks.extend_from_slice(segment.chunks.get(first..).unwrap_or_default());
                match &segment.exit {
                    Exit::At(next) => {
                        at = *next;
                        continue;
                    }
                    Exit::Open(open, state) => {
                        return Run {
                            chunks,
                            open: *open,
                            state: *state,
                        }
                    }
                }
            }
            if let Exit::Open(open, state) = &segment.exit {
                if *open == at {
                    return Run {
                        chunks,
                        open: at,
                        state: *state,
                    };
                }
            }
            // Not met yet: one chunk of the true chain, scanned and hashed here.
            let mut digest = |bytes: &[u8]| hash.map(|algo| algo.hash(bytes));
            if let Err(state) = push_next(config, data, &mut at, &mut chunks, &mut digest) {
                return Run {
                    chunks,
                    open: at,
                    state,
                };
            }
        }
    }
    // The last segment ends open, so the loop returns; this is the sequential fallback.
    let rest = chain(config, data, at, hash);
    chunks.extend(rest.chunks);
    Run {
        chunks,
        open: rest.open,
        state: rest.state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Algorithm, Normalization};
    use chunker_testdata::random_bytes;

    const ENGINES: [CutEngine; 2] = [CutEngine::Scalar, CutEngine::Interleaved];

    #[test]
    #[cfg_attr(miri, ignore = "megabytes of scanning: too slow under Miri")]
    fn any_split_gives_the_sequential_chunks() {
        let period: Vec<u8> = random_bytes(5_000, 3);
        let inputs = [
            random_bytes(600_000, 1),
            // Repeating content: speculative chains fall into step with the true one late, or
            // never, in the same places.
            period.iter().cycle().take(600_000).copied().collect(),
            vec![0; 600_000],
            random_bytes(600_000, 2).iter().map(|b| b & 3).collect(),
            random_bytes(3_000, 4),
        ];
        // Every variant restarts its hash at a cut, so the chains resynchronize for each.
        let variants = [
            ChunkerConfig::builder(Algorithm::V2020),
            ChunkerConfig::builder(Algorithm::V2020)
                .normalization(Normalization::Level3)
                .seed(77),
            ChunkerConfig::builder(Algorithm::V2016).normalization(Normalization::Level0),
            ChunkerConfig::builder(Algorithm::V2016),
            ChunkerConfig::builder(Algorithm::Ronomon),
        ];
        for variant in variants {
            for (min, avg, max) in [
                (64, 256, 1024),
                (1024, 4096, 16_384),
                (16_384, 65_536, 262_144),
            ] {
                let config = variant.clone().sizes(min, avg, max).build().unwrap();
                for data in &inputs {
                    let want = chain(&config, data, 0, Some(HashAlgorithm::Blake3));
                    for engine in ENGINES {
                        for segments in [2, 3, 7, 50, 1000] {
                            let got = split_run(
                                &config,
                                data,
                                Some(HashAlgorithm::Blake3),
                                segments,
                                engine,
                            );
                            assert_eq!(got, want, "{config:?}, {segments} segments, {engine:?}");
                        }
                        // One thread: two lanes of the whole run, stitched.
                        for hash in [None, Some(HashAlgorithm::Blake3)] {
                            let got = cut_run_with(&config, data, hash, false, engine);
                            let want = chain(&config, data, 0, hash);
                            assert_eq!(got, want, "{config:?}, sequential, {engine:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_open_chunk_is_what_the_scan_left() {
        let config = ChunkerConfig::new(64, 256, 1024).unwrap();
        // Under Miri (~1000x slower) a smaller input, so it finishes in minutes.
        let data = random_bytes(if cfg!(miri) { 5_000 } else { 100_000 }, 9);
        let run = cut_run(&config, &data, None, true);
        let covered: usize = run.chunks.iter().map(|c| c.length).sum();
        assert_eq!(covered, run.open);
        assert!(data.len() - run.open < config.max_size());
    }
}
