//! The incremental chunker as a NIF resource: open, feed binaries, finish; and one-shot
//! chunking of a binary, which is the same machinery on a stream the caller never sees unless
//! the work does not fit one call.
//!
//! A feed works through `binary[from..]` in steps (see `pace.rs`) until the binary is used up
//! (`{:done, chunks}`) or the deadline passes (`{:cont, chunks, next_from}`). Every chunk that
//! lies inside the binary being fed is returned as a sub-binary of it, even when it spans the
//! steps of that binary; only chunks that began in an earlier binary are copied (all of a
//! step's copies into one new binary). In NAR-aware mode the input is parsed as a NAR as well,
//! and the chunker cuts at the edges of large files' contents
//! (`chunker_core::NarAwareChunker`). The resource is freed by the garbage collector when no
//! process references it any more (e.g. its owner died); `stream_close/1` frees the buffers
//! at once.

use std::sync::Mutex;

use chunker_core::{
    Batch, Chunk, ChunkerConfig, HashAlgorithm, IncrementalChunker, NarAwareChunker, Source,
};
use rustler::{Atom, Binary, Encoder, Env, NewBinary, NifResult, Resource, ResourceArc, Term};

use crate::ahead::{Done, Job};
use crate::atoms;
use crate::error::NativeError;
use crate::exclusive::with_state;
use crate::options::decode_chunking;
use crate::pace::{twin_nifs, Pace, Pacing, Steps, Work};
use crate::stats::{Live, ResourceKind, STATS};
use crate::terms::chunk_struct;

pub struct ChunkStream {
    state: Mutex<StreamState>,
    with_data: bool,
    /// What its dirty feeds measured, for the next one's first step.
    pacing: Pacing,
    _live: Live,
}

struct StreamState {
    chunker: Chunking,
    /// The binary the last call fed from, so that a later step of the same binary can map
    /// chunks back onto it.
    parent: Option<Parent>,
    config: ChunkerConfig,
    hash: Option<HashAlgorithm>,
}

enum Chunking {
    Plain(IncrementalChunker),
    /// Cutting around the contents of NAR files of at least the minimum chunk size.
    Nar(Box<NarAwareChunker>),
    /// The plain chunker, away on the pool feeding a part of a binary (`ahead.rs`). Only the
    /// dirty continuation of that feed waits for it; any other call settles it first
    /// ([`StreamState::settle`]), so the methods below see it only in passing.
    Away(Job),
}

impl Chunking {
    fn position(&self) -> u64 {
        match self {
            Chunking::Plain(chunker) => chunker.position(),
            Chunking::Nar(chunker) => chunker.position(),
            Chunking::Away(job) => job.position(),
        }
    }

    fn buffered(&self) -> usize {
        match self {
            Chunking::Plain(chunker) => chunker.buffered(),
            Chunking::Nar(chunker) => chunker.buffered(),
            Chunking::Away(_) => 0,
        }
    }

    fn use_pool(&mut self, allowed: bool) {
        match self {
            Chunking::Plain(chunker) => chunker.use_pool(allowed),
            Chunking::Nar(chunker) => chunker.use_pool(allowed),
            Chunking::Away(_) => {}
        }
    }
}

impl StreamState {
    /// Frees the buffers; the stream behaves as finished afterwards. A chunker away on the
    /// pool is left to its job, which frees it when it ends.
    fn release(&mut self) {
        match &mut self.chunker {
            Chunking::Plain(chunker) => chunker.release(),
            Chunking::Nar(chunker) => chunker.release(),
            Chunking::Away(_) => {
                let mut released = IncrementalChunker::new(self.config.clone(), self.hash);
                released.release();
                self.chunker = Chunking::Plain(released);
            }
        }
        self.parent = None;
    }

    /// The chunker, taken out; a fresh plain one holds its place until it is back.
    fn take(&mut self) -> Chunking {
        let fresh = Chunking::Plain(IncrementalChunker::new(self.config.clone(), self.hash));
        std::mem::replace(&mut self.chunker, fresh)
    }

