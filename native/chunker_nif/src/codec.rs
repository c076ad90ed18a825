//! Streaming compression and decompression as NIF resources, fed slices of binaries.
//!
//! With `collect: true` a resource keeps all its output and hands it over whole at the end
//! (one-shot calls on large inputs, done in bounded slices); otherwise each call returns the
//! output it produced (streams).

use std::sync::Mutex;

use chunker_core::compression::{CompressionError, Decoder, Encoder as Compressor, Sink};
use rustler::{Atom, Binary, Encoder, Env, NifResult, Resource, ResourceArc, Term};

use crate::atoms;
use crate::binary_sink::BinarySink;
use crate::compression::{decode_format, decode_level, error_term};
use crate::exclusive::with_state;
use crate::timeslice;

pub struct EncoderResource {
    state: Mutex<Coding<Compressor>>,
}

pub struct DecoderResource {
    state: Mutex<Coding<Decoder>>,
}

#[rustler::resource_impl]
impl Resource for EncoderResource {}

#[rustler::resource_impl]
impl Resource for DecoderResource {}

struct Coding<C> {
    codec: C,
    sink: BinarySink,
    collect: bool,
}

/// `{:ok, resource}` holding a new codec, or the error that kept it from being made.
fn new_resource<'a, C, R: Resource>(
    env: Env<'a>,
    created: Result<C, CompressionError>,
    collect: bool,
    wrap: impl FnOnce(Mutex<Coding<C>>) -> R,
) -> Term<'a> {
    match created {
        Ok(codec) => {
            let state = Mutex::new(Coding {
                codec,
                sink: BinarySink::new(),
                collect,
            });
            (atoms::ok(), ResourceArc::new(wrap(state))).encode(env)
        }
        Err(error) => error_term(env, &error),
    }
}

impl<C> Coding<C> {
    /// This call's output (nothing while collecting).
    fn output<'a>(&mut self, env: Env<'a>) -> Result<Binary<'a>, CompressionError> {
        if self.collect {
            return BinarySink::new().take(env);
        }
        self.sink.take(env)
    }
}

fn slice_of<'a>(binary: &Binary<'a>, from: usize, len: usize) -> NifResult<&'a [u8]> {
    from.checked_add(len)
        .and_then(|end| binary.as_slice().get(from..end))
        .ok_or(rustler::Error::BadArg)
}

/// `encoder_new(format, level | nil, collect, size | nil)` -> `{:ok, encoder}` or
/// `{:error, ...}`; `size` is the exact input length when known.
#[rustler::nif]
fn encoder_new<'a>(
    env: Env<'a>,
    format: Atom,
    level: Term<'a>,
    collect: bool,
    size: Option<u64>,
) -> NifResult<Term<'a>> {
    let format = decode_format(format)?;
    let created =
        decode_level(format, level)?.and_then(|level| Compressor::with_size(format, level, size));
    Ok(new_resource(env, created, collect, |state| {
        EncoderResource { state }
    }))
}

fn encode<'a>(
    env: Env<'a>,
    resource: &EncoderResource,
    binary: Binary<'a>,
    from: usize,
    len: usize,
) -> NifResult<Term<'a>> {
    let input = slice_of(&binary, from, len)?;
    with_state(env, &resource.state, |coding| {
        let result = coding
            .codec
            .update(input, &mut coding.sink)
            .and_then(|()| coding.output(env));
        Ok(result_term(env, result))
    })
}

fn encode_finish<'a>(env: Env<'a>, resource: &EncoderResource) -> NifResult<Term<'a>> {
    with_state(env, &resource.state, |coding| {
        let result = coding
            .codec
            .finish(&mut coding.sink)
            .and_then(|()| coding.sink.take(env));
        Ok(result_term(env, result))
    })
}

fn result_term<'a>(env: Env<'a>, result: Result<Binary<'a>, CompressionError>) -> Term<'a> {
    match result {
        Ok(binary) => (atoms::ok(), binary).encode(env),
        Err(error) => error_term(env, &error),
    }
}

/// `encoder_update(encoder, binary, from, len)` -> `{:ok, output}`; normal scheduler.
#[rustler::nif]
fn encoder_update<'a>(
    env: Env<'a>,
    resource: ResourceArc<EncoderResource>,
    binary: Binary<'a>,
    from: usize,
    len: usize,
) -> NifResult<Term<'a>> {
    timeslice::charged(env, || encode(env, &resource, binary, from, len))
}

