//! Compression NIFs for whole binaries: one-shot calls on a normal scheduler for small work,
//! batches and adaptive compression. Large single inputs go through the encoder and decoder
//! resources of `codec.rs` in bounded slices.

use chunker_core::compression::adaptive::{compress_adaptive_to, AdaptiveOptions, Skip};
use chunker_core::compression::{
    compress_many_to, compress_to, detect, CompressionError, Decoder, Detected, Format, Level,
};
use rustler::{Atom, Binary, Encoder, Env, NifResult, Term};

use crate::atoms;
use crate::binary_sink::BinarySink;
use crate::rounds::{self, RoundLimits};
use crate::timeslice;

pub fn decode_format(atom: Atom) -> NifResult<Format> {
    Format::ALL
        .into_iter()
        .find(|format| format_atom(*format) == atom)
        .ok_or(rustler::Error::BadArg)
}

/// `nil` -> `None`; a format atom -> that format.
pub fn decode_optional_format(term: Term<'_>) -> NifResult<Option<Format>> {
    if term.decode::<Atom>().is_ok_and(|atom| atom == atoms::nil()) {
        return Ok(None);
    }
    decode_format(term.decode()?).map(Some)
}

fn format_atom(format: Format) -> Atom {
    match format {
        Format::Zstd => atoms::zstd(),
        Format::Lz4 => atoms::lz4(),
        Format::Xz => atoms::xz(),
        Format::Bzip2 => atoms::bzip2(),
    }
}

/// `nil` -> the format's default; an integer -> a level checked for the format. Integers of
/// any size are reported in the error, not refused as bad arguments.
pub fn decode_level(
    format: Format,
    term: Term<'_>,
) -> NifResult<Result<Option<Level>, CompressionError>> {
    if term.decode::<Atom>().is_ok_and(|atom| atom == atoms::nil()) {
        return Ok(Ok(None));
    }
    match term.decode::<i64>() {
        Ok(value) => Ok(Level::new(format, value).map(Some)),
        Err(_) if term.is_integer() => Ok(Err(CompressionError::InvalidOptions(format!(
            "level for {format} is an integer outside the 64-bit range"
        )))),
        Err(error) => Err(error),
    }
}

/// `{:error, {reason, message}}`
pub fn error_term<'a>(env: Env<'a>, error: &CompressionError) -> Term<'a> {
    let reason = Atom::from_str(env, error.reason()).unwrap_or_else(|_| atoms::error());
    (atoms::error(), (reason, error.to_string())).encode(env)
}

fn ok_binary<'a>(
    env: Env<'a>,
    mut sink: BinarySink,
    result: Result<(), CompressionError>,
) -> Term<'a> {
    match result.and_then(|()| sink.take(env)) {
        Ok(binary) => (atoms::ok(), binary).encode(env),
        Err(error) => error_term(env, &error),
    }
}

/// `:ok` or `{:error, {:invalid_options, message}}` for a format and level (`nil`: default).
#[rustler::nif]
fn compression_validate<'a>(env: Env<'a>, format: Atom, level: Term<'a>) -> NifResult<Term<'a>> {
    let format = decode_format(format)?;
    Ok(match decode_level(format, level)? {
        Ok(_) => atoms::ok().encode(env),
        Err(error) => error_term(env, &error),
    })
}

/// The format of a binary from its magic bytes: `:zstd`, `:lz4`, `:xz`, `:bzip2`, `:gzip`
/// or `:unknown`.
#[rustler::nif]
fn detect_format(data: Binary<'_>) -> Atom {
    match detect(data.as_slice()) {
        Detected::Format(format) => format_atom(format),
        Detected::Gzip => atoms::gzip(),
        Detected::Unknown => atoms::unknown(),
    }
}

/// `compress(binary, format, level | nil)` -> `{:ok, binary}`; normal scheduler.
#[rustler::nif]
fn compress<'a>(
    env: Env<'a>,
    data: Binary<'a>,
    format: Atom,
    level: Term<'a>,
) -> NifResult<Term<'a>> {
    let format = decode_format(format)?;
    let level = match decode_level(format, level)? {
        Ok(level) => level,
        Err(error) => return Ok(error_term(env, &error)),
    };
    let mut sink = BinarySink::new();
    let result = timeslice::charged(env, || {
        compress_to(data.as_slice(), format, level, &mut sink)
    });
    Ok(ok_binary(env, sink, result))
}

