defmodule Chunker.OracleTest do
  # Boundaries must equal the fastcdc crate's and digests b3sum's / :crypto's, on random and
  # real data, for size sets from small to large.
  use ExUnit.Case, async: true

  alias Chunker.{Oracle, TestData}

  @size_sets [
    {4_096, 16_384, 65_536},
    {16_384, 65_536, 262_144},
    {131_072, 524_288, 2_097_152},
    {262_144, 1_048_576, 4_194_304}
  ]

  @moduletag :tmp_dir

  describe "boundaries equal the fastcdc crate's" do
    for {min, avg, max} = sizes <- @size_sets do
      @sizes sizes

      test "on random data at #{min}/#{avg}/#{max}", %{tmp_dir: dir} do
        data = TestData.random_bytes(12_000_000, 11)
        path = Path.join(dir, "random.bin")
        File.write!(path, data)
        assert_same_boundaries(data, path, @sizes)
      end

      test "on a tar of the OTP installation at #{min}/#{avg}/#{max}" do
        path = TestData.otp_tar()
        assert_same_boundaries(File.read!(path), path, @sizes)
      end
    end

    # Inputs this small take the one-call normal-scheduler path (Native.chunk), the large ones
    # above the sliced stream path.
    for {min, avg, max} = sizes <- [
          {64, 256, 1_024},
          {1_024, 4_096, 16_384},
          {4_096, 16_384, 65_536}
        ] do
      @sizes sizes
      test "on small inputs chunked in one call at #{min}/#{avg}/#{max}", %{tmp_dir: dir} do
        for {size, seed} <- [{60_000, 1}, {20_000, 2}, {max(elem(@sizes, 2), 1_024), 3}] do
          data = TestData.random_bytes(size, seed)
          path = Path.join(dir, "small-#{size}.bin")
          File.write!(path, data)
          assert_same_boundaries(data, path, @sizes)
        end
      end
    end

    test "on low-entropy data that reaches max_size", %{tmp_dir: dir} do
      data = TestData.low_entropy_bytes(3_000_000, 5)
      path = Path.join(dir, "low.bin")
      File.write!(path, data)
      assert_same_boundaries(data, path, {4_096, 16_384, 65_536})
    end
  end

  test "BLAKE3 chunk hashes equal b3sum of the chunk bytes", %{tmp_dir: dir} do
    data = File.read!(TestData.otp_tar()) |> binary_part(0, 8_000_000)
    chunks = Chunker.chunk!(data, avg_size: 262_144)
    assert length(chunks) > 10
    assert Enum.map(chunks, & &1.hash) == Oracle.b3sum(Enum.map(chunks, & &1.data), dir)
  end

  test "SHA-256 chunk hashes equal :crypto of the chunk bytes" do
    data = TestData.random_bytes(5_000_000, 3)

    for chunk <- Chunker.chunk!(data, hash: :sha256) do
      assert chunk.hash == :crypto.hash(:sha256, binary_part(data, chunk.offset, chunk.length))
    end
  end

  defp assert_same_boundaries(data, path, {min, avg, max} = sizes) do
    expected = Oracle.boundaries(path, sizes)
    assert expected != []
    opts = [min_size: min, avg_size: avg, max_size: max]
    spans = &Enum.map(&1, fn c -> {c.offset, c.length} end)

    assert spans.(Chunker.chunk!(data, opts)) == expected
    assert {:ok, chunks} = Chunker.chunk_file(path, opts ++ [data: false])
    assert spans.(chunks) == expected
    assert spans.(Enum.to_list(Chunker.stream_file(path, opts ++ [hash: :none]))) == expected
  end
end
