use chunker_core::*;
use std::time::Instant;
fn main() {
    let data: Vec<u8> = (0..4_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let config = ChunkerConfig::new(1 << 20, 4 << 20, 16 << 20).unwrap();
    for piece in [100usize, 4096, 1 << 20] {
        let t = Instant::now();
        let mut c = IncrementalChunker::new(config, Some(HashAlgorithm::Blake3));
        let mut n = 0;
        for p in data.chunks(piece) {
            n += c.feed(p).unwrap().len();
        }
        n += c.finish().unwrap().len();
        println!("piece {piece}: {:?} ({n} chunks)", t.elapsed());
    }
}
