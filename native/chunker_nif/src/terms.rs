//! Encoding chunks as `%Chunker.Chunk{}` structs.

use chunker_core::Chunk;
use rustler::{Binary, Encoder, Env, NewBinary, NifResult, Term};

use crate::atoms;

/// Builds `%Chunker.Chunk{offset, length, hash, data}`; `data` is given by the caller (a
/// sub-binary, usually) or `nil`.
pub fn chunk_struct<'a>(
    env: Env<'a>,
    chunk: &Chunk,
    data: Option<Binary<'a>>,
) -> NifResult<Term<'a>> {
    let hash = match &chunk.hash {
        Some(digest) => NewBinary::from_slice(env, digest).into(),
        None => atoms::nil().encode(env),
    };
    let data = match data {
        Some(binary) => binary.to_term(env),
        None => atoms::nil().encode(env),
    };
    let keys = [
        atoms::struct_key().encode(env),
        atoms::offset().encode(env),
        atoms::length().encode(env),
        atoms::hash().encode(env),
        atoms::data().encode(env),
    ];
    let values = [
        atoms::chunk_module().encode(env),
        chunk.offset.encode(env),
        chunk.length.encode(env),
        hash,
        data,
    ];
    Term::map_from_term_arrays(env, &keys, &values)
}
