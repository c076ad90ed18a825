//! The incremental chunker as a NIF resource: open, feed slices of binaries, finish.
//!
//! A caller feeds `binary[from..from + len]`; a large binary is fed as consecutive slices so
//! that no call runs long (see `Chunker.Schedule`). Every chunk that lies inside the binary of
//! the current call is returned as a sub-binary of it, even when it spans the slices of that
//! binary; only chunks that began in an earlier binary are copied (all of a call's copies
//! into one new binary). In NAR-aware mode the input is parsed as a NAR as well, and the
//! chunker cuts at the edges of large files' contents (`chunker_core::NarAwareChunker`). The
//! resource is freed by the garbage collector when no process
//! references it any more (e.g. its owner died); `stream_close/1` frees the buffers at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use chunker_core::{Batch, Chunk, IncrementalChunker, NarAwareChunker, NarChunkError, Source};
use rustler::{Atom, Binary, Encoder, Env, NewBinary, NifResult, Resource, ResourceArc, Term};

use crate::atoms;
use crate::exclusive::with_state;
use crate::options::decode_chunking;
use crate::terms::chunk_struct;
use crate::timeslice;

/// Streams currently alive (created and not yet dropped), for leak tests.
static LIVE: AtomicUsize = AtomicUsize::new(0);

pub struct ChunkStream {
    state: Mutex<StreamState>,
    with_data: bool,
}

struct StreamState {
    chunker: Chunking,
    /// The binary the last call fed from, so that a later slice of the same binary can map
    /// chunks back onto it.
    parent: Option<Parent>,
}

enum Chunking {
    Plain(IncrementalChunker),
    /// Cutting around the contents of NAR files of at least the minimum chunk size.
    Nar(Box<NarAwareChunker>),
}

impl Chunking {
    fn position(&self) -> u64 {
        match self {
            Chunking::Plain(chunker) => chunker.position(),
            Chunking::Nar(chunker) => chunker.position(),
        }
    }

    fn buffered(&self) -> usize {
        match self {
            Chunking::Plain(chunker) => chunker.buffered(),
            Chunking::Nar(chunker) => chunker.buffered(),
        }
    }

    fn use_pool(&mut self, allowed: bool) {
        match self {
            Chunking::Plain(chunker) => chunker.use_pool(allowed),
            Chunking::Nar(chunker) => chunker.use_pool(allowed),
        }
    }

    fn release(&mut self) {
        match self {
            Chunking::Plain(chunker) => chunker.release(),
            Chunking::Nar(chunker) => chunker.release(),
        }
    }
}

/// The error term for a failed feed or finish.
fn chunking_error<'a>(env: Env<'a>, error: NarChunkError) -> Term<'a> {
    match error {
        NarChunkError::Nar(error) => (
            atoms::error(),
            (atoms::invalid_nar(), error.offset, error.to_string()),
        )
            .encode(env),
        NarChunkError::Finished => (atoms::error(), atoms::stream_finished()).encode(env),
    }
}

/// A binary being fed slice by slice: identified by its data pointer and length (the caller
/// keeps it alive between the calls), with the first of its bytes that was fed: its index in
/// the binary and its input offset. Chunks starting at or after that offset lie in it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Parent {
    address: usize,
    len: usize,
    first_index: usize,
    first_offset: u64,
}

impl Parent {
    /// The index in the binary of the byte at input `offset`, if the binary holds it.
    fn index_of(&self, offset: u64) -> Option<usize> {
        let delta = usize::try_from(offset.checked_sub(self.first_offset)?).ok()?;
        self.first_index.checked_add(delta)
    }
}

#[rustler::resource_impl]
impl Resource for ChunkStream {}

impl Drop for ChunkStream {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `{:ok, stream}` or `{:error, {:invalid_options, option, message}}`. With `nar_aware`, the
/// input must be a NAR, and the contents of its files of at least `min` bytes start and end
/// chunks.
#[rustler::nif]
fn stream_new<'a>(
    env: Env<'a>,
    min: u64,
    avg: u64,
    max: u64,
    hash: Atom,
    with_data: bool,
    nar_aware: bool,
) -> NifResult<Term<'a>> {
    let (config, algo) = match decode_chunking(env, (min, avg, max), hash)? {
        Ok(decoded) => decoded,
        Err(error) => return Ok(error),
    };
    let chunker = if nar_aware {
        Chunking::Nar(Box::new(NarAwareChunker::new(config, algo, min)))
    } else {
        Chunking::Plain(IncrementalChunker::new(config, algo))
    };
    LIVE.fetch_add(1, Ordering::Relaxed);
    let stream = ResourceArc::new(ChunkStream {
        state: Mutex::new(StreamState {
            chunker,
            parent: None,
        }),
        with_data,
    });
    Ok((atoms::ok(), stream).encode(env))
}

