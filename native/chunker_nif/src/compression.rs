//! Compression NIFs for whole binaries: compress, decompress and adaptive compression of one
//! binary (continued through the resources of `codec.rs` when one call is not enough), and
//! batches (`lists.rs`).
//!
//! Compressing a binary on a normal scheduler happens only when its cost at its size is known
//! and fits (see `pace.rs`); otherwise the call says so and the dirty twin does it, whole when
//! that fits one call, else through an encoder fed in steps.

use std::sync::Arc;

use chunker_core::compression::adaptive::{AdaptiveOptions, Skip};
use chunker_core::compression::{
    compress_with, detect, CompressionError, Detected, Dictionary, Format, Level, Sink,
    ZstdOptions, DEFAULT_MAX_SIZE,
};
use rustler::{Atom, Binary, Encoder, Env, NifResult, ResourceArc, Term};

use crate::atoms;
use crate::binary_sink::BinarySink;
use crate::codec::{
    decode_steps, encode_steps, finish_decoding, finish_encoder, fits_normal, new_decoder,
    new_encoder, DecoderResource,
};
use crate::dictionary::DictionaryResource;
use crate::error::{compression_option, invalid_option, NativeError};
use crate::lists;
use crate::pace::{twin_nifs, Pace, Work};
use crate::stats::STATS;
use crate::terms::proper_list;

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

/// `nil` -> the core's default limit; `:infinity` -> none; a non-negative integer below 2^64
/// (any other integer is the `invalid_options` error).
pub fn decode_max_size(term: Term<'_>) -> NifResult<Result<u64, NativeError>> {
    match term.decode::<Atom>() {
        Ok(atom) if atom == atoms::nil() => Ok(Ok(DEFAULT_MAX_SIZE)),
        Ok(atom) if atom == atoms::infinity() => Ok(Ok(u64::MAX)),
        _ => match term.decode::<u64>() {
            Ok(size) => Ok(Ok(size)),
            Err(_) if term.is_integer() => Ok(Err(invalid_option(
                "max_size",
                "max_size must be a non-negative integer below 2^64 or :infinity",
            ))),
            Err(error) => Err(error),
        },
    }
}

/// `nil` -> none of zstd's options; `{dictionary | nil, workers, long}` -> those.
pub fn decode_zstd_options(term: Term<'_>) -> NifResult<ZstdOptions> {
    if term.decode::<Atom>().is_ok_and(|atom| atom == atoms::nil()) {
        return Ok(ZstdOptions::default());
    }
    let (dictionary, workers, long): (Option<ResourceArc<DictionaryResource>>, u32, bool) =
        term.decode()?;
    Ok(ZstdOptions {
        dictionary: dictionary.map(|resource| Arc::clone(&resource.dictionary)),
        workers,
        long,
    })
}

/// A list of dictionary resources.
pub fn decode_dictionaries(term: Term<'_>) -> NifResult<Vec<Arc<Dictionary>>> {
    let resources: Vec<ResourceArc<DictionaryResource>> = proper_list(term)?;
    Ok(resources
        .iter()
        .map(|resource| Arc::clone(&resource.dictionary))
        .collect())
}

/// The work compressing with `options` is, for learning its costs.
pub fn compress_work(format: Format, level: Option<Level>, options: &ZstdOptions) -> Work {
    if options.workers > 0 || options.long {
        Work::CompressOwn(level)
    } else if options.dictionary.is_some() {
        Work::CompressDict(level)
    } else {
        Work::Compress(format, level)
    }
}

/// Whether a normal scheduler may take compression with `options` at all: not with worker
/// threads or a long window (a context of their own, tens of megabytes), nor with a
/// dictionary not yet prepared at the level (preparing digests all of it).
fn normal_may(format: Format, level: Option<Level>, options: &ZstdOptions) -> bool {
    if options.workers > 0 || options.long {
        return false;
    }
    options.dictionary.as_ref().is_none_or(|dictionary| {
        let level = level.unwrap_or_else(|| Level::default_for(format));
        dictionary.is_prepared(level.value())
    })
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
) -> NifResult<Result<Option<Level>, NativeError>> {
    if term.decode::<Atom>().is_ok_and(|atom| atom == atoms::nil()) {
        return Ok(Ok(None));
    }
    let level = match term.decode::<i64>() {
        Ok(value) => Level::new(format, value).map(Some),
        Err(_) if term.is_integer() => Err(CompressionError::InvalidOptions(format!(
            "level for {format} must be an integer from the format's range, got one outside \
             the 64-bit range"
        ))),
        Err(error) => return Err(error),
    };
    Ok(level.map_err(|error| compression_option(error, "level")))
}