    /// The plain chunker, taken out to go to the pool; `None` for the other kinds.
    fn take_plain(&mut self) -> Option<IncrementalChunker> {
        match self.take() {
            Chunking::Plain(chunker) => Some(chunker),
            other => {
                self.chunker = other;
                None
            }
        }
    }

    /// The job of a chunker away on the pool, taken out; `None` if none is away.
    fn take_job(&mut self) -> Option<Job> {
        match self.take() {
            Chunking::Away(job) => Some(job),
            other => {
                self.chunker = other;
                None
            }
        }
    }

    /// Waits for a chunker away on the pool, for a call that is not the continuation of the
    /// job's feed (dirty calls only). The chunks the job cut are dropped: its caller left that
    /// feed unfinished, and they are lost to it as the chunks of a continuation it never
    /// followed would be.
    fn settle(&mut self) {
        if let Some(job) = self.take_job() {
            match job.wait(None) {
                Ok(done) => self.chunker = Chunking::Plain(done.chunker),
                Err(job) => self.chunker = Chunking::Away(job),
            }
        }
    }

    /// What this stream's steps cost is learned as.
    fn work(&self, pace: &Pace) -> Work {
        let (hash, avg_size) = (self.hash, self.config.avg_size());
        let algorithm = self.config.algorithm();
        match self.chunker {
            Chunking::Plain(_) | Chunking::Away(_) => Work::Chunk {
                algorithm,
                hash,
                avg_size,
                parallel: !pace.is_normal(),
            },
            Chunking::Nar(_) => Work::NarChunk {
                algorithm,
                hash,
                avg_size,
            },
        }
    }
}

/// A binary being fed step by step: identified by its data pointer and length (the caller
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

    fn is(&self, binary: &Binary<'_>) -> bool {
        (self.address, self.len) == (binary.as_slice().as_ptr() as usize, binary.len())
    }
}

#[rustler::resource_impl]
impl Resource for ChunkStream {}

impl ChunkStream {
    fn new(config: ChunkerConfig, hash: Option<HashAlgorithm>, with_data: bool, nar: bool) -> Self {
        let chunker = if nar {
            let min_file_size = config.min_size() as u64;
            Chunking::Nar(Box::new(NarAwareChunker::new(
                config.clone(),
                hash,
                min_file_size,
            )))
        } else {
            Chunking::Plain(IncrementalChunker::new(config.clone(), hash))
        };
        STATS.chunk_input();
        Self {
            state: Mutex::new(StreamState {
                chunker,
                parent: None,
                config,
                hash,
            }),
            with_data,
            pacing: Pacing::default(),
            _live: Live::new(ResourceKind::ChunkStream),
        }
    }
}

/// `stream_new(config, hash, with_data, nar_aware)` -> `{:ok, stream}` or `{:error,
/// {:invalid_options, message, %{option: name}}}`; `config` is the tuple of `options.rs`.
/// With `nar_aware`, the input must be a NAR, and the contents of its files of at least
/// `min_size` bytes start and end chunks.
#[rustler::nif]
fn stream_new<'a>(
    env: Env<'a>,
    spec: Term<'a>,
    hash: Atom,
    with_data: bool,
    nar_aware: bool,
) -> NifResult<Term<'a>> {
    let (config, algo) = match decode_chunking(spec, hash)? {
        Ok(decoded) => decoded,
        Err(error) => return Ok(error.term(env)),
    };
    let stream = ResourceArc::new(ChunkStream::new(config, algo, with_data, nar_aware));
    Ok((atoms::ok(), stream).encode(env))
}

impl StreamState {
    /// The binary a feed of `binary[from..]` is in, kept as the stream's parent: the same one
    /// as the last step's if this continues it (the same binary, from where that step ended),
    /// else a new one.
    fn parent_for(&mut self, binary: &Binary<'_>, from: usize) -> Parent {
        let position = self.chunker.position();
        let parent = match self.parent {
            Some(p) if p.is(binary) && p.index_of(position) == Some(from) => p,
            _ => Parent {
                address: binary.as_slice().as_ptr() as usize,
                len: binary.len(),
                first_index: from,
                first_offset: position,
            },
        };
        self.parent = Some(parent);
        parent
    }
}