/// `encoder_update/4` on a dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn encoder_update_dirty<'a>(
    env: Env<'a>,
    resource: ResourceArc<EncoderResource>,
    binary: Binary<'a>,
    from: usize,
    len: usize,
) -> NifResult<Term<'a>> {
    encode(env, &resource, binary, from, len)
}

/// `encoder_finish(encoder)` -> `{:ok, output}`: the rest of the frame (all of it when
/// collecting); normal scheduler.
#[rustler::nif]
fn encoder_finish<'a>(env: Env<'a>, resource: ResourceArc<EncoderResource>) -> NifResult<Term<'a>> {
    timeslice::charged(env, || encode_finish(env, &resource))
}

/// `encoder_finish/1` on a dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn encoder_finish_dirty<'a>(
    env: Env<'a>,
    resource: ResourceArc<EncoderResource>,
) -> NifResult<Term<'a>> {
    encode_finish(env, &resource)
}

/// `decoder_new(format, max_size, collect, input_size)` -> `{:ok, decoder}` or
/// `{:error, ...}`. A collecting decoder may reserve output when frames declare their size,
/// capped in proportion to `input_size` (a declared size can be a lie); a streaming one
/// never reserves.
#[rustler::nif]
fn decoder_new<'a>(
    env: Env<'a>,
    format: Atom,
    max_size: u64,
    collect: bool,
    input_size: usize,
) -> NifResult<Term<'a>> {
    let format = decode_format(format)?;
    let created = Decoder::new(format, max_size).map(|mut decoder| {
        if collect {
            decoder.reserve_up_to(Decoder::reservation_for(input_size));
        }
        decoder
    });
    Ok(new_resource(env, created, collect, |state| {
        DecoderResource { state }
    }))
}

fn decode<'a>(
    env: Env<'a>,
    resource: &DecoderResource,
    binary: Binary<'a>,
    from: usize,
    len: usize,
    budget: usize,
) -> NifResult<Term<'a>> {
    let input = slice_of(&binary, from, len)?;
    with_state(env, &resource.state, |coding| {
        let result = coding
            .codec
            .decode(input, &mut coding.sink as &mut dyn Sink, budget)
            .and_then(|step| Ok((coding.output(env)?, step)));
        Ok(match result {
            Ok((output, step)) => (atoms::ok(), output, step.consumed, step.pending).encode(env),
            Err(error) => error_term(env, &error),
        })
    })
}

fn decode_finish<'a>(env: Env<'a>, resource: &DecoderResource) -> NifResult<Term<'a>> {
    with_state(env, &resource.state, |coding| {
        let result = coding
            .codec
            .finish(&mut coding.sink)
            .and_then(|()| coding.sink.take(env));
        Ok(result_term(env, result))
    })
}

/// `decoder_feed(decoder, binary, from, len, budget)` -> `{:ok, output, consumed, pending}`:
/// decodes from `binary[from..from+len]` until about `budget` bytes are produced; normal
/// scheduler.
#[rustler::nif]
fn decoder_feed<'a>(
    env: Env<'a>,
    resource: ResourceArc<DecoderResource>,
    binary: Binary<'a>,
    from: usize,
    len: usize,
    budget: usize,
) -> NifResult<Term<'a>> {
    timeslice::charged(env, || decode(env, &resource, binary, from, len, budget))
}

/// `decoder_feed/5` on a dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn decoder_feed_dirty<'a>(
    env: Env<'a>,
    resource: ResourceArc<DecoderResource>,
    binary: Binary<'a>,
    from: usize,
    len: usize,
    budget: usize,
) -> NifResult<Term<'a>> {
    decode(env, &resource, binary, from, len, budget)
}

/// `decoder_finish(decoder)` -> `{:ok, output}` (all of it when collecting), or
/// `{:error, {:truncated, _}}` if the input ended inside a frame; normal scheduler.
#[rustler::nif]
fn decoder_finish<'a>(env: Env<'a>, resource: ResourceArc<DecoderResource>) -> NifResult<Term<'a>> {
    timeslice::charged(env, || decode_finish(env, &resource))
}

/// `decoder_finish/1` on a dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn decoder_finish_dirty<'a>(
    env: Env<'a>,
    resource: ResourceArc<DecoderResource>,
) -> NifResult<Term<'a>> {
    decode_finish(env, &resource)
}

