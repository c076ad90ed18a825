//! Streaming compression and decompression as NIF resources, fed binaries in steps against
//! the call's deadline (see `pace.rs`).
//!
//! With `collect` a resource keeps all its output and hands it over whole at the end
//! (one-shot calls on large inputs, and batch items); otherwise each call returns the output
//! it produced (streams). Encoders work in bursts (a bzip2 block sort, a zstd block), which
//! cannot be split, so every encoder call runs on a dirty scheduler; so does creating one
//! (an xz encoder at level 9 sets up tens of megabytes of tables).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chunker_core::compression::adaptive::AdaptiveOptions;
use chunker_core::compression::{
    CompressionError, Decoder, Dictionary, Encoder as Compressor, Format, Level, Sink, ZstdOptions,
};
use rustler::{Binary, Encoder, Env, NifResult, Resource, ResourceArc, Term};

use crate::atoms;
use crate::binary_sink::BinarySink;
use crate::compression::{
    adaptive_term, compress_work, decode_dictionaries, decode_level, decode_max_size,
    decode_optional_format, decode_zstd_options,
};
use crate::error::NativeError;
use crate::exclusive::with_state;
use crate::pace::{twin_nifs, Pace, Steps, Work};
use crate::stats::{CallTimer, Live, ResourceKind, Scheduler, STATS};
use crate::terms::proper_list;

/// Smallest step of a codec.
const STEP_FLOOR: usize = 16 * 1024;
/// The most output one decoder call hands back, whatever the time: a small piece of a
/// decompression bomb can decode to gigabytes, which must never be held at once.
const OUTPUT_PER_CALL: usize = 2 << 20;

pub struct EncoderResource {
    pub(crate) state: Mutex<Coding<Compressor>>,
    pub(crate) work: Work,
    /// For `compress_adaptive/2`: the options, and the input's size, to judge the result by.
    adaptive: Option<(AdaptiveOptions, usize)>,
    _live: Live,
}

pub struct DecoderResource {
    state: Mutex<Coding<Decoder>>,
    _live: Live,
}

#[rustler::resource_impl]
impl Resource for EncoderResource {}

#[rustler::resource_impl]
impl Resource for DecoderResource {}

pub struct Coding<C> {
    pub(crate) codec: C,
    pub(crate) sink: BinarySink,
    collect: bool,
}

impl<C> Coding<C> {
    pub fn new(codec: C, sink: BinarySink, collect: bool) -> Self {
        Self {
            codec,
            sink,
            collect,
        }
    }

    /// This call's output (nothing while collecting).
    fn output<'a>(&mut self, env: Env<'a>) -> Result<Binary<'a>, CompressionError> {
        if self.collect {
            return BinarySink::new().take(env);
        }
        self.sink.take(env)
    }
}

impl EncoderResource {
    pub fn new(
        coding: Coding<Compressor>,
        work: Work,
        adaptive: Option<(AdaptiveOptions, usize)>,
    ) -> Self {
        Self {
            state: Mutex::new(coding),
            work,
            adaptive,
            _live: Live::new(ResourceKind::Encoder),
        }
    }
}

impl DecoderResource {
    pub fn new(coding: Coding<Decoder>) -> Self {
        Self {
            state: Mutex::new(coding),
            _live: Live::new(ResourceKind::Decoder),
        }
    }
}

/// Feeds `input[from..]` to `encoder` in steps until it is used up or the deadline passes;
/// returns the index reached.
pub fn encode_steps(
    pace: &Pace,
    work: Work,
    coding: &mut Coding<Compressor>,
    input: &[u8],
    from: usize,
) -> Result<usize, CompressionError> {
    // Steps of at least a block: an encoder gathers that much and then works on it in one
    // burst, so smaller steps would be cheap, bursty and mismeasured.
    let block = coding.codec.block_size();
    let mut steps = Steps::new(pace, work, block.max(STEP_FLOOR));
    if block > 0 {
        // One block per step: a cheap step that only gathered input says nothing of the
        // next, which compresses.
        steps = steps.at_most(block);
    }
    let Coding { codec, sink, .. } = coding;
    let format = codec.format();
    steps.over(from, input.len(), 0, |at, end| {
        codec.update(input.get(at..end).unwrap_or_default(), sink)?;
        STATS.compress_in(format, end - at);
        Ok(0)
    })
}