/// `{:compressed, format, frame}`, or `{:stored, why}` for a verdict to store.
pub fn adaptive_term<'a>(
    env: Env<'a>,
    format: Format,
    frame: Binary<'a>,
    verdict: Option<Skip>,
) -> Term<'a> {
    match verdict {
        None => (atoms::compressed(), format_atom(format), frame).encode(env),
        Some(Skip::AlreadyCompressed(kind)) => {
            (atoms::stored(), (atoms::already_compressed(), kind)).encode(env)
        }
        Some(Skip::HighEntropy(bits)) => {
            (atoms::stored(), (atoms::high_entropy(), bits)).encode(env)
        }
        Some(Skip::NoGain(ratio)) => (atoms::stored(), (atoms::no_gain(), ratio)).encode(env),
    }
}

/// `compression_validate(format | nil, level | nil, max_size | nil)` -> `:ok` or the
/// `invalid_options` error: checks options the way the compression NIFs will, so that
/// streams can refuse them when they are made (a level needs its format).
#[rustler::nif]
fn compression_validate<'a>(
    env: Env<'a>,
    format: Term<'a>,
    level: Term<'a>,
    max_size: Term<'a>,
) -> NifResult<Term<'a>> {
    if let Err(error) = decode_max_size(max_size)? {
        return Ok(error.term(env));
    }
    let level = match decode_optional_format(format)? {
        Some(format) => decode_level(format, level)?,
        None => Ok(None),
    };
    Ok(match level {
        Ok(_) => atoms::ok().encode(env),
        Err(error) => error.term(env),
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

/// Compresses `data` whole when that is expected to fit this call (or, on a dirty scheduler,
/// when its cost is still unknown and it is small); `None` otherwise.
fn compress_whole<'a>(
    env: Env<'a>,
    pace: &Pace,
    data: &[u8],
    format: Format,
    level: Option<Level>,
    options: &ZstdOptions,
) -> Option<Result<Binary<'a>, CompressionError>> {
    let work = compress_work(format, level, options);
    if pace.is_normal() && !normal_may(format, level, options) {
        return None;
    }
    if !pace.fits(work, data.len()) || (!pace.is_normal() && too_large_to_learn(work, data)) {
        return None;
    }
    let mut sink = BinarySink::new();
    let result = pace.measure(work, data.len(), || {
        compress_counted(data, format, level, options, &mut sink)
    });
    Some(result.and_then(|()| sink.take(env)))
}

/// [`compress_with`], counted.
fn compress_counted(
    data: &[u8],
    format: Format,
    level: Option<Level>,
    options: &ZstdOptions,
    sink: &mut BinarySink,
) -> Result<(), CompressionError> {
    compress_with(data, format, level, options, sink)?;
    STATS.compress_in(format, data.len());
    STATS.compress_out(format, sink.written());
    STATS.compressed(format);
    Ok(())
}

/// A dirty call compresses an input of unknown cost whole only up to this size, and learns its
/// cost; a larger one goes through an encoder in steps.
fn too_large_to_learn(work: Work, data: &[u8]) -> bool {
    crate::pace::RATES.estimate(work, data.len()).is_none() && data.len() > 256 * 1024
}

