//! Incremental chunking on arbitrary splits, with and without the thread pool, against
//! one-shot chunking of the same bytes: identical chunks and digests.
#![no_main]

use chunker_core::{chunk_slice, ChunkerConfig, HashAlgorithm, IncrementalChunker};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let [size_class, pool, splits @ .., _] = input else {
        return;
    };
    let (min, avg, max) = match size_class % 3 {
        0 => (64, 256, 1024),
        1 => (256, 1024, 4096),
        _ => (1024, 4096, 16_384),
    };
    let config = ChunkerConfig::new(min, avg, max).expect("valid sizes");
    // The first bytes choose the piece sizes, the rest is the data.
    let cut = splits.len().min(8);
    let (pieces, data) = splits.split_at(cut);
    let hash = Some(HashAlgorithm::Blake3);
    let want = chunk_slice(data, &config, hash);

    let mut chunker = IncrementalChunker::new(config, hash);
    chunker.use_pool(pool % 2 == 0);
    let mut got = Vec::new();
    let mut rest = data;
    for piece in pieces.iter().cycle().take(data.len() + 1) {
        if rest.is_empty() {
            break;
        }
        let len = (usize::from(*piece) * 7 % 997 + 1).min(rest.len());
        let (now, later) = rest.split_at(len);
        got.extend_from_slice(chunker.feed(now).expect("not finished").chunks());
        rest = later;
    }
    if !rest.is_empty() {
        got.extend_from_slice(chunker.feed(rest).expect("not finished").chunks());
    }
    got.extend_from_slice(chunker.finish().expect("not finished").chunks());
    assert_eq!(got, want);
});