/// What a call's work on the pool left it: a reply to return as it is, or the chunks already
/// collected and where in the binary the call goes on itself.
enum OnPool<'a> {
    Reply(Term<'a>),
    Steps(Vec<Term<'a>>, usize),
}

/// What [`collect`] found.
enum Collected<'a> {
    /// No chunker was away, or it was settled (an abandoned feed's part).
    Nothing,
    /// The chunks of the job that ended, and `Some(end)` when it fed this call's binary up to
    /// `end`.
    Chunks(Vec<Term<'a>>, Option<usize>),
    /// The job still runs at the deadline; the chunker stays away.
    Running,
    /// The job's feed failed.
    Failed(NativeError),
}

/// Takes back the chunker away on the pool, for a dirty call: waits for its job until the
/// deadline and encodes the chunks it cut, as sub-binaries of the binary it fed. The job
/// either continues this call's feed (`continuing`: the binary and where the call starts) or
/// chunked the last part of an earlier binary, whose feed returned without waiting for it;
/// any other job is a part of a feed the caller left unfinished, waited for without limit
/// and its chunks dropped ([`StreamState::settle`]).
fn collect<'a>(
    env: Env<'a>,
    pace: &Pace,
    stream: &ChunkStream,
    state: &mut StreamState,
    continuing: Option<(&Binary<'a>, usize)>,
) -> NifResult<Collected<'a>> {
    let Some(job) = state.take_job() else {
        return Ok(Collected::Nothing);
    };
    // A job with the rest of its binary never continues a feed, which returned when it
    // started: the same binary fed again (`Stream.cycle/1`) is new input.
    let rest = job.ends_its_binary();
    let continues = !rest && continuing.is_some_and(|(binary, from)| job.feeds(binary, from));
    if !continues && !rest {
        state.chunker = Chunking::Away(job);
        state.settle();
        return Ok(Collected::Nothing);
    }
    let end = job.end();
    let done = match job.wait(Some(pace.left())) {
        Ok(done) => done,
        Err(job) => {
            state.chunker = Chunking::Away(job);
            return Ok(Collected::Running);
        }
    };
    let binary = done.binary(env);
    let Done {
        chunker, fed, from, ..
    } = done;
    let encoded = match (fed, binary) {
        (Err(error), _) => Ok(Err(NativeError::from(error))),
        (Ok(()), Ok(binary)) => match (binary.as_slice().get(from..end), state.parent) {
            (Some(part), Some(parent)) => encode_batch(
                env,
                &chunker.last_batch(part),
                Some((binary, from, parent)),
                stream.with_data,
            )
            .map(Ok),
            _ => Err(rustler::Error::BadArg),
        },
        (Ok(()), Err(error)) => Err(error),
    };
    state.chunker = Chunking::Plain(chunker);
    Ok(match encoded? {
        Ok(terms) => Collected::Chunks(terms, continues.then_some(end)),
        Err(error) => Collected::Failed(error),
    })
}