/// Either compresses `data` whole, or (dirty) starts a collecting encoder on it and returns
/// the continuation; a normal call that cannot do it whole returns `{:cont, nil, nil}`.
fn compress_or_continue<'a>(
    env: Env<'a>,
    pace: &Pace,
    data: Binary<'a>,
    format: Format,
    level: Option<Level>,
    options: &ZstdOptions,
    adaptive: Option<AdaptiveOptions>,
) -> Term<'a> {
    let bytes = data.as_slice();
    if let Some(result) = compress_whole(env, pace, bytes, format, level, options) {
        return match (result, adaptive) {
            (Ok(frame), Some(options)) => {
                let verdict = options.judge(bytes.len(), frame.len());
                (atoms::done(), adaptive_term(env, format, frame, verdict)).encode(env)
            }
            (Ok(frame), None) => (atoms::done(), frame).encode(env),
            (Err(error), _) => NativeError::from(&error).term(env),
        };
    }
    if pace.is_normal() {
        return (atoms::cont(), atoms::nil(), atoms::nil()).encode(env);
    }
    let adaptive = adaptive.map(|options| (options, bytes.len()));
    let size = Some(bytes.len() as u64);
    let created = new_encoder(format, level, options, true, size, adaptive);
    let mut encoder = match created {
        Ok(encoder) => encoder,
        Err(error) => return NativeError::from(&error).term(env),
    };
    let stepped = match encoder.state.get_mut() {
        Ok(coding) => encode_steps(pace, encoder.work, coding, bytes, 0),
        Err(_) => return NativeError::finished().term(env),
    };
    match stepped {
        Ok(at) if at == bytes.len() => {
            let finished = match encoder.state.lock() {
                Ok(mut coding) => finish_encoder(env, &encoder, &mut coding),
                Err(_) => Err(NativeError::finished()),
            };
            match finished {
                Ok(result) => (atoms::done(), result).encode(env),
                Err(error) => error.term(env),
            }
        }
        Ok(at) => (atoms::cont(), ResourceArc::new(encoder), at).encode(env),
        Err(error) => NativeError::from(&error).term(env),
    }
}

fn compress_one<'a>(
    env: Env<'a>,
    pace: &Pace,
    data: Binary<'a>,
    format: Atom,
    level: Term<'a>,
    zstd: Term<'a>,
) -> NifResult<Term<'a>> {
    let format = decode_format(format)?;
    let options = decode_zstd_options(zstd)?;
    Ok(match decode_level(format, level)? {
        Ok(level) => compress_or_continue(env, pace, data, format, level, &options, None),
        Err(error) => error.term(env),
    })
}

twin_nifs! {
    /// `compress(binary, format, level | nil, zstd_options | nil)` -> `{:done, frame}`;
    /// `{:cont, encoder, from}` from the dirty twin when the work does not fit one call (feed
    /// `binary[from..]` to the encoder, then finish it); `{:cont, nil, nil}` from the normal
    /// one when it cannot do the work (call the dirty twin); or `{:error, {...}}`.
    /// `zstd_options` is `{dictionary | nil, workers, long}` (`decode_zstd_options`).
    fn compress / compress_dirty(data: Binary<'a>, format: Atom, level: Term<'a>, zstd: Term<'a>)
        = compress_one(data, format, level, zstd);
}

fn adaptive<'a>(
    env: Env<'a>,
    pace: &Pace,
    data: Binary<'a>,
    format: Atom,
    level: Term<'a>,
    max_ratio: Option<f64>,
    max_entropy: Option<f64>,
) -> NifResult<Term<'a>> {
    let format = decode_format(format)?;
    let level = match decode_level(format, level)? {
        Ok(level) => level,
        Err(error) => return Ok(error.term(env)),
    };
    let options = match AdaptiveOptions::new(format, level, max_ratio, max_entropy) {
        Ok(options) => options,
        Err(error) => {
            let option = if error.to_string().starts_with("max_ratio") {
                "max_ratio"
            } else {
                "max_entropy"
            };
            return Ok(compression_option(error, option).term(env));
        }
    };
    // Magic bytes and the entropy of at most 32 KiB of samples: cheap on any scheduler.
    if let Some(skip) = options.precheck(data.as_slice()) {
        return Ok((atoms::done(), adaptive_term(env, format, data, Some(skip))).encode(env));
    }
    Ok(compress_or_continue(
        env,
        pace,
        data,
        format,
        level,
        &ZstdOptions::default(),
        Some(options),
    ))
}

