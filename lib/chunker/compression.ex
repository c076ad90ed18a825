defmodule Chunker.Compression do
  @moduledoc """
  zstd, LZ4, xz and bzip2, in the standard frame formats the `zstd`, `lz4`, `xz` and `bzip2`
  command-line tools read and write: one-shot, batched on both cores, and streaming in
  bounded memory.

      iex> {:ok, packed} = Chunker.Compression.compress("hello hello hello hello", :zstd)
      iex> Chunker.Compression.detect(packed)
      :zstd
      iex> Chunker.Compression.decompress(packed)
      {:ok, "hello hello hello hello"}

  ## Hostile input

  `decompress/2` refuses to produce more than `max_size` bytes (default 1 GiB), returning
  `{:error, %Chunker.Error{reason: :size_exceeded}}` without allocating much past the limit,
  so a small decompression bomb costs nothing. Exactly `max_size` bytes of output is
  accepted. Truncated frames, corrupt data and bytes after the last frame are errors, never
  short output:

      iex> {:ok, packed} = Chunker.Compression.compress(:binary.copy("a", 10_000), :lz4)
      iex> {:error, error} = Chunker.Compression.decompress(packed, max_size: 9_999)
      iex> error.reason
      :size_exceeded
      iex> {:error, error} = Chunker.Compression.decompress(binary_part(packed, 0, byte_size(packed) - 1))
      iex> error.reason
      :truncated

  Error reasons: `:invalid_options`, `:unknown_format`, `:unsupported_format` (gzip; LZ4
  legacy frames when `format: :lz4` is forced, else they are `:unknown_format`),
  `:size_exceeded`, `:truncated`, `:trailing_data`, `:corrupt`,
  `:memory_limit` (an xz stream needing over 256 MiB of decoder memory), `:out_of_memory`.

  ## Levels

  `level:` is zstd's (-131072 to 22, default 3; negative levels are `zstd --fast`), xz's (0
  to 9, default 6) or bzip2's (1 to 9, default 9). LZ4 frames are written at the single level
  of lz4_flex and take no `level:`.

  ## Scheduling

  Work of up to about 100 us runs in one call on the caller's scheduler, charged to its
  timeslice. Larger inputs are compressed, and large outputs decompressed, on dirty CPU
  schedulers in slices of about 0.8 ms. Batches run on a dirty scheduler with the items spread
  over all cores, in groups of about 1 ms per core.
  """

  alias Chunker.{Error, Input, Native, Schedule}
  alias Chunker.Batch
  alias Chunker.Compression.Options

  @type format :: :zstd | :lz4 | :xz | :bzip2

  @doc """
  Compresses `data` (iodata) into one frame of `format`.

  Options: `level:` (see the module doc). Raises `ArgumentError` if `data` is not iodata.

      iex> {:ok, packed} = Chunker.Compression.compress(["ab", "cd"], :xz, level: 1)
      iex> Chunker.Compression.decompress(packed)
      {:ok, "abcd"}
  """
  @spec compress(iodata(), format(), keyword()) :: {:ok, binary()} | {:error, Error.t()}
  def compress(data, format, opts \\ []) do
    with {:ok, format} <- Options.format(format),
         {:ok, %{level: level}} <- Options.validate(opts, [:level], %{format: format}) do
      binary = Input.to_binary!(data)
      work = {:compress, format, level}

      if Schedule.normal?(byte_size(binary), work) do
        Native.compress(binary, format, level) |> result()
      else
        compress_sliced(binary, format, level, Schedule.slice_size(work))
      end
    end
  end

  @doc "Like `compress/3`, returning the binary or raising `Chunker.Error`."
  @spec compress!(iodata(), format(), keyword()) :: binary()
  def compress!(data, format, opts \\ []), do: bang(compress(data, format, opts))

  @doc """
  Decompresses `data`, all of its concatenated frames, detecting the format from its magic
  bytes.

  Options: `format:` forces a format; `max_size:` caps the output (default 1 GiB).
  """
  @spec decompress(iodata(), keyword()) :: {:ok, binary()} | {:error, Error.t()}
  def decompress(data, opts \\ []) do
    with {:ok, %{format: format, max_size: max_size}} <-
           Options.validate(opts, [:format, :max_size], %{}) do
      binary = Input.to_binary!(data)

      with {:ok, format} <- resolve_format(binary, format) do
        work = {:decompress, format}
        budget = Schedule.normal_budget(work)

        # Input counts against the budget as output does, so large inputs skip the try.
        reply =
          if byte_size(binary) <= budget,
            do: Native.decompress(binary, format, max_size, budget),
            else: :budget

        case reply do
          :budget -> decompress_sliced(binary, format, max_size, Schedule.slice_size(work))
          other -> result(other)
        end
      end
    end
  end

  @doc "Like `decompress/2`, returning the binary or raising `Chunker.Error`."
  @spec decompress!(iodata(), keyword()) :: binary()
  def decompress!(data, opts \\ []), do: bang(decompress(data, opts))

  @doc """
  The format of `data` from its first bytes: `:zstd`, `:lz4`, `:xz`, `:bzip2`, `:gzip`
  (recognized, not supported) or `:unknown`. Skippable frames in front are looked through.

      iex> Chunker.Compression.detect(<<0x1F, 0x8B, 8, 0>>)
      :gzip
      iex> Chunker.Compression.detect("plain")
      :unknown
  """
  @spec detect(binary()) :: format() | :gzip | :unknown
  def detect(data) when is_binary(data), do: Native.detect_format(data)

  @doc """
  Compresses each item of `items` (a list of iodata), on all cores; results in input order,
  one `{:ok, binary}` or `{:error, error}` per item.

      iex> {:ok, [{:ok, a}, {:ok, b}]} = Chunker.Compression.compress_many(["one", "two"], :zstd)
      iex> Chunker.Compression.decompress_many([a, b, "junk"])
      {:ok, [{:ok, "one"}, {:ok, "two"}, {:error, %Chunker.Error{reason: :unknown_format,
        message: "unknown format: no zstd, lz4, xz or bzip2 magic bytes"}}]}
  """
  @spec compress_many([iodata()], format(), keyword()) ::
          {:ok, [{:ok, binary()} | {:error, Error.t()}]} | {:error, Error.t()}
  def compress_many(items, format, opts \\ []) when is_list(items) do
    with {:ok, format} <- Options.format(format),
         {:ok, %{level: level}} <- Options.validate(opts, [:level], %{format: format}) do
      binaries = Input.binaries!(items)
      limits = Schedule.round_limits({:compress, format, level}, Native.thread_count())
      slice = elem(limits, 2)

      open = fn binary ->
        with {:ok, encoder} <-
               Native.encoder_new(format, level, true, byte_size(binary)) |> result() do
          {:ok, encoder, slice}
        end
      end

      # Runs of small items are compressed whole, many per dirty call (contexts reused per
      # thread); items larger than a slice each get an encoder fed in slices.
      round = fn binaries ->
        case Native.compress_round(binaries, format, level, limits) do
          {:done, results} -> {:done, Enum.map(results, &result/1)}
          {:cont, results, rest} -> {:cont, Enum.map(results, &result/1), rest}
          {:error, _} = error -> result(error)
        end
      end

      Batch.rounds(binaries, slice, round, &{:ok, Batch.run(&1, open, :encode)})
    end
  end

  @doc """
  Decompresses each item of `items` on all cores; results in input order. `max_size:` (default
  1 GiB) applies to each item; `format:` forces a format for all.
  """
  @spec decompress_many([iodata()], keyword()) ::
          {:ok, [{:ok, binary()} | {:error, Error.t()}]} | {:error, Error.t()}
  def decompress_many(items, opts \\ []) when is_list(items) do
    with {:ok, %{format: format, max_size: max_size}} <-
           Options.validate(opts, [:format, :max_size], %{}) do
      binaries = Input.binaries!(items)

      open = fn binary ->
        with {:ok, format} <- resolve_format(binary, format),
             {:ok, decoder} <-
               Native.decoder_new(format, max_size, true, byte_size(binary)) |> result() do
          {:ok, decoder, Schedule.slice_size({:decompress, format})}
        end
      end

      {:ok, Batch.run(binaries, open, :decode)}
    end
  end

  @doc """
  Lazily compresses an enumerable of iodata into one frame of `format`, emitted as binaries
  (concatenated, they are the frame). Memory stays bounded whatever the input size:

      File.stream!(path, [], 1_048_576)
      |> Chunker.Compression.compress_stream(:zstd)
      |> Stream.into(File.stream!(path <> ".zst"))
      |> Stream.run()

  Options (`level:`) are validated when this is called, raising `Chunker.Error`.
  """
  @spec compress_stream(Enumerable.t(), format(), keyword()) :: Enumerable.t()
  def compress_stream(enumerable, format, opts \\ []) do
    format = bang(Options.format(format))
    %{level: level} = Options.validate!(opts, [:level], %{format: format})
    work = {:compress, format, level}

    slice = Schedule.slice_size(work)

    Stream.transform(
      enumerable,
      fn -> Native.encoder_new(format, level, false, nil) |> result() |> bang() end,
      fn piece, encoder -> {encode_piece(encoder, Input.to_binary!(piece), slice), encoder} end,
      fn encoder ->
        {non_empty([bang(Native.encoder_finish_dirty(encoder) |> result())]), encoder}
      end,
      fn _encoder -> :ok end
    )
  end

  @doc """
  Lazily decompresses an enumerable of iodata pieces of compressed data (all its frames),
  emitting the output as binaries, in bounded memory. The format is detected from the first
  bytes unless `format:` is given. `max_size:` caps the total output (default `:infinity`).
  Errors raise `Chunker.Error` when reached.
  """
  @spec decompress_stream(Enumerable.t(), keyword()) :: Enumerable.t()
  def decompress_stream(enumerable, opts \\ []) do
    options =
      Options.validate!(opts, [:format, :max_size], %{infinity: true, default_max_size: :infinity})

    max_size =
      if options.max_size == :infinity, do: 18_446_744_073_709_551_615, else: options.max_size

    Stream.transform(
      enumerable,
      fn -> {:detecting, options.format, max_size, ""} end,
      fn piece, state -> decode_piece(state, Input.to_binary!(piece)) end,
      &finish_decoding/1,
      fn _state -> :ok end
    )
  end

  @doc """
  Compresses `data` only if that is worth it. Data that starts like a compressed file (the
  four formats here, gzip, zip, PNG, JPEG, ...), data whose sampled entropy is at least
  `max_entropy:` bits per byte (default 7.5; 8 is random), and data that does not compress to
  at most `max_ratio:` of its size (default 0.9) are not compressed. `format:` (default
  `:zstd`) and `level:` choose the compression.

  Returns `{:ok, {:compressed, format, binary}}`, or `{:ok, {:stored, why}}` where `why` is
  `{:already_compressed, kind}`, `{:high_entropy, bits}` or `{:no_gain, ratio}`: store the
  original then.

      iex> {:ok, {:compressed, :zstd, _}} = Chunker.Compression.compress_adaptive(:binary.copy("abc", 1000))
      iex> Chunker.Compression.compress_adaptive(<<0x89, "PNG\\r\\n", 0x1A, "\\n", "pixels">>)
      {:ok, {:stored, {:already_compressed, "png"}}}
  """
  @spec compress_adaptive(iodata(), keyword()) ::
          {:ok, {:compressed, format(), binary()} | {:stored, tuple()}} | {:error, Error.t()}
  def compress_adaptive(data, opts \\ []) do
    with {:ok, options} <-
           Options.validate(opts, [:format, :level, :max_ratio, :max_entropy], %{
             default_format: :zstd
           }) do
      binary = Input.to_binary!(data)
      %{format: format, level: level, max_ratio: ratio, max_entropy: entropy} = options

      if Schedule.normal?(byte_size(binary), {:compress, format, level}),
        do: Native.compress_adaptive(binary, format, level, ratio, entropy) |> result(),
        else: Native.compress_adaptive_dirty(binary, format, level, ratio, entropy) |> result()
    end
  end

  # -- one-shot, sliced ------------------------------------------------------------------

  defp compress_sliced(binary, format, level, slice) do
    with {:ok, encoder} <- Native.encoder_new(format, level, true, byte_size(binary)) |> result(),
         :ok <-
           each_slice(
             binary,
             slice,
             &ok_or_error(Native.encoder_update_dirty(encoder, binary, &1, &2))
           ) do
      Native.encoder_finish_dirty(encoder) |> result()
    end
  end

  defp decompress_sliced(binary, format, max_size, slice) do
    with {:ok, decoder} <-
           Native.decoder_new(format, max_size, true, byte_size(binary)) |> result(),
         :ok <- decode_all(decoder, binary, 0, slice) do
      Native.decoder_finish_dirty(decoder) |> result()
    end
  end

  defp each_slice(binary, slice, fun, from \\ 0) do
    if from < byte_size(binary) do
      len = min(slice, byte_size(binary) - from)

      case fun.(from, len) do
        :ok -> each_slice(binary, slice, fun, from + len)
        error -> error
      end
    else
      :ok
    end
  end

  # Feeds `binary[from..]` to a collecting decoder, about `budget` output bytes per call.
  defp decode_all(decoder, binary, from, budget) do
    case Native.decoder_feed_dirty(decoder, binary, from, byte_size(binary) - from, budget) do
      {:ok, _output, consumed, pending} ->
        from = from + consumed

        if from < byte_size(binary) or pending,
          do: decode_all(decoder, binary, from, budget),
          else: :ok

      error ->
        result(error)
    end
  end

  # -- streams ---------------------------------------------------------------------------

  # Encoders buffer input and do their work in bursts (a bzip2 block sort takes tens of
  # milliseconds whenever 900 KB have gathered), so however small the piece, the call goes to
  # a dirty scheduler; large pieces go in slices.
  defp encode_piece(_encoder, "", _slice), do: []

  defp encode_piece(encoder, binary, slice) do
    for from <- 0..(byte_size(binary) - 1)//slice,
        len = min(slice, byte_size(binary) - from),
        output = bang(Native.encoder_update_dirty(encoder, binary, from, len) |> result()),
        output != "",
        do: output
  end

  # Stream state: {:detecting, forced_format, max_size, head_so_far} until the format is
  # known, then {:decoding, decoder, format}.
  @detect_bytes 10
  # Skippable frames in front of the first real frame are gathered whole to see what follows
  # them, up to this much.
  @max_head 16 * 1_048_576

  defp decode_piece({:detecting, forced, max_size, seen}, binary) do
    head = seen <> binary

    cond do
      forced != nil -> start_decoding(forced, max_size, head)
      ready_to_detect?(head) -> detect_and_start(head, max_size)
      true -> {[], {:detecting, forced, max_size, head}}
    end
  end

  defp decode_piece({:decoding, decoder, format} = state, binary) do
    {decode_stream_piece(decoder, format, binary), state}
  end

  defp ready_to_detect?(head) do
    byte_size(head) >= @max_head or
      (byte_size(head) >= @detect_bytes and not incomplete_skippable?(head))
  end

  # True while `head` is skippable frames the last of which (or the 10 bytes after which)
  # has not fully arrived.
  defp incomplete_skippable?(<<magic, 0x2A, 0x4D, 0x18, size::little-32, rest::binary>>)
       when magic in 0x50..0x5F do
    if byte_size(rest) < size + @detect_bytes,
      do: true,
      else: incomplete_skippable?(binary_part(rest, size, byte_size(rest) - size))
  end

  defp incomplete_skippable?(_head), do: false

  defp detect_and_start(head, max_size) do
    case resolve_format(head, nil) do
      {:ok, format} -> start_decoding(format, max_size, head)
      {:error, error} -> raise error
    end
  end

  defp start_decoding(format, max_size, head) do
    decoder = bang(Native.decoder_new(format, max_size, false, 0) |> result())
    {decode_stream_piece(decoder, format, head), {:decoding, decoder, format}}
  end

  # The output of one piece, produced lazily, one decoder call per element: a small piece of
  # a bomb can decode to gigabytes, which must never be held at once. zstd and xz decode only
  # as far as the output reaches, so the first call for a small piece runs on the caller's
  # scheduler with a small budget; LZ4 and bzip2 decode whole blocks, and go dirty.
  defp decode_stream_piece(decoder, format, binary) do
    work = {:decompress, format}

    Stream.resource(
      fn -> {0, true} end,
      fn
        {from, more} when from >= byte_size(binary) and not more ->
          {:halt, from}

        {from, _more} ->
          left = byte_size(binary) - from

          reply =
            if from == 0 and format in [:zstd, :xz] and Schedule.normal?(left, work),
              do: Native.decoder_feed(decoder, binary, 0, left, Schedule.normal_budget(work)),
              else:
                Native.decoder_feed_dirty(decoder, binary, from, left, Schedule.slice_size(work))

          case reply do
            {:ok, output, consumed, pending} -> {non_empty([output]), {from + consumed, pending}}
            error -> raise bang_error(error)
          end
      end,
      fn _ -> :ok end
    )
  end

  defp finish_decoding({:detecting, forced, max_size, head} = state) do
    {outputs, decoding} =
      if forced,
        do: start_decoding(forced, max_size, head),
        else: detect_and_start(head, max_size)

    # The head's output first, then the end: finishing before the head is decoded would
    # report it truncated.
    {tail, _} = finish_decoding(decoding)
    {Stream.concat(outputs, tail), state}
  end

  defp finish_decoding({:decoding, decoder, _format} = state) do
    finish =
      Stream.flat_map([decoder], &non_empty([bang(Native.decoder_finish_dirty(&1) |> result())]))

    {finish, state}
  end

  # -- results ---------------------------------------------------------------------------

  defp resolve_format(_binary, format) when format != nil, do: {:ok, format}

  defp resolve_format(binary, nil) do
    case Native.detect_format(binary) do
      :unknown ->
        {:error,
         Error.new(:unknown_format, "unknown format: no zstd, lz4, xz or bzip2 magic bytes")}

      :gzip ->
        {:error, Error.new(:unsupported_format, "unsupported format: gzip")}

      format ->
        {:ok, format}
    end
  end

  defp result({:ok, value}), do: {:ok, value}
  defp result({:error, {reason, message}}), do: {:error, Error.new(reason, message)}

  defp result({:error, reason}) when is_atom(reason),
    do: {:error, Error.new(reason, "the compression stream is busy or finished (#{reason})")}

  defp ok_or_error(other) do
    case result(other) do
      {:ok, _} -> :ok
      error -> error
    end
  end

  defp bang({:ok, value}), do: value
  defp bang({:error, %Error{} = error}), do: raise(error)

  defp bang_error(error) do
    {:error, error} = result(error)
    error
  end

  defp non_empty(outputs), do: Enum.reject(outputs, &(&1 == ""))
end
