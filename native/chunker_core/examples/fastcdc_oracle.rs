//! The boundary oracle for the Elixir tests: prints the chunks the `fastcdc` crate itself
//! (not this crate) finds in a file, one `offset length` line each.
//!
//!     cargo run --release --example fastcdc_oracle -- FILE MIN AVG MAX [ALGORITHM [LEVEL [SEED]]]
//!
//! ALGORITHM is `v2020` (the default), `v2016` or `ronomon`; LEVEL the normalization level
//! (default 1); SEED the v2020 gear-table seed (default 0).

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use chunker_testdata::oracle::{fastcdc_chunks, Variant};

const USAGE: &str = "usage: fastcdc_oracle FILE MIN AVG MAX [ALGORITHM [LEVEL [SEED]]]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, numbers, variant) = match args.as_slice() {
        [path, min, avg, max, rest @ ..] if rest.len() <= 3 => {
            let algorithm = rest.first().map_or("v2020", String::as_str);
            let level = rest.get(1).map_or(Ok(1), |level| level.parse());
            let seed = rest.get(2).map_or(Ok(0), |seed| seed.parse());
            let (Ok(level), Ok(seed)) = (level, seed) else {
                eprintln!("{USAGE}\nLEVEL and SEED must be integers");
                return ExitCode::from(2);
            };
            let Some(variant) = Variant::parse(algorithm, level, seed) else {
                eprintln!("{USAGE}\nunknown algorithm {algorithm} or level {level}");
                return ExitCode::from(2);
            };
            (path, [min, avg, max], variant)
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let [Ok(min), Ok(avg), Ok(max)] = numbers.map(|n| n.parse::<usize>()) else {
        eprintln!("sizes must be integers");
        return ExitCode::from(2);
    };
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (offset, length) in fastcdc_chunks(variant, &data, (min, avg, max)) {
        if writeln!(out, "{offset} {length}").is_err() {
            return ExitCode::from(1);
        }
    }
    if out.flush().is_err() {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