twin_nifs! {
    /// `compress_adaptive(binary, format, level | nil, max_ratio | nil, max_entropy | nil)` ->
    /// `{:done, {:compressed, format, frame}}` or `{:done, {:stored, {why, detail}}}`, or the
    /// continuations of `compress/3` (finishing the encoder gives the verdict).
    fn compress_adaptive / compress_adaptive_dirty(data: Binary<'a>, format: Atom, level: Term<'a>, max_ratio: Option<f64>, max_entropy: Option<f64>)
        = adaptive(data, format, level, max_ratio, max_entropy);
}

fn compress_items<'a>(
    env: Env<'a>,
    pace: &Pace,
    binaries: Term<'a>,
    format: Atom,
    level: Term<'a>,
    zstd: Term<'a>,
) -> NifResult<Term<'a>> {
    let format = decode_format(format)?;
    let options = decode_zstd_options(zstd)?;
    let level = match decode_level(format, level)? {
        Ok(level) => level,
        Err(error) => return Ok(error.term(env)),
    };
    if pace.is_normal() && !normal_may(format, level, &options) {
        return Ok((atoms::cont(), Vec::<Term>::new(), binaries).encode(env));
    }
    lists::run(
        env,
        pace,
        binaries,
        compress_work(format, level, &options),
        |bytes| {
            let mut sink = BinarySink::new();
            compress_counted(bytes, format, level, &options, &mut sink).map(|()| sink)
        },
        |_, compressed| {
            Ok(match compressed.and_then(|mut sink| sink.take(env)) {
                Ok(frame) => (atoms::ok(), frame).encode(env),
                Err(error) => NativeError::from(&error).term(env),
            })
        },
    )
}

twin_nifs! {
    /// `compress_list(binaries, format, level | nil, zstd_options | nil)` -> one
    /// `{:ok, frame}` or `{:error, {...}}` per binary, in the shapes of `lists.rs`; a bad level
    /// is one error for the call. Each binary is compressed whole, with a compression context
    /// kept per thread (and a dictionary prepared once for all).
    fn compress_list / compress_list_dirty(binaries: Term<'a>, format: Atom, level: Term<'a>, zstd: Term<'a>)
        = compress_items(binaries, format, level, zstd);
}

fn decompress_one<'a>(
    env: Env<'a>,
    pace: &Pace,
    data: Binary<'a>,
    format: Term<'a>,
    max_size: Term<'a>,
    dictionaries: Term<'a>,
) -> NifResult<Term<'a>> {
    let dictionaries = decode_dictionaries(dictionaries)?;
    let mut coding = match new_decoder(format, max_size, true, data.len(), dictionaries)? {
        Ok(coding) => coding,
        Err(error) => return Ok(error.term(env)),
    };
    if pace.is_normal() && !fits_normal(pace, &coding.codec, Some(data.as_slice())) {
        return Ok((atoms::cont(), atoms::nil(), atoms::nil()).encode(env));
    }
    let stepped = decode_steps(pace, &mut coding, data.as_slice(), 0, usize::MAX);
    Ok(match stepped {
        Ok((at, false)) if at == data.len() => match finish_decoding(env, &mut coding) {
            Ok(output) => (atoms::done(), output).encode(env),
            Err(error) => NativeError::from(&error).term(env),
        },
        Ok((at, _)) => (
            atoms::cont(),
            ResourceArc::new(DecoderResource::new(coding)),
            at,
        )
            .encode(env),
        Err(error) => NativeError::from(&error).term(env),
    })
}

twin_nifs! {
    /// `decompress(binary, format | nil, max_size | nil | :infinity, dictionaries)` ->
    /// `{:done, output}`; `{:cont, decoder, from}` when the work does not fit one call (feed
    /// `binary[from..]` to the decoder, then finish it); `{:cont, nil, nil}` from the normal
    /// twin when its first step would not fit (call the dirty twin); or `{:error, {...}}`.
    /// `dictionaries` is a list of dictionary resources zstd frames may name.
    fn decompress / decompress_dirty(data: Binary<'a>, format: Term<'a>, max_size: Term<'a>, dictionaries: Term<'a>)
        = decompress_one(data, format, max_size, dictionaries);
}