/// Feeds `binary[from..]` through jobs on the pool (`ahead.rs`) when that pays. A call that
/// collects a job's chunks starts the next part before it returns them, and a call that hands
/// the pool the rest of its binary returns `{:done, chunks}` at once: the caller goes on (reads
/// its next piece) while the pool chunks it, and those chunks go out with the stream's next
/// call. `OnPool::Steps` when the call is to do the rest itself: the rest fits the call, the
/// work's pace is not known yet, or the stream is NAR-aware.
fn feed_on_pool<'a>(
    env: Env<'a>,
    pace: &Pace,
    stream: &ChunkStream,
    state: &mut StreamState,
    binary: Binary<'a>,
    from: usize,
) -> NifResult<OnPool<'a>> {
    if from > binary.len() {
        return Err(rustler::Error::BadArg);
    }
    if pace.is_normal() {
        // A normal call never waits for the pool: the dirty twin takes the chunker back.
        return Ok(if matches!(state.chunker, Chunking::Away(_)) {
            OnPool::Reply(fed_reply(env, Vec::new(), from, &binary))
        } else {
            OnPool::Steps(Vec::new(), from)
        });
    }
    let mut terms = Vec::new();
    let mut at = from;
    loop {
        match collect(env, pace, stream, state, Some((&binary, at)))? {
            Collected::Nothing => {}
            Collected::Chunks(more, end) => {
                terms.extend(more);
                at = end.unwrap_or(at);
            }
            Collected::Running => return Ok(OnPool::Reply(fed_reply(env, terms, at, &binary))),
            Collected::Failed(error) => return Ok(OnPool::Reply(error.term(env))),
        }
        let Some(job) = start_job(env, pace, state, &binary, at) else {
            return Ok(OnPool::Steps(terms, at));
        };
        let rest = job.ends_its_binary();
        state.chunker = Chunking::Away(job);
        if rest {
            return Ok(OnPool::Reply((atoms::done(), terms).encode(env)));
        }
        if !terms.is_empty() {
            return Ok(OnPool::Reply(fed_reply(env, terms, at, &binary)));
        }
    }
}

/// Hands the plain chunker to the pool to feed a part of `binary[from..]`, if the rest of the
/// binary is more than this call could chunk itself and the work's pace is known.
fn start_job(
    env: Env<'_>,
    pace: &Pace,
    state: &mut StreamState,
    binary: &Binary<'_>,
    from: usize,
) -> Option<Job> {
    // A finished chunker stays here, for the call to say so.
    let Chunking::Plain(chunker) = &state.chunker else {
        return None;
    };
    if chunker.is_finished() || from >= binary.len() {
        return None;
    }
    let work = state.work(pace);
    let size = Job::size(pace, work, state.config.avg_size(), binary.len() - from)?;
    state.parent_for(binary, from);
    let chunker = state.take_plain()?;
    Some(Job::start(env, binary, from, from + size, chunker, work))
}

/// Feeds `binary[from..]` in steps until it is used up or the deadline passes. Returns the
/// chunk terms and the index reached.
fn feed_steps<'a>(
    env: Env<'a>,
    pace: &Pace,
    stream: &ChunkStream,
    state: &mut StreamState,
    binary: Binary<'a>,
    from: usize,
) -> NifResult<Result<(Vec<Term<'a>>, usize), NativeError>> {
    if from > binary.len() {
        return Err(rustler::Error::BadArg);
    }
    state.chunker.use_pool(!pace.is_normal());
    // Normal calls are probes of ~100 us; what dirty calls measured sizes the next one.
    let mut steps = Steps::new(pace, state.work(pace), 4096);
    if !pace.is_normal() {
        steps = steps.after(&stream.pacing);
    }
    let mut terms = Vec::new();
    // A step may complete a chunk that holds the bytes buffered so far, and hash it: those
    // bytes are extra work for it.
    let buffered = state.chunker.buffered();
    let stepped = steps.over(from, binary.len(), buffered, |at, end| {
        match feed_slice(env, stream, state, binary, at, end) {
            Ok(Ok(chunks)) => terms.extend(chunks),
            Ok(Err(error)) => return Err(Ok(error)),
            Err(badarg) => return Err(Err(badarg)),
        }
        Ok(state.chunker.buffered())
    });
    if !pace.is_normal() {
        stream.pacing.keep(&steps);
    }
    match stepped {
        Ok(at) => Ok(Ok((terms, at))),
        Err(Ok(error)) => Ok(Err(error)),
        Err(Err(badarg)) => Err(badarg),
    }
}

