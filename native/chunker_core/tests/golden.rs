//! The golden vectors (`test/golden/*.txt`, see `chunker_testdata::golden`): every entry
//! point cuts the fixture exactly as the files say, for every variant they hold. These tests do
//! not call the `fastcdc` crate: they fail if any boundary moves, whatever any dependency does.

use std::io::Cursor;
use std::path::PathBuf;

use chunker_core::{
    chunk_many, chunk_slice, chunk_slice_sequential, Algorithm, ChunkStream, ChunkerConfig,
    HashAlgorithm, IncrementalChunker, Normalization,
};
use chunker_testdata::golden::{fixture, Vectors};

fn golden_dir() -> PathBuf {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../test/golden").into()
}

/// Every vector file, parsed, with its name.
fn all_vectors() -> Vec<(String, Vectors)> {
    let mut files: Vec<_> = std::fs::read_dir(golden_dir())
        .expect("test/golden exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let vectors =
                Vectors::parse(&text).unwrap_or_else(|| panic!("{name}: not a vector file"));
            (name, vectors)
        })
        .collect()
}

fn config(vectors: &Vectors) -> ChunkerConfig {
    let algorithm = Algorithm::from_name(&vectors.algorithm).expect("a known algorithm");
    let (min, avg, max) = vectors.sizes;
    let mut builder = ChunkerConfig::builder(algorithm).sizes(min as u64, avg as u64, max as u64);
    if let Some(level) = vectors.normalization {
        builder = builder.normalization(Normalization::from_level(level.into()).unwrap());
    }
    if let Some(seed) = vectors.seed {
        builder = builder.seed(seed);
    }
    builder.build().unwrap()
}

type Spans = Vec<(u64, usize, String)>;

fn spans(chunks: &[chunker_core::Chunk]) -> Spans {
    chunks
        .iter()
        .map(|c| {
            let hex: String = c.hash.unwrap().iter().map(|b| format!("{b:02x}")).collect();
            (c.offset, c.length, hex)
        })
        .collect()
}

/// Says where the first boundary moved instead of printing thousands of chunks.
fn assert_same(got: &Spans, want: &Spans, what: &str) {
    if let Some(i) = (0..got.len().max(want.len())).find(|&i| got.get(i) != want.get(i)) {
        panic!(
            "{what}: chunk {i} is {:?}, the golden vector says {:?}",
            got.get(i),
            want.get(i)
        );
    }
}

#[test]
fn the_files_cover_every_algorithm_level_and_seeds() {
    let all = all_vectors();
    assert_eq!(all.len(), 32, "a golden vector file was added or lost");
    for algorithm in ["v2020", "v2016", "ronomon"] {
        assert!(all.iter().any(|(_, v)| v.algorithm == algorithm));
    }
    for level in 0..=3 {
        assert!(all
            .iter()
            .any(|(_, v)| v.normalization == Some(level) && v.algorithm == "v2016"));
        assert!(all
            .iter()
            .any(|(_, v)| v.normalization == Some(level) && v.algorithm == "v2020"));
    }
    assert!(all.iter().filter(|(_, v)| v.seed.unwrap_or(0) != 0).count() >= 3);
}

#[test]
fn every_entry_point_cuts_the_fixture_as_the_files_say() {
    let data = fixture();
    let fixture_blake3 = blake3::hash(&data).to_hex().to_string();
    let blake3 = Some(HashAlgorithm::Blake3);
    for (name, vectors) in all_vectors() {
        assert_eq!(
            vectors.fixture_blake3, fixture_blake3,
            "{name}: the fixture generator changed, not the boundaries"
        );
        let input = &data[..vectors.input];
        let config = config(&vectors);
        let want = &vectors.chunks;
        assert!(!want.is_empty(), "{name}");
        assert_eq!(
            &spans(&chunk_slice(input, &config, blake3)),
            want,
            "{name}: chunk_slice"
        );
        assert_eq!(
            &spans(&chunk_slice_sequential(input, &config, blake3)),
            want,
            "{name}: chunk_slice_sequential"
        );
        assert_eq!(
            &spans(&chunk_many(&[input, input], &config, blake3)[1]),
            want,
            "{name}: chunk_many"
        );

        // Pieces of uneven sizes, a 1-byte piece among them, with and without the pool.
        for pool in [true, false] {
            let mut chunker = IncrementalChunker::new(config.clone(), blake3);
            chunker.use_pool(pool);
            let mut got = Vec::new();
            let mut rest = input;
            for size in [1usize, 7, 4095, 65_537, 1 << 20].iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (piece, tail) = rest.split_at((*size).min(rest.len()));
                rest = tail;
                got.extend_from_slice(chunker.feed(piece).unwrap().chunks());
            }
            got.extend_from_slice(chunker.finish().unwrap().chunks());
            assert_same(
                &spans(&got),
                want,
                &format!("{name}: incremental, pool {pool}"),
            );
        }

        let streamed: Vec<_> =
            ChunkStream::with_read_size(Cursor::new(input), config.clone(), blake3, 100_003)
                .map(|c| c.unwrap().chunk)
                .collect();
        assert_same(&spans(&streamed), want, &format!("{name}: ChunkStream"));
    }
}

#[test]
fn one_byte_pieces_cut_as_the_files_say() {
    let data = fixture();
    for (name, vectors) in all_vectors()
        .into_iter()
        .filter(|(_, v)| v.input <= 1 << 16)
    {
        let config = config(&vectors);
        let mut chunker = IncrementalChunker::new(config, Some(HashAlgorithm::Blake3));
        let mut got = Vec::new();
        for byte in data[..vectors.input].chunks(1) {
            got.extend_from_slice(chunker.feed(byte).unwrap().chunks());
        }
        got.extend_from_slice(chunker.finish().unwrap().chunks());
        assert_same(
            &spans(&got),
            &vectors.chunks,
            &format!("{name}: 1-byte pieces"),
        );
    }
}
