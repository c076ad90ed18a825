//! Encoding chunks as `%Chunker.Chunk{}` structs, and decoding lists.

use chunker_core::Chunk;
use rustler::{Binary, Decoder, Encoder, Env, NewBinary, NifResult, Term};

/// The elements of a proper list, each decoded as `T`; anything else is a `badarg`. (rustler's
/// own `Vec<T>` decoder panics on an improper list such as `[a | b]`.)
pub fn proper_list<'a, T: Decoder<'a>>(term: Term<'a>) -> NifResult<Vec<T>> {
    let mut items = Vec::new();
    let mut rest = term;
    while !rest.is_empty_list() {
        let (head, tail) = rest.list_get_cell()?;
        items.push(head.decode()?);
        rest = tail;
    }
    Ok(items)
}

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
