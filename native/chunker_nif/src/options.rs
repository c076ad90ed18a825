//! Decoding chunking options from terms. Range checks belong to `chunker_core`; this module
//! only turns terms into its types and its errors into terms.

use chunker_core::{ChunkerConfig, ConfigError, HashAlgorithm, SizeOption};
use rustler::{Atom, Encoder, Env, NifResult, Term};

use crate::atoms;
use crate::error::NativeError;

/// `hash:` option atom -> algorithm (`:none` -> `None`); any other atom is a bad argument.
pub fn decode_hash(atom: Atom) -> NifResult<Option<HashAlgorithm>> {
    if atom == atoms::blake3() {
        Ok(Some(HashAlgorithm::Blake3))
    } else if atom == atoms::sha256() {
        Ok(Some(HashAlgorithm::Sha256))
    } else if atom == atoms::none() {
        Ok(None)
    } else {
        Err(rustler::Error::BadArg)
    }
}

/// The sizes and `hash:` atom of a chunking call: `Ok(Err(error))` for sizes the core
/// refuses; an unknown hash atom is a bad argument.
pub fn decode_chunking(
    (min, avg, max): (u64, u64, u64),
    hash: Atom,
) -> NifResult<Result<(ChunkerConfig, Option<HashAlgorithm>), NativeError>> {
    let algo = decode_hash(hash)?;
    Ok(ChunkerConfig::from_u64(min, avg, max)
        .map(|config| (config, algo))
        .map_err(|error| NativeError::from(&error)))
}

/// `validate_sizes(min, avg, max)` -> `:ok` or `{:error, {:invalid_options, message,
/// %{option: name}}}`: checks three size terms the way the chunking NIFs will, so that option
/// errors surface before any data is touched. Integers of any size are accepted here and
/// reported in the message; anything else is a bad argument (the Elixir side checks types).
#[rustler::nif]
fn validate_sizes<'a>(
    env: Env<'a>,
    min: Term<'a>,
    avg: Term<'a>,
    max: Term<'a>,
) -> NifResult<Term<'a>> {
    // The average first, as the core checks it: the Elixir side may have derived the other
    // two from it, and then only it is the user's.
    let sizes = [
        (SizeOption::Avg, avg),
        (SizeOption::Min, min),
        (SizeOption::Max, max),
    ];
    let mut values = [0u64; 3];
    for ((option, term), slot) in sizes.into_iter().zip(values.iter_mut()) {
        match term.decode::<u64>() {
            Ok(value) => *slot = value,
            Err(_) if term.is_integer() => {
                let (lo, hi) = option.range();
                let got = term
                    .decode::<i64>()
                    .map(|v| v.to_string())
                    .unwrap_or_else(|_| "an integer outside the 64-bit range".to_string());
                let error = ConfigError {
                    option,
                    message: format!(
                        "{} must be an even integer from {lo} to {hi}, got {got}",
                        option.name()
                    ),
                };
                return Ok(NativeError::from(&error).term(env));
            }
            Err(error) => return Err(error),
        }
    }
    let [avg, min, max] = values;
    Ok(match ChunkerConfig::from_u64(min, avg, max) {
        Ok(_) => atoms::ok().encode(env),
        Err(error) => NativeError::from(&error).term(env),
    })
}
