defmodule Chunker do
  @moduledoc """
  Content-defined chunking (FastCDC) with per-chunk BLAKE3 or SHA-256 digests, from a Rust NIF.

  Chunk boundaries depend on the content, not on positions: inserting a byte early in a file
  moves only the chunks around the insertion, so the rest deduplicate against what you already
  stored. The boundaries are exactly those of the Rust `fastcdc` crate's `v2020::FastCDC`
  (normalization level 1) for the same sizes, on every path (`chunk/2`, `stream/2`, the file
  functions) and whatever the pieces a stream arrives in. That is a compatibility promise.

      iex> {:ok, [chunk]} = Chunker.chunk("hello world")
      iex> {chunk.offset, chunk.length}
      {0, 11}
      iex> chunk.hash == Chunker.Hash.blake3("hello world")
      true

  Streaming a file in bounded memory:

      File.stream!(path, [], 1_048_576)
      |> Chunker.stream(hash: :blake3)
      |> Enum.each(&store/1)

  Options are described in `Chunker.Options`: `min_size`, `avg_size`, `max_size` or
  `preset`, `hash`, `data`, `nar_aware`, `copy` and `memory_budget`.

  Chunking a Nix archive so that each large file's contents chunk on their own (see
  `Chunker.NAR`):

      Chunker.NAR.dump("/nix/store/...-hello")
      |> Chunker.stream(preset: :nar, nar_aware: true)

  ## Scheduling

  Each call's cost is estimated from its bytes and the expected number of chunks. Up to about
  100 us of work (`chunk/2` of up to ~170 KB with BLAKE3 at the default sizes; a stream piece
  that, with the bytes the stream already holds, is as small) runs in one call on the caller's
  normal scheduler, which is charged for it (`enif_consume_timeslice`), so loops of small
  calls are preempted like any other code. Larger work runs on dirty CPU schedulers in slices
  of about 0.8 ms (1.3 MiB with BLAKE3), one NIF call each: a single long dirty call would
  delay the VM's timers by its whole length. Within a slice every core of chunker's thread
  pool scans and hashes a segment of its own (the boundaries are exactly the sequential
  ones). Files are read by `File`, whose reads run on dirty I/O schedulers.

  Batches (`chunk_many/2`, `Chunker.Hash.hash_many/2`) of up to ~0.2 ms of work run on the
  caller's scheduler in calls of ~0.1 ms that resume where the last stopped; larger ones on
  dirty schedulers, about 0.8 ms of work per pool thread and call.

  The pool has one thread per core unless the `CHUNKER_THREADS` environment variable (or
  `config :chunker, threads: n`, seen when the configuration is loaded before chunker's
  modules, as under Mix but not in a release) says otherwise; it is sized when the NIF loads.

  A chunk is hashed whole by the call that completes it, so with a very large `max_size` one
  call can take longer than a slice (a 16 MiB chunk: ~3 ms with BLAKE3, ~9 ms with SHA-256).

  Feed `stream/2` pieces of 1 MiB or more (4-8 MiB chunk fastest): each piece costs a NIF
  call, and a dirty one once the stream holds a chunk's worth of bytes.

  ## From Erlang

      {ok, Chunks} = 'Elixir.Chunker':chunk(Bin, [{avg_size, 65536}]).
  """

  alias Chunker.{Batch, Chunk, Error, FileReader, Heap, Input, Native, Options, Schedule}

  # Larger pieces chunk faster (fewer calls, longer parallel scans): reading 256 MiB with
  # `stream/2` at 64 KiB chunks ran at 1.39 GB/s with 1 MiB reads, 1.94 GB/s with 8 MiB.
  @read_size 8_388_608

  @doc """
  Splits `data` (a binary or iodata) into content-defined chunks.

  Returns `{:ok, chunks}` in input order, or `{:error, %Chunker.Error{}}` with reason
  `:invalid_options` for bad options or `:invalid_nar` for `nar_aware: true` on data that
  is not a valid NAR. Raises `ArgumentError` if `data` is not iodata.
  Chunk `data` fields are sub-binaries of the input (no copy).

      iex> {:ok, chunks} = Chunker.chunk(:binary.copy(<<0>>, 600_000))
      iex> Enum.map(chunks, & &1.length)
      [262144, 262144, 75712]

      iex> Chunker.chunk("", hash: :sha256)
      {:ok, []}

      iex> {:error, error} = Chunker.chunk("data", avg_size: :big)
      iex> error.reason
      :invalid_options
  """
  @spec chunk(iodata(), [Options.option()]) :: {:ok, [Chunk.t()]} | {:error, Error.t()}
  def chunk(data, opts \\ []) do
    with {:ok, options} <- Options.validate(opts) do
      data |> Input.to_binary!() |> chunk_binary(options) |> copy_if_asked(options)
    end
  end

  @doc """
  Chunks each item of `items` (a list of binaries or iodata) on its own, as `chunk/2` would:
  `{:ok, lists}` with one list of chunks per item, in input order (offsets count from each
  item's start), or the first error.

  The items are spread over all cores. A small batch (up to about 0.2 ms of work) runs on the
  caller's scheduler in calls of about 0.1 ms, each resuming where the last stopped, so a
  long list of tiny items never holds the scheduler; a larger batch runs on dirty CPU
  schedulers, about 0.8 ms of work per thread and call; an item larger than that is chunked
  alone as `chunk/2` does. With `nar_aware: true` the items are chunked one after the other,
  and an item that is not a NAR makes the whole call fail (the message names its index).

      iex> {:ok, [[a], [b1, b2]]} = Chunker.chunk_many(["tiny", :binary.copy(<<0>>, 300_000)])
      iex> {a.length, b1.length, b2.length}
      {4, 262144, 37856}
  """
  @spec chunk_many([iodata()], [Options.option()]) :: {:ok, [[Chunk.t()]]} | {:error, Error.t()}
  def chunk_many(items, opts \\ [])

  def chunk_many(items, opts) when is_list(items) do
    with {:ok, options} <- Options.validate(opts) do
      binaries = Input.binaries!(items)

      result =
        if options.nar_aware,
          do: chunk_each(binaries, options),
          else: chunk_batch(binaries, options)

      with {:ok, lists} <- result,
           do: {:ok, Enum.map(lists, &elem(copy_if_asked({:ok, &1}, options), 1))}
    end
  end

  def chunk_many(items, _opts) do
    raise ArgumentError,
          "chunk_many/2 expects a list of iodata, got: #{inspect(items, limit: 10)}"
  end

  @doc """
  Like `chunk/2`, but returns the list of chunks or raises `Chunker.Error`.

      iex> [chunk] = Chunker.chunk!("abc", hash: :none, data: false)
      iex> chunk
      %Chunker.Chunk{offset: 0, length: 3, hash: nil, data: nil}
  """
  @spec chunk!(iodata(), [Options.option()]) :: [Chunk.t()]
  def chunk!(data, opts \\ []) do
    case chunk(data, opts) do
      {:ok, chunks} -> chunks
      {:error, error} -> raise error
    end
  end

  @doc """
  Lazily chunks an enumerable of iodata pieces (for example `File.stream!(path, [], 1_048_576)`).

  The chunks are the same as `chunk/2` on the concatenation of the pieces, whatever the
  piece sizes: empty pieces, 1-byte pieces and pieces larger than `max_size` included. Memory
  stays bounded by the largest piece plus three times `max_size` (checked against
  `memory_budget:`). Options are validated when `stream/2` is called (raising
  `Chunker.Error`, reason `:invalid_options` or `:memory_budget_exceeded`); a piece that is not iodata raises
  `ArgumentError` when it is reached, and with `nar_aware: true` input that is not a valid
  NAR raises `Chunker.Error` (reason `:invalid_nar`, the message gives the offset).

  Chunks that lie inside one piece share that piece's memory (sub-binaries); a chunk that
  spans pieces is copied; `copy: true` copies every chunk. Pieces of 4-8 MiB chunk fastest.

      iex> pieces = ["hello ", "", "wor", "ld"]
      iex> Chunker.stream(pieces) |> Enum.to_list() == Chunker.chunk!("hello world")
      true
  """
  @spec stream(Enumerable.t(), [Options.option()]) :: Enumerable.t()
  def stream(enumerable, opts \\ []) do
    options = Options.validate!(opts)
    bang(Options.check_memory(options, 0))
    stream_validated(enumerable, options)
  end

  @doc """
  Reads the file at `path` and chunks it.

  Returns `{:ok, chunks}`, or `{:error, %Chunker.Error{}}` whose `reason` is the `File`
  error (`:enoent`, `:eisdir`, ...) or `:invalid_options`. With `data: false` the file is
  streamed in bounded memory; otherwise it is read whole and the chunks are sub-binaries of it.
  """
  @spec chunk_file(Path.t(), [Options.option()]) :: {:ok, [Chunk.t()]} | {:error, Error.t()}
  def chunk_file(path, opts \\ []) do
    with {:ok, options} <- Options.validate(opts) do
      cond do
        options.data ->
          case File.read(path) do
            {:ok, binary} -> binary |> chunk_binary(options) |> copy_if_asked(options)
            {:error, reason} -> file_error(path, reason)
          end

        match?({:error, _}, memory = Options.check_memory(options, 2 * @read_size)) ->
          memory

        true ->
          stream_file_to_list(path, opts)
      end
    end
  end

  @doc """
  Lazily chunks the file at `path`, reading it 8 MiB at a time, one piece ahead (a helper
  process reads the next piece while this one is chunked). Same chunks as
  `chunk_file/2`; raises `File.Error` when the file cannot be read (when enumerated) and
  `Chunker.Error` for invalid options (at once).

  The file is read in raw mode without a read-ahead buffer: with reads this large a read-ahead
  buffer only adds a copy of every byte (measured: `File.stream!/3` + `stream/2` at 256 KiB
  chunks ran at 1.08 GB/s, raw reads + `stream/2` at 1.41 GB/s).
  """
  @spec stream_file(Path.t(), [Options.option()]) :: Enumerable.t()
  def stream_file(path, opts \\ []) do
    options = Options.validate!(opts)
    bang(Options.check_memory(options, 2 * @read_size))
    path |> FileReader.stream(@read_size) |> stream_validated(options)
  end

  defp stream_file_to_list(path, opts) do
    {:ok, path |> stream_file(opts) |> Enum.to_list()}
  rescue
    error in File.Error -> file_error(path, error.reason)
  end

  defp file_error(path, reason) do
    {:error, Error.new(reason, "could not read #{inspect(path)}: #{:file.format_error(reason)}")}
  end

  # One normal-scheduler call for small binaries; otherwise the binary goes through a native
  # stream in dirty-scheduler slices. Either way every chunk is a sub-binary of the input.
  defp chunk_binary(binary, %Options{nar_aware: true} = o) do
    chunk_through_stream(binary, o)
  rescue
    error in Error -> {:error, error}
  end

  defp chunk_binary(binary, %Options{} = o) do
    if Schedule.normal?(byte_size(binary), {:chunk, o.hash, o.avg_size}) do
      case Native.chunk(binary, o.min_size, o.avg_size, o.max_size, o.hash, o.data) do
        {:ok, chunks} -> {:ok, chunks}
        {:error, reason} -> {:error, native_error(reason)}
      end
    else
      chunk_through_stream(binary, o)
    end
  end

  defp chunk_through_stream(binary, options) do
    state = open_stream!(options)

    try do
      Heap.presized(div(byte_size(binary), options.avg_size) * Heap.words_per_chunk(), fn ->
        {fed, state} = feed_stream(binary, state)
        {tail, _state} = finish_stream(state)
        {:ok, fed ++ tail}
      end)
    after
      close_stream(state)
    end
  end

  defp stream_validated(enumerable, options) do
    chunks =
      Stream.transform(
        enumerable,
        fn -> open_stream!(options) end,
        fn piece, state -> piece |> Input.to_binary!() |> feed_stream(state) end,
        &finish_stream/1,
        &close_stream/1
      )

    if options.copy, do: Stream.map(chunks, &copy_chunk/1), else: chunks
  end

  defp copy_if_asked({:ok, chunks}, %Options{copy: true}),
    do: {:ok, Enum.map(chunks, &copy_chunk/1)}

  defp copy_if_asked(result, _options), do: result

  defp copy_chunk(%Chunk{data: data} = chunk) when is_binary(data),
    do: %Chunk{chunk | data: :binary.copy(data)}

  defp copy_chunk(chunk), do: chunk

  defp bang(:ok), do: :ok
  defp bang({:error, error}), do: raise(error)

  # chunk_many/2 without nar_aware: a small batch in continued normal calls; otherwise dirty
  # rounds of small items, in parallel, and each large item alone through chunk/2's own path
  # (whose scan is parallel itself).
  defp chunk_batch(binaries, %Options{} = o) do
    work = {:chunk, o.hash, o.avg_size}
    {bytes, count} = Input.measure(binaries)
    sizes = {o.min_size, o.avg_size, o.max_size}

    if Schedule.batch_on_normal?(bytes, count, work) do
      chunk_steps(binaries, sizes, o, [])
    else
      limits = Schedule.round_limits(work, Native.thread_count())
      round = &Native.chunk_round(&1, sizes, o.hash, o.data, limits)
      large = &map_ok(&1, fn binary -> chunk_binary(binary, o) end)
      words = (count + div(bytes, o.avg_size)) * Heap.words_per_chunk()

      # Errors of a round are the NIF's reasons; those of a large item are already Errors.
      case Heap.presized(words, fn -> Batch.rounds(binaries, elem(limits, 2), round, large) end) do
        {:error, reason} when not is_struct(reason, Error) -> {:error, native_error(reason)}
        result -> result
      end
    end
  end

  defp chunk_steps(binaries, sizes, o, acc) do
    case Native.chunk_list(binaries, sizes, o.hash, o.data, Schedule.normal_step_us()) do
      {:done, lists} -> {:ok, [lists | acc] |> Enum.reverse() |> Enum.concat()}
      {:cont, lists, rest} -> chunk_steps(rest, sizes, o, [lists | acc])
      {:error, reason} -> {:error, native_error(reason)}
    end
  end

  defp chunk_each(binaries, options) do
    binaries
    |> Enum.with_index()
    |> map_ok(fn {binary, index} ->
      with {:error, error} <- chunk_binary(binary, options),
           do: {:error, %Error{error | message: "item #{index}: #{error.message}"}}
    end)
  end

  # `fun` returns {:ok, value} or {:error, error}: {:ok, values} in order, or the first error.
  defp map_ok(enumerable, fun) do
    enumerable
    |> Enum.reduce_while([], fn item, acc ->
      case fun.(item) do
        {:ok, value} -> {:cont, [value | acc]}
        {:error, _} = error -> {:halt, error}
      end
    end)
    |> case do
      {:error, _} = error -> error
      values -> {:ok, Enum.reverse(values)}
    end
  end

  # Stream state: {native stream, bytes it holds unchunked, kind of work, last binary fed}.
  # The held bytes plus the next piece bound the work of the next feed (a completed chunk is
  # hashed whole); the last binary lets the final chunks be sub-binaries of it.
  defp open_stream!(%Options{} = o) do
    case Native.stream_new(o.min_size, o.avg_size, o.max_size, o.hash, o.data, o.nar_aware) do
      {:ok, ref} -> {ref, 0, {chunk_kind(o), o.hash, o.avg_size}, nil}
      {:error, reason} -> raise native_error(reason)
    end
  end

  defp chunk_kind(%Options{nar_aware: true}), do: :nar_chunk
  defp chunk_kind(%Options{}), do: :chunk

  defp feed_stream(binary, {ref, buffered, work, _last} = state) do
    size = byte_size(binary)

    cond do
      size == 0 ->
        {[], state}

      Schedule.normal?(buffered + size, work) ->
        {chunks, buffered} = unwrap_feed(Native.stream_feed(ref, binary, 0, size))
        {chunks, {ref, buffered, work, binary}}

      true ->
        feed_slices(binary, 0, Schedule.slice_size(work), state, [])
    end
  end

  defp feed_slices(binary, from, slice, {ref, _buffered, work, _last}, acc)
       when from < byte_size(binary) do
    len = min(slice, byte_size(binary) - from)
    {chunks, buffered} = unwrap_feed(Native.stream_feed_dirty(ref, binary, from, len))
    feed_slices(binary, from + len, slice, {ref, buffered, work, binary}, [chunks | acc])
  end

  defp feed_slices(_binary, _from, _slice, state, acc) do
    {acc |> Enum.reverse() |> Enum.concat(), state}
  end

  defp unwrap_feed({:ok, chunks, buffered}), do: {chunks, buffered}
  defp unwrap_feed({:error, reason}), do: raise(native_error(reason))

  defp finish_stream({ref, buffered, work, last} = state) do
    result =
      if Schedule.normal?(buffered, work),
        do: Native.stream_finish(ref, last),
        else: Native.stream_finish_dirty(ref, last)

    case result do
      {:ok, chunks} -> {chunks, state}
      {:error, reason} -> raise native_error(reason)
    end
  end

  defp close_stream({ref, _buffered, _work, _last}), do: Native.stream_close(ref)

  defp native_error({:invalid_options, _option, message}),
    do: Error.new(:invalid_options, message)

  defp native_error({:invalid_nar, _offset, message}), do: Error.new(:invalid_nar, message)

  defp native_error(:stream_finished),
    do: Error.new(:stream_finished, "the chunk stream is already finished")

  defp native_error(:stream_busy),
    do: Error.new(:stream_busy, "the chunk stream is being used by another call")
end
