//! Atoms the NIF returns or matches.

rustler::atoms! {
    ok,
    error,
    invalid_options,
    stream_finished,
    stream_busy,
    blake3,
    sha256,
    none,
    min_size,
    avg_size,
    max_size,
    struct_key = "__struct__",
    chunk_module = "Elixir.Chunker.Chunk",
    offset,
    length,
    hash,
    data,
    nil,
}