/// One batch entry's outcome, before it becomes a term.
enum Advanced {
    /// Fed (and, when finished, the output is whole).
    Fed {
        consumed: usize,
        pending: bool,
    },
    Failed(CompressionError),
    Busy,
}

fn lock_and<C, F>(state: &Mutex<Coding<C>>, f: F) -> Advanced
where
    F: FnOnce(&mut C, &mut BinarySink) -> Result<(usize, bool), CompressionError>,
{
    match state.try_lock() {
        Ok(mut guard) => {
            let Coding { codec, sink, .. } = &mut *guard;
            match f(codec, sink) {
                Ok((consumed, pending)) => Advanced::Fed { consumed, pending },
                Err(error) => Advanced::Failed(error),
            }
        }
        Err(_) => Advanced::Busy,
    }
}

/// Takes a finished entry's whole output, or reports progress.
fn entry_term<'a, C>(
    env: Env<'a>,
    state: &Mutex<Coding<C>>,
    advanced: Advanced,
    done: bool,
) -> Term<'a> {
    match advanced {
        Advanced::Fed { consumed, pending } if !done => {
            (atoms::ok(), consumed, pending).encode(env)
        }
        Advanced::Fed { .. } => match state.try_lock() {
            Ok(mut guard) => result_term(env, guard.sink.take(env)),
            Err(_) => (atoms::error(), atoms::stream_busy()).encode(env),
        },
        Advanced::Failed(error) => error_term(env, &error),
        Advanced::Busy => (atoms::error(), atoms::stream_busy()).encode(env),
    }
}

/// `encoders_step([{encoder, binary, from, len, finish}])` -> one result per entry: each
/// encoder is fed `binary[from..from+len]` (and finished when `finish`), all in parallel on
/// rayon's pool. A finished entry gives `{:ok, frame}` (all of it: the encoders collect), any
/// other `{:ok, len, false}`. Dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn encoders_step<'a>(
    env: Env<'a>,
    entries: Vec<(ResourceArc<EncoderResource>, Binary<'a>, usize, usize, bool)>,
) -> NifResult<Term<'a>> {
    let work: Vec<(&EncoderResource, &[u8], bool)> = entries
        .iter()
        .map(|(resource, binary, from, len, finish)| {
            Ok((&**resource, slice_of(binary, *from, *len)?, *finish))
        })
        .collect::<NifResult<_>>()?;
    let advanced: Vec<Advanced> =
        chunker_core::parallel::map(&work, |(resource, input, finish)| {
            lock_and(&resource.state, |codec, sink| {
                codec.update(input, sink)?;
                if *finish {
                    codec.finish(sink)?;
                }
                Ok((input.len(), false))
            })
        });
    Ok(work
        .iter()
        .zip(advanced)
        .map(|((resource, _, finish), advanced)| {
            entry_term(env, &resource.state, advanced, *finish)
        })
        .collect::<Vec<Term<'a>>>()
        .encode(env))
}

/// `decoders_step([{decoder, binary, from, len, budget}])` -> one result per entry: each
/// decoder decodes from `binary[from..from+len]` until about `budget` bytes are out, all in
/// parallel. An entry whose input is used up is finished and gives `{:ok, output}` (all of
/// it: the decoders collect); others give `{:ok, consumed, pending}`. Dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn decoders_step<'a>(
    env: Env<'a>,
    entries: Vec<(
        ResourceArc<DecoderResource>,
        Binary<'a>,
        usize,
        usize,
        usize,
    )>,
) -> NifResult<Term<'a>> {
    let work: Vec<(&DecoderResource, &[u8], usize)> = entries
        .iter()
        .map(|(resource, binary, from, len, budget)| {
            Ok((&**resource, slice_of(binary, *from, *len)?, *budget))
        })
        .collect::<NifResult<_>>()?;
    let advanced: Vec<Advanced> =
        chunker_core::parallel::map(&work, |(resource, input, budget)| {
            lock_and(&resource.state, |codec, sink| {
                let step = codec.decode(input, sink, *budget)?;
                if step.consumed == input.len() && !step.pending {
                    codec.finish(sink)?;
                }
                Ok((step.consumed, step.pending))
            })
        });
    Ok(work
        .iter()
        .zip(advanced)
        .map(|((resource, input, _), advanced)| {
            let done = matches!(advanced, Advanced::Fed { consumed, pending: false } if consumed == input.len());
            entry_term(env, &resource.state, advanced, done)
        })
        .collect::<Vec<Term<'a>>>()
        .encode(env))
}