/// Feeds `binary[from..end]`: the chunks it completed, as terms.
fn feed_slice<'a>(
    env: Env<'a>,
    stream: &ChunkStream,
    state: &mut StreamState,
    binary: Binary<'a>,
    from: usize,
    end: usize,
) -> NifResult<Result<Vec<Term<'a>>, NativeError>> {
    let slice = binary
        .as_slice()
        .get(from..end)
        .ok_or(rustler::Error::BadArg)?;
    let parent = state.parent_for(&binary, from);
    let with_data = stream.with_data;
    Ok(match &mut state.chunker {
        Chunking::Plain(chunker) => match chunker.feed(slice) {
            Ok(batch) => Ok(encode_batch(
                env,
                &batch,
                Some((binary, from, parent)),
                with_data,
            )?),
            Err(error) => Err(error.into()),
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
            encoded?;
            fed.map(|()| terms).map_err(NativeError::from)
        }
        // Settled before any step (`feed_on_pool`): were it not, its job holds the chunker.
        Chunking::Away(_) => Err(NativeError::busy()),
    })
}

/// `{:done, chunks}` when `at` reached the end of `binary`, else `{:cont, chunks, at}`.
fn fed_reply<'a>(env: Env<'a>, terms: Vec<Term<'a>>, at: usize, binary: &Binary<'a>) -> Term<'a> {
    if at >= binary.len() {
        (atoms::done(), terms).encode(env)
    } else {
        (atoms::cont(), terms, at).encode(env)
    }
}

fn feed<'a>(
    env: Env<'a>,
    pace: &Pace,
    stream: ResourceArc<ChunkStream>,
    binary: Binary<'a>,
    from: usize,
) -> NifResult<Term<'a>> {
    with_state(env, &stream.state, |state| {
        let (mut terms, from) = match feed_on_pool(env, pace, &stream, state, binary, from)? {
            OnPool::Reply(reply) => return Ok(reply),
            OnPool::Steps(terms, from) => (terms, from),
        };
        Ok(match feed_steps(env, pace, &stream, state, binary, from)? {
            Ok((more, at)) => {
                terms.extend(more);
                fed_reply(env, terms, at, &binary)
            }
            Err(error) => error.term(env),
        })
    })
}

/// Finishes the stream: the chunks of what it still holds, or `None` if that is not expected
/// to fit this normal-scheduler call (it hashes the bytes held, which cannot be split), or if
/// the pool is still chunking the last part of the last binary fed at the deadline.
fn finish_state<'a>(
    env: Env<'a>,
    pace: &Pace,
    stream: &ChunkStream,
    state: &mut StreamState,
    last: Option<Binary<'a>>,
) -> NifResult<Option<Result<Vec<Term<'a>>, NativeError>>> {
    let work = state.work(pace);
    if matches!(state.chunker, Chunking::Away(_)) && pace.is_normal() {
        return Ok(None);
    }
    // The last part of the last binary fed may still be on the pool.
    let collected = match collect(env, pace, stream, state, None)? {
        Collected::Nothing => Vec::new(),
        Collected::Chunks(terms, _) => terms,
        Collected::Running => return Ok(None),
        Collected::Failed(error) => return Ok(Some(Err(error))),
    };
    if pace.is_normal() && !pace.fits(work, state.chunker.buffered()) {
        return Ok(None);
    }
    let fed = match (last, state.parent) {
        (Some(binary), Some(parent)) if parent.is(&binary) => Some((binary, 0, parent)),
        _ => None,
    };
    let with_data = stream.with_data;
    state.chunker.use_pool(!pace.is_normal());
    let buffered = state.chunker.buffered();
    let result = pace.measure(work, buffered, || -> NifResult<_> {
        Ok(match &mut state.chunker {
            Chunking::Plain(chunker) => match chunker.finish() {
                Ok(batch) => Ok(encode_batch(env, &batch, fed, with_data)?),
                Err(error) => Err(NativeError::from(error)),
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
                encoded?;
                finished.map(|()| terms).map_err(NativeError::from)
            }
            // Settled above.
            Chunking::Away(_) => Err(NativeError::busy()),
        })
    })?;
    if result.is_ok() {
        state.release();
    }
    Ok(Some(result.map(|tail| {
        let mut terms = collected;
        terms.extend(tail);
        terms
    })))
}

