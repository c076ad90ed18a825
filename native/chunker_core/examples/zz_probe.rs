use chunker_core::*;
use std::time::Instant;
fn main() {
    let data = std::fs::read("/work/main/tmp/bench-random-256MiB.bin").unwrap();
    let avg: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(262144);
    let config = ChunkerConfig::new(avg / 4, avg, avg * 4).unwrap();
    for _ in 0..5 {
        let t = Instant::now();
        let n = chunk_slice(&data, &config, Some(HashAlgorithm::Blake3)).len();
        let one = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut c = IncrementalChunker::new(config, Some(HashAlgorithm::Blake3));
        let mut m = 0;
        for p in data.chunks(1 << 20) {
            m += c.feed(p).unwrap().len();
        }
        m += c.finish().unwrap().len();
        let inc = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut c = IncrementalChunker::new(config, None);
        for p in data.chunks(1 << 20) {
            m += c.feed(p).unwrap().len();
        }
        let inc_none = t.elapsed().as_secs_f64();
        println!(
            "oneshot {:.0} MB/s ({n}), incremental {:.0} MB/s ({m}), incremental no hash {:.0}",
            268.4 / one,
            268.4 / inc,
            268.4 / inc_none
        );
    }
}
