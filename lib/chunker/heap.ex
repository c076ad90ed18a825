defmodule Chunker.Heap do
  @moduledoc false
  # Collecting a large result from many NIF calls: each call's terms join the caller's heap
  # as the result grows, and the default heap growth makes the process copy the result again
  # at each collection. Measured: `Chunker.chunk/2` of 64 MiB at 256-byte chunks (216,000
  # chunks) cost 1.2 us per chunk, against 0.28 us with the heap sized up front; a worker
  # building 100,000 digests or chunk lists had 5-6 collections of 6-46 ms each (each one
  # holds its scheduler). So while a large result is collected, the caller's minimum heap
  # size is raised to the expected size of the result, and restored afterwards.

  # About what a `%Chunker.Chunk{}` with a sub-binary and a digest, and its list cell, take.
  @words_per_chunk 40
  @min_words 250_000

  @doc false
  @spec words_per_chunk() :: pos_integer()
  def words_per_chunk, do: @words_per_chunk

  @doc false
  # Runs `fun` with the calling process's minimum heap size raised to `words` when that is
  # large enough to matter, never lowering it, and staying well under a `max_heap_size` the
  # process has (a minimum above it would have the process killed at its next collection).
  @spec presized(non_neg_integer(), (() -> result)) :: result when result: term()
  def presized(words, fun) when words < @min_words, do: fun.()

  def presized(words, fun) do
    {:min_heap_size, old} = Process.info(self(), :min_heap_size)
    {:max_heap_size, %{size: max}} = Process.info(self(), :max_heap_size)
    words = if max > 0, do: min(words, div(max, 4)), else: words

    if words <= old do
      fun.()
    else
      Process.flag(:min_heap_size, words)

      try do
        fun.()
      after
        Process.flag(:min_heap_size, old)
      end
    end
  end
end
