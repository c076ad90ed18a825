use chunker_core::compression::*;
use std::time::Instant;
fn main() {
    let data = std::fs::read("/work/main/tmp/real-64MiB.bin").unwrap();
    for _ in 0..3 {
        let t = Instant::now();
        let mut total = 0;
        for item in data.chunks(1 << 20) {
            total += compress(item, Format::Zstd, None).unwrap().len();
        }
        let one = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut total2 = 0;
        for item in data.chunks(1 << 20) {
            let mut out = Vec::new();
            let mut sink = VecSink::new(&mut out);
            let mut e = Encoder::with_size(Format::Zstd, None, Some(item.len() as u64)).unwrap();
            for s in item.chunks(200 << 10) {
                e.update(s, &mut sink).unwrap();
            }
            e.finish(&mut sink).unwrap();
            drop(sink);
            total2 += out.len();
        }
        let sliced = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut total3 = 0;
        for item in data.chunks(1 << 20) {
            let mut out = Vec::new();
            let mut sink = VecSink::new(&mut out);
            let mut e = Encoder::with_size(Format::Zstd, None, Some(item.len() as u64)).unwrap();
            e.update(item, &mut sink).unwrap();
            e.finish(&mut sink).unwrap();
            drop(sink);
            total3 += out.len();
        }
        let whole_stream = t.elapsed().as_secs_f64();
        println!("one-shot {:.0} MB/s ({total}), 200K slices {:.0} MB/s ({total2}), stream whole {:.0} MB/s ({total3})", 67.1/one, 67.1/sliced, 67.1/whole_stream);
    }
}