/// `last` is the binary of the last feed (or `nil`), if the caller still has it: chunks that
/// lie in it are returned as sub-binaries of it instead of copies.
fn finish<'a>(
    env: Env<'a>,
    pace: &Pace,
    stream: ResourceArc<ChunkStream>,
    last: Term<'a>,
) -> NifResult<Term<'a>> {
    let last = match last.decode::<Binary<'a>>() {
        Ok(binary) => Some(binary),
        Err(_) if last.is_atom() => None,
        Err(error) => return Err(error),
    };
    with_state(env, &stream.state, |state| {
        Ok(match finish_state(env, pace, &stream, state, last)? {
            Some(Ok(terms)) => (atoms::done(), terms).encode(env),
            Some(Err(error)) => error.term(env),
            None => (atoms::cont(), Vec::<Term>::new(), atoms::nil()).encode(env),
        })
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
    STATS.chunks(batch.chunks());
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

twin_nifs! {
    /// `stream_feed(stream, binary, from)` -> `{:done, chunks}` once `binary[from..]` is fed,
    /// `{:cont, chunks, next_from}` when the deadline came first, or `{:error, {...}}`.
    fn stream_feed / stream_feed_dirty(stream: ResourceArc<ChunkStream>, binary: Binary<'a>, from: usize)
        = feed(stream, binary, from);
}

twin_nifs! {
    /// `stream_finish(stream, last_binary | nil)` -> `{:done, chunks}` for the rest of the
    /// input (the stream is finished and its buffers freed), or `{:cont, [], nil}` when the
    /// call could not finish in time (a normal call that would hash what the stream holds,
    /// or the pool still chunking the last binary fed): call the dirty twin (again).
    fn stream_finish / stream_finish_dirty(stream: ResourceArc<ChunkStream>, last: Term<'a>)
        = finish(stream, last);
}

/// `chunk(binary, config, hash, with_data)` -> `{:done, chunks}`, or
/// `{:cont, chunks, stream, from}` when the binary is too large for one normal-scheduler call:
/// the caller goes on feeding `binary[from..]` to `stream` (dirty), then finishes it with
/// `binary`. Every chunk is a sub-binary of `binary`. Options errors as `stream_new/4`.
#[rustler::nif]
fn chunk<'a>(
    env: Env<'a>,
    binary: Binary<'a>,
    spec: Term<'a>,
    hash: Atom,
    with_data: bool,
) -> NifResult<Term<'a>> {
    let pace = Pace::normal();
    let (config, algo) = match decode_chunking(spec, hash)? {
        Ok(decoded) => decoded,
        Err(error) => return Ok(error.term(env)),
    };
    let stream = ResourceArc::new(ChunkStream::new(config, algo, with_data, false));
    let reply = with_state(env, &stream.state, |state| {
        let (mut terms, at) = match feed_steps(env, &pace, &stream, state, binary, 0)? {
            Ok(fed) => fed,
            Err(error) => return Ok(error.term(env)),
        };
        if at == binary.len() {
            match finish_state(env, &pace, &stream, state, Some(binary))? {
                Some(Ok(tail)) => {
                    terms.extend(tail);
                    return Ok((atoms::done(), terms).encode(env));
                }
                Some(Err(error)) => return Ok(error.term(env)),
                None => {}
            }
        }
        Ok((atoms::cont(), terms, stream.clone(), at).encode(env))
    });
    pace.charge(env);
    reply
}

/// `stream_close(stream)` -> `:ok`: frees the stream's buffers now; it behaves as finished
/// afterwards.
#[rustler::nif]
fn stream_close(stream: ResourceArc<ChunkStream>) -> Atom {
    // A busy stream is in use by a dirty call; the garbage collector will free it.
    if let Ok(mut state) = stream.state.try_lock() {
        state.release();
    }
    atoms::ok()
}
