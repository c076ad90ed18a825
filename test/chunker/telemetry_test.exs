defmodule Chunker.TelemetryTest do
  # Against the real :telemetry (test/vendor/telemetry, loaded by test_helper.exs after
  # chunker started). Handlers are global: each test's handler forwards only the events its
  # own process emits, so the tests can run beside others.
  use ExUnit.Case, async: true

  @moduletag :telemetry

  alias Chunker.Compression

  @prefixes [
    [:chunker, :chunk],
    [:chunker, :stream],
    [:chunker, :hash],
    [:chunker, :compress],
    [:chunker, :decompress],
    [:chunker, :nar, :dump],
    [:chunker, :nar, :restore],
    [:chunker, :nar, :entries]
  ]

  setup do
    id = {__MODULE__, make_ref()}
    test = self()

    events =
      for prefix <- @prefixes,
          kind <- [:start, :stop, :exception, :progress],
          do: prefix ++ [kind]

    :ok =
      :telemetry.attach_many(
        id,
        events,
        &__MODULE__.forward/4,
        test
      )

    on_exit(fn -> :telemetry.detach(id) end)
  end

  def forward(event, measurements, metadata, pid) do
    if self() == pid, do: send(pid, {:event, event, measurements, metadata})
  end

  # The start and stop events of one span, checked for the conventional shape; the stop's
  # measurements and metadata.
  defp span(prefix) do
    start = prefix ++ [:start]
    stop = prefix ++ [:stop]
    assert_receive {:event, ^start, start_measurements, start_metadata}
    assert is_integer(start_measurements.system_time)
    assert is_integer(start_measurements.monotonic_time)
    context = start_metadata.telemetry_span_context
    assert is_reference(context)
    assert_receive {:event, ^stop, measurements, metadata}
    assert metadata.telemetry_span_context == context
    assert is_integer(measurements.duration) and measurements.duration >= 0
    assert is_integer(measurements.monotonic_time)
    refute_received {:event, _, _, _}
    {measurements, metadata}
  end

  defp data(bytes), do: Chunker.TestData.random_bytes(bytes, 7)

  test "chunk/2 and chunk!/2: bytes, chunks and the options in the metadata" do
    input = data(1_000_000)
    {:ok, chunks} = Chunker.chunk(input, avg_size: 16_384, hash: :sha256)
    {measurements, metadata} = span([:chunker, :chunk])
    assert measurements.bytes == 1_000_000
    assert measurements.chunks == length(chunks)
    assert %{operation: :chunk, algorithm: :v2020, normalization: 1, seed: 0} = metadata
    assert %{min_size: 4096, avg_size: 16_384, max_size: 65_536, hash: :sha256} = metadata
    refute Map.has_key?(metadata, :error)

    Chunker.chunk!("abc", preset: :attic)
    {measurements, metadata} = span([:chunker, :chunk])
    assert {measurements.bytes, measurements.chunks} == {3, 1}
    assert %{algorithm: :ronomon, avg_size: 65_536} = metadata
  end

  test "an {:error, e} result names its reason in the stop metadata" do
    {:error, _} = Chunker.chunk("data", avg_size: :big)
    {measurements, metadata} = span([:chunker, :chunk])
    assert metadata.error == :invalid_options
    assert measurements.chunks == 0

    {:error, _} = Chunker.chunk("not a nar", nar_aware: true)
    {_, metadata} = span([:chunker, :chunk])
    assert metadata.error == :invalid_nar

    {:error, _} = Compression.decompress("junk")
    {measurements, metadata} = span([:chunker, :decompress])
    assert {metadata.error, measurements.bytes, measurements.bytes_out} == {:unknown_format, 4, 0}
  end

  test "chunk_many/2 and chunk_file/2" do
    {:ok, lists} = Chunker.chunk_many(["tiny", data(300_000)], hash: :none)
    {measurements, metadata} = span([:chunker, :chunk])
    assert metadata.operation == :chunk_many
    assert measurements.items == 2
    assert measurements.bytes == 300_004
    assert measurements.chunks == lists |> Enum.map(&length/1) |> Enum.sum()

    path = Path.join(System.tmp_dir!(), "chunker-telemetry-#{System.unique_integer([:positive])}")
    File.write!(path, data(500_000))
    on_exit(fn -> File.rm(path) end)

    for data <- [true, false] do
      {:ok, chunks} = Chunker.chunk_file(path, data: data)
      {measurements, metadata} = span([:chunker, :chunk])
      assert {metadata.operation, metadata.path} == {:chunk_file, path}
      assert {measurements.bytes, measurements.chunks} == {500_000, length(chunks)}
    end

    {:error, _} = Chunker.chunk_file(path <> ".missing")
    {measurements, metadata} = span([:chunker, :chunk])
    assert {metadata.error, measurements.bytes} == {:enoent, 0}
  end

  test "stream/2: one span per enumeration, from its first pull to its end or its halt" do
    pieces = for _ <- 1..4, do: data(250_000)
    stream = Chunker.stream(pieces, avg_size: 16_384)
    # Nothing is emitted before the stream is enumerated.
    refute_received {:event, _, _, _}

    chunks = Enum.to_list(stream)
    {measurements, metadata} = span([:chunker, :stream])
    assert {measurements.bytes, measurements.chunks} == {1_000_000, length(chunks)}
    assert %{operation: :stream, avg_size: 16_384, algorithm: :v2020} = metadata

    # Enumerated again: a span of its own. Halted early: the span ends there.
    assert [_, _] = Enum.take(stream, 2)
    {measurements, _} = span([:chunker, :stream])
    assert measurements.chunks == 2
    assert measurements.bytes in 250_000..1_000_000
  end

  test "stream_file/2, and a stream suspended by zip/2 that resumes" do
    path = Path.join(System.tmp_dir!(), "chunker-telemetry-#{System.unique_integer([:positive])}")
    File.write!(path, data(700_000))
    on_exit(fn -> File.rm(path) end)

    chunks = path |> Chunker.stream_file(avg_size: 4096) |> Enum.to_list()
    {measurements, metadata} = span([:chunker, :stream])
    assert {measurements.bytes, measurements.chunks} == {700_000, length(chunks)}
    assert {metadata.operation, metadata.path} == {:stream_file, path}

    # zip/2 suspends each stream after every element.
    pairs = Enum.zip(Chunker.stream_file(path, avg_size: 4096), 1..1_000_000)
    assert length(pairs) == length(chunks)
    {measurements, _} = span([:chunker, :stream])
    assert measurements.chunks == length(chunks)
  end

  test "a stream that raises emits :exception with kind, reason and stacktrace" do
    stream = Chunker.stream(["fine", :not_iodata])
    assert_raise ArgumentError, fn -> Enum.to_list(stream) end
    assert_receive {:event, [:chunker, :stream, :start], _, %{telemetry_span_context: context}}

    assert_receive {:event, [:chunker, :stream, :exception], measurements, metadata}
    assert metadata.telemetry_span_context == context
    assert metadata.kind == :error
    assert %ArgumentError{} = metadata.reason
    assert [_ | _] = metadata.stacktrace
    assert is_integer(measurements.duration)
    refute_received {:event, [:chunker, :stream, :stop], _, _}

    # A consumer that raises mid-stream ends the span the same way.
    assert_raise RuntimeError, fn ->
      Chunker.stream([data(100_000)]) |> Enum.each(fn _ -> raise "consumer" end)
    end

    assert_receive {:event, [:chunker, :stream, :start], _, _}
    assert_receive {:event, [:chunker, :stream, :exception], _, %{reason: %RuntimeError{}}}
  end

  test "progress events come at most every 100 ms, never per chunk" do
    slow =
      Stream.map(1..5, fn _ ->
        Process.sleep(60)
        data(100_000)
      end)

    started = System.monotonic_time(:millisecond)

    chunks =
      slow |> Chunker.stream(avg_size: 1024, min_size: 256, max_size: 4096) |> Enum.to_list()

    elapsed = System.monotonic_time(:millisecond) - started
    assert length(chunks) > 100
    progress = collect([:chunker, :stream, :progress])
    # 5 pieces over 300 ms or more: at least one event, and at most one per 100 ms.
    assert length(progress) in 1..div(elapsed, 100)
    bytes = Enum.map(progress, fn {measurements, _} -> measurements.bytes end)
    assert bytes == Enum.sort(bytes) and Enum.all?(bytes, &(&1 <= 500_000))
    assert Enum.all?(progress, fn {m, meta} -> m.duration > 0 and meta.operation == :stream end)
  end

  defp collect(event) do
    receive do
      {:event, ^event, measurements, metadata} -> [{measurements, metadata} | collect(event)]
    after
      0 -> []
    end
  end

  test "hash/2, blake3/1, sha256/1 and hash_many/2" do
    Chunker.Hash.blake3(["ab", ?c])
    {measurements, metadata} = span([:chunker, :hash])
    assert {measurements.bytes, metadata.algorithm, metadata.operation} == {3, :blake3, :hash}

    Chunker.Hash.hash(data(3_000_000), :sha256)
    {measurements, _} = span([:chunker, :hash])
    assert measurements.bytes == 3_000_000

    Chunker.Hash.hash_many(["a", "bc", data(1000)], :sha256)
    {measurements, metadata} = span([:chunker, :hash])
    assert {measurements.bytes, measurements.items} == {1003, 3}
    assert {metadata.algorithm, metadata.operation} == {:sha256, :hash_many}
  end

  test "compress, compress_many, compress_adaptive, decompress, decompress_many" do
    input = :binary.copy("compressible ", 10_000)
    {:ok, frame} = Compression.compress(input, :zstd, level: 5)
    {measurements, metadata} = span([:chunker, :compress])
    assert {measurements.bytes, measurements.bytes_out} == {130_000, byte_size(frame)}
    assert {metadata.operation, metadata.format, metadata.level} == {:compress, :zstd, 5}

    {:ok, ^input} = Compression.decompress(frame)
    {measurements, metadata} = span([:chunker, :decompress])
    assert {measurements.bytes, measurements.bytes_out} == {byte_size(frame), 130_000}
    assert metadata.operation == :decompress

    {:ok, [{:ok, a}, {:ok, b}]} = Compression.compress_many(["one", input], :lz4)
    {measurements, metadata} = span([:chunker, :compress])
    assert {measurements.items, measurements.bytes} == {2, 130_003}
    assert measurements.bytes_out == byte_size(a) + byte_size(b)
    assert {metadata.operation, metadata.format} == {:compress_many, :lz4}

    {:ok, [_, _, {:error, _}]} = Compression.decompress_many([a, b, "junk"])
    {measurements, metadata} = span([:chunker, :decompress])
    assert {measurements.items, measurements.bytes_out} == {3, 130_003}
    assert metadata.operation == :decompress_many

    {:ok, {:stored, _}} = Compression.compress_adaptive(data(10_000))
    {measurements, metadata} = span([:chunker, :compress])

    assert {measurements.bytes, metadata.stored, metadata.format} ==
             {10_000, :high_entropy, :zstd}

    {:error, _} = Compression.compress("x", :xz, level: 10)
    {_, metadata} = span([:chunker, :compress])
    assert metadata.error == :invalid_options
  end

  test "compress_stream/3 and decompress_stream/2: one span each, input and output bytes" do
    pieces = for _ <- 1..3, do: :binary.copy("stream ", 50_000)
    frame = pieces |> Compression.compress_stream(:xz, level: 1) |> Enum.join()
    {measurements, metadata} = span([:chunker, :compress])
    assert {measurements.bytes, measurements.bytes_out} == {1_050_000, byte_size(frame)}
    assert {metadata.operation, metadata.format, metadata.level} == {:compress_stream, :xz, 1}

    output = [frame] |> Compression.decompress_stream() |> Enum.join()
    {measurements, metadata} = span([:chunker, :decompress])
    assert {measurements.bytes, measurements.bytes_out} == {byte_size(frame), byte_size(output)}
    assert byte_size(output) == 1_050_000
    assert metadata.operation == :decompress_stream
  end

  test "NAR dump, entries and restore" do
    dir = Path.join(System.tmp_dir!(), "chunker-telemetry-#{System.unique_integer([:positive])}")
    File.mkdir_p!(Path.join(dir, "sub"))
    File.write!(Path.join(dir, "sub/file"), data(100_000))
    File.ln_s!("sub/file", Path.join(dir, "link"))
    on_exit(fn -> File.rm_rf(dir) && File.rm_rf(dir <> "-copy") end)

    nar = dir |> Chunker.NAR.dump() |> Enum.join()
    {measurements, metadata} = span([:chunker, :nar, :dump])
    assert measurements.bytes == byte_size(nar)
    assert {metadata.operation, metadata.path} == {:dump, dir}

    entries = Chunker.NAR.entries([nar]) |> Enum.to_list()
    {measurements, _} = span([:chunker, :nar, :entries])
    assert {measurements.bytes, measurements.entries} == {byte_size(nar), length(entries)}
    assert length(entries) == 4

    :ok = Chunker.NAR.restore(nar, dir <> "-copy")
    {measurements, metadata} = span([:chunker, :nar, :restore])
    assert measurements.bytes == byte_size(nar)
    assert metadata.path == dir <> "-copy"

    {:error, _} = Chunker.NAR.restore(nar, dir <> "-copy")
    {_, metadata} = span([:chunker, :nar, :restore])
    assert metadata.error == :eexist
  end
end
