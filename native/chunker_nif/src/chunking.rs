//! One-shot chunking of a small binary on a normal scheduler. Chunk data are sub-binaries of
//! the input: nothing is copied. (Large binaries are chunked through the stream NIFs in
//! bounded dirty-scheduler slices; see `stream.rs`.)

use chunker_core::chunk_slice;
use rustler::{Atom, Binary, Encoder, Env, NifResult, Term};

use crate::atoms;
use crate::options::decode_chunking;
use crate::terms::chunk_struct;
use crate::timeslice;

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
        let chunks = chunk_slice(input.as_slice(), &config, algo);
        let mut terms = Vec::with_capacity(chunks.len());
        for chunk in &chunks {
            let data = if with_data {
                let start = usize::try_from(chunk.offset).map_err(|_| rustler::Error::BadArg)?;
                Some(input.make_subbinary(start, chunk.length)?)
            } else {
                None
            };
            terms.push(chunk_struct(env, chunk, data)?);
        }
        Ok((atoms::ok(), terms).encode(env))
    })
}
