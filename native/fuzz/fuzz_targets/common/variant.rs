//! The differential check the per-algorithm targets share: chunker_core against the `fastcdc`
//! crate's own implementation of one variant, one-shot (with every cut engine forced) and fed
//! in pieces the input chooses.

use chunker_core::{
    chunk_slice, chunk_slice_forced, Algorithm, ChunkerConfig, CutEngine, IncrementalChunker,
    Normalization,
};
use chunker_testdata::oracle::{fastcdc_chunks, Variant};

/// `input`: a size class, a level, 8 seed bytes, up to 8 piece-size bytes, then the data.
pub fn check(algorithm: Algorithm, input: &[u8]) {
    let [size_class, level, rest @ ..] = input else {
        return;
    };
    let Some((seed, rest)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let (min, avg, max) = match (size_class % 3, algorithm) {
        (0, _) => (64, 256, 1024),
        (1, Algorithm::V2020) => (256, 1024, 4096),
        // Odd sizes, which only v2016 and ronomon take.
        (1, _) => (257, 1031, 4099),
        _ => (1024, 4096, 16_384),
    };
    let level = u64::from(level % 4);
    // Where forced lanes split the data, from the same bytes (used whether or not the seed is).
    let split = u64::from_le_bytes(*seed) >> 8;
    let seed = if seed[0] % 2 == 0 {
        0
    } else {
        u64::from_le_bytes(*seed)
    };
    let mut builder = ChunkerConfig::builder(algorithm).sizes(min, avg, max);
    if algorithm.has_normalization() {
        builder = builder.normalization(Normalization::from_level(level).expect("0..=3"));
    }
    if algorithm.has_seed() {
        builder = builder.seed(seed);
    }
    let config = builder.build().expect("valid options");
    let variant = Variant::parse(algorithm.name(), level as u32, seed).expect("known variant");

    let cut = rest.len().min(8);
    let (pieces, data) = rest.split_at(cut);
    let want: Vec<(u64, usize)> =
        fastcdc_chunks(variant, data, (min as usize, avg as usize, max as usize))
            .into_iter()
            .map(|(offset, length)| (offset as u64, length))
            .collect();
    let spans = |chunks: &[chunker_core::Chunk]| -> Vec<(u64, usize)> {
        chunks.iter().map(|c| (c.offset, c.length)).collect()
    };
    assert_eq!(spans(&chunk_slice(data, &config, None)), want);
    // Every cut engine, forced, its lanes split where the input says.
    let mid = (split % (data.len() as u64 + 1)) as usize;
    for engine in [CutEngine::Scalar, CutEngine::Interleaved] {
        let forced = chunk_slice_forced(data, &config, None, engine, mid);
        assert_eq!(spans(&forced), want, "{engine:?}, lanes split at {mid}");
    }

    let mut chunker = IncrementalChunker::new(config, None);
    let mut got = Vec::new();
    let mut rest = data;
    for piece in pieces.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let len = (usize::from(*piece) * 7 % 997 + 1).min(rest.len());
        let (now, later) = rest.split_at(len);
        got.extend(spans(chunker.feed(now).expect("not finished").chunks()));
        rest = later;
    }
    got.extend(spans(chunker.finish().expect("not finished").chunks()));
    assert_eq!(got, want);
}