/// This call's output of an encoder (nothing while collecting), counted.
fn encoder_output<'a>(
    env: Env<'a>,
    coding: &mut Coding<Compressor>,
) -> Result<Binary<'a>, CompressionError> {
    let output = coding.output(env)?;
    STATS.compress_out(coding.codec.format(), output.len());
    Ok(output)
}

/// Decodes from `input[from..]` in steps of output until the input is used up and nothing is
/// pending, the deadline passes, or `cap` bytes were produced. Returns the index reached and
/// whether output is pending.
pub fn decode_steps(
    pace: &Pace,
    coding: &mut Coding<Decoder>,
    input: &[u8],
    from: usize,
    cap: usize,
) -> Result<(usize, bool), CompressionError> {
    let Coding { codec, sink, .. } = coding;
    let start = sink.written();
    let (mut at, mut pending) = (from, false);
    // Decoding's speed is known only with the format, which the first step may find.
    let mut steps: Option<Steps<'_>> = None;
    loop {
        let produced = sink.written() - start;
        if (at >= input.len() && !pending) || produced >= cap {
            return Ok((at, pending));
        }
        if steps.is_none() {
            steps = codec
                .format()
                .map(|format| Steps::new(pace, Work::Decompress(format), STEP_FLOOR));
        }
        let budget = match &steps {
            Some(steps) => match steps.next(0, usize::MAX) {
                Some(budget) => budget,
                None => return Ok((at, pending)),
            },
            None => STEP_FLOOR,
        };
        let rest = input.get(at..).unwrap_or_default();
        let (before, clock) = (sink.written(), Instant::now());
        let step = codec.decode(rest, sink, budget.min(cap - produced))?;
        if let Some(steps) = steps.as_mut() {
            steps.record(sink.written() - before, clock.elapsed());
        }
        if let Some(format) = codec.format() {
            STATS.decoded(format, step.consumed, sink.written() - before);
        }
        at += step.consumed;
        pending = step.pending;
        if step.consumed == 0 && !step.pending {
            // Nothing more to do with this input (a decoder always takes what it can).
            return Ok((at, false));
        }
    }
}

fn result_term<'a>(env: Env<'a>, result: Result<Binary<'a>, CompressionError>) -> Term<'a> {
    match result {
        Ok(binary) => (atoms::ok(), binary).encode(env),
        Err(error) => NativeError::from(&error).term(env),
    }
}

/// `encoder_new(format, level | nil, zstd_options | nil, collect, size | nil)` ->
/// `{:ok, encoder}` or `{:error, {...}}`; `size` is the exact input length when known.
/// Dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn encoder_new<'a>(
    env: Env<'a>,
    format: rustler::Atom,
    level: Term<'a>,
    zstd: Term<'a>,
    collect: bool,
    size: Option<u64>,
) -> NifResult<Term<'a>> {
    let _timer = CallTimer::start(Scheduler::DirtyCpu);
    let format = crate::compression::decode_format(format)?;
    let options = decode_zstd_options(zstd)?;
    let level = match decode_level(format, level)? {
        Ok(level) => level,
        Err(error) => return Ok(error.term(env)),
    };
    Ok(
        match new_encoder(format, level, &options, collect, size, None) {
            Ok(encoder) => (atoms::ok(), ResourceArc::new(encoder)).encode(env),
            Err(error) => NativeError::from(&error).term(env),
        },
    )
}

/// An encoder resource for `format` at `level`.
pub fn new_encoder(
    format: Format,
    level: Option<Level>,
    options: &ZstdOptions,
    collect: bool,
    size: Option<u64>,
    adaptive: Option<(AdaptiveOptions, usize)>,
) -> Result<EncoderResource, CompressionError> {
    let codec = Compressor::with_options(format, level, size, options)?;
    let coding = Coding::new(codec, BinarySink::new(), collect);
    Ok(EncoderResource::new(
        coding,
        compress_work(format, level, options),
        adaptive,
    ))
}

