//! Boundaries and digests checked against independent oracles: the `fastcdc` crate's own
//! `v2020::FastCDC` and `StreamCDC`, and the `blake3` / `sha2` crates hashing each chunk.
//!
//! Real data: the file named by `CHUNKER_REAL_DATA` (the test script sets it to a tar of the
//! OTP installation); without it, this test binary itself.

use chunker_testdata::random_bytes;
use std::io::Cursor;

use chunker_core::{chunk_slice, ChunkStream, ChunkerConfig, HashAlgorithm, IncrementalChunker};
use sha2::Digest as _;

const SIZE_SETS: [(usize, usize, usize); 7] = [
    (64, 256, 1024),
    (4096, 16_384, 65_536),
    (16_384, 65_536, 262_144),
    (20_000, 50_000, 300_000),
    (131_072, 524_288, 2_097_152),
    (262_144, 1_048_576, 4_194_304),
    (1_048_576, 4_194_304, 16_777_216),
];

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

fn oracle(data: &[u8], (min, avg, max): (usize, usize, usize)) -> Vec<(u64, usize)> {
    fastcdc::v2020::FastCDC::new(data, min, avg, max)
        .map(|c| (c.offset as u64, c.length))
        .collect()
}

fn check_against_oracle(data: &[u8], sizes: (usize, usize, usize)) {
    let config = ChunkerConfig::new(sizes.0, sizes.1, sizes.2).unwrap();
    let want = oracle(data, sizes);
    assert!(!want.is_empty() || data.is_empty());

    for algo in [HashAlgorithm::Blake3, HashAlgorithm::Sha256] {
        let chunks = chunk_slice(data, &config, Some(algo));
        let got: Vec<(u64, usize)> = chunks.iter().map(|c| (c.offset, c.length)).collect();
        assert_eq!(got, want, "one-shot boundaries for {sizes:?}");
        for chunk in &chunks {
            let bytes = &data[chunk.offset as usize..chunk.end() as usize];
            let digest: [u8; 32] = match algo {
                HashAlgorithm::Blake3 => *blake3::hash(bytes).as_bytes(),
                HashAlgorithm::Sha256 => sha2::Sha256::digest(bytes).into(),
            };
            assert_eq!(
                chunk.hash,
                Some(digest),
                "{algo:?} digest at {}",
                chunk.offset
            );
        }
    }

    // The incremental path, fed in uneven pieces, against the same oracle.
    let mut chunker = IncrementalChunker::new(config, None);
    let mut got = Vec::new();
    for piece in data.chunks(sizes.2 / 3 + 17) {
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
    assert_eq!(got, want, "incremental boundaries for {sizes:?}");
}

#[test]
fn random_data_matches_fastcdc_for_every_size_set() {
    let data = random_bytes(48 << 20, 0x5EED);
    for sizes in SIZE_SETS {
        check_against_oracle(&data, sizes);
    }
}

#[test]
fn real_data_matches_fastcdc_for_every_size_set() {
    let data = real_data();
    for sizes in SIZE_SETS {
        check_against_oracle(&data, sizes);
    }
}

#[test]
fn chunk_stream_matches_fastcdc_stream_cdc() {
    let data = real_data();
    for (min, avg, max) in [(4096, 16_384, 65_536), (262_144, 1_048_576, 4_194_304)] {
        let config = ChunkerConfig::new(min, avg, max).unwrap();
        let ours: Vec<(u64, usize, Vec<u8>)> =
            ChunkStream::with_read_size(Cursor::new(&data), config, None, 100_003)
                .map(|c| c.unwrap())
                .map(|c| (c.chunk.offset, c.chunk.length, c.data))
                .collect();
        let theirs: Vec<(u64, usize, Vec<u8>)> =
            fastcdc::v2020::StreamCDC::new(Cursor::new(&data), min, avg, max)
                .map(|c| c.unwrap())
                .map(|c| (c.offset, c.length, c.data))
                .collect();
        assert_eq!(ours.len(), theirs.len());
        assert!(ours == theirs, "StreamCDC disagrees for {min}/{avg}/{max}");
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
        oracle(&exact, (16_384, 65_536, 262_144))
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