/// `pool`: whether the call may use rayon's pool (dirty calls), or must do all its work on
/// its own thread (normal-scheduler calls, which must never wait on the pool).
fn feed<'a>(
    env: Env<'a>,
    stream: &ChunkStream,
    (binary, from, len): (Binary<'a>, usize, usize),
    pool: bool,
) -> NifResult<Term<'a>> {
    let slice = from
        .checked_add(len)
        .and_then(|end| binary.as_slice().get(from..end))
        .ok_or(rustler::Error::BadArg)?;
    let with_data = stream.with_data;
    with_state(env, &stream.state, |state| {
        let position = state.chunker.position();
        let identity = (binary.as_slice().as_ptr() as usize, binary.len());
        // A slice continues the previous binary only if it is that binary and starts where
        // the last slice of it ended; anything else starts afresh.
        let parent = match state.parent {
            Some(p) if (p.address, p.len) == identity && p.index_of(position) == Some(from) => p,
            _ => Parent {
                address: identity.0,
                len: identity.1,
                first_index: from,
                first_offset: position,
            },
        };
        state.parent = Some(parent);
        state.chunker.use_pool(pool);
        let chunks = match &mut state.chunker {
            Chunking::Plain(chunker) => match chunker.feed(slice) {
                Ok(batch) => encode_batch(env, &batch, Some((binary, from, parent)), with_data)?,
                Err(_) => return Ok((atoms::error(), atoms::stream_finished()).encode(env)),
            },
            Chunking::Nar(chunker) => {
                let mut terms = Vec::new();
                let mut encoded = Ok(());
                let fed = chunker.feed(slice, |batch, at| {
                    if encoded.is_ok() {
                        let slice_start = Some((binary, from + at, parent));
                        encoded = encode_batch(env, &batch, slice_start, with_data)
                            .map(|chunks| terms.extend(chunks));
                    }
                });
                if let Err(error) = fed {
                    return Ok(chunking_error(env, error));
                }
                encoded?;
                terms
            }
        };
        let buffered = state.chunker.buffered();
        Ok((atoms::ok(), chunks, buffered).encode(env))
    })
}

/// `last` is the binary of the last feed, if the caller still has it: chunks that lie in it
/// are returned as sub-binaries of it instead of copies.
fn finish<'a>(
    env: Env<'a>,
    stream: &ChunkStream,
    last: Term<'a>,
    pool: bool,
) -> NifResult<Term<'a>> {
    let with_data = stream.with_data;
    let last = match last.decode::<Binary<'a>>() {
        Ok(binary) => Some(binary),
        Err(_) if last.is_atom() => None,
        Err(error) => return Err(error),
    };
    with_state(env, &stream.state, |state| {
        let fed = match (last, state.parent) {
            (Some(binary), Some(parent))
                if (parent.address, parent.len)
                    == (binary.as_slice().as_ptr() as usize, binary.len()) =>
            {
                Some((binary, 0, parent))
            }
            _ => None,
        };
        state.chunker.use_pool(pool);
        let chunks = match &mut state.chunker {
            Chunking::Plain(chunker) => match chunker.finish() {
                Ok(batch) => encode_batch(env, &batch, fed, with_data)?,
                Err(_) => return Ok((atoms::error(), atoms::stream_finished()).encode(env)),
            },
            Chunking::Nar(chunker) => {
                let mut terms = Vec::new();
                let mut encoded = Ok(());
                let finished = chunker.finish(|batch, _| {
                    if encoded.is_ok() {
                        encoded = encode_batch(env, &batch, fed, with_data)
                            .map(|chunks| terms.extend(chunks));
                    }
                });
                if let Err(error) = finished {
                    return Ok(chunking_error(env, error));
                }
                encoded?;
                terms
            }
        };
        state.chunker.release();
        state.parent = None;
        Ok((atoms::ok(), chunks).encode(env))
    })
}

