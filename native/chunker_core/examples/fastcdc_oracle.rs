//! The boundary oracle for the Elixir tests: prints the chunks the `fastcdc` crate itself
//! (not this crate) finds in a file, one `offset length` line each.
//!
//!     cargo run --release --example fastcdc_oracle -- FILE MIN_SIZE AVG_SIZE MAX_SIZE

use std::io::{BufWriter, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, min, avg, max] = args.as_slice() else {
        eprintln!("usage: fastcdc_oracle FILE MIN_SIZE AVG_SIZE MAX_SIZE");
        return ExitCode::from(2);
    };
    let (Ok(min), Ok(avg), Ok(max)) = (min.parse(), avg.parse(), max.parse()) else {
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
    for chunk in fastcdc::v2020::FastCDC::new(&data, min, avg, max) {
        if writeln!(out, "{} {}", chunk.offset, chunk.length).is_err() {
            return ExitCode::from(1);
        }
    }
    if out.flush().is_err() {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
