defmodule Chunker.GoldenTest do
  # The golden vectors (test/golden/*.txt): every Elixir path cuts the fixture exactly as the
  # files say, for every variant they hold. Nothing here calls the fastcdc crate: these tests
  # fail if any boundary moves, whatever any dependency does.
  use ExUnit.Case, async: true

  alias Chunker.TestData

  @moduletag :tmp_dir
  @golden Path.expand("../golden", __DIR__)
  @files @golden |> Path.join("*.txt") |> Path.wildcard() |> Enum.sort()

  setup_all do
    fixture = TestData.golden_fixture()

    {:ok,
     fixture: fixture, fixture_blake3: Base.encode16(Chunker.Hash.blake3(fixture), case: :lower)}
  end

  test "the files are all there" do
    assert length(@files) == 32
  end

  for file <- @files do
    @file_path file
    test "#{Path.basename(file)}: every path cuts as the file says", context do
      vectors = parse(@file_path)
      assert vectors.fixture == context.fixture_blake3, "the fixture generator changed"
      input = binary_part(context.fixture, 0, vectors.input)
      opts = vectors.opts
      want = vectors.chunks

      assert_same(spans(Chunker.chunk!(input, opts)), want, "chunk!/2")
      assert {:ok, chunks} = Chunker.chunk(input, opts)
      assert_same(spans(chunks), want, "chunk/2")
      assert {:ok, [_, many]} = Chunker.chunk_many(["x", input], opts)
      assert_same(spans(many), want, "chunk_many/2")

      pieces = TestData.split(input, [1, 7, 4_095, 65_537, 1_048_576])
      assert_same(spans(Enum.to_list(Chunker.stream(pieces, opts))), want, "stream/2")

      if vectors.input <= 65_536 do
        ones = for <<byte::binary-1 <- input>>, do: byte
        assert_same(spans(Enum.to_list(Chunker.stream(ones, opts))), want, "1-byte pieces")
      end

      path = Path.join(context.tmp_dir, "fixture")
      File.write!(path, input)
      assert {:ok, from_file} = Chunker.chunk_file(path, opts)
      assert_same(spans(from_file), want, "chunk_file/2")
      assert_same(spans(Enum.to_list(Chunker.stream_file(path, opts))), want, "stream_file/2")
    end
  end

  defp spans(chunks),
    do: Enum.map(chunks, &{&1.offset, &1.length, Base.encode16(&1.hash, case: :lower)})

  # Says where the first boundary moved instead of printing thousands of chunks.
  defp assert_same(got, want, path) do
    case Enum.find(
           0..(max(length(got), length(want)) - 1)//1,
           &(Enum.at(got, &1) != Enum.at(want, &1))
         ) do
      nil ->
        :ok

      i ->
        flunk(
          "#{path}: chunk #{i} is #{inspect(Enum.at(got, i))}, the vector says #{inspect(Enum.at(want, i))}"
        )
    end
  end

  defp parse(path) do
    lines = path |> File.read!() |> String.split("\n", trim: true)

    Enum.reduce(lines, %{chunks: [], opts: []}, fn line, acc ->
      case String.split(line, " ") do
        ["#", "algorithm", algorithm, "normalization", level, "seed", seed] ->
          opts =
            [algorithm: String.to_existing_atom(algorithm)] ++
              optional(:normalization, level) ++ optional(:seed, seed)

          %{acc | opts: acc.opts ++ opts}

        ["#", "sizes", min, avg, max] ->
          sizes = Enum.map([min, avg, max], &String.to_integer/1)
          %{acc | opts: acc.opts ++ Enum.zip([:min_size, :avg_size, :max_size], sizes)}

        ["#", "input", input] ->
          Map.put(acc, :input, String.to_integer(input))

        ["#", "fixture", hash] ->
          Map.put(acc, :fixture, hash)

        ["#" | _] ->
          acc

        [offset, length, hash] ->
          %{
            acc
            | chunks: [{String.to_integer(offset), String.to_integer(length), hash} | acc.chunks]
          }
      end
    end)
    |> Map.update!(:chunks, &Enum.reverse/1)
  end

  defp optional(_key, "-"), do: []
  defp optional(key, value), do: [{key, String.to_integer(value)}]
end