/// `compress_round(binaries, format, level | nil, {budget, per_item, max_item})` ->
/// `{:done, results}` or `{:cont, results, rest}`, one `{:ok, binary}` or
/// `{:error, {reason, message}}` per binary: compresses one round of the list's binaries (see
/// `rounds.rs`) in parallel on rayon's pool; dirty CPU scheduler. A bad level is one
/// `{:error, _}` for the call.
#[rustler::nif(schedule = "DirtyCpu")]
fn compress_round<'a>(
    env: Env<'a>,
    binaries: Term<'a>,
    format: Atom,
    level: Term<'a>,
    limits: (u64, u64, u64),
) -> NifResult<Term<'a>> {
    let format = decode_format(format)?;
    let level = match decode_level(format, level)? {
        Ok(level) => level,
        Err(error) => return Ok(error_term(env, &error)),
    };
    let (round, rest) = rounds::take(binaries, RoundLimits::from(limits))?;
    let items: Vec<&[u8]> = round.iter().map(|binary| binary.as_slice()).collect();
    let mut sinks: Vec<BinarySink> = items.iter().map(|_| BinarySink::new()).collect();
    let results = compress_many_to(&items, &mut sinks, format, level);
    let terms = sinks
        .into_iter()
        .zip(results)
        .map(|(sink, result)| ok_binary(env, sink, result))
        .collect();
    Ok(rounds::reply(env, terms, rest))
}

/// The most output one indivisible decoding step may produce on a normal scheduler: a zstd
/// block (128 KiB, about 100 us to decode).
const LARGEST_NORMAL_STEP: usize = 128 * 1024;

/// `decompress(binary, format | nil, max_size, budget)` on a normal scheduler: `{:ok, binary}`
/// when the whole output fits `budget` bytes, `:budget` when it does not (the caller goes on
/// with a decoder resource), or `{:error, {reason, message}}`.
#[rustler::nif]
fn decompress<'a>(
    env: Env<'a>,
    data: Binary<'a>,
    format: Term<'a>,
    max_size: u64,
    budget: usize,
) -> NifResult<Term<'a>> {
    let format = decode_optional_format(format)?;
    let format = match chunker_core::compression::resolve_format(data.as_slice(), format) {
        Ok(format) => format,
        Err(error) => return Ok(error_term(env, &error)),
    };
    // A step that can produce more than this (a 4 MiB LZ4 block, a bzip2 block) could take
    // longer than a normal-scheduler call may: decode those on a dirty scheduler.
    if Decoder::largest_step(format, data.as_slice()) > budget.max(LARGEST_NORMAL_STEP) {
        return Ok(atoms::budget().encode(env));
    }
    let mut sink = BinarySink::new();
    let outcome = timeslice::charged(env, || -> Result<bool, CompressionError> {
        let mut decoder = Decoder::new(format, max_size)?;
        decoder.reserve_up_to(Decoder::reservation_for(data.len()));
        let step = decoder.decode(data.as_slice(), &mut sink, budget)?;
        if step.pending || step.consumed < data.len() {
            return Ok(false);
        }
        decoder.finish(&mut sink)?;
        Ok(true)
    });
    Ok(match outcome {
        Ok(true) => ok_binary(env, sink, Ok(())),
        Ok(false) => atoms::budget().encode(env),
        Err(error) => error_term(env, &error),
    })
}

fn adaptive<'a>(
    env: Env<'a>,
    data: Binary<'a>,
    format: Atom,
    level: Term<'a>,
    max_ratio: f64,
    max_entropy: f64,
) -> NifResult<Term<'a>> {
    let format = decode_format(format)?;
    let level = match decode_level(format, level)? {
        Ok(level) => level,
        Err(error) => return Ok(error_term(env, &error)),
    };
    let options = AdaptiveOptions {
        format,
        level,
        max_ratio,
        max_entropy,
    };
    let mut sink = BinarySink::new();
    let decision = match compress_adaptive_to(data.as_slice(), &options, &mut sink) {
        Ok(decision) => decision,
        Err(error) => return Ok(error_term(env, &error)),
    };
    let result = match decision {
        None => match sink.take(env) {
            Ok(binary) => (atoms::compressed(), format_atom(format), binary).encode(env),
            Err(error) => return Ok(error_term(env, &error)),
        },
        Some(Skip::AlreadyCompressed(kind)) => {
            (atoms::stored(), (atoms::already_compressed(), kind)).encode(env)
        }
        Some(Skip::HighEntropy(bits)) => {
            (atoms::stored(), (atoms::high_entropy(), bits)).encode(env)
        }
        Some(Skip::NoGain(ratio)) => (atoms::stored(), (atoms::no_gain(), ratio)).encode(env),
    };
    Ok((atoms::ok(), result).encode(env))
}

/// `compress_adaptive(binary, format, level | nil, max_ratio, max_entropy)` ->
/// `{:ok, {:compressed, format, binary}}` or `{:ok, {:stored, {why, detail}}}`; normal
/// scheduler.
#[rustler::nif]
fn compress_adaptive<'a>(
    env: Env<'a>,
    data: Binary<'a>,
    format: Atom,
    level: Term<'a>,
    max_ratio: f64,
    max_entropy: f64,
) -> NifResult<Term<'a>> {
    timeslice::charged(env, || {
        adaptive(env, data, format, level, max_ratio, max_entropy)
    })
}

/// `compress_adaptive/5` on a dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn compress_adaptive_dirty<'a>(
    env: Env<'a>,
    data: Binary<'a>,
    format: Atom,
    level: Term<'a>,
    max_ratio: f64,
    max_entropy: f64,
) -> NifResult<Term<'a>> {
    adaptive(env, data, format, level, max_ratio, max_entropy)
}