/// `encoder_update(encoder, binary, from)` -> `{:done, output}` once `binary[from..]` is
/// compressed, or `{:cont, output, next_from}` when the deadline came first (`output` is
/// empty while collecting). Dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn encoder_update<'a>(
    env: Env<'a>,
    resource: ResourceArc<EncoderResource>,
    binary: Binary<'a>,
    from: usize,
) -> NifResult<Term<'a>> {
    if from > binary.len() {
        return Err(rustler::Error::BadArg);
    }
    let pace = Pace::dirty();
    with_state(env, &resource.state, |coding| {
        let stepped = encode_steps(&pace, resource.work, coding, binary.as_slice(), from)
            .and_then(|at| Ok((encoder_output(env, coding)?, at)));
        Ok(match stepped {
            Ok((output, at)) if at == binary.len() => (atoms::done(), output).encode(env),
            Ok((output, at)) => (atoms::cont(), output, at).encode(env),
            Err(error) => NativeError::from(&error).term(env),
        })
    })
}

/// Ends an encoder's frame: the rest of its output (all of it when collecting).
fn finish_frame<'a>(
    env: Env<'a>,
    coding: &mut Coding<Compressor>,
) -> Result<Binary<'a>, CompressionError> {
    coding.codec.finish(&mut coding.sink)?;
    let frame = coding.sink.take(env)?;
    let format = coding.codec.format();
    STATS.compress_out(format, frame.len());
    STATS.compressed(format);
    Ok(frame)
}

/// Ends a decoder's input: the rest of its output (all of it when collecting), or
/// `truncated` if the input ended inside a frame.
pub fn finish_decoding<'a>(
    env: Env<'a>,
    coding: &mut Coding<Decoder>,
) -> Result<Binary<'a>, CompressionError> {
    let before = coding.sink.written();
    coding.codec.finish(&mut coding.sink)?;
    if let Some(format) = coding.codec.format() {
        STATS.decoded(format, 0, coding.sink.written() - before);
        STATS.decompressed_input(format);
    }
    coding.sink.take(env)
}

/// What a finished encoder gives: its output, or for an adaptive one the verdict,
/// `{:compressed, format, frame}` or `{:stored, {:no_gain, ratio}}`.
pub fn finish_encoder<'a>(
    env: Env<'a>,
    resource: &EncoderResource,
    coding: &mut Coding<Compressor>,
) -> Result<Term<'a>, NativeError> {
    let frame = finish_frame(env, coding).map_err(|error| NativeError::from(&error))?;
    Ok(match &resource.adaptive {
        Some((options, original)) => {
            let verdict = options.judge(*original, frame.len());
            adaptive_term(env, options.format, frame, verdict)
        }
        None => frame.to_term(env),
    })
}

/// `encoder_finish(encoder)` -> `{:ok, output}`: the rest of the frame (all of it when
/// collecting; the verdict for an adaptive encoder). Dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn encoder_finish<'a>(env: Env<'a>, resource: ResourceArc<EncoderResource>) -> NifResult<Term<'a>> {
    let _timer = CallTimer::start(Scheduler::DirtyCpu);
    with_state(env, &resource.state, |coding| {
        Ok(match finish_encoder(env, &resource, coding) {
            Ok(result) => (atoms::ok(), result).encode(env),
            Err(error) => error.term(env),
        })
    })
}

/// `decoder_new(format | nil, max_size | nil, collect, input_size, dictionaries)` ->
/// `{:ok, decoder}`: a decoder for `format`, or for whichever format the input turns out to
/// be in (`nil`), that refuses output past `max_size` (`nil`: the core's default, 1 GiB;
/// `:infinity`: none). A collecting decoder may reserve output when frames declare their
/// size, capped in proportion to `input_size` (a declared size can be a lie); a streaming one
/// never reserves. zstd frames that name a dictionary are decoded with the one of
/// `dictionaries` (resources) that has its id.
#[rustler::nif]
fn decoder_new<'a>(
    env: Env<'a>,
    format: Term<'a>,
    max_size: Term<'a>,
    collect: bool,
    input_size: usize,
    dictionaries: Term<'a>,
) -> NifResult<Term<'a>> {
    let dictionaries = decode_dictionaries(dictionaries)?;
    Ok(
        match new_decoder(format, max_size, collect, input_size, dictionaries)? {
            Ok(decoder) => {
                (atoms::ok(), ResourceArc::new(DecoderResource::new(decoder))).encode(env)
            }
            Err(error) => error.term(env),
        },
    )
}

