//! Decoding chunking options from terms. Defaults, ranges and which options an algorithm has
//! belong to `chunker_core`; this module only turns terms into its types and its errors into
//! terms.
//!
//! A chunking call names its configuration with one tuple,
//! `{algorithm, normalization | nil, seed | nil, min_size, avg_size, max_size}`, where `nil`
//! means "not given" (the core's default, and no complaint from an algorithm without that
//! option).

use chunker_core::{
    Algorithm, ChunkerConfig, ConfigError, ConfigOption, HashAlgorithm, Normalization,
};
use rustler::{Atom, Encoder, Env, NifResult, Term};

use crate::atoms;
use crate::error::{invalid_option, NativeError};

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

/// The configuration tuple and `hash:` atom of a chunking call: `Ok(Err(error))` for
/// options the core refuses; an unknown hash atom or a term of the wrong type is a bad
/// argument.
pub fn decode_chunking(
    spec: Term<'_>,
    hash: Atom,
) -> NifResult<Result<(ChunkerConfig, Option<HashAlgorithm>), NativeError>> {
    let algo = decode_hash(hash)?;
    Ok(decode_config(spec)?.map(|config| (config, algo)))
}

/// The configuration tuple (see the module doc) as a [`ChunkerConfig`].
pub fn decode_config(spec: Term<'_>) -> NifResult<Result<ChunkerConfig, NativeError>> {
    let (algorithm, normalization, seed, min, avg, max): (
        Term<'_>,
        Term<'_>,
        Term<'_>,
        Term<'_>,
        Term<'_>,
        Term<'_>,
    ) = spec.decode()?;
    let refused = |error: ConfigError| Ok(Err(NativeError::from(&error)));
    let algorithm = match decode_algorithm(algorithm)? {
        Ok(algorithm) => algorithm,
        Err(name) => {
            // The core's list, in Elixir's spelling.
            let names: Vec<String> = Algorithm::ALL.iter().map(|a| format!(":{a}")).collect();
            let message = format!("algorithm must be one of {}, got :{name}", names.join(", "));
            return Ok(Err(invalid_option("algorithm", message)));
        }
    };
    // The average first, as the core checks it: the Elixir side may have derived the other
    // two from it, and then only it is the user's.
    let decode = |option, term| decode_u64(algorithm, option, term);
    let avg = match decode(ConfigOption::AvgSize, avg)? {
        Ok(value) => value,
        Err(error) => return refused(error),
    };
    let min = match decode(ConfigOption::MinSize, min)? {
        Ok(value) => value,
        Err(error) => return refused(error),
    };
    let max = match decode(ConfigOption::MaxSize, max)? {
        Ok(value) => value,
        Err(error) => return refused(error),
    };
    let mut builder = ChunkerConfig::builder(algorithm).sizes(min, avg, max);
    if !is_nil(normalization) {
        match decode_u64(algorithm, ConfigOption::Normalization, normalization)?
            .and_then(Normalization::parse)
        {
            Ok(level) => builder = builder.normalization(level),
            Err(error) => return refused(error),
        }
    }
    if !is_nil(seed) {
        match decode_u64(algorithm, ConfigOption::Seed, seed)? {
            Ok(seed) => builder = builder.seed(seed),
            Err(error) => return refused(error),
        }
    }
    Ok(builder.build().map_err(|error| NativeError::from(&error)))
}

/// `validate_config(spec)` -> `{:ok, spec}` with every default filled in (`nil` for the
/// options the algorithm does not have) or `{:error, {:invalid_options, message, %{option:
/// name}}}`: checks a configuration the way the chunking NIFs will, so that option errors
/// surface before any data is touched. Integers of any size are accepted here and reported in
/// the message; anything else is a bad argument (the Elixir side checks types).
#[rustler::nif]
fn validate_config<'a>(env: Env<'a>, spec: Term<'a>) -> NifResult<Term<'a>> {
    Ok(match decode_config(spec)? {
        Ok(config) => (atoms::ok(), config_term(env, &config)).encode(env),
        Err(error) => error.term(env),
    })
}

/// The configuration tuple of `config`, every default filled in.
fn config_term<'a>(env: Env<'a>, config: &ChunkerConfig) -> Term<'a> {
    let algorithm = config.algorithm();
    let nil = atoms::nil().encode(env);
    let normalization = if algorithm.has_normalization() {
        config.normalization().level().encode(env)
    } else {
        nil
    };
    let seed = if algorithm.has_seed() {
        config.seed().encode(env)
    } else {
        nil
    };
    let name = match algorithm {
        Algorithm::V2020 => atoms::v2020(),
        Algorithm::V2016 => atoms::v2016(),
        Algorithm::Ronomon => atoms::ronomon(),
    };
    (
        name,
        normalization,
        seed,
        config.min_size() as u64,
        config.avg_size() as u64,
        config.max_size() as u64,
    )
        .encode(env)
}

/// The algorithm an atom names, or the atom's name if it names none; a bad argument for a
/// non-atom.
fn decode_algorithm(term: Term<'_>) -> NifResult<Result<Algorithm, String>> {
    let atom: Atom = term.decode()?;
    let known = [
        (atoms::v2020(), Algorithm::V2020),
        (atoms::v2016(), Algorithm::V2016),
        (atoms::ronomon(), Algorithm::Ronomon),
    ]
    .into_iter()
    .find_map(|(name, algorithm)| (name == atom).then_some(algorithm));
    match known {
        Some(algorithm) => Ok(Ok(algorithm)),
        None => Ok(Err(term.atom_to_string()?)),
    }
}

/// A `u64`, or the core's out-of-range error for another integer; a bad argument for a
/// non-integer.
fn decode_u64(
    algorithm: Algorithm,
    option: ConfigOption,
    term: Term<'_>,
) -> NifResult<Result<u64, ConfigError>> {
    match term.decode::<u64>() {
        Ok(value) => Ok(Ok(value)),
        Err(_) if term.is_integer() => {
            let got = term
                .decode::<i64>()
                .map(|v| v.to_string())
                .unwrap_or_else(|_| "an integer outside the 64-bit range".to_string());
            Ok(Err(ConfigError::out_of_range(algorithm, option, &got)))
        }
        Err(error) => Err(error),
    }
}

fn is_nil(term: Term<'_>) -> bool {
    term.decode::<Atom>().is_ok_and(|atom| atom == atoms::nil())
}
