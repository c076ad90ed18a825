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

  Error reasons: `:invalid_options`, `:unknown_format`, `:format_mismatch` (`format:` was
  given and the data is not in it; `details.found` says what it is), `:unsupported_format`
  (gzip; LZ4 legacy frames when `format: :lz4` is forced, else they are `:unknown_format`),
  `:size_exceeded` (`details.limit`), `:truncated`, `:trailing_data` (`details.offset`),
  `:corrupt`, `:memory_limit` (an xz stream needing over 256 MiB of decoder memory),
  `:out_of_memory`, and for zstd dictionaries `:invalid_dictionary`, `:dictionary_required`,
  `:unknown_dictionary` (see below).

      iex> {:ok, frame} = Chunker.Compression.compress("some data", :zstd)
      iex> {:error, error} = Chunker.Compression.decompress(frame, format: :lz4)
      iex> {error.reason, error.message}
      {:format_mismatch, "not lz4 data: it is zstd (at offset 0)"}

  ## Levels

  `level:` is zstd's (-131072 to 22, default 3; negative levels are `zstd --fast`), xz's (0
  to 9, default 6) or bzip2's (1 to 9, default 9). LZ4 frames are written at the single level
  of lz4_flex and take no `level:`.

  ## zstd dictionaries, workers and long windows

  For zstd only (other formats refuse these options with `:invalid_options`):

    * `dictionary:` a `Chunker.Compression.Dictionary` (`train_dictionary/2` makes one from
      samples, `Chunker.Compression.Dictionary.load/2` loads one `zstd --train` wrote) to
      compress with: small chunks of similar data come out smaller, often faster. The frame
      records the dictionary's id; decompressing takes `dictionaries:`, a list, and decodes
      each frame with the one whose id it records. A frame that needs a dictionary none was
      given for is `:dictionary_required` (no `dictionaries:`) or `:unknown_dictionary` (not
      among them), with its id in `details.id`. Frames are what `zstd -D dict` writes and
      reads (frames written with `--no-dictID` record no id: they cannot be matched to their
      dictionary, and fail as `:corrupt`). Whether a dictionary pays depends on the data and
      the chunk size: measure it (`mix run bench/dictionary.exs` on your data).
    * `workers:` zstd's own threads compressing one large input's jobs at once (`zstd -T`);
      0, the default, compresses on the calling scheduler's thread. For large single inputs
      (a NAR, a backup stream), not for many small ones (`compress_many/3` already spreads
      items over all cores). Memory: about two jobs per worker, each a few times the window.
    * `long: true` long-distance matching with a 128 MiB window (`zstd --long`): repeats far
      apart in a large input are found. Decoders accept such frames without being told.

  ## Scheduling

  Compressing runs on the caller's scheduler only when what it costs at that size is known
  (learned from earlier calls) and fits about 100 us; otherwise on dirty CPU schedulers,
  whole when that fits about 0.8 ms, else through an encoder fed in steps of about 0.8 ms.
  Decompressing works the same way in steps of output. Some steps cannot be split and run on
  dirty schedulers only: a bzip2 block (a 900 KB block sort, tens of milliseconds), an LZ4
  block, a zstd block at a slow level. Batches run their small items whole, many per dirty
  call spread over all cores, and step the large ones several at a time.
  """

  import Bitwise, only: [<<<: 2]

  alias Chunker.{Batch, Error, Gather, Input, Native, Telemetry}
  alias Chunker.Compression.{Options, Streams}
  alias Chunker.Native.Run

  @type format :: :zstd | :lz4 | :xz | :bzip2

  @doc """
  Compresses `data` (iodata) into one frame of `format`.

  Options: `level:` (see the module doc); for zstd, `dictionary:`, `workers:` and `long:`
  (see "zstd dictionaries, workers and long windows" in the module doc). Raises
  `ArgumentError` if `data` is not iodata.

      iex> {:ok, packed} = Chunker.Compression.compress(["ab", "cd"], :xz, level: 1)
      iex> Chunker.Compression.decompress(packed)
      {:ok, "abcd"}
      iex> {:error, error} = Chunker.Compression.compress("ab", :xz, level: 10)
      iex> {error.reason, error.details}
      {:invalid_options, %{option: :level}}
  """
  @spec compress(iodata(), format(), keyword()) :: {:ok, binary()} | {:error, Error.t()}
  def compress(data, format, opts \\ []) do
    Telemetry.span(
      [:compress],
      %{operation: :compress, format: format, level: opts[:level]},
      fn -> compress_body(data, format, opts) end,
      &measured/2
    )
  end

  # The span bodies return {result, input bytes}.
  defp compress_body(data, format, opts) do
    with {:ok, format} <- Options.format(format),
         {:ok, %{level: level} = options} <-
           Options.validate(opts, [:level, :dictionary, :workers, :long]),
         {:ok, zstd} <- Options.zstd(format, options) do
      binary = Input.to_binary!(data)

      result =
        binary
        |> Native.compress(format, level, zstd)
        |> whole_or_dirty(fn -> Native.compress_dirty(binary, format, level, zstd) end)
        |> encoded(binary)

      {result, byte_size(binary)}
    else
      error -> {error, 0}
    end
  end

  # The stop measurements of a compression span.
  defp measured({:ok, binary}, bytes) when is_binary(binary),
    do: {%{bytes: bytes, bytes_out: byte_size(binary)}, %{}}

  defp measured({:ok, {:compressed, _format, frame}}, bytes),
    do: {%{bytes: bytes, bytes_out: byte_size(frame)}, %{}}

  defp measured({:ok, {:stored, {why, _}}}, bytes),
    do: {%{bytes: bytes, bytes_out: bytes}, %{stored: why}}

  defp measured({:ok, results}, binaries) when is_list(results) do
    bytes_out = for {:ok, binary} <- results, reduce: 0, do: (sum -> sum + byte_size(binary))

    {%{bytes: Input.total_size(binaries), bytes_out: bytes_out, items: length(results)}, %{}}
  end

  defp measured(_error, bytes) when is_integer(bytes), do: {%{bytes: bytes, bytes_out: 0}, %{}}
  defp measured(_error, binaries), do: {%{bytes: Input.total_size(binaries), bytes_out: 0}, %{}}

  @doc "Like `compress/3`, returning the binary or raising `Chunker.Error`."
  @spec compress!(iodata(), format(), keyword()) :: binary()
  def compress!(data, format, opts \\ []), do: Run.ok!(compress(data, format, opts))

  @doc """
  Decompresses `data`, all of its concatenated frames, detecting the format from its magic
  bytes (skippable frames in front are passed over).

  Options: `format:` forces a format (data in another is `:format_mismatch`); `max_size:`
  caps the output (default 1 GiB); `dictionaries:`, the `Chunker.Compression.Dictionary`s
  zstd frames may have been compressed with (each frame names its own).
  """
  @spec decompress(iodata(), keyword()) :: {:ok, binary()} | {:error, Error.t()}
  def decompress(data, opts \\ []) do
    Telemetry.span(
      [:decompress],
      %{operation: :decompress, format: opts[:format], max_size: opts[:max_size]},
      fn -> decompress_body(data, opts) end,
      &measured/2
    )
  end

  defp decompress_body(data, opts) do
    with {:ok, %{format: format, max_size: max_size, dictionaries: dictionaries}} <-
           Options.validate(opts, [:format, :max_size, :dictionaries]) do
      binary = Input.to_binary!(data)
      dictionaries = Options.dictionaries(dictionaries)

      result =
        binary
        |> Native.decompress(format, max_size, dictionaries)
        |> whole_or_dirty(fn ->
          Native.decompress_dirty(binary, format, max_size, dictionaries)
        end)
        |> decoded(binary)

      {result, byte_size(binary)}
    else
      error -> {error, 0}
    end
  end

  @doc "Like `decompress/2`, returning the binary or raising `Chunker.Error`."
  @spec decompress!(iodata(), keyword()) :: binary()
  def decompress!(data, opts \\ []), do: Run.ok!(decompress(data, opts))

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
  one `{:ok, binary}` or `{:error, error}` per item. Options: `level:`, and for zstd
  `dictionary:` (prepared once, shared by every item).

      iex> {:ok, [{:ok, a}, {:ok, b}]} = Chunker.Compression.compress_many(["one", "two"], :zstd)
      iex> Chunker.Compression.decompress_many([a, b, "junk"])
      {:ok, [{:ok, "one"}, {:ok, "two"}, {:error, %Chunker.Error{reason: :unknown_format,
        message: "unknown format: no zstd, lz4, xz or bzip2 magic bytes", details: %{}}}]}
  """
  @spec compress_many([iodata()], format(), keyword()) ::
          {:ok, [{:ok, binary()} | {:error, Error.t()}]} | {:error, Error.t()}
  def compress_many(items, format, opts \\ []) when is_list(items) do
    Telemetry.span(
      [:compress],
      %{operation: :compress_many, format: format, level: opts[:level]},
      fn ->
        binaries = Input.binaries!(items)
        {compress_binaries(binaries, format, opts), binaries}
      end,
      &measured/2
    )
  end

  defp compress_binaries(binaries, format, opts) do
    with {:ok, format} <- Options.format(format),
         {:ok, %{level: level} = options} <- Options.validate(opts, [:level, :dictionary]),
         {:ok, zstd} <- Options.zstd(format, options) do
      # Items too large for one call: an encoder each, stepped several at a time.
      large = fn binaries ->
        open = &(Native.encoder_new(format, level, zstd, true, byte_size(&1)) |> Run.result())
        {:ok, Batch.each(binaries, open, &Native.encoders_step/1)}
      end

      with {:ok, results} <-
             Batch.list(
               binaries,
               &Native.compress_list(&1, format, level, zstd),
               &Native.compress_list_dirty(&1, format, level, zstd),
               large
             ),
           do: {:ok, Enum.map(results, &item_result/1)}
    end
  end

  @doc """
  Decompresses each item of `items` on all cores; results in input order. `max_size:` (default
  1 GiB) applies to each item; `format:` forces a format for all; `dictionaries:` as for
  `decompress/2`.
  """
  @spec decompress_many([iodata()], keyword()) ::
          {:ok, [{:ok, binary()} | {:error, Error.t()}]} | {:error, Error.t()}
  def decompress_many(items, opts \\ []) when is_list(items) do
    Telemetry.span(
      [:decompress],
      %{operation: :decompress_many, format: opts[:format], max_size: opts[:max_size]},
      fn ->
        binaries = Input.binaries!(items)
        {decompress_binaries(binaries, opts), binaries}
      end,
      &measured/2
    )
  end

  defp decompress_binaries(binaries, opts) do
    with {:ok, %{format: format, max_size: max_size, dictionaries: dictionaries}} <-
           Options.validate(opts, [:format, :max_size, :dictionaries]),
         :ok <- Native.compression_validate(format, nil, max_size) |> Run.result() do
      dictionaries = Options.dictionaries(dictionaries)

      open =
        &(Native.decoder_new(format, max_size, true, byte_size(&1), dictionaries)
          |> Run.result())

      {:ok, Batch.each(binaries, open, &Native.decoders_step/1)}
    end
  end

  @doc """
  Lazily compresses an enumerable of iodata into one frame of `format`, emitted as binaries
  (concatenated, they are the frame). Memory stays bounded whatever the input size:

      File.stream!(path, [], 1_048_576)
      |> Chunker.Compression.compress_stream(:zstd)
      |> Stream.into(File.stream!(path <> ".zst"))
      |> Stream.run()

  Options (`level:`; for zstd `dictionary:`, `workers:` and `long:`) are validated when this
  is called, raising `Chunker.Error`.
  Pieces of any size cost about what large ones do: pieces under 64 KiB are gathered into
  one NIF call (so on a slow source up to 64 KiB wait for the next call), and a `File.Stream`
  in line mode, `File.stream!(path)`, is read in 1 MiB blocks holding the bytes its lines
  would give (CR LF as LF: line mode is wrong for binary data).
  """
  @spec compress_stream(Enumerable.t(), format(), keyword()) :: Enumerable.t()
  def compress_stream(enumerable, format, opts \\ []) do
    format = Run.ok!(Options.format(format))
    %{level: level} = options = Options.validate!(opts, [:level, :dictionary, :workers, :long])
    zstd = Run.ok!(Options.zstd(format, options))
    Native.compression_validate(format, level, nil) |> Run.result() |> Run.ok!()

    Telemetry.stream(
      [:compress],
      %{operation: :compress_stream, format: format, level: level},
      &Streams.compress(&1.(Gather.blocks(enumerable)), format, level, zstd),
      :bytes_out
    )
  end

  @doc """
  Lazily decompresses an enumerable of iodata pieces of compressed data (all its frames),
  emitting the output as binaries, in bounded memory. The format is detected from the first
  bytes unless `format:` is given. `max_size:` caps the total output (default `:infinity`);
  `dictionaries:` as for `decompress/2`.
  Options are validated when this is called; errors in the data raise `Chunker.Error` when
  reached. Pieces under 64 KiB are gathered into one NIF call, as `compress_stream/3` does.
  """
  @spec decompress_stream(Enumerable.t(), keyword()) :: Enumerable.t()
  def decompress_stream(enumerable, opts \\ []) do
    %{format: format, max_size: max_size, dictionaries: dictionaries} =
      Options.validate!(opts, [:format, :max_size, :dictionaries], infinity: true)

    max_size = max_size || :infinity
    dictionaries = Options.dictionaries(dictionaries)
    Native.compression_validate(format, nil, max_size) |> Run.result() |> Run.ok!()

    Telemetry.stream(
      [:decompress],
      %{operation: :decompress_stream, format: format, max_size: max_size},
      &Streams.decompress(&1.(Gather.blocks(enumerable)), format, max_size, dictionaries),
      :bytes_out
    )
  end

  @doc """
  Trains a zstd dictionary on `samples` with zstd's own trainer (what `zstd --train` does
  with one file per sample) and loads it, prepared for compressing at `level:` (default 3).

  `samples` is an enumerable of binaries (iodata) or of `Chunker.Chunk`s with their data:
  typically chunks already stored, so that new chunks compress with what the old ones
  held. Options: `size:`, the dictionary's largest size in bytes (default 112,640, the CLI's
  `--maxdict`); `level:`.

  zstd's trainer needs at least 7 samples of 8 bytes or more (`{:error, %Chunker.Error{reason:
  :not_enough_samples}}` otherwise) and does best with about 100 times the dictionary's size
  in samples; it refuses samples it cannot learn from with `:training_failed`. Training runs
  on a thread of its own (it cannot be split, and takes seconds on megabytes of samples):
  the caller waits for it, no scheduler does.

      iex> {:error, error} = Chunker.Compression.train_dictionary(["a few", "samples"])
      iex> error.reason
      :not_enough_samples

  See `Chunker.Compression.Dictionary` for an example and for storing dictionaries.
  """
  @spec train_dictionary(Enumerable.t(), keyword()) ::
          {:ok, Chunker.Compression.Dictionary.t()} | {:error, Error.t()}
  def train_dictionary(samples, opts \\ []) do
    with :ok <- Chunker.Options.check_keys(opts, [:size, :level]),
         {:ok, size} <- dictionary_size(Keyword.get(opts, :size) || 112_640),
         {:ok, %{level: level}} <- Options.validate(Keyword.delete(opts, :size), [:level]) do
      binaries = Enum.map(samples, &sample!/1)
      reference = make_ref()

      case Native.zstd_train(binaries, size, level, reference) do
        :ok ->
          receive do
            {^reference, reply} -> Chunker.Compression.Dictionary.from_native(reply)
          end

        {:error, native} ->
          {:error, Error.from_native(native)}
      end
    end
  end

  @doc "Like `train_dictionary/2`, returning the dictionary or raising `Chunker.Error`."
  @spec train_dictionary!(Enumerable.t(), keyword()) :: Chunker.Compression.Dictionary.t()
  def train_dictionary!(samples, opts \\ []), do: Run.ok!(train_dictionary(samples, opts))

  defp dictionary_size(size) when is_integer(size) and size >= 256 and size <= 1 <<< 31,
    do: {:ok, size}

  defp dictionary_size(other),
    do:
      {:error,
       Error.new(
         :invalid_options,
         "size must be an integer from 256 to 2^31 bytes, got: #{inspect(other)}",
         %{option: :size}
       )}

  defp sample!(%Chunker.Chunk{data: data}) when is_binary(data), do: data

  defp sample!(%Chunker.Chunk{}),
    do: raise(ArgumentError, "a chunk without its data (made with data: false) is no sample")

  defp sample!(data), do: Input.to_binary!(data)

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
    Telemetry.span(
      [:compress],
      %{operation: :compress_adaptive, format: opts[:format] || :zstd, level: opts[:level]},
      fn -> adaptive(data, opts) end,
      &measured/2
    )
  end

  defp adaptive(data, opts) do
    with {:ok, options} <- Options.validate(opts, [:format, :level, :max_ratio, :max_entropy]) do
      binary = Input.to_binary!(data)
      %{format: format, level: level, max_ratio: ratio, max_entropy: entropy} = options
      format = format || :zstd
      ratio = ratio && ratio / 1
      entropy = entropy && entropy / 1

      binary
      |> Native.compress_adaptive(format, level, ratio, entropy)
      |> whole_or_dirty(fn ->
        Native.compress_adaptive_dirty(binary, format, level, ratio, entropy)
      end)
      |> encoded(binary)
      |> then(&{&1, byte_size(binary)})
    else
      error -> {error, 0}
    end
  end

  # A normal call that could not do the work hands it to its dirty twin.
  defp whole_or_dirty({:cont, nil, nil}, dirty), do: dirty.()
  defp whole_or_dirty(reply, _dirty), do: reply

  # The frame (or adaptive verdict), after feeding the rest of `binary` to the encoder when
  # one call was not enough.
  defp encoded({:cont, encoder, from}, binary) do
    with {:ok, _} <- Run.outputs({:cont, nil, from}, &Native.encoder_update(encoder, binary, &1)),
         do: encoder |> Native.encoder_finish() |> Run.result()
  end

  defp encoded(reply, _binary), do: Run.done(reply)

  defp decoded({:cont, decoder, from}, binary) do
    with {:ok, _} <-
           Run.outputs({:cont, nil, from}, &Native.decoder_feed_dirty(decoder, binary, &1)),
         do: decoder |> Native.decoder_finish() |> Run.result()
  end

  defp decoded(reply, _binary), do: Run.done(reply)

  defp item_result({:error, {_reason, _message, _details} = native}),
    do: {:error, Error.from_native(native)}

  defp item_result(result), do: result
end
