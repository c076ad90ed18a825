defmodule Chunker.ProfileTest do
  use ExUnit.Case, async: true

  alias Chunker.Compression

  @data Chunker.TestData.low_entropy_bytes(3_000_000, 11)

  test "the report's figures are those of the work: bytes, chunks, compressed size, shares" do
    {:ok, report} = Chunker.profile([@data], avg_size: 16_384, compress: :zstd, level: 3)
    chunks = Chunker.chunk!(@data, avg_size: 16_384)

    assert {report.source, report.bytes, report.chunks} ==
             {:enumerable, 3_000_000, length(chunks)}

    {:ok, frames} = Compression.compress_many(Enum.map(chunks, & &1.data), :zstd, level: 3)

    assert report.compressed_bytes ==
             frames |> Enum.map(fn {:ok, f} -> byte_size(f) end) |> Enum.sum()

    assert Keyword.keys(report.stages) == [:read, :chunk, :hash, :compress]
    shares = Enum.map(report.stages, fn {_, stage} -> stage.share end)
    assert Enum.all?(shares, &(&1 >= 0)) and Enum.sum(shares) <= 1.0 + 1.0e-9
    assert report.memory.peak >= report.memory.start

    {:ok, report} = Chunker.profile([@data], hash: :none, compress: nil)
    assert Keyword.keys(report.stages) == [:read, :chunk, :hash]
    assert report.compressed_bytes == nil
  end

  test "a path is read as stream_file/2 reads it; errors are returned" do
    path = Path.join(System.tmp_dir!(), "chunker-profile-#{System.unique_integer([:positive])}")
    File.write!(path, @data)
    on_exit(fn -> File.rm(path) end)
    assert {:ok, %{source: :file, bytes: 3_000_000}} = Chunker.profile(path)
    assert {:ok, %{bytes: 3_000_000}} = Chunker.profile(String.to_charlist(path))

    assert {:error, %Chunker.Error{reason: :enoent}} = Chunker.profile(path <> ".missing")
    assert {:error, %Chunker.Error{reason: :invalid_options}} = Chunker.profile(path, level: 99)
    assert {:error, %Chunker.Error{reason: :invalid_options}} = Chunker.profile(path, avg_size: 1)
  end

  test "the suggestion names the stage that dominates" do
    slow = Stream.map(1..3, fn _ -> Process.sleep(100) && "tiny" end)
    {:ok, report} = Chunker.profile(slow, compress: :lz4)
    assert report.stages[:read].share > 0.5
    assert report.suggestion =~ "reading takes"
    assert report.suggestion =~ "stream_file/2"

    {:ok, report} = Chunker.profile([binary_part(@data, 0, 1_000_000)], compress: :xz, level: 9)
    assert report.stages[:compress].share > 0.5
    assert report.suggestion =~ "compression takes"
  end
end
