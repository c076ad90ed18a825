//! The reference the Elixir benchmark (`bench/chunking.exs`) divides by: the raw `fastcdc`
//! crate's `v2020::FastCDC` followed by `blake3::hash` of each chunk, sequentially on one
//! core, over a file held in memory. Prints one `avg_size seconds` line per size set: the
//! best of `REPEATS` runs.
//!
//!     cargo run --release --example reference_throughput -- FILE REPEATS AVG_SIZE...

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, repeats, avgs @ ..] = args.as_slice() else {
        eprintln!("usage: reference_throughput FILE REPEATS AVG_SIZE...");
        return ExitCode::from(2);
    };
    let Ok(repeats) = repeats.parse::<usize>() else {
        eprintln!("REPEATS must be an integer");
        return ExitCode::from(2);
    };
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(1);
        }
    };
    for avg in avgs {
        let Ok(avg) = avg.parse::<usize>() else {
            eprintln!("AVG_SIZE must be an integer");
            return ExitCode::from(2);
        };
        let mut best = f64::INFINITY;
        let mut sink = 0u8;
        for _ in 0..repeats.max(1) {
            let start = Instant::now();
            for chunk in fastcdc::v2020::FastCDC::new(&data, avg / 4, avg, avg * 4) {
                let bytes = &data[chunk.offset..chunk.offset + chunk.length];
                sink ^= blake3::hash(bytes).as_bytes()[0];
            }
            best = best.min(start.elapsed().as_secs_f64());
        }
        println!("{avg} {best:.6} {sink}");
    }
    ExitCode::SUCCESS
}
