//! Boundaries and digests checked against independent oracles: the `fastcdc` crate's own
//! chunkers (`v2020` at every level and with seeds, `v2016` at every level, `ronomon`) and
//! `StreamCDC`s, and the `blake3` / `sha2` crates hashing each chunk.
//!
//! Real data: the file named by `CHUNKER_REAL_DATA` (the test script sets it to a tar of the
//! OTP installation); without it, this test binary itself.

mod common;

use chunker_testdata::oracle::{fastcdc_chunks, v2016_level, v2020_level, Variant};
use chunker_testdata::random_bytes;
use common::crate_spans;
use std::io::Cursor;

use chunker_core::{
    chunk_slice, Algorithm, ChunkStream, ChunkerConfig, ConfigBuilder, HashAlgorithm,
    IncrementalChunker, Normalization,
};
use sha2::Digest as _;

/// Size sets for v2020 and v2016 (ronomon takes these and larger ones: [`RONOMON_SIZE_SETS`]).
const SIZE_SETS: [(usize, usize, usize); 7] = [
    (64, 256, 1024),
    (4096, 16_384, 65_536),
    (16_384, 65_536, 262_144),
    (20_000, 50_000, 300_000),
    (131_072, 524_288, 2_097_152),
    (262_144, 1_048_576, 4_194_304),
    (1_048_576, 4_194_304, 16_777_216),
];

/// ronomon accepts averages up to 256 MiB and odd sizes.
const RONOMON_SIZE_SETS: [(usize, usize, usize); 4] = [
    (64, 256, 1024),
    (16_384, 65_536, 262_144),
    (20_001, 50_003, 300_007),
    (4_194_304, 8_388_608, 33_554_432),
];

/// Every algorithm, each level of the two that have levels, and seeded gear tables.
fn variants() -> Vec<ConfigBuilder> {
    let mut variants = Vec::new();
    for level in 0..=3 {
        let level = Normalization::from_level(level).unwrap();
        variants.push(ChunkerConfig::builder(Algorithm::V2020).normalization(level));
        variants.push(ChunkerConfig::builder(Algorithm::V2016).normalization(level));
    }
    for (level, seed) in [(1, 1), (1, 0x5eed_cafe_f00d_0001), (2, u64::MAX)] {
        let level = Normalization::from_level(level).unwrap();
        variants.push(
            ChunkerConfig::builder(Algorithm::V2020)
                .normalization(level)
                .seed(seed),
        );
    }
    variants.push(ChunkerConfig::builder(Algorithm::Ronomon));
    variants
}

fn size_sets(algorithm: Algorithm) -> &'static [(usize, usize, usize)] {
    match algorithm {
        Algorithm::Ronomon => &RONOMON_SIZE_SETS,
        _ => &SIZE_SETS,
    }
}

fn configured(builder: &ConfigBuilder, (min, avg, max): (usize, usize, usize)) -> ChunkerConfig {
    builder
        .clone()
        .sizes(min as u64, avg as u64, max as u64)
        .build()
        .unwrap()
}

fn real_data() -> Vec<u8> {
    // Without the tar of the OTP installation, this test binary is a sample of real bytes.
    let data = chunker_testdata::real_data().unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("test binary path");
        std::fs::read(&exe).unwrap_or_else(|e| panic!("reading {exe:?}: {e}"))
    });
    assert!(
        data.len() > 1 << 20,
        "the real data sample is too small to be useful"
    );
    data
}

/// One-shot (with each of `hashes`, digests checked) and incremental boundaries against the
/// crate's.
fn check_against_oracle(data: &[u8], config: &ChunkerConfig, hashes: &[Option<HashAlgorithm>]) {
    let want = crate_spans(data, config);
    assert!(!want.is_empty() || data.is_empty());

    for &algo in hashes {
        let chunks = chunk_slice(data, config, algo);
        let got: Vec<(u64, usize)> = chunks.iter().map(|c| (c.offset, c.length)).collect();
        assert_eq!(got, want, "one-shot boundaries for {config:?}");
        for chunk in &chunks {
            let bytes = &data[chunk.offset as usize..chunk.end() as usize];
            let digest: Option<[u8; 32]> = algo.map(|algo| match algo {
                HashAlgorithm::Blake3 => *blake3::hash(bytes).as_bytes(),
                HashAlgorithm::Sha256 => sha2::Sha256::digest(bytes).into(),
            });
            assert_eq!(chunk.hash, digest, "{algo:?} digest at {}", chunk.offset);
        }
    }

    // The incremental path, fed in uneven pieces, against the same oracle.
    let mut chunker = IncrementalChunker::new(config.clone(), None);
    let mut got = Vec::new();
    for piece in data.chunks(config.max_size() / 3 + 17) {
        got.extend(
            chunker
                .feed(piece)
                .unwrap()
                .chunks()
                .iter()
                .map(|c| (c.offset, c.length)),
        );
    }
    got.extend(
        chunker
            .finish()
            .unwrap()
            .chunks()
            .iter()
            .map(|c| (c.offset, c.length)),
    );
    assert_eq!(got, want, "incremental boundaries for {config:?}");
}

const BOTH_HASHES: [Option<HashAlgorithm>; 2] =
    [Some(HashAlgorithm::Blake3), Some(HashAlgorithm::Sha256)];

