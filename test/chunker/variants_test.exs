defmodule Chunker.VariantsTest do
  # Every FastCDC variant on every path gives the fastcdc crate's own boundaries (the crate
  # through the oracle example, on random and real data), and the options that select them
  # are checked by the core.
  use ExUnit.Case, async: true

  alias Chunker.{Oracle, TestData}

  @moduletag :tmp_dir

  @variants [
    [algorithm: :v2020, normalization: 0],
    [normalization: 2],
    [normalization: 3, seed: 0x5EED_CAFE_F00D_0001],
    [seed: 1],
    [algorithm: :v2016, normalization: 0],
    [algorithm: :v2016],
    [algorithm: :v2016, normalization: 3],
    [algorithm: :ronomon],
    [preset: :attic]
  ]

  setup_all do
    otp = File.read!(TestData.otp_tar())
    real = binary_part(otp, 0, min(byte_size(otp), 6_000_000))
    {:ok, inputs: [random: TestData.random_bytes(5_000_000, 21), real: real]}
  end

  for variant <- @variants do
    @variant variant
    test "#{inspect(variant)}: every path cuts as the crate", %{inputs: inputs, tmp_dir: dir} do
      opts = @variant ++ if(@variant[:preset], do: [], else: [avg_size: 16_384])
      {:ok, resolved} = Chunker.Options.validate(opts)
      sizes = {resolved.min_size, resolved.avg_size, resolved.max_size}
      oracle_opts = Map.take(resolved, [:algorithm, :normalization, :seed]) |> Map.to_list()

      for {kind, data} <- inputs do
        path = Path.join(dir, "#{kind}.bin")
        File.write!(path, data)
        want = Oracle.boundaries(path, sizes, oracle_opts)
        assert length(want) > 20
        spans = &Enum.map(&1, fn c -> {c.offset, c.length} end)

        assert spans.(Chunker.chunk!(data, opts)) == want, "chunk!/2 on #{kind}"
        assert {:ok, [_, many]} = Chunker.chunk_many(["", data], opts)
        assert spans.(many) == want, "chunk_many/2 on #{kind}"
        pieces = TestData.split(data, [1, 65_537, 3, 1_000_003, 16_384])
        assert spans.(Enum.to_list(Chunker.stream(pieces, opts))) == want, "stream/2 on #{kind}"
        assert {:ok, from_file} = Chunker.chunk_file(path, opts)
        assert spans.(from_file) == want, "chunk_file/2 on #{kind}"
        assert spans.(Enum.to_list(Chunker.stream_file(path, opts))) == want

        # Small inputs take the one-call normal-scheduler path.
        small = binary_part(data, 0, 40_000)
        small_path = Path.join(dir, "#{kind}-small.bin")
        File.write!(small_path, small)
        small_opts = Keyword.merge(opts, min_size: 256, avg_size: 1_024, max_size: 4_096)
        {:ok, small_resolved} = Chunker.Options.validate(small_opts)

        assert spans.(Chunker.chunk!(small, small_opts)) ==
                 Oracle.boundaries(small_path, {256, 1_024, 4_096}, oracle_opts),
               "#{inspect(small_resolved.algorithm)} one-call path on #{kind}"
      end
    end

    test "#{inspect(variant)}: nar_aware cuts a large file's contents as the crate cuts the file",
         %{inputs: inputs, tmp_dir: dir} do
      opts = @variant ++ if(@variant[:preset], do: [], else: [avg_size: 16_384])
      {:ok, resolved} = Chunker.Options.validate(opts)
      content = inputs[:real]
      file = Path.join(dir, "file.bin")
      File.write!(file, content)
      nar = file |> Chunker.NAR.dump() |> Enum.into(<<>>)
      {start, _} = :binary.match(nar, binary_part(content, 0, 256))

      sizes = {resolved.min_size, resolved.avg_size, resolved.max_size}
      oracle_opts = Map.take(resolved, [:algorithm, :normalization, :seed]) |> Map.to_list()

      want =
        for {offset, length} <- Oracle.boundaries(file, sizes, oracle_opts),
            do: {offset + start, length}

      inside =
        for %{offset: offset, length: length} <- Chunker.chunk!(nar, opts ++ [nar_aware: true]),
            offset >= start and offset < start + byte_size(content),
            do: {offset, length}

      assert inside == want
    end
  end

  describe "options" do
    test "an option the algorithm does not have is refused, naming it" do
      for {opts, option} <- [
            {[algorithm: :ronomon, seed: 1], :seed},
            {[algorithm: :ronomon, normalization: 1], :normalization},
            {[algorithm: :v2016, seed: 0], :seed},
            {[preset: :attic, seed: 9], :seed},
            {[algorithm: :v2020, normalization: 4], :normalization},
            {[seed: -1], :seed},
            {[seed: 2 ** 64], :seed},
            {[algorithm: :v2021], :algorithm},
            {[algorithm: "v2020"], :algorithm},
            {[normalization: 1.0], :normalization}
          ] do
        assert {:error, %Chunker.Error{reason: :invalid_options, details: %{option: ^option}} = e} =
                 Chunker.chunk("data", opts),
               inspect(opts)

        assert e.message =~ Atom.to_string(option)
        assert_raise Chunker.Error, fn -> Chunker.stream(["data"], opts) |> Stream.run() end
      end
    end

    test "each algorithm takes exactly the crate's sizes" do
      # ronomon: averages far above v2020's 4 MiB cap, and odd sizes.
      assert {:ok, %{max_size: 1_073_741_824}} =
               Chunker.Options.validate(algorithm: :ronomon, avg_size: 268_435_456)

      assert {:ok, _} =
               Chunker.Options.validate(
                 algorithm: :v2016,
                 min_size: 65,
                 avg_size: 257,
                 max_size: 1_025
               )

      assert {:error,
              %{
                details: %{option: :avg_size},
                message: "avg_size must be an even integer from 256 to 4194304, got 8388608"
              }} = Chunker.Options.validate(avg_size: 8_388_608)

      assert {:error,
              %{
                message:
                  "avg_size must be an integer from 256 to 268435456 for ronomon, got 536870912"
              }} = Chunker.Options.validate(algorithm: :ronomon, avg_size: 536_870_912)

      assert {:error, %{details: %{option: :min_size}}} =
               Chunker.Options.validate(min_size: 65, avg_size: 256, max_size: 1_024)
    end

    test "a ronomon stream with a max_size beyond the memory budget is refused when created" do
      assert_raise Chunker.Error, ~r/memory_budget/, fn ->
        Chunker.stream(["x"], algorithm: :ronomon, avg_size: 64 * 1_048_576) |> Stream.run()
      end

      big = [algorithm: :ronomon, avg_size: 64 * 1_048_576, memory_budget: :infinity]
      assert [%{length: 1}] = Chunker.stream(["x"], big) |> Enum.to_list()
    end
  end
end
