defmodule Chunker.Telemetry do
  @moduledoc """
  The `:telemetry` events chunker emits, and how to receive them.

  Events are emitted whenever the `:telemetry` module is loaded in the VM (attaching a
  handler loads it; a release loads it at boot), whatever the order in which applications
  start; chunker does not depend on it. It is already in most Phoenix, Ecto and Broadway
  applications; elsewhere add `{:telemetry, "~> 1.0"}` to your dependencies. Without it
  each call costs one check (`:erlang.module_loaded/1`) and nothing else.

  Every operation is a span, in the shape of `:telemetry.span/3`:

    * `prefix ++ [:start]`, measurements `system_time` and `monotonic_time`;
    * `prefix ++ [:stop]`, measurements `duration` and `monotonic_time` (native time units)
      and those listed below; its metadata is the start metadata plus what the work found
      (`error: reason` when the result is `{:error, %Chunker.Error{}}`);
    * `prefix ++ [:exception]` when the operation raises or throws, measurements `duration`
      and `monotonic_time`, metadata with `kind`, `reason` and `stacktrace`.

  All three carry `telemetry_span_context` in their metadata, the same in the events of one
  span.

  | prefix | functions | stop measurements |
  |---|---|---|
  | `[:chunker, :chunk]` | `Chunker.chunk/2`, `Chunker.chunk!/2`, `Chunker.chunk_many/2`, `Chunker.chunk_file/2` | `bytes`, `chunks` (`items` for `chunk_many`) |
  | `[:chunker, :stream]` | `Chunker.stream/2`, `Chunker.stream_file/2`: one span per enumeration, from its first pull to its end or halt | `bytes`, `chunks` |
  | `[:chunker, :hash]` | `Chunker.Hash.hash/2`, `blake3/1`, `sha256/1`, `hash_many/2` | `bytes` (`items` for `hash_many`) |
  | `[:chunker, :compress]` | `Chunker.Compression.compress/3`, `compress!/3`, `compress_adaptive/2`, `compress_many/3`, `compress_stream/3` | `bytes`, `bytes_out` (`items` for `compress_many`) |
  | `[:chunker, :decompress]` | `decompress/2`, `decompress!/2`, `decompress_many/2`, `decompress_stream/2` | `bytes`, `bytes_out` (`items` for `decompress_many`) |
  | `[:chunker, :nar, :dump]` | `Chunker.NAR.dump/1` (per enumeration) | `bytes` (of the NAR) |
  | `[:chunker, :nar, :restore]` | `Chunker.NAR.restore/2`, `restore!/2` | `bytes` (of the NAR) |
  | `[:chunker, :nar, :entries]` | `Chunker.NAR.entries/1` (per enumeration) | `bytes`, `entries` |

  `bytes` counts the input (for a stream, as far as it was read; for a halted chunk stream the
  chunks returned may cover less). Metadata always has `operation` (the function's name, such
  as `:chunk_file` or `:compress_stream`) and what it was asked to do: for chunking
  `algorithm`, `normalization`, `seed`, `min_size`, `avg_size`, `max_size`, `hash` and
  `nar_aware` (on the stop event, once the options are validated); `algorithm` for hashing;
  `format` and `level` for compression; `format` (`nil`: detected) and `max_size` for
  decompression; `path` for the file functions.

  Streams also emit `prefix ++ [:progress]` (measurements `bytes` so far and `duration` since
  the start; the span's metadata) at most every 100 ms, checked as input arrives, never per
  chunk.

  Attaching a handler:

      :telemetry.attach_many(
        "chunker-log",
        [[:chunker, :chunk, :stop], [:chunker, :stream, :stop]],
        fn event, measurements, metadata, _config ->
          seconds = System.convert_time_unit(measurements.duration, :native, :microsecond) / 1.0e6
          IO.puts("\#{inspect(event)} \#{measurements.bytes} bytes in \#{seconds} s \#{inspect(metadata[:error])}")
        end,
        nil
      )

  Counters of the native work, cheaper still and always on, are in `Chunker.stats/0`.
  """

  alias Chunker.Error

  @typedoc "What an operation's body hands to its measure function besides its result."
  @type info :: term()

  # Streams check the time for a progress event at most once per input piece.
  @progress_interval_ms 100

  @doc false
  # Runs `fun` (which returns {result, info}) as the span `[:chunker | event]`;
  # `measure.(result, info)` gives the stop measurements and extra metadata, and is called
  # only when :telemetry is loaded.
  @spec span([atom()], map(), (() -> {result, info()}), (result, info() -> {map(), map()})) ::
          result
        when result: term()
  def span(event, metadata, fun, measure) do
    if :erlang.module_loaded(:telemetry) do
      :telemetry.span([:chunker | event], metadata, fn ->
        {result, info} = fun.()
        {measurements, extra} = measure.(result, info)
        {result, measurements, metadata |> Map.merge(extra) |> with_error(result)}
      end)
    else
      {result, _info} = fun.()
      result
    end
  end

  defp with_error(metadata, {:error, %Error{reason: reason}}),
    do: Map.put(metadata, :error, reason)

  defp with_error(metadata, _result), do: metadata

  @doc false
  # A lazy enumerable that is a span `[:chunker | event]` per enumeration. `build` is given a
  # function to pass the input enumerable through (it counts the input's bytes) and returns
  # the enumerable to run. `outputs` names the stop measurement made of the elements:
  # `:chunks` or `:entries` (their number), `:bytes_out` (their bytes) or `:bytes` (their
  # bytes are the span's `bytes`: a stream without input, such as a NAR dump).
  @spec stream([atom()], map(), ((Enumerable.t() -> Enumerable.t()) -> Enumerable.t()), atom()) ::
          Enumerable.t()
  def stream(event, metadata, build, outputs) do
    fn acc, fun ->
      if :erlang.module_loaded(:telemetry) do
        run_span([:chunker | event], metadata, build, outputs, acc, fun)
      else
        Enumerable.reduce(build.(& &1), acc, fun)
      end
    end
  end

  defp run_span(prefix, metadata, build, outputs, {command, acc}, fun) do
    span = %{
      prefix: prefix,
      metadata: Map.put(metadata, :telemetry_span_context, make_ref()),
      start: System.monotonic_time(),
      key: {__MODULE__, make_ref()},
      outputs: outputs
    }

    :telemetry.execute(
      prefix ++ [:start],
      %{monotonic_time: span.start, system_time: System.system_time()},
      span.metadata
    )

    Process.put(span.key, {0, span.start})
    enumerable = build.(&Stream.map(&1, fn piece -> count_piece(span, piece) end))
    step(span, &Enumerable.reduce(enumerable, &1, counting(fun, span)), {command, {acc, 0}})
  end

  # The wrapped reducer keeps the elements' measure in the accumulator, beside the caller's.
  defp counting(fun, %{outputs: outputs} = span) do
    fn element, {acc, measured} ->
      {tag, acc} = fun.(element, acc)
      {tag, {acc, measure(outputs, span, element, measured)}}
    end
  end

  defp measure(outputs, _span, _element, n) when outputs in [:chunks, :entries], do: n + 1
  defp measure(:bytes_out, _span, element, n), do: n + byte_size(element)

  defp measure(:bytes, span, element, n) do
    count_bytes(span, byte_size(element))
    n
  end

  defp step(span, reduce, acc) do
    reduce.(acc)
  catch
    kind, reason ->
      stacktrace = __STACKTRACE__
      finish(span, :exception, %{}, %{kind: kind, reason: reason, stacktrace: stacktrace})
      :erlang.raise(kind, reason, stacktrace)
  else
    {:done, {acc, measured}} ->
      stop(span, measured)
      {:done, acc}

    {:halted, {acc, measured}} ->
      stop(span, measured)
      {:halted, acc}

    {:suspended, {acc, measured}, continuation} ->
      {:suspended, acc,
       fn {command, acc} -> step(span, continuation, {command, {acc, measured}}) end}
  end

  defp stop(%{outputs: :bytes} = span, _measured), do: finish(span, :stop, %{}, %{})

  defp stop(%{outputs: outputs} = span, measured),
    do: finish(span, :stop, %{outputs => measured}, %{})

  defp finish(span, kind, measurements, extra) do
    {bytes, _} = Process.delete(span.key) || {0, nil}
    now = System.monotonic_time()

    measurements =
      Map.merge(measurements, %{duration: now - span.start, monotonic_time: now, bytes: bytes})

    :telemetry.execute(span.prefix ++ [kind], measurements, Map.merge(span.metadata, extra))
  end

  defp count_piece(span, piece) do
    count_bytes(span, piece_size(piece))
    piece
  end

  defp count_bytes(span, size) do
    {bytes, last} = Process.get(span.key, {0, span.start})
    bytes = bytes + size
    now = System.monotonic_time()

    if System.convert_time_unit(now - last, :native, :millisecond) >= @progress_interval_ms do
      :telemetry.execute(
        span.prefix ++ [:progress],
        %{bytes: bytes, duration: now - span.start},
        span.metadata
      )

      Process.put(span.key, {bytes, now})
    else
      Process.put(span.key, {bytes, last})
    end
  end

  @doc false
  # `enumerable` with the bytes of its pieces counted as they pass, and a function that
  # returns the count (once: it forgets it).
  @spec counted(Enumerable.t()) :: {Enumerable.t(), (() -> non_neg_integer())}
  def counted(enumerable) do
    key = {__MODULE__, make_ref()}
    add = fn piece -> Process.put(key, Process.get(key, 0) + piece_size(piece)) end
    {Stream.each(enumerable, add), fn -> Process.delete(key) || 0 end}
  end

  # A piece that is not iodata is counted as nothing here: the stream raises on it itself.
  defp piece_size(piece) when is_binary(piece), do: byte_size(piece)

  defp piece_size(piece) do
    IO.iodata_length(piece)
  rescue
    ArgumentError -> 0
  end

  @doc false
  # The metadata of chunking options, for a span's stop event.
  @spec chunking_metadata(Chunker.Options.t()) :: map()
  def chunking_metadata(%Chunker.Options{} = o) do
    Map.take(o, [
      :algorithm,
      :normalization,
      :seed,
      :min_size,
      :avg_size,
      :max_size,
      :hash,
      :nar_aware
    ])
  end
end