#[test]
fn random_data_matches_fastcdc_for_every_size_set() {
    let data = random_bytes(48 << 20, 0x5EED);
    for sizes in SIZE_SETS {
        check_against_oracle(
            &data,
            &configured(&ChunkerConfig::builder(Algorithm::V2020), sizes),
            &BOTH_HASHES,
        );
    }
}

#[test]
fn every_variant_matches_fastcdc_on_random_and_real_data() {
    let inputs = [random_bytes(24 << 20, 0x7AB1E), real_data()];
    for variant in variants() {
        for &sizes in size_sets(variant.clone().build().unwrap().algorithm()) {
            let config = configured(&variant, sizes);
            for data in &inputs {
                check_against_oracle(data, &config, &[None]);
            }
        }
    }
}

#[test]
fn real_data_matches_fastcdc_for_every_size_set() {
    let data = real_data();
    for sizes in SIZE_SETS {
        check_against_oracle(
            &data,
            &configured(&ChunkerConfig::builder(Algorithm::V2020), sizes),
            &BOTH_HASHES,
        );
    }
}

#[test]
fn chunk_stream_matches_fastcdc_stream_cdc() {
    let data = real_data();
    type Stream = Vec<(u64, usize, Vec<u8>)>;
    for (min, avg, max) in [(4096, 16_384, 65_536), (262_144, 1_048_576, 4_194_304)] {
        let ours = |config: ChunkerConfig| -> Stream {
            ChunkStream::with_read_size(Cursor::new(&data), config, None, 100_003)
                .map(|c| c.unwrap())
                .map(|c| (c.chunk.offset, c.chunk.length, c.data))
                .collect()
        };
        for (level, seed) in [(1, 0), (3, 0), (0, 99)] {
            let config = ChunkerConfig::builder(Algorithm::V2020)
                .sizes(min, avg, max)
                .normalization(Normalization::from_level(level).unwrap())
                .seed(seed)
                .build()
                .unwrap();
            let crate_level = v2020_level(level as u32);
            let theirs: Stream = fastcdc::v2020::StreamCDC::with_level_and_seed(
                Cursor::new(&data),
                min as usize,
                avg as usize,
                max as usize,
                crate_level,
                seed,
            )
            .map(|c| c.unwrap())
            .map(|c| (c.offset, c.length, c.data))
            .collect();
            assert!(
                ours(config) == theirs,
                "v2020 StreamCDC disagrees for {min}/{avg}/{max} level {level} seed {seed}"
            );
        }
        let config = ChunkerConfig::builder(Algorithm::V2016)
            .sizes(min, avg, max)
            .normalization(Normalization::Level2)
            .build()
            .unwrap();
        let theirs: Stream = fastcdc::v2016::StreamCDC::with_level(
            Cursor::new(&data),
            min as usize,
            avg as usize,
            max as usize,
            v2016_level(2),
        )
        .map(|c| c.unwrap())
        .map(|c| (c.offset, c.length, c.data))
        .collect();
        assert!(
            ours(config) == theirs,
            "v2016 StreamCDC disagrees for {min}/{avg}/{max}"
        );
    }
}

#[test]
fn edge_inputs() {
    let config = ChunkerConfig::default();
    assert!(chunk_slice(&[], &config, Some(HashAlgorithm::Blake3)).is_empty());

    let short = random_bytes(1000, 1);
    let one = chunk_slice(&short, &config, Some(HashAlgorithm::Blake3));
    assert_eq!(one.len(), 1);
    assert_eq!((one[0].offset, one[0].length), (0, 1000));
    assert_eq!(one[0].hash, Some(*blake3::hash(&short).as_bytes()));

    let exact = random_bytes(config.max_size(), 2);
    let chunks = chunk_slice(&exact, &config, None);
    assert_eq!(
        chunks
            .iter()
            .map(|c| (c.offset, c.length))
            .collect::<Vec<_>>(),
        crate_spans(&exact, &config)
    );
    assert_eq!(
        chunks.iter().map(|c| c.length).sum::<usize>(),
        config.max_size()
    );

    let zeros = vec![0u8; 10 * config.max_size() + 5];
    let chunks = chunk_slice(&zeros, &config, None);
    assert_eq!(chunks.len(), 11);
    assert!(chunks[..10].iter().all(|c| c.length == config.max_size()));
    assert_eq!(chunks[10].length, 5);
}

/// The golden vectors are the crate's boundaries: if this fails while `tests/golden.rs`
/// passes, a release of the `fastcdc` crate moved a boundary (and chunker did not follow).
#[test]
fn golden_vectors_are_the_crates_boundaries() {
    use chunker_testdata::golden::{fixture, Vectors};
    let data = fixture();
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../test/golden"));
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "txt") {
            continue;
        }
        let vectors = Vectors::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let variant = Variant::parse(
            &vectors.algorithm,
            vectors.normalization.unwrap_or(1),
            vectors.seed.unwrap_or(0),
        )
        .unwrap();
        let got: Vec<(u64, usize)> = fastcdc_chunks(variant, &data[..vectors.input], vectors.sizes)
            .into_iter()
            .map(|(offset, length)| (offset as u64, length))
            .collect();
        let want: Vec<(u64, usize)> = vectors.chunks.iter().map(|c| (c.0, c.1)).collect();
        assert_eq!(got, want, "{}: the crate moved a boundary", path.display());
        files += 1;
    }
    assert!(files > 0);
}