/// A decoder's state, as `decoder_new/4` makes it.
pub fn new_decoder(
    format: Term<'_>,
    max_size: Term<'_>,
    collect: bool,
    input_size: usize,
    dictionaries: Vec<Arc<Dictionary>>,
) -> NifResult<Result<Coding<Decoder>, NativeError>> {
    let limit = match decode_max_size(max_size)? {
        Ok(limit) => limit,
        Err(error) => return Ok(Err(error)),
    };
    let decoder = match decode_optional_format(format)? {
        Some(format) => Decoder::new(format, limit),
        None => Decoder::detecting(limit),
    };
    let mut decoder = decoder.with_dictionaries(dictionaries);
    if collect {
        decoder.reserve_up_to(Decoder::reservation_for(input_size));
    }
    Ok(Ok(Coding::new(decoder, BinarySink::new(), collect)))
}

fn feed<'a>(
    env: Env<'a>,
    pace: &Pace,
    resource: ResourceArc<DecoderResource>,
    binary: Binary<'a>,
    from: usize,
) -> NifResult<Term<'a>> {
    if from > binary.len() {
        return Err(rustler::Error::BadArg);
    }
    with_state(env, &resource.state, |coding| {
        if pace.is_normal() && !fits_normal(pace, &coding.codec, binary.get(from..)) {
            return Ok(match coding.output(env) {
                Ok(nothing) => (atoms::cont(), nothing, from).encode(env),
                Err(error) => NativeError::from(&error).term(env),
            });
        }
        let stepped = decode_steps(pace, coding, binary.as_slice(), from, OUTPUT_PER_CALL)
            .and_then(|(at, pending)| Ok((coding.output(env)?, at, pending)));
        Ok(match stepped {
            Ok((output, at, false)) if at == binary.len() => (atoms::done(), output).encode(env),
            Ok((output, at, _)) => (atoms::cont(), output, at).encode(env),
            Err(error) => NativeError::from(&error).term(env),
        })
    })
}

/// Whether a normal-scheduler call may start decoding `next`: its largest indivisible step is
/// expected to fit.
pub fn fits_normal(pace: &Pace, decoder: &Decoder, next: Option<&[u8]>) -> bool {
    let next = next.unwrap_or_default();
    match decoder.format_for(next) {
        Some(format) => pace.fits(
            Work::Decompress(format),
            decoder.largest_step(next).max(STEP_FLOOR),
        ),
        // Not a known format: the first step fails at once.
        None => true,
    }
}

twin_nifs! {
    /// `decoder_feed(decoder, binary, from)` -> `{:done, output}` once `binary[from..]` is
    /// decoded and nothing is pending, or `{:cont, output, next_from}` when the deadline came
    /// first (call again, even with `next_from == byte_size(binary)`: output is pending).
    /// `output` is empty while collecting.
    fn decoder_feed / decoder_feed_dirty(resource: ResourceArc<DecoderResource>, binary: Binary<'a>, from: usize)
        = feed(resource, binary, from);
}

/// `decoder_finish(decoder)` -> `{:ok, output}` (all of it when collecting), or
/// `{:error, {:truncated, ...}}` if the input ended inside a frame. Dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn decoder_finish<'a>(env: Env<'a>, resource: ResourceArc<DecoderResource>) -> NifResult<Term<'a>> {
    let _timer = CallTimer::start(Scheduler::DirtyCpu);
    with_state(env, &resource.state, |coding| {
        Ok(result_term(env, finish_decoding(env, coding)))
    })
}

/// One batch entry's outcome, before it becomes a term.
enum Advanced {
    /// Stopped at this input index; the entry goes on in a later call.
    At(usize),
    /// Used up and finished.
    Done,
    Failed(NativeError),
}

