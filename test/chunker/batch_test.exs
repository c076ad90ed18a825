defmodule Chunker.BatchTest do
  # hash_many/2 and chunk_many/2 on each of their paths (a small batch in continued normal
  # calls, rounds of small items on dirty schedulers, large items in slices), against
  # independent oracles: :crypto and b3sum for digests, the fastcdc crate for boundaries.
  use ExUnit.Case, async: true

  alias Chunker.{Hash, Native, Oracle, TestData}

  @moduletag :tmp_dir

  # {name, sizes}: a batch small enough for the normal path, many small items for dirty
  # rounds, and a mix with items larger than a dirty slice (hashed, chunked in slices).
  @batches [
    normal: List.duplicate(100, 50),
    dirty_rounds: for(i <- 1..3_000, do: rem(i * 7_919, 20_000)),
    mixed: [0, 9_000_000, 1, 5_000, 7_000_000, 64, 1_024, 3_000_000]
  ]

  setup_all do
    Oracle.build!()
  end

  defp items(sizes, seed),
    do:
      sizes
      |> Enum.with_index()
      |> Enum.map(fn {size, i} -> TestData.random_bytes(size, seed + i) end)

  for {name, sizes} <- @batches do
    @sizes sizes

    test "hash_many/2 equals :crypto SHA-256 (#{name})" do
      items = items(@sizes, 1)

      assert Hash.hash_many(items, :sha256) == Enum.map(items, &:crypto.hash(:sha256, &1))
    end

    test "chunk_many/2 gives each item the fastcdc crate's boundaries (#{name})", %{tmp_dir: dir} do
      items = items(@sizes, 2)
      {:ok, lists} = Chunker.chunk_many(items, avg_size: 4_096, hash: :sha256)

      assert length(lists) == length(items)

      for {item, chunks} <- Enum.zip(items, lists), byte_size(item) > 0 do
        path = Path.join(dir, "item")
        File.write!(path, item)
        expected = Oracle.boundaries(path, {1_024, 4_096, 16_384})
        assert Enum.map(chunks, &{&1.offset, &1.length}) == expected
        assert Enum.map(chunks, & &1.hash) == Enum.map(chunks, &:crypto.hash(:sha256, &1.data))
        assert IO.iodata_to_binary(Enum.map(chunks, & &1.data)) == item
      end

      for {item, chunks} <- Enum.zip(items, lists), byte_size(item) == 0, do: assert(chunks == [])
    end
  end

  test "hash_many/2 with BLAKE3 equals b3sum", %{tmp_dir: dir} do
    items = items([0, 1, 1_024, 1_025, 70_000, 6_000_000] ++ List.duplicate(3_000, 2_000), 3)
    assert Hash.hash_many(items, :blake3) == Oracle.b3sum(items, dir)
  end

  test "compress_many/3 of small and large items: each frame decodes with the format's CLI",
       %{tmp_dir: dir} do
    real = File.read!(TestData.otp_tar())
    sizes = [0, 10, 5_000, 3_000_000, 2_500_000, 70_000, 1, 900_000]

    items =
      sizes
      |> Enum.with_index()
      |> Enum.map(fn {size, i} -> binary_part(real, i * 100_000, size) end)

    for {format, opts} <- [zstd: [level: 1], lz4: [], bzip2: [level: 1]] do
      {:ok, results} = Chunker.Compression.compress_many(items, format, opts)
      assert length(results) == length(items)

      for {{:ok, packed}, item} <- Enum.zip(results, items),
          do: assert(Chunker.CLI.decompress(format, packed, dir) == {:ok, item})
    end
  end

  test "iodata items are hashed and chunked like their binaries" do
    items = [["ab", ?c], "abc", [[], "x" | "yz"]]
    assert Hash.hash_many(items, :blake3) == Enum.map(items, &Hash.blake3/1)
    {:ok, lists} = Chunker.chunk_many(items)
    assert lists == Enum.map(items, &Chunker.chunk!/1)
  end

  test "a long list of tiny items is worked through in calls that resume" do
    items = for i <- 1..50_000, do: <<i::32>>
    expected = Enum.map(items, &:crypto.hash(:sha256, &1))
    # A normal call stops at its deadline (~100 us), well before 50,000 items, and returns the
    # rest of the list; the dirty twin goes on from there.
    assert {:cont, digests, rest} = Native.hash_list(items, :sha256)
    assert length(digests) + length(rest) == 50_000
    assert digests == Enum.take(expected, length(digests))

    assert {:cont, chunked, unchunked} =
             Native.chunk_list(items, {:v2020, nil, nil, 64, 256, 1_024}, :none, true)

    # (Preempted before its first item, a normal call may even return them all.)
    assert length(chunked) + length(unchunked) == 50_000
    sizes = [min_size: 64, avg_size: 256, max_size: 1_024, hash: :none]
    assert chunked == Enum.map(Enum.take(items, length(chunked)), &Chunker.chunk!(&1, sizes))

    assert {:done, tail} =
             Native.hash_list_dirty(rest, :sha256)
             |> finish_dirty(&Native.hash_list_dirty(&1, :sha256))

    assert digests ++ tail == expected
    assert Hash.hash_many(items, :sha256) == expected
  end

  defp finish_dirty({:cont, results, rest}, dirty) do
    {:done, more} = finish_dirty(dirty.(rest), dirty)
    {:done, results ++ more}
  end

  defp finish_dirty(done, _dirty), do: done

  test "chunk_many/2 options: nar_aware errors name the item, copy, invalid options" do
    nar = Path.expand("../../mix.exs", __DIR__) |> Chunker.NAR.dump() |> Enum.join()
    assert {:ok, [[_ | _], [_ | _]]} = Chunker.chunk_many([nar, nar], nar_aware: true)

    assert {:error, %Chunker.Error{reason: :invalid_nar, message: "item 1: " <> _}} =
             Chunker.chunk_many([nar, "not a nar"], nar_aware: true)

    input = TestData.random_bytes(100_000, 4)
    {:ok, [chunks]} = Chunker.chunk_many([input], copy: true, avg_size: 4_096)
    assert Enum.all?(chunks, &(:binary.referenced_byte_size(&1.data) == &1.length))

    assert {:error, %Chunker.Error{reason: :invalid_options}} =
             Chunker.chunk_many(["x"], avg_size: 3)
  end

  test "a large result is collected with a presized heap, and the caller's settings are restored" do
    data = TestData.random_bytes(8_000_000, 5)

    {{before, min_heap}, chunks} =
      Task.async(fn ->
        Process.flag(:min_heap_size, 1_000)
        {:min_heap_size, before} = Process.info(self(), :min_heap_size)
        # A cap the presizing must respect: a minimum above it would kill the process.
        Process.flag(:max_heap_size, %{size: 20_000_000, kill: true, error_logger: false})
        {:ok, chunks} = Chunker.chunk(data, avg_size: 256, hash: :none)

        {:ok, lists} =
          Chunker.chunk_many(for(<<x::binary-size(100) <- data>>, do: x), avg_size: 256)

        {:min_heap_size, min_heap} = Process.info(self(), :min_heap_size)
        {{before, min_heap}, length(chunks) + length(lists)}
      end)
      |> Task.await(60_000)

    assert min_heap == before
    assert chunks > 100_000
  end

  test "the pool's size comes from CHUNKER_THREADS when the NIF loads" do
    ebin = Path.dirname(:code.which(Chunker))
    script = "IO.write(Chunker.Native.thread_count())"
    {out, 0} = System.cmd("elixir", ["-pa", ebin, "-e", script], env: [{"CHUNKER_THREADS", "3"}])
    assert out == "3"
    {out, 0} = System.cmd("elixir", ["-pa", ebin, "-e", script], env: [{"CHUNKER_THREADS", "x"}])
    assert String.to_integer(out) == System.schedulers_online()
  end

  test "bad arguments raise ArgumentError" do
    for bad <- [["a" | "b"], ["a", "b" | :c]] do
      assert_raise ArgumentError, ~r/list of iodata/, fn -> Hash.hash_many(bad, :blake3) end
      assert_raise ArgumentError, ~r/list of iodata/, fn -> Chunker.chunk_many(bad) end

      assert_raise ArgumentError, ~r/list of iodata/, fn ->
        Chunker.Compression.compress_many(bad, :zstd)
      end
    end

    assert_raise ArgumentError, ~r/list of iodata/, fn -> Hash.hash_many("x", :blake3) end
    assert_raise ArgumentError, ~r/expected iodata/, fn -> Hash.hash_many([1.5], :blake3) end
    assert_raise ArgumentError, ~r/:blake3 or :sha256/, fn -> Hash.hash_many([], :md5) end
    assert_raise ArgumentError, ~r/list of iodata/, fn -> Chunker.chunk_many(:x) end
    assert_raise ArgumentError, ~r/expected iodata/, fn -> Chunker.chunk_many([:x]) end
    assert_raise ArgumentError, fn -> Native.hash_list([1 | 2], :blake3) end
    assert_raise ArgumentError, fn -> Native.hash_list_dirty([:x], :blake3) end
    assert_raise ArgumentError, fn -> Native.hash_list_dirty(["a" | "b"], :blake3) end
  end
end
