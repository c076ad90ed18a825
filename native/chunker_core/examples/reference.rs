//! The references `mix chunker.bench` divides by: the raw crates called directly,
//! sequentially on one core, over a file held in memory.
//! Each figure is the best of `REPEATS` runs, in seconds.
//!
//!     cargo run --release --example reference -- chunk FILE REPEATS blake3|none AVG...
//!         the `fastcdc` crate's v2020::FastCDC (min avg/4, max avg*4), then `blake3::hash`
//!         of each chunk (or nothing): one `AVG SECONDS CHUNKS` line per size
//!     cargo run --release --example reference -- hash FILE REPEATS blake3|sha256 ITEM...
//!         the file cut into ITEM-byte items, each hashed with the `blake3` / `sha2` crate:
//!         one `ITEM SECONDS` line per item size
//!     cargo run --release --example reference -- zstd FILE REPEATS LEVEL ITEM...
//!         the items compressed one by one with zstd-safe's `CCtx::compress2` (checksum on,
//!         one context reused): one `ITEM SECONDS` line per item size
//!     cargo run --release --example reference -- pipeline FILE REPEATS AVG LEVEL
//!         fastcdc, then for each chunk `blake3::hash` and zstd at LEVEL: one `SECONDS` line

use std::process::ExitCode;
use std::time::Instant;

use sha2::Digest as _;

fn best(repeats: usize, mut run: impl FnMut() -> usize) -> (f64, usize) {
    let mut best = f64::INFINITY;
    let mut result = 0;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        result = std::hint::black_box(run());
        best = best.min(start.elapsed().as_secs_f64());
    }
    (best, result)
}

fn chunks(data: &[u8], avg: usize) -> impl Iterator<Item = &[u8]> {
    fastcdc::v2020::FastCDC::new(data, avg / 4, avg, avg * 4)
        .map(move |chunk| &data[chunk.offset..chunk.offset + chunk.length])
}

fn zstd_context(level: i32) -> Result<zstd_safe::CCtx<'static>, String> {
    let mut cctx = zstd_safe::CCtx::create();
    cctx.set_parameter(zstd_safe::CParameter::CompressionLevel(level))
        .and_then(|_| cctx.set_parameter(zstd_safe::CParameter::ChecksumFlag(true)))
        .map_err(|code| zstd_safe::get_error_name(code).to_string())?;
    Ok(cctx)
}

fn compress(cctx: &mut zstd_safe::CCtx<'_>, out: &mut Vec<u8>, item: &[u8]) -> usize {
    out.clear();
    out.reserve(zstd_safe::compress_bound(item.len()));
    cctx.compress2(out, item).unwrap_or(0)
}

fn parse<T: std::str::FromStr>(value: &str, what: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{what} must be a number, got {value}"))
}

fn run(args: &[String]) -> Result<(), String> {
    let [mode, path, repeats, rest @ ..] = args else {
        return Err("usage: reference chunk|hash|zstd|pipeline FILE REPEATS ...".into());
    };
    let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let repeats: usize = parse(repeats, "REPEATS")?;
    match (mode.as_str(), rest) {
        ("chunk", [hash, avgs @ ..]) => {
            let with_hash = hash == "blake3";
            for avg in avgs {
                let avg: usize = parse(avg, "AVG")?;
                let (seconds, count) = best(repeats, || {
                    chunks(&data, avg)
                        .map(|chunk| {
                            if with_hash {
                                blake3::hash(chunk);
                            }
                        })
                        .count()
                });
                println!("{avg} {seconds:.6} {count}");
            }
        }
        ("hash", [algo, items @ ..]) => {
            for item in items {
                let item: usize = parse(item, "ITEM")?;
                let (seconds, _) = best(repeats, || match algo.as_str() {
                    "sha256" => data
                        .chunks(item)
                        .map(|x| sha2::Sha256::digest(x)[0] as usize)
                        .sum(),
                    _ => data
                        .chunks(item)
                        .map(|x| blake3::hash(x).as_bytes()[0] as usize)
                        .sum(),
                });
                println!("{item} {seconds:.6}");
            }
        }
        ("zstd", [level, items @ ..]) => {
            let mut cctx = zstd_context(parse(level, "LEVEL")?)?;
            let mut out = Vec::new();
            for item in items {
                let item: usize = parse(item, "ITEM")?;
                let (seconds, _) = best(repeats, || {
                    data.chunks(item)
                        .map(|x| compress(&mut cctx, &mut out, x))
                        .sum()
                });
                println!("{item} {seconds:.6}");
            }
        }
        ("pipeline", [avg, level]) => {
            let avg: usize = parse(avg, "AVG")?;
            let mut cctx = zstd_context(parse(level, "LEVEL")?)?;
            let mut out = Vec::new();
            let (seconds, _) = best(repeats, || {
                chunks(&data, avg)
                    .map(|chunk| {
                        blake3::hash(chunk);
                        compress(&mut cctx, &mut out, chunk)
                    })
                    .sum()
            });
            println!("{seconds:.6}");
        }
        _ => return Err(format!("unknown mode or arguments: {args:?}")),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}
