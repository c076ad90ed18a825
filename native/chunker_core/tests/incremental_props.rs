//! Property: for every algorithm, level and seed, the incremental chunker equals the one-shot
//! chunker for any input and any way of splitting it into pieces (empty pieces included), and
//! the one-shot chunker equals the `fastcdc` crate.

use chunker_core::{
    chunk_slice, Algorithm, Chunk, ChunkerConfig, HashAlgorithm, IncrementalChunker, Normalization,
};
mod common;

use common::crate_spans;
use proptest::prelude::*;

fn sizes() -> impl Strategy<Value = ChunkerConfig> {
    // Small sizes so that short inputs still hold many chunks and every code path (carried
    // chunks, in-piece chunks, max-size cuts) is exercised.
    (
        0usize..3,
        0u64..=3,
        prop_oneof![Just(0u64), any::<u64>()],
        64usize..=512,
        1usize..=4,
        1usize..=4,
    )
        .prop_map(|(algorithm, level, seed, min, avg_mul, max_mul)| {
            let algorithm = Algorithm::ALL[algorithm];
            // v2020 needs even sizes; the others take any.
            let even = |n: usize| {
                if algorithm == Algorithm::V2020 {
                    n & !1
                } else {
                    n
                }
            };
            let min = even(min);
            let avg = even((min * avg_mul).max(256));
            let max = even((avg * max_mul).max(1024));
            let mut builder =
                ChunkerConfig::builder(algorithm).sizes(min as u64, avg as u64, max as u64);
            if algorithm.has_normalization() {
                builder = builder.normalization(Normalization::from_level(level).unwrap());
            }
            if algorithm.has_seed() {
                builder = builder.seed(seed);
            }
            builder.build().unwrap()
        })
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40_000),
        // Low-entropy data reaches max_size cuts.
        proptest::collection::vec(0u8..2, 0..40_000),
    ]
}

proptest! {
    // CHUNKER_PROPTEST_CASES lowers the count for the slower debug-build run in script/test.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("CHUNKER_PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(2000)
    ))]

    #[test]
    fn any_split_equals_one_shot(
        data in input(),
        config in sizes(),
        cuts in proptest::collection::vec(prop_oneof![0usize..4, 0usize..5000], 0..60),
        algo in prop_oneof![Just(None), Just(Some(HashAlgorithm::Blake3)), Just(Some(HashAlgorithm::Sha256))],
    ) {
        let want = chunk_slice(&data, &config, algo);
        let spans: Vec<(u64, usize)> = want.iter().map(|c| (c.offset, c.length)).collect();
        prop_assert_eq!(spans, crate_spans(&data, &config));
        let mut chunker = IncrementalChunker::new(config.clone(), algo);
        let mut got: Vec<Chunk> = Vec::new();
        let mut rest = &data[..];
        for len in cuts {
            let (piece, tail) = rest.split_at(len.min(rest.len()));
            rest = tail;
            let batch = chunker.feed(piece).unwrap();
            for (chunk, bytes) in batch.iter() {
                let start = chunk.offset as usize;
                prop_assert_eq!(bytes.to_vec(), &data[start..start + chunk.length]);
            }
            got.extend_from_slice(batch.chunks());
            prop_assert!(chunker.buffered() < config.max_size());
        }
        for batch in [chunker.feed(rest).unwrap().iter().map(|(c, b)| (*c, b.to_vec())).collect::<Vec<_>>(),
                      chunker.finish().unwrap().iter().map(|(c, b)| (*c, b.to_vec())).collect()] {
            for (chunk, bytes) in batch {
                let start = chunk.offset as usize;
                prop_assert_eq!(&bytes[..], &data[start..start + chunk.length]);
                got.push(chunk);
            }
        }
        prop_assert_eq!(got, want);
    }
}
