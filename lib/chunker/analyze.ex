defmodule Chunker.Analyze do
  @moduledoc false
  # What `mix chunker.analyze` measures: every regular file under some paths (or each path as
  # its NAR) chunked, its chunks counted, distinct chunks found by digest, chunk sizes in a
  # histogram, and each distinct chunk compressed on its own with the codecs asked for, as a
  # chunk store would store it.
  #
  # Memory is bounded by the number of distinct chunks (one digest each in a map: see
  # `bytes_per_distinct_chunk/0`), never by file sizes: files are read as streams, and
  # distinct chunks wait for compression in batches of at most @batch_bytes.

  alias Chunker.Analyze.{Progress, Walk}
  alias Chunker.Compression

  # Files up to this size are read whole (`chunk_file/2`: one call); larger ones are streamed
  # (`stream_file/2`, which reads 8 MiB at a time).
  @whole_file 8_388_608
  @batch_bytes 8_388_608
  @max_notes 100

  @type codec :: {Compression.format(), pos_integer() | nil}
  @type note :: %{path: String.t(), note: String.t()}

  @doc """
  Analyzes `paths`. Options: `chunk:` (chunking options for `Chunker.Options.validate/1`, with
  a hash), `compress:` (a list of `{format, level}`; level `nil` for the format's default),
  `nar:` (each path as its NAR, chunked NAR-aware), `progress:` (a `Chunker.Analyze.Progress`
  or `nil`). Returns the report as a map of plain data (what `--json` prints).
  """
  @spec run([Path.t()], keyword()) :: map()
  def run(paths, opts) do
    codecs = Keyword.get(opts, :compress, [])
    nar? = Keyword.get(opts, :nar, false)

    chunk_opts =
      Keyword.fetch!(opts, :chunk) ++
        [data: codecs != []] ++ if(nar?, do: [nar_aware: true], else: [])

    {:ok, options} = Chunker.Options.validate(chunk_opts)
    state = new(codecs, Keyword.get(opts, :progress))
    started = System.monotonic_time(:microsecond)

    state =
      if nar?,
        do: Enum.reduce(paths, state, &add_nar(&1, &2, chunk_opts)),
        else:
          paths
          |> Walk.entries()
          |> read_ahead(chunk_opts)
          |> Enum.reduce(state, &add_entry(&1, &2, chunk_opts))

    state = flush(state)
    micros = System.monotonic_time(:microsecond) - started
    if state.progress, do: Progress.finish(state.progress)
    report(state, paths, options, nar?, micros)
  end

  @doc """
  What the map of seen digests holds per distinct chunk, in bytes, on this VM: a 32-byte
  digest (a heap binary of 6 words) as a key and its value, plus the map's own structure,
  measured over 100,000 digests.
  """
  @spec bytes_per_distinct_chunk() :: pos_integer()
  def bytes_per_distinct_chunk do
    words =
      Enum.reduce(1..100_000, %{}, fn i, seen ->
        Map.put(seen, :crypto.hash(:sha256, <<i::64>>), true)
      end)
      |> :erts_debug.flat_size()

    div(words * :erlang.system_info(:wordsize), 100_000)
  end

  defp new(codecs, progress) do
    %{
      files: 0,
      symlinks: 0,
      skipped: 0,
      errors: 0,
      notes: [],
      bytes: 0,
      chunks: 0,
      distinct_bytes: 0,
      seen: %{},
      sizes: %{},
      codecs:
        Enum.map(codecs, fn {format, level} ->
          %{format: format, level: level, bytes_out: 0, micros: 0}
        end),
      pending: [],
      pending_bytes: 0,
      compress_micros: 0,
      progress: progress
    }
  end

  # Small files cost more per file (opening, a call on a dirty I/O scheduler) than per byte,
  # so they are chunked a few at a time in tasks, results in walk order (the totals are the
  # same as one after the other); large files are streamed here, one at a time.
  defp read_ahead(entries, opts) do
    entries
    |> Task.async_stream(
      fn
        {:file, path, size} when size <= @whole_file ->
          {:chunked, path, Chunker.chunk_file(path, opts)}

        other ->
          other
      end,
      max_concurrency: 2 * System.schedulers_online(),
      ordered: true,
      timeout: :infinity
    )
    |> Stream.map(fn {:ok, entry} -> entry end)
  end

  defp add_entry({:chunked, path, {:ok, chunks}}, state, _opts),
    do: add_chunks(%{state | files: state.files + 1}, path, chunks)

  defp add_entry({:chunked, path, {:error, error}}, state, _opts),
    do: note(%{state | files: state.files + 1, errors: state.errors + 1}, path, error.message)

  defp add_entry({:file, path, _size}, state, opts),
    do: add_chunks(%{state | files: state.files + 1}, path, Chunker.stream_file(path, opts))

  defp add_entry({:symlink, _path}, state, _opts), do: %{state | symlinks: state.symlinks + 1}

  defp add_entry({:skipped, path, why}, state, _opts),
    do: note(%{state | skipped: state.skipped + 1}, path, why)

  defp add_entry({:error, path, reason}, state, _opts),
    do: note(%{state | errors: state.errors + 1}, path, :file.format_error(reason) |> to_string())

  defp add_nar(path, state, opts) do
    chunks = path |> Chunker.NAR.dump() |> Chunker.stream(opts)
    add_chunks(%{state | files: state.files + 1}, path, chunks)
  end

  # A file that fails part-way (unreadable, changed while read) is noted as an error; the
  # chunks it gave before the failure stay counted.
  defp add_chunks(state, path, chunks) do
    Enum.reduce(chunks, state, &add_chunk/2)
  rescue
    error in Chunker.Error ->
      note(%{state | errors: state.errors + 1}, path, error.message)
  end

  defp add_chunk(chunk, state) do
    length = chunk.length
    bucket = bucket(length)

    state = %{
      state
      | bytes: state.bytes + length,
        chunks: state.chunks + 1,
        sizes: Map.update(state.sizes, bucket, {1, length}, fn {n, b} -> {n + 1, b + length} end)
    }

    state =
      if state.progress,
        do: %{state | progress: Progress.update(state.progress, state.bytes)},
        else: state

    if Map.has_key?(state.seen, chunk.hash) do
      state
    else
      state = %{
        state
        | seen: Map.put(state.seen, chunk.hash, true),
          distinct_bytes: state.distinct_bytes + length
      }

      if state.codecs == [], do: state, else: pend(state, chunk.data)
    end
  end

  defp bucket(length), do: floor_log2(length, 0)
  defp floor_log2(n, k) when n < 2, do: k
  defp floor_log2(n, k), do: floor_log2(Bitwise.bsr(n, 1), k + 1)

  defp pend(state, data) do
    state = %{
      state
      | pending: [data | state.pending],
        pending_bytes: state.pending_bytes + byte_size(data)
    }

    if state.pending_bytes >= @batch_bytes, do: flush(state), else: state
  end

  defp flush(%{pending: []} = state), do: state

  defp flush(state) do
    batch = Enum.reverse(state.pending)

    codecs =
      Enum.map(state.codecs, fn codec ->
        opts = if codec.level, do: [level: codec.level], else: []

        {micros, {:ok, results}} =
          :timer.tc(fn -> Compression.compress_many(batch, codec.format, opts) end)

        out = Enum.reduce(results, 0, fn {:ok, packed}, acc -> acc + byte_size(packed) end)
        %{codec | bytes_out: codec.bytes_out + out, micros: codec.micros + micros}
      end)

    spent =
      Enum.reduce(codecs, 0, &(&1.micros + &2)) - Enum.reduce(state.codecs, 0, &(&1.micros + &2))

    %{
      state
      | codecs: codecs,
        pending: [],
        pending_bytes: 0,
        compress_micros: state.compress_micros + spent
    }
  end

  defp note(state, path, why) do
    notes =
      if length(state.notes) < @max_notes,
        do: [%{path: printable(path), note: why} | state.notes],
        else: state.notes

    %{state | notes: notes}
  end

  @doc "`path` as valid UTF-8: bytes that are not are replaced by U+FFFD (for JSON and terminals)."
  @spec printable(Path.t()) :: String.t()
  def printable(path) do
    case :unicode.characters_to_binary(IO.chardata_to_string(path)) do
      binary when is_binary(binary) -> binary
      {_, good, <<_byte, rest::binary>>} -> good <> "\uFFFD" <> printable(rest)
      {_, good, _} -> good <> "\uFFFD"
    end
  end

  defp report(state, paths, options, nar?, micros) do
    chunk_micros = max(micros - state.compress_micros, 1)

    %{
      paths: Enum.map(paths, &printable/1),
      nar: nar?,
      total_bytes: state.bytes,
      files: state.files,
      symlinks: state.symlinks,
      skipped: state.skipped,
      errors: state.errors,
      notes: Enum.reverse(state.notes),
      chunks: state.chunks,
      distinct_chunks: map_size(state.seen),
      distinct_bytes: state.distinct_bytes,
      dedup_ratio: ratio(state.bytes, state.distinct_bytes),
      chunk_sizes: histogram(state.sizes),
      compression: Enum.map(state.codecs, &codec_report(&1, state.distinct_bytes)),
      seconds: chunk_micros / 1_000_000,
      throughput_mb_s: state.bytes / chunk_micros,
      memory_bytes_per_distinct_chunk: bytes_per_distinct_chunk(),
      options: %{
        algorithm: options.algorithm,
        normalization: options.normalization,
        seed: options.seed,
        min_size: options.min_size,
        avg_size: options.avg_size,
        max_size: options.max_size,
        hash: options.hash,
        nar_aware: options.nar_aware
      }
    }
  end

  defp histogram(sizes) do
    sizes
    |> Enum.sort()
    |> Enum.map(fn {k, {chunks, bytes}} ->
      %{from: Bitwise.bsl(1, k), to: Bitwise.bsl(1, k + 1) - 1, chunks: chunks, bytes: bytes}
    end)
  end

  defp codec_report(codec, bytes_in) do
    %{
      format: codec.format,
      level: codec.level,
      bytes_in: bytes_in,
      bytes_out: codec.bytes_out,
      ratio: ratio(bytes_in, codec.bytes_out),
      mb_s: bytes_in / max(codec.micros, 1)
    }
  end

  defp ratio(_bytes, 0), do: 1.0
  defp ratio(bytes, smaller), do: bytes / smaller
end