fn lock_and<C>(
    state: &Mutex<Coding<C>>,
    f: impl FnOnce(&mut Coding<C>) -> Result<Option<usize>, CompressionError>,
) -> Advanced {
    match state.try_lock() {
        Ok(mut guard) => match f(&mut guard) {
            Ok(Some(at)) => Advanced::At(at),
            Ok(None) => Advanced::Done,
            Err(error) => Advanced::Failed(NativeError::from(&error)),
        },
        Err(_) => Advanced::Failed(NativeError::busy()),
    }
}

/// The term of a batch entry: `{:done, output}` (finished by `finish`), `{:cont, next_from}`
/// or the error.
fn entry_term<'a, C>(
    env: Env<'a>,
    state: &Mutex<Coding<C>>,
    advanced: Advanced,
    finish: impl FnOnce(&mut Coding<C>) -> Result<Binary<'a>, CompressionError>,
) -> Term<'a> {
    match advanced {
        Advanced::At(at) => (atoms::cont(), at).encode(env),
        Advanced::Done => match state.try_lock() {
            Ok(mut guard) => match finish(&mut guard) {
                Ok(output) => (atoms::done(), output).encode(env),
                Err(error) => NativeError::from(&error).term(env),
            },
            Err(_) => NativeError::busy().term(env),
        },
        Advanced::Failed(error) => error.term(env),
    }
}

/// Each entry's resource and input, checked.
fn slices<'e, R>(
    entries: &'e [(R, Binary<'_>, usize)],
) -> NifResult<Vec<(&'e R, &'e [u8], usize)>> {
    entries
        .iter()
        .map(|(resource, binary, from)| {
            if *from > binary.len() {
                return Err(rustler::Error::BadArg);
            }
            Ok((resource, binary.as_slice(), *from))
        })
        .collect()
}

/// `encoders_step([{encoder, binary, from}])` -> one result per entry: each (collecting)
/// encoder is fed `binary[from..]` until it is used up (`{:done, frame}`: finished, the whole
/// frame) or the deadline passes (`{:cont, next_from}`), all in parallel on rayon's pool, or
/// `{:error, {...}}`. Dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn encoders_step<'a>(env: Env<'a>, entries: Term<'a>) -> NifResult<Term<'a>> {
    let entries: Vec<(ResourceArc<EncoderResource>, Binary<'a>, usize)> = proper_list(entries)?;
    let pace = Pace::dirty();
    let work = slices(&entries)?;
    let advanced: Vec<Advanced> = chunker_core::parallel::map(&work, |(resource, input, from)| {
        lock_and(&resource.state, |coding| {
            let at = encode_steps(&pace, resource.work, coding, input, *from)?;
            Ok((at < input.len()).then_some(at))
        })
    });
    Ok(work
        .iter()
        .zip(advanced)
        .map(|((resource, _, _), advanced)| {
            entry_term(env, &resource.state, advanced, |coding| {
                finish_frame(env, coding)
            })
        })
        .collect::<Vec<Term<'a>>>()
        .encode(env))
}

/// `decoders_step([{decoder, binary, from}])` -> one result per entry: each (collecting)
/// decoder decodes `binary[from..]` until it is used up (`{:done, output}`: finished, all of
/// it) or the deadline passes (`{:cont, next_from}`), all in parallel, or `{:error, {...}}`.
/// Dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn decoders_step<'a>(env: Env<'a>, entries: Term<'a>) -> NifResult<Term<'a>> {
    let entries: Vec<(ResourceArc<DecoderResource>, Binary<'a>, usize)> = proper_list(entries)?;
    let pace = Pace::dirty();
    let work = slices(&entries)?;
    let advanced: Vec<Advanced> = chunker_core::parallel::map(&work, |(resource, input, from)| {
        lock_and(&resource.state, |coding| {
            let (at, pending) = decode_steps(&pace, coding, input, *from, usize::MAX)?;
            if at < input.len() || pending {
                return Ok(Some(at));
            }
            Ok(None)
        })
    });
    Ok(work
        .iter()
        .zip(advanced)
        .map(|((resource, _, _), advanced)| {
            entry_term(env, &resource.state, advanced, |coding| {
                finish_decoding(env, coding)
            })
        })
        .collect::<Vec<Term<'a>>>()
        .encode(env))
}
