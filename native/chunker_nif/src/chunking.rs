//! One-shot chunking of a small binary on a normal scheduler, and of lists of binaries (in
//! time-bounded normal calls with a continuation, or in parallel on a dirty scheduler).
//! Normal-scheduler calls never use rayon's pool: handing it work would block the scheduler
//! until the pool, busy with other callers' dirty work, got to it. Chunk
//! data are sub-binaries of the input: nothing is copied. (Large binaries are chunked through
//! the stream NIFs in bounded dirty-scheduler slices; see `stream.rs`.)

use chunker_core::{chunk_many, chunk_slice_sequential, Chunk};
use rustler::{Atom, Binary, Encoder, Env, NifResult, Term};

use crate::atoms;
use crate::options::decode_chunking;
use crate::rounds::{self, RoundLimits};
use crate::terms::chunk_struct;
use crate::timeslice::{self, list_steps};

/// The `%Chunker.Chunk{}` list of `chunks` of `input`.
fn chunk_terms<'a>(
    env: Env<'a>,
    input: &Binary<'a>,
    chunks: &[Chunk],
    with_data: bool,
) -> NifResult<Term<'a>> {
    let mut terms = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        let data = if with_data {
            let start = usize::try_from(chunk.offset).map_err(|_| rustler::Error::BadArg)?;
            Some(input.make_subbinary(start, chunk.length)?)
        } else {
            None
        };
        terms.push(chunk_struct(env, chunk, data)?);
    }
    Ok(terms.encode(env))
}

/// `chunk(binary, min, avg, max, hash, with_data)` -> `{:ok, chunks}` or
/// `{:error, {:invalid_options, option, message}}`.
#[rustler::nif]
fn chunk<'a>(
    env: Env<'a>,
    input: Binary<'a>,
    min: u64,
    avg: u64,
    max: u64,
    hash: Atom,
    with_data: bool,
) -> NifResult<Term<'a>> {
    let (config, algo) = match decode_chunking(env, (min, avg, max), hash)? {
        Ok(decoded) => decoded,
        Err(error) => return Ok(error),
    };
    timeslice::charged(env, || {
        let chunks = chunk_slice_sequential(input.as_slice(), &config, algo);
        Ok((atoms::ok(), chunk_terms(env, &input, &chunks, with_data)?).encode(env))
    })
}

/// `chunk_list(binaries, {min, avg, max}, hash, with_data, budget_us)` -> `{:done, lists}` or
/// `{:cont, lists, rest}` (one chunk list per binary, in order), or
/// `{:error, {:invalid_options, option, message}}`: chunks the binaries on a normal scheduler
/// until about `budget_us` have passed; the caller resumes with `rest`. Charged.
#[rustler::nif]
fn chunk_list<'a>(
    env: Env<'a>,
    binaries: Term<'a>,
    sizes: (u64, u64, u64),
    hash: Atom,
    with_data: bool,
    budget_us: u64,
) -> NifResult<Term<'a>> {
    let (config, algo) = match decode_chunking(env, sizes, hash)? {
        Ok(decoded) => decoded,
        Err(error) => return Ok(error),
    };
    list_steps(env, binaries, budget_us, |term| {
        let input: Binary = term.decode()?;
        let chunks = chunk_slice_sequential(input.as_slice(), &config, algo);
        chunk_terms(env, &input, &chunks, with_data)
    })
}

/// `chunk_round(binaries, {min, avg, max}, hash, with_data, {budget, per_item, max_item})` ->
/// `{:done, lists}` or `{:cont, lists, rest}` (one chunk list per binary, in order), or the
/// error of `chunk_list/5`: chunks one round of the list's binaries (see `rounds.rs`) in
/// parallel on rayon's pool; dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn chunk_round<'a>(
    env: Env<'a>,
    binaries: Term<'a>,
    sizes: (u64, u64, u64),
    hash: Atom,
    with_data: bool,
    limits: (u64, u64, u64),
) -> NifResult<Term<'a>> {
    let (config, algo) = match decode_chunking(env, sizes, hash)? {
        Ok(decoded) => decoded,
        Err(error) => return Ok(error),
    };
    let (round, rest) = rounds::take(binaries, RoundLimits::from(limits))?;
    let items: Vec<&[u8]> = round.iter().map(|binary| binary.as_slice()).collect();
    let lists = chunk_many(&items, &config, algo)
        .iter()
        .zip(&round)
        .map(|(chunks, input)| chunk_terms(env, input, chunks, with_data))
        .collect::<NifResult<Vec<Term<'a>>>>()?;
    Ok(rounds::reply(env, lists, rest))
}
