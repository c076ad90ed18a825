defmodule Chunker do
  @moduledoc """
  Content-defined chunking (FastCDC) with per-chunk BLAKE3 or SHA-256 digests, from a Rust NIF.

  Chunk boundaries depend on the content, not on positions: inserting a byte early in a file
  moves only the chunks around the insertion, so the rest deduplicate against what you already
  stored. The boundaries are exactly those of the Rust `fastcdc` crate's `v2020::FastCDC`
  (normalization level 1) for the same sizes by default, or of any other of its chunkers you
  choose (`algorithm: :v2016 | :ronomon`, `normalization: 0..3`, `seed:`; `preset: :attic`
  cuts as attic does), on every path (`chunk/2`, `stream/2`, the file functions,
  `chunk_many/2`) and whatever the pieces a stream arrives in. That is a compatibility
  promise, held by golden vectors that no dependency can move.

      iex> {:ok, chunks} = Chunker.chunk(:binary.copy("abc", 100_000), preset: :attic)
      iex> Enum.map(chunks, & &1.length) |> Enum.sum()
      300000

      iex> {:ok, [chunk]} = Chunker.chunk("hello world")
      iex> {chunk.offset, chunk.length}
      {0, 11}
      iex> chunk.hash == Chunker.Hash.blake3("hello world")
      true

  Streaming a file in bounded memory:

      File.stream!(path, [], 1_048_576)
      |> Chunker.stream(hash: :blake3)
      |> Enum.each(&store/1)

  The guides (in `guides/` of the package, and beside these docs) go further:
  [getting started](getting-started.md), [streaming](streaming.md),
  [choosing chunk sizes](chunk-sizes.md), [a Nix binary cache](nix-binary-cache.md),
  [scheduling and performance](scheduling-and-performance.md), [telemetry](telemetry.md),
  [running across nodes](cluster.md) and [Erlang](erlang.md).

  Options are described in `Chunker.Options`: `algorithm`, `normalization`, `seed`,
  `min_size`, `avg_size`, `max_size` or `preset`, `hash`, `data`, `nar_aware`, `copy` and
  `memory_budget`. Errors are `Chunker.Error`s.

  Chunking a Nix archive so that each large file's contents chunk on their own (see
  `Chunker.NAR`):

      Chunker.NAR.dump("/nix/store/...-hello")
      |> Chunker.stream(preset: :nar, nar_aware: true)

  ## Scheduling

  No call holds the caller's scheduler for more than a fraction of a millisecond. Each NIF
  call works against a deadline on its own clock: about 100 us on the caller's normal
  scheduler, whose process is charged for it (`enif_consume_timeslice`, so loops of small
  calls are preempted like any other code), and about 0.8 ms on a dirty CPU scheduler. A call
  that reaches its deadline returns where it stopped and the work goes on in the next call,
  on a dirty scheduler; small inputs finish in one normal call. How much work fits in a call
  is learned at run time from the calls themselves, so a slower machine takes smaller steps
  and a faster one larger ones. Within a dirty call every core of chunker's thread pool scans
  and hashes a segment of its own (the boundaries are exactly the sequential ones). Files are
  read on dirty I/O schedulers.

  A chunk is hashed whole by the call that completes it, which cannot be split: with a very
  large `max_size` one dirty call can take longer than 0.8 ms (a 16 MiB chunk takes about
  3 ms with BLAKE3 and 9 ms with SHA-256 on the 2-core machine of the README's benchmarks).

  The pool has one thread per core unless the `CHUNKER_THREADS` environment variable (or
  `config :chunker, threads: n`, seen when the configuration is loaded before chunker's
  modules, as under Mix but not in a release) says otherwise; it is sized when the NIF loads.

  Feed `stream/2` pieces of 1 MiB or more (4-8 MiB chunk fastest): each piece costs at least
  one NIF call.

  ## Observability

  Every operation is a `:telemetry` span when `:telemetry` is loaded (see `Chunker.Telemetry`);
  `stats/0` returns the native counters and histograms (bytes, chunks, errors by reason, how
  long NIF calls held each kind of scheduler); `profile/2` shows where the time of
  read -> chunk -> hash -> compress goes on your data.

  ## From Erlang

      {ok, Chunks} = 'Elixir.Chunker':chunk(Bin, [{avg_size, 65536}]).
  """

  alias Chunker.{Batch, Chunk, ChunkStream, Error, FileReader, Gather, Heap, Input, Native}
  alias Chunker.Options
  alias Chunker.Telemetry

  # Larger pieces chunk faster (fewer calls, longer parallel scans): reading 256 MiB with
  # `stream/2` at 64 KiB chunks ran at 1.39 GB/s with 1 MiB reads, 1.94 GB/s with 8 MiB
  # (measured for the throughput issue, 2026-11-24; see the README's benchmarks).
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
    Telemetry.span([:chunk], %{operation: :chunk}, fn -> chunk_body(data, opts) end, &measured/2)
  end

  defp chunk_body(data, opts) do
    case Options.validate(opts) do
      {:ok, options} ->
        binary = Input.to_binary!(data)
        result = binary |> ChunkStream.chunk(options) |> copy_if_asked(options)
        {result, {byte_size(binary), options}}

      error ->
        {error, nil}
    end
  end

  @doc """
  Chunks each item of `items` (a list of binaries or iodata) on its own, as `chunk/2` would:
  `{:ok, lists}` with one list of chunks per item, in input order (offsets count from each
  item's start), or the first error.

  The items are spread over all cores. A small batch runs on the caller's scheduler in calls
  of about 0.1 ms, each resuming where the last stopped, so a long list of tiny items never
  holds the scheduler; the rest runs on dirty CPU schedulers, about 0.8 ms of work per thread
  and call; an item too large for that is chunked alone as `chunk/2` does. With
  `nar_aware: true` the items are chunked one after the other, and an item that is not a NAR
  makes the whole call fail (the message names its index, as does `details.index`).

      iex> {:ok, [[a], [b1, b2]]} = Chunker.chunk_many(["tiny", :binary.copy(<<0>>, 300_000)])
      iex> {a.length, b1.length, b2.length}
      {4, 262144, 37856}
  """
  @spec chunk_many([iodata()], [Options.option()]) :: {:ok, [[Chunk.t()]]} | {:error, Error.t()}
  def chunk_many(items, opts \\ [])

  def chunk_many(items, opts) when is_list(items) do
    Telemetry.span(
      [:chunk],
      %{operation: :chunk_many},
      fn -> chunk_many_body(items, opts) end,
      &measured_many/2
    )
  end

  def chunk_many(items, _opts) do
    raise ArgumentError,
          "chunk_many/2 expects a list of iodata, got: #{inspect(items, limit: 10)}"
  end

  defp chunk_many_body(items, opts) do
    case Options.validate(opts) do
      {:ok, options} ->
        binaries = Input.binaries!(items)

        result =
          if options.nar_aware,
            do: chunk_each(binaries, options),
            else: chunk_batch(binaries, options)

        result =
          with {:ok, lists} <- result,
               do: {:ok, Enum.map(lists, &elem(copy_if_asked({:ok, &1}, options), 1))}

        {result, {binaries, options}}

      error ->
        {error, nil}
    end
  end

  # The stop measurements and metadata of a chunking span: `info` is {input bytes, options},
  # or nil when the options were invalid.
  defp measured(_result, nil), do: {%{bytes: 0, chunks: 0}, %{}}

  defp measured(result, {bytes, options}) do
    chunks = with {:ok, chunks} <- result, do: length(chunks), else: (_ -> 0)
    {%{bytes: bytes, chunks: chunks}, Telemetry.chunking_metadata(options)}
  end

  defp measured_many(result, nil), do: measured(result, nil)

  defp measured_many(result, {binaries, options}) do
    info = {Input.total_size(binaries), options}

    case result do
      {:ok, lists} ->
        {measurements, metadata} = measured({:ok, Enum.concat(lists)}, info)
        {Map.put(measurements, :items, length(lists)), metadata}

      error ->
        measured(error, info)
    end
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
  `memory_budget:`) and 64 KiB of small pieces gathered. Options are validated when `stream/2` is called (raising
  `Chunker.Error`, reason `:invalid_options` or `:memory_budget_exceeded`); a piece that is not iodata raises
  `ArgumentError` when it is reached, and with `nar_aware: true` input that is not a valid
  NAR raises `Chunker.Error` (reason `:invalid_nar`, the message gives the offset).

  Chunks that lie inside one piece share that piece's memory (sub-binaries); a chunk that
  spans pieces is copied; `copy: true` copies every chunk. Pieces of 4-8 MiB chunk fastest.
  Pieces of any size cost about what large ones do: pieces under 64 KiB are gathered into
  one NIF call (so on a slow source up to 64 KiB wait for the next call), and a `File.Stream`
  in line mode, `File.stream!(path)`, is read in 1 MiB blocks holding the bytes its lines
  would give (CR LF as LF: line mode is wrong for binary data).

      iex> pieces = ["hello ", "", "wor", "ld"]
      iex> Chunker.stream(pieces) |> Enum.to_list() == Chunker.chunk!("hello world")
      true
  """
  @spec stream(Enumerable.t(), [Options.option()]) :: Enumerable.t()
  def stream(enumerable, opts \\ []) do
    options = Options.validate!(opts)
    bang(Options.check_memory(options, 0))

    Telemetry.stream(
      [:stream],
      Map.put(Telemetry.chunking_metadata(options), :operation, :stream),
      fn count ->
        enumerable
        |> Gather.blocks()
        |> count.()
        |> ChunkStream.transform(options)
        |> copy_stream_if_asked(options)
      end,
      :chunks
    )
  end

  @doc """
  Reads the file at `path` and chunks it.

  Returns `{:ok, chunks}`, or `{:error, %Chunker.Error{}}` whose `reason` is the `File`
  error (`:enoent`, `:eisdir`, ...; `details.path` is the path), `:file_changed`, or
  `:invalid_options`. With `data: false` the file is streamed in bounded memory; otherwise it
  is read whole and the chunks are sub-binaries of it. Raises `ArgumentError` if `path` is
  not a path (a string or charlist).

  A file that changes while it is read is an error, `:file_changed`, never chunks of a mix of
  two versions: a file that shrank, was modified (its size the same, its modification or
  change time not) or was replaced while it was read. A file that only grew is read up to
  its size when it was opened, which is what it held then if it was appended to (a log).
  Pipes and devices have no size to check and are read to their end.

      iex> path = Path.join(System.tmp_dir!(), "chunker-doc-\#{System.unique_integer([:positive])}")
      iex> File.write!(path, "hello")
      iex> {:ok, [chunk]} = Chunker.chunk_file(path)
      iex> chunk.data
      "hello"
      iex> File.rm!(path)
      iex> {:error, error} = Chunker.chunk_file(path)
      iex> error.reason
      :enoent
  """
  @spec chunk_file(Path.t(), [Options.option()]) :: {:ok, [Chunk.t()]} | {:error, Error.t()}
  def chunk_file(path, opts \\ []) do
    path = Input.path!(path, "chunk_file/2")

    Telemetry.span(
      [:chunk],
      %{operation: :chunk_file, path: path},
      fn -> chunk_file_body(path, opts) end,
      fn
        {:ok, chunks} = result, options ->
          measured(result, {Enum.reduce(chunks, 0, &(&1.length + &2)), options})

        result, options ->
          measured(result, options && {0, options})
      end
    )
  end

  defp chunk_file_body(path, opts) do
    case Options.validate(opts) do
      {:ok, options} ->
        result =
          cond do
            options.data ->
              with {:ok, binary} <- FileReader.read(path),
                   do: binary |> ChunkStream.chunk(options) |> copy_if_asked(options)

            match?({:error, _}, memory = Options.check_memory(options, 2 * @read_size)) ->
              memory

            true ->
              stream_file_to_list(path, options)
          end

        {result, options}

      error ->
        {error, nil}
    end
  end

  @doc """
  Lazily chunks the file at `path`, reading it 8 MiB at a time, one piece ahead (a helper
  process reads the next piece while this one is chunked). Same chunks as `chunk_file/2`;
  raises `Chunker.Error` when the file cannot be read or changes while it is read (when
  enumerated; see `chunk_file/2`) and for invalid options (at once), `ArgumentError` if
  `path` is not a path.

  As each piece arrives the consuming process gets a minor garbage collection: a piece is
  freed only once no heap refers to it, and without it a process can hold several pieces it
  no longer uses until its next collection.
  """
  @spec stream_file(Path.t(), [Options.option()]) :: Enumerable.t()
  def stream_file(path, opts \\ []) do
    path = Input.path!(path, "stream_file/2")
    options = Options.validate!(opts)
    bang(Options.check_memory(options, 2 * @read_size))

    metadata =
      options
      |> Telemetry.chunking_metadata()
      |> Map.merge(%{operation: :stream_file, path: path})

    Telemetry.stream([:stream], metadata, &stream_validated_file(path, options, &1), :chunks)
  end

  @doc """
  What the native code has done since the library was loaded or `reset_stats/0` was last
  called, from counters kept in the NIF (relaxed atomics, updated once per call or per item,
  never per byte or per chunk; always on):

    * `chunk`: `bytes` and `chunks` returned, `calls` (inputs chunked: a `chunk/2` or file
      call, a stream, an item of `chunk_many/2`), `pool_jobs` (parts of large binaries
      chunked on the thread pool between dirty calls, see "Scheduling" in the README),
      `sizes` (a histogram of chunk lengths in powers of two);
    * `hash`: per algorithm (`:blake3`, `:sha256`), `bytes` and `calls` (digests) of
      `Chunker.Hash`; chunk digests count as chunking;
    * `compress`, `decompress`: per format (`:zstd`, `:lz4`, `:xz`, `:bzip2`), `bytes_in`,
      `bytes_out` and `calls` (frames written; inputs decoded to their end);
    * `nar`: `bytes` of `dump`, `restore` and `entries`; `file`: `bytes` read by the file
      functions;
    * `errors`: how many errors of each reason were returned or raised;
    * `resources`: native resources alive now (`chunk_streams`, `hashers`, `encoders`,
      `decoders`, `files`, `nar_dumps`, `nar_parsers`, `dictionaries`), not reset;
    * `nif_calls`: for `normal`, `dirty_cpu` and `dirty_io` schedulers, how long NIF calls held
      them, in nanoseconds: `count`, `sum`, `max`, `p50` and `p99` (upper bounds of the
      buckets they fall in: within 19% of the real value, never above `max`) and `buckets`.

  A histogram is `%{count:, sum:, max:, p50:, p99:, buckets: [{floor, count}]}`, the
  non-empty buckets in order, each holding the values from its floor up to the next floor.
  The `normal` call durations show the 1 ms rule hold in production: their `max` stays well
  under a millisecond.

      iex> %{chunk: %{bytes: before}} = Chunker.stats()
      iex> {:ok, _} = Chunker.chunk(:binary.copy("x", 100_000))
      iex> %{chunk: %{bytes: now}} = Chunker.stats()
      iex> now - before >= 100_000
      true

  Counts are for the whole VM: other processes' work shows in them too, so compare two
  readings rather than expecting exact totals (and `reset_stats/0` resets them for everyone).
  """
  @spec stats() :: map()
  def stats, do: Native.stats()

  @doc """
  Profiles the pipeline a chunk store runs on `source` (a path, or an enumerable of iodata
  pieces such as `File.stream!/3`): read, chunk, hash, compress, one stage after the other on
  each piece. Returns `{:ok, report}` with each stage's share of the time and throughput, the
  VM's memory at the start and at its peak, the compressed size, and a `suggestion` (a
  sentence, or `nil`) when one stage takes half the time or more; see
  `Chunker.Profile`. `mix chunker.analyze --profile` prints it.

  Options: the chunking options of `stream/2` (`hash:` is the hash stage's algorithm;
  `:none` skips it), `compress:` the format of the compress stage (default `:zstd`; `nil`
  skips it) and `level:`.

      iex> {:ok, report} = Chunker.profile([:binary.copy("abc", 100_000)], compress: :lz4)
      iex> {report.bytes, Keyword.keys(report.stages)}
      {300000, [:read, :chunk, :hash, :compress]}
      iex> report.stages |> Enum.map(fn {_, stage} -> stage.share end) |> Enum.sum() |> Float.round(6) <= 1.0
      true
  """
  @spec profile(Path.t() | Enumerable.t(), keyword()) ::
          {:ok, Chunker.Profile.report()} | {:error, Error.t()}
  def profile(source, opts \\ []), do: Chunker.Profile.run(source, opts)

  @doc """
  The cut-point engine that finds chunk boundaries in this VM: `:interleaved` (two chains of
  chunks scanned in one loop, for every algorithm; the default) or `:scalar` (one chain at a
  time, the `fastcdc` crate's loop). Both give exactly the same boundaries; `:interleaved` is
  faster on one core (`cargo bench --bench chunking -- one_core` and `-- variants` in
  `native/`).

  The environment variable `CHUNKER_CUT_ENGINE` (`scalar`, `interleaved` or `auto`), read
  once when the library loads, forces one, for tests or to compare speeds. Any other value
  is ignored with a warning logged when the library loads.

      iex> Chunker.cut_engine() in [:scalar, :interleaved]
      true
  """
  @spec cut_engine() :: :scalar | :interleaved
  def cut_engine do
    {engine, _warning} = Native.cut_engine()
    engine
  end

  @doc "Sets the counters and histograms of `stats/0` to zero (not the live resources)."
  @spec reset_stats() :: :ok
  def reset_stats, do: Native.reset_stats()

  # `count` sees the pieces read (telemetry counts their bytes).
  defp stream_validated_file(path, options, count \\ & &1) do
    path
    |> FileReader.stream(@read_size)
    |> count.()
    |> Stream.each(fn _piece -> collect_young_heap() end)
    |> ChunkStream.transform(options)
    |> copy_stream_if_asked(options)
  end

  # An 8 MiB piece is freed only once no process's heap refers to it any more: the reader's,
  # and the consumer's until its next collection, which can come several pieces later. A
  # minor collection as each piece arrives (the young heap holds little more than the last
  # piece's chunks) keeps the pieces alive to about three (measured on a 4 GiB file, peak
  # resident growth: 40-80 MiB without, see the load test for with).
  defp collect_young_heap, do: :erlang.garbage_collect(self(), type: :minor)

  defp stream_file_to_list(path, options) do
    {:ok, path |> stream_validated_file(options) |> Enum.to_list()}
  rescue
    error in Error -> {:error, error}
  end

  defp copy_if_asked({:ok, chunks}, %Options{copy: true}),
    do: {:ok, Enum.map(chunks, &copy_chunk/1)}

  defp copy_if_asked(result, _options), do: result

  defp copy_stream_if_asked(chunks, %Options{copy: true}), do: Stream.map(chunks, &copy_chunk/1)
  defp copy_stream_if_asked(chunks, _options), do: chunks

  defp copy_chunk(%Chunk{data: data} = chunk) when is_binary(data),
    do: %Chunk{chunk | data: :binary.copy(data)}

  defp copy_chunk(chunk), do: chunk

  defp bang(:ok), do: :ok
  defp bang({:error, error}), do: raise(error)

  # chunk_many/2 without nar_aware: the list NIF's rounds (lists.rs in the NIF), and each
  # large item alone through chunk/2's own path (whose scan is parallel itself).
  defp chunk_batch(binaries, %Options{} = o) do
    config = Options.native_config(o)
    large = &map_ok(&1, fn binary -> ChunkStream.chunk(binary, o) end)
    bytes = Input.total_size(binaries)
    words = (length(binaries) + div(bytes, o.avg_size)) * Heap.words_per_chunk()

    Heap.presized(words, fn ->
      Batch.list(
        binaries,
        &Native.chunk_list(&1, config, o.hash, o.data),
        &Native.chunk_list_dirty(&1, config, o.hash, o.data),
        large
      )
    end)
  end

  defp chunk_each(binaries, options) do
    binaries
    |> Enum.with_index()
    |> map_ok(fn {binary, index} ->
      with {:error, error} <- ChunkStream.chunk(binary, options) do
        {:error,
         %Error{
           error
           | message: "item #{index}: #{error.message}",
             details: Map.put(error.details, :index, index)
         }}
      end
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
end
