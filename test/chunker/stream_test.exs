defmodule Chunker.StreamTest do
  # stream/2 must equal chunk/2 on the concatenation, whatever the pieces.
  # The expected chunks come from independent oracles: boundaries from the fastcdc crate,
  # digests from :crypto.
  use ExUnit.Case, async: true

  alias Chunker.{Chunk, Oracle, TestData}

  @sizes {4_096, 16_384, 65_536}
  @opts [min_size: 4_096, avg_size: 16_384, max_size: 65_536, hash: :sha256]

  setup_all do
    data = TestData.random_bytes(2_000_000, 21) <> TestData.low_entropy_bytes(500_000, 22)
    path = Path.join(System.tmp_dir!(), "chunker-stream-#{System.unique_integer([:positive])}")
    File.write!(path, data)
    on_exit(fn -> File.rm(path) end)

    expected =
      for {offset, length} <- Oracle.boundaries(path, @sizes) do
        bytes = binary_part(data, offset, length)
        %Chunk{offset: offset, length: length, hash: :crypto.hash(:sha256, bytes), data: bytes}
      end

    %{data: data, path: path, expected: expected}
  end

  test "random piece sizes, with empty pieces and pieces above max_size", ctx do
    seed = ExUnit.configuration()[:seed]
    :rand.seed(:exsss, {seed, 1, 2})

    for round <- 1..20 do
      sizes = for _ <- 1..50, do: Enum.random([0, 1, 7, 100, 4_095, 65_535, 65_536, 200_000])
      pieces = TestData.split(ctx.data, sizes)
      assert stream_list(pieces, @opts) == ctx.expected, "round #{round}, seed #{seed}"
    end
  end

  test "1-byte pieces", %{data: data, expected: expected} do
    short = binary_part(data, 0, 300_000)
    pieces = for <<byte <- short>>, do: <<byte>>
    # The stream's last chunk ends where the short input does; the others are the oracle's.
    chunks = stream_list(pieces, @opts)
    assert Enum.drop(chunks, -1) == Enum.take_while(expected, &(&1.offset + &1.length < 300_000))
    assert Enum.map_join(chunks, & &1.data) == short
  end

  test "one piece holding all the input, and iodata pieces", ctx do
    assert stream_list([ctx.data], @opts) == ctx.expected
    <<a::binary-size(70_000), b::binary-size(1), c::binary>> = ctx.data
    assert stream_list([[a, [b]], [c | ""]], @opts) == ctx.expected
  end

  test "File.stream! pieces of several read sizes", %{path: path, expected: expected} do
    for read_size <- [4_096, 65_537, 1_048_576] do
      assert stream_list(File.stream!(path, [], read_size), @opts) == expected,
             "read size #{read_size}"
    end
  end

  test "data: false and hash: :none / :blake3 give the same boundaries", ctx do
    spans = Enum.map(ctx.expected, &{&1.offset, &1.length})

    for opts <- [[data: false], [hash: :none], [hash: :blake3, data: false]] do
      chunks = stream_list(TestData.split(ctx.data, [123_457]), Keyword.merge(@opts, opts))
      assert Enum.map(chunks, &{&1.offset, &1.length}) == spans
      assert Enum.all?(chunks, &(&1.data == nil)) == Keyword.has_key?(opts, :data)
    end
  end

  test "chunks inside a large piece are sub-binaries of it, across its dirty slices" do
    big = TestData.random_bytes(8_000_000, 23)
    chunks = stream_list(["abc", big, "xyz"], @opts)
    inside = Enum.filter(chunks, &(&1.offset >= 3 and &1.offset + &1.length <= 8_000_003))
    assert length(inside) > 100
    for chunk <- inside, do: assert(:binary.referenced_byte_size(chunk.data) == 8_000_000)
    assert IO.iodata_to_binary(Enum.map(chunks, & &1.data)) == "abc" <> big <> "xyz"
  end

  test "copy: true gives every chunk a binary of its own, with the same chunks", ctx do
    big = TestData.random_bytes(3_000_000, 24)
    copied = stream_list(["abc", big], [copy: true] ++ @opts)
    assert copied == stream_list(["abc", big], @opts)
    assert Enum.all?(copied, &(:binary.referenced_byte_size(&1.data) == &1.length))

    {:ok, chunks} = Chunker.chunk(big, [copy: true] ++ @opts)
    assert Enum.all?(chunks, &(:binary.referenced_byte_size(&1.data) == &1.length))
    {:ok, chunks} = Chunker.chunk_file(ctx.path, [copy: true] ++ @opts)
    assert chunks == ctx.expected
    assert Enum.all?(chunks, &(:binary.referenced_byte_size(&1.data) == &1.length))
  end

  test "a stream whose settings exceed memory_budget is refused", ctx do
    opts = [max_size: 1_048_576, avg_size: 262_144, memory_budget: 3_000_000]

    assert_raise Chunker.Error, ~r/memory_budget \(3000000\)/, fn -> Chunker.stream([], opts) end
    assert_raise Chunker.Error, ~r/reads in flight/, fn -> Chunker.stream_file(ctx.path, opts) end

    assert {:error, %Chunker.Error{reason: :memory_budget_exceeded}} =
             Chunker.chunk_file(ctx.path, [data: false] ++ opts)

    # 3 MiB fits 4,000,000 bytes; with stream_file's reads in flight it does not.
    opts = Keyword.put(opts, :memory_budget, 4_000_000)
    assert [_ | _] = stream_list([ctx.data], opts)
    assert_raise Chunker.Error, ~r/reads in flight/, fn -> Chunker.stream_file(ctx.path, opts) end
    assert [_ | _] = Chunker.stream_file(ctx.path, memory_budget: :infinity) |> Enum.to_list()

    assert_raise Chunker.Error, ~r/memory_budget must be/, fn ->
      Chunker.stream([], memory_budget: 0)
    end
  end

  test "chunks spanning pieces carry the right bytes", ctx do
    chunks = stream_list(TestData.split(ctx.data, [999]), @opts)
    assert Enum.all?(chunks, &(&1.data == binary_part(ctx.data, &1.offset, &1.length)))
    assert IO.iodata_to_binary(Enum.map(chunks, & &1.data)) == ctx.data
  end

  test "an empty enumerable gives no chunks, and stopping early is fine", ctx do
    assert stream_list([], @opts) == []
    assert stream_list(["", ""], @opts) == []
    assert Chunker.stream([ctx.data], @opts) |> Enum.take(2) == Enum.take(ctx.expected, 2)
  end

  test "invalid options raise when stream/2 is called; non-iodata pieces when reached" do
    assert_raise Chunker.Error, ~r/max_size/, fn -> Chunker.stream(["x"], max_size: 3) end
    assert_raise Chunker.Error, ~r/unknown option :nope/, fn -> Chunker.stream([], nope: 1) end
    stream = Chunker.stream(["ok", 42])
    assert_raise ArgumentError, ~r/expected iodata/, fn -> Enum.to_list(stream) end
    stream = Chunker.stream([[1 | 2]])
    assert_raise ArgumentError, ~r/expected iodata/, fn -> Enum.to_list(stream) end
  end

  defp stream_list(pieces, opts), do: pieces |> Chunker.stream(opts) |> Enum.to_list()
end