/// Encodes a batch's chunks. `fed` is the binary of this call, the index in it of the bytes
/// the batch was cut from, and where the binary lies in the input.
fn encode_batch<'a>(
    env: Env<'a>,
    batch: &Batch<'_>,
    fed: Option<(Binary<'a>, usize, Parent)>,
    with_data: bool,
) -> NifResult<Vec<Term<'a>>> {
    let mut carried: Option<Binary<'a>> = None;
    let mut terms = Vec::with_capacity(batch.len());
    for (chunk, source) in batch.chunks().iter().zip(batch.sources()) {
        if !with_data {
            terms.push(chunk_struct(env, chunk, None)?);
            continue;
        }
        let inside =
            fed.and_then(|(binary, _, parent)| Some((binary, parent.index_of(chunk.offset)?)));
        let (binary, start) = match (inside, *source) {
            (Some(found), _) => found,
            (None, Source::Piece(start)) => {
                let (binary, from, _) = fed.ok_or(rustler::Error::BadArg)?;
                (binary, from + start)
            }
            (None, Source::Carried(start)) => {
                let copy = *carried
                    .get_or_insert_with(|| NewBinary::from_slice(env, batch.carried()).into());
                (copy, start)
            }
            (None, Source::Spanning { .. }) => (spanning_binary(env, batch, chunk, *source), 0),
        };
        terms.push(chunk_struct(
            env,
            chunk,
            Some(binary.make_subbinary(start, chunk.length)?),
        )?);
    }
    Ok(terms)
}

/// A new binary holding a chunk that spans the carried bytes and the piece: one copy.
fn spanning_binary<'a>(
    env: Env<'a>,
    batch: &Batch<'_>,
    chunk: &Chunk,
    source: Source,
) -> Binary<'a> {
    let bytes = batch.bytes(chunk, source);
    let mut binary = NewBinary::new(env, bytes.len());
    let mut at = 0;
    for part in bytes.parts() {
        if let Some(dst) = binary.as_mut_slice().get_mut(at..at + part.len()) {
            dst.copy_from_slice(part);
        }
        at += part.len();
    }
    binary.into()
}

/// `stream_feed(stream, binary, from, len)` -> `{:ok, chunks, buffered_bytes}` for the chunks
/// completed by `binary[from..from+len]`; normal scheduler.
#[rustler::nif]
fn stream_feed<'a>(
    env: Env<'a>,
    stream: ResourceArc<ChunkStream>,
    binary: Binary<'a>,
    from: usize,
    len: usize,
) -> NifResult<Term<'a>> {
    timeslice::charged(env, || feed(env, &stream, (binary, from, len), false))
}

/// `stream_feed/4` on a dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn stream_feed_dirty<'a>(
    env: Env<'a>,
    stream: ResourceArc<ChunkStream>,
    binary: Binary<'a>,
    from: usize,
    len: usize,
) -> NifResult<Term<'a>> {
    feed(env, &stream, (binary, from, len), true)
}

/// `stream_finish(stream, last_binary | nil)` -> `{:ok, chunks}` for the rest of the input;
/// the stream is finished and its buffers freed. Normal scheduler.
#[rustler::nif]
fn stream_finish<'a>(
    env: Env<'a>,
    stream: ResourceArc<ChunkStream>,
    last: Term<'a>,
) -> NifResult<Term<'a>> {
    timeslice::charged(env, || finish(env, &stream, last, false))
}

/// `stream_finish/2` on a dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn stream_finish_dirty<'a>(
    env: Env<'a>,
    stream: ResourceArc<ChunkStream>,
    last: Term<'a>,
) -> NifResult<Term<'a>> {
    finish(env, &stream, last, true)
}

/// Frees the stream's buffers now; it behaves as finished afterwards. Always `:ok`.
#[rustler::nif]
fn stream_close(stream: ResourceArc<ChunkStream>) -> Atom {
    // A busy stream is in use by a dirty call; the garbage collector will free it.
    if let Ok(mut state) = stream.state.try_lock() {
        state.chunker.release();
        state.parent = None;
    }
    atoms::ok()
}

/// Number of stream resources alive in this VM.
#[rustler::nif]
fn live_streams() -> usize {
    LIVE.load(Ordering::Relaxed)
}
