defmodule Chunker.StatsTest do
  # The native counters are the VM's: these tests run alone (async: false), after the async
  # ones, so that the deltas they see are the work they did.
  use ExUnit.Case, async: false

  import Chunker.Eventually

  alias Chunker.{Compression, LiveResources, Native}

  defp data(bytes, seed \\ 3), do: Chunker.TestData.random_bytes(bytes, seed)

  # The change in the counter at `path` made by `fun`.
  defp delta(path, fun) do
    before = get_in(Chunker.stats(), path)
    fun.()
    get_in(Chunker.stats(), path) - before
  end

  test "chunking N bytes adds exactly N to chunk.bytes, on every path" do
    input = data(5_000_000)
    chunks = Chunker.chunk!(input, avg_size: 16_384)
    before = Chunker.stats().chunk
    Chunker.chunk!(input, avg_size: 16_384)
    later = Chunker.stats().chunk
    assert later.bytes - before.bytes == 5_000_000
    assert later.chunks - before.chunks == length(chunks)
    assert later.calls - before.calls == 1

    # The size histogram got each chunk in its power-of-two bucket.
    power_of_two_floor = fn n -> 2 ** (length(Integer.digits(n, 2)) - 1) end
    expected = Enum.frequencies_by(chunks, &power_of_two_floor.(&1.length))

    earlier = Map.new(before.sizes.buckets)

    got =
      for {floor, n} <- later.sizes.buckets,
          n > Map.get(earlier, floor, 0),
          into: %{},
          do: {floor, n - Map.get(earlier, floor, 0)}

    assert got == expected
    assert later.sizes.count - before.sizes.count == length(chunks)
    assert later.sizes.max >= Enum.max_by(chunks, & &1.length).length

    pieces = Chunker.TestData.split(input, [1, 100_000, 3_000_000])
    assert delta([:chunk, :bytes], fn -> Chunker.stream(pieces) |> Stream.run() end) == 5_000_000
    assert delta([:chunk, :calls], fn -> Chunker.stream(pieces) |> Stream.run() end) == 1

    items = ["a", data(70_000), data(2_000_000, 4)]
    assert delta([:chunk, :bytes], fn -> Chunker.chunk_many(items) end) == 2_070_001
    assert delta([:chunk, :calls], fn -> Chunker.chunk_many(items) end) == 3

    path = Path.join(System.tmp_dir!(), "chunker-stats-#{System.unique_integer([:positive])}")
    File.write!(path, input)
    on_exit(fn -> File.rm(path) end)
    assert delta([:chunk, :bytes], fn -> Chunker.chunk_file(path, data: false) end) == 5_000_000
    assert delta([:file, :bytes], fn -> Chunker.chunk_file(path) end) == 5_000_000
  end

  test "hashing, compression and decompression count their bytes, per algorithm and format" do
    big = data(3_000_000)
    assert delta([:hash, :blake3, :bytes], fn -> Chunker.Hash.blake3(big) end) == 3_000_000

    assert delta([:hash, :sha256, :calls], fn -> Chunker.Hash.hash_many(["a", big], :sha256) end) ==
             2

    text = :binary.copy("some text to compress ", 50_000)

    for format <- [:zstd, :lz4, :xz, :bzip2] do
      before = Chunker.stats()
      {:ok, frame} = Compression.compress(text, format)
      {:ok, ^text} = Compression.decompress(frame)
      later = Chunker.stats()
      c = fn side, key -> later[side][format][key] - before[side][format][key] end

      assert {c.(:compress, :bytes_in), c.(:compress, :bytes_out)} ==
               {byte_size(text), byte_size(frame)}

      assert c.(:compress, :calls) == 1

      assert {c.(:decompress, :bytes_in), c.(:decompress, :bytes_out)} ==
               {byte_size(frame), byte_size(text)}

      assert c.(:decompress, :calls) == 1
    end

    # Batches and streams, whole items and items large enough for an encoder of their own.
    before = Chunker.stats()
    {:ok, results} = Compression.compress_many(["x", text, big], :zstd)
    frames = Enum.map(results, fn {:ok, frame} -> frame end)
    {:ok, _} = Compression.decompress_many(frames)
    streamed = [text, big] |> Compression.compress_stream(:zstd) |> Enum.join()
    [streamed] |> Compression.decompress_stream() |> Stream.run()
    later = Chunker.stats()
    c = fn side, key -> later[side].zstd[key] - before[side].zstd[key] end
    assert c.(:compress, :bytes_in) == 1 + byte_size(text) + 2 * byte_size(big) + byte_size(text)

    assert c.(:compress, :bytes_out) ==
             Enum.sum(Enum.map(frames, &byte_size/1)) + byte_size(streamed)

    assert c.(:compress, :calls) == 4
    assert c.(:decompress, :bytes_out) == 1 + 2 * byte_size(text) + 2 * byte_size(big)
    assert c.(:decompress, :calls) == 4
  end

  test "NAR bytes dumped, restored and listed" do
    dir = Path.join(System.tmp_dir!(), "chunker-stats-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    File.write!(Path.join(dir, "file"), data(200_000))
    on_exit(fn -> File.rm_rf(dir) && File.rm_rf(dir <> "-copy") end)

    before = Chunker.stats().nar
    nar = dir |> Chunker.NAR.dump() |> Enum.join()
    Chunker.NAR.entries([nar]) |> Stream.run()
    :ok = Chunker.NAR.restore(nar, dir <> "-copy")
    later = Chunker.stats().nar

    for kind <- [:dump, :entries, :restore],
        do: assert(later[kind].bytes - before[kind].bytes == byte_size(nar), "#{kind}")
  end

  test "errors are counted by reason, native and Elixir-made alike" do
    count = fn reason -> Map.get(Chunker.stats().errors, reason, 0) end
    {unknown, invalid} = {count.(:unknown_format), count.(:invalid_options)}
    {:error, _} = Compression.decompress("junk")
    {:error, _} = Compression.decompress("junk")
    {:error, _} = Chunker.chunk("x", avg_size: :big)
    assert count.(:unknown_format) == unknown + 2
    assert count.(:invalid_options) == invalid + 1
  end

  test "live native resources, up while held, down once collected" do
    start = LiveResources.now()
    test = self()
    # Many of each, so that what earlier tests left (which can only fall meanwhile: their
    # processes may still be exiting) cannot pass for these being counted.
    n = 100

    {pid, ref} =
      spawn_monitor(fn ->
        hashers = for _ <- 1..n, do: Native.hasher_new(:blake3)
        streams = for _ <- 1..n, do: Chunker.ChunkStream.open!(Chunker.Options.validate!([]))
        samples = for i <- 1..200, do: :binary.copy(<<i, 0, i, 1>>, 64)
        trained = Compression.train_dictionary!(samples, size: 4_096)
        bytes = Compression.Dictionary.to_binary(trained)
        loaded = for _ <- 2..n, do: Compression.Dictionary.load!(bytes)
        send(test, :held)

        # Used after the wait, so that no collection while waiting frees them.
        receive do
          :stop -> {hashers, streams, [trained | loaded]}
        end
      end)

    assert_receive :held, 30_000
    held = LiveResources.now()
    kinds = [:hashers, :chunk_streams, :dictionaries]
    assert Enum.all?(kinds, &(held[&1] >= n)), inspect(held)

    send(pid, :stop)
    assert_receive {:DOWN, ^ref, :process, ^pid, :normal}, 5_000

    assert eventually(fn ->
             now = LiveResources.now()
             Enum.all?(kinds, &(now[&1] <= held[&1] - n)) and LiveResources.at_most?(start)
           end)
  end

  test "NIF call durations per scheduler: a histogram whose figures agree" do
    Chunker.reset_stats()
    Chunker.chunk!(data(20_000_000))
    path = Path.join(System.tmp_dir!(), "chunker-stats-#{System.unique_integer([:positive])}")
    File.write!(path, "abc")
    on_exit(fn -> File.rm(path) end)
    {:ok, _} = Chunker.chunk_file(path)
    calls = Chunker.stats().nif_calls

    for scheduler <- [:normal, :dirty_cpu, :dirty_io] do
      h = calls[scheduler]
      assert h.count > 0, "#{scheduler}"
      assert h.count == h.buckets |> Enum.map(&elem(&1, 1)) |> Enum.sum()
      assert h.p50 <= h.p99 and h.p99 <= h.max and h.max <= h.sum
      floors = Enum.map(h.buckets, &elem(&1, 0))
      assert floors == Enum.sort(floors)
      assert List.last(floors) <= h.max
    end

    # Dirty chunking calls work to a deadline of 0.8 ms: most end near it, none take seconds.
    assert calls.dirty_cpu.p50 < 5_000_000
  end

  test "reset_stats/0 zeroes counters and histograms, not the live resources" do
    Chunker.chunk!(data(100_000))
    resources = Chunker.stats().resources
    assert :ok = Chunker.reset_stats()
    stats = Chunker.stats()
    assert stats.chunk.bytes == 0 and stats.chunk.sizes.buckets == []
    assert stats.errors == %{}
    assert stats.resources == resources
  end

  test "chunker works with :telemetry present or not, as this run chose" do
    assert Code.ensure_loaded?(:telemetry) == Chunker.VendoredTelemetry.wanted?()
    assert {:ok, [_]} = Chunker.chunk("works either way")
  end
end
