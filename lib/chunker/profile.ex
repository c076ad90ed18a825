defmodule Chunker.Profile do
  @moduledoc """
  Where the time of a chunk store's ingest goes: `Chunker.profile/2` runs the pipeline
  read -> chunk -> hash -> compress over a file or an enumerable, one stage after the other
  on each piece, and reports each stage's share of the time, its throughput, the VM's memory,
  and a plain suggestion when one stage dominates.

  The stages run one after the other in the calling process (each is itself parallel inside),
  so their times add up to the whole and show which one to work on; a real pipeline that
  overlaps them (reading ahead while chunking) can be faster than their sum.
  """

  alias Chunker.{ChunkStream, Compression, Error, FileReader, Hash, Input, Native, Options}
  alias Chunker.Native.Run

  @read_size 8_388_608
  @stages [:read, :chunk, :hash, :compress]

  @typedoc "One stage's figures."
  @type stage :: %{seconds: float(), share: float(), mb_per_s: float()}

  @typedoc "What `Chunker.profile/2` reports."
  @type report :: %{
          source: :file | :enumerable,
          bytes: non_neg_integer(),
          chunks: non_neg_integer(),
          compressed_bytes: non_neg_integer() | nil,
          seconds: float(),
          mb_per_s: float(),
          stages: [{:read | :chunk | :hash | :compress, stage()}],
          memory: %{start: non_neg_integer(), peak: non_neg_integer()},
          options: keyword(),
          suggestion: String.t() | nil
        }

  @doc false
  @spec run(Path.t() | {:files, [Path.t()]} | Enumerable.t(), keyword()) ::
          {:ok, report()} | {:error, Error.t()}
  def run(source, opts) do
    {own, chunking} = Keyword.split(opts, [:compress, :level])

    with {:ok, options} <- Options.validate(chunking),
         {:ok, compress} <- compression(own) do
      # Chunk digests are the hash stage's work, measured apart from the cut.
      cut = %Options{options | hash: :none, data: true, copy: false}
      {kind, pieces} = pieces(source)
      profile(kind, pieces, cut, options.hash, compress, opts)
    end
  rescue
    error in Error -> {:error, error}
  end

  defp compression(own) do
    case Keyword.get(own, :compress, :zstd) do
      nil ->
        {:ok, nil}

      format ->
        opts = Keyword.take(own, [:level])

        # Checked once here, so that a bad level is an error up front, not per chunk.
        with {:ok, format} <- Compression.Options.format(format),
             {:ok, %{level: level}} <- Compression.Options.validate(opts, [:level]),
             :ok <- format |> Native.compression_validate(level, nil) |> Run.result(),
             do: {:ok, {format, opts}}
    end
  end

  # A path (a string or a charlist), several (`{:files, paths}`, read one after the other), or
  # an enumerable of iodata.
  defp pieces({:files, paths}),
    do: {:file, Stream.flat_map(paths, &FileReader.stream(&1, @read_size))}

  defp pieces(path) when is_binary(path), do: pieces({:files, [path]})

  defp pieces([c | _] = path) when is_integer(c),
    do: pieces({:files, [Input.path!(path, "profile/2")]})

  defp pieces(enumerable), do: {:enumerable, enumerable}

  defp profile(kind, pieces, cut, hash, compress, opts) do
    stream = ChunkStream.open!(cut)
    start_memory = :erlang.memory(:total)
    started = now()
    acc = %{times: Map.new(@stages, &{&1, 0}), bytes: 0, chunks: 0, packed: 0, peak: start_memory}

    try do
      # The read stage is the time the enumerable takes to hand over its next piece.
      {acc, stream, _done} =
        Enum.reduce(pieces, {acc, stream, started}, fn piece, {acc, stream, done} ->
          acc = add(acc, :read, now() - done)
          binary = Input.to_binary!(piece)

          {{chunks, stream}, acc} =
            timed(acc, :chunk, fn -> ChunkStream.feed!(stream, binary) end)

          acc = work(%{acc | bytes: acc.bytes + byte_size(binary)}, chunks, hash, compress)
          {%{acc | peak: max(acc.peak, :erlang.memory(:total))}, stream, now()}
        end)

      {tail, acc} = timed(acc, :chunk, fn -> ChunkStream.finish!(stream) end)
      acc = work(acc, tail, hash, compress)
      {:ok, report(kind, acc, now() - started, compress, start_memory, opts)}
    after
      ChunkStream.close(stream)
    end
  end

  # Hashes and compresses one piece's chunks, timing each stage.
  defp work(acc, chunks, hash, compress) do
    data = Enum.map(chunks, & &1.data)
    acc = %{acc | chunks: acc.chunks + length(chunks)}
    {_, acc} = timed(acc, :hash, fn -> hash != :none and Hash.hash_many(data, hash) end)

    case compress do
      nil ->
        acc

      {format, opts} ->
        {{:ok, frames}, acc} =
          timed(acc, :compress, fn -> Compression.compress_many(data, format, opts) end)

        packed = for {:ok, frame} <- frames, reduce: 0, do: (sum -> sum + byte_size(frame))
        %{acc | packed: acc.packed + packed}
    end
  end

  defp timed(acc, stage, fun) do
    start = now()
    result = fun.()
    {result, add(acc, stage, now() - start)}
  end

  defp add(acc, stage, time), do: %{acc | times: Map.update!(acc.times, stage, &(&1 + time))}

  defp now, do: System.monotonic_time(:microsecond)

  defp report(kind, acc, total, compress, start_memory, opts) do
    total = max(total, 1)
    seconds = total / 1.0e6
    mb_per_s = fn micros -> if micros > 0, do: acc.bytes / micros, else: 0.0 end

    stages =
      for stage <- @stages, stage != :compress or compress != nil do
        micros = acc.times[stage]

        {stage,
         %{
           seconds: micros / 1.0e6,
           share: micros / total,
           mb_per_s: Float.round(mb_per_s.(micros) / 1, 1)
         }}
      end

    %{
      source: kind,
      bytes: acc.bytes,
      chunks: acc.chunks,
      compressed_bytes: compress && acc.packed,
      seconds: seconds,
      mb_per_s: Float.round(acc.bytes / total, 1),
      stages: stages,
      memory: %{start: start_memory, peak: acc.peak},
      options: opts,
      suggestion: suggestion(kind, stages, compress, Keyword.get(opts, :hash, :blake3))
    }
  end

  # Names the stage that takes half the time or more, and what would make it cheaper.
  defp suggestion(kind, stages, compress, hash) do
    {stage, %{share: share}} = Enum.max_by(stages, fn {_, %{share: share}} -> share end)
    percent = "#{round(share * 100)}%"

    cond do
      share < 0.5 ->
        nil

      stage == :compress and match?({:lz4, _}, compress) ->
        "compression takes #{percent} of the time even with lz4: store chunks that do not " <>
          "compress as they are (Chunker.Compression.compress_adaptive/2)"

      stage == :compress ->
        "compression takes #{percent} of the time: a lower level (level: 1) or :lz4 would " <>
          "make the pipeline faster, at some cost in ratio"

      stage == :hash and hash == :sha256 ->
        "hashing takes #{percent} of the time: BLAKE3 (hash: :blake3) is several times faster " <>
          "than SHA-256"

      stage == :hash ->
        "hashing takes #{percent} of the time: larger chunks cost less per byte (avg_size:)"

      stage == :read and kind == :enumerable ->
        "reading takes #{percent} of the time: for a file, Chunker.stream_file/2 reads 8 MiB " <>
          "at a time, one piece ahead, and is faster than File.stream!/3"

      stage == :read ->
        "reading takes #{percent} of the time: the storage is the bottleneck, not chunker"

      stage == :chunk ->
        "chunking takes #{percent} of the time: a larger avg_size makes fewer, cheaper chunks"
    end
  end
end
