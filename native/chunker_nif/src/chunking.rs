//! Chunking lists of binaries, each on its own (`chunk_many/2`): in the shapes of `lists.rs`,
//! one after the other on a normal scheduler (which never uses rayon's pool: handing it work
//! would block the scheduler until the pool, busy with other callers' dirty work, got to it),
//! in parallel on a dirty one. Chunk data are sub-binaries of the input: nothing is copied.
//! (One binary is chunked through the stream machinery of `stream.rs`.)

use chunker_core::{chunk_slice_sequential, Chunk};
use rustler::{Atom, Binary, Encoder, Env, NifResult, Term};

use crate::lists;
use crate::options::decode_chunking;
use crate::pace::{twin_nifs, Pace, Work};
use crate::stats::STATS;
use crate::terms::chunk_struct;

/// The `%Chunker.Chunk{}` list of `chunks` of `input`.
fn chunk_terms<'a>(
    env: Env<'a>,
    input: &Binary<'a>,
    chunks: &[Chunk],
    with_data: bool,
) -> NifResult<Term<'a>> {
    STATS.chunk_input();
    STATS.chunks(chunks);
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

fn chunk_items<'a>(
    env: Env<'a>,
    pace: &Pace,
    binaries: Term<'a>,
    spec: Term<'a>,
    hash: Atom,
    with_data: bool,
) -> NifResult<Term<'a>> {
    let (config, algo) = match decode_chunking(spec, hash)? {
        Ok(decoded) => decoded,
        Err(error) => return Ok(error.term(env)),
    };
    let work = Work::Chunk {
        algorithm: config.algorithm(),
        hash: algo,
        avg_size: config.avg_size(),
        parallel: false,
    };
    lists::run(
        env,
        pace,
        binaries,
        work,
        |bytes| chunk_slice_sequential(bytes, &config, algo),
        |binary, chunks| chunk_terms(env, &binary, &chunks, with_data),
    )
}

twin_nifs! {
    /// `chunk_list(binaries, config, hash, with_data)` -> one chunk list per binary, in the
    /// shapes of `lists.rs`, or the options error of `stream_new/4`. `config` is the tuple
    /// of `options.rs`.
    fn chunk_list / chunk_list_dirty(binaries: Term<'a>, spec: Term<'a>, hash: Atom, with_data: bool)
        = chunk_items(binaries, spec, hash, with_data);
}
