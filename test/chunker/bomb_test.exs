defmodule Chunker.BombTest do
  # Decompression bombs made by the real tools (gigabytes of zeros in a few kilobytes): every
  # path stops at the limit with :size_exceeded, and memory stays near the limit (streams:
  # near nothing) while doing so. Runs alone (async: false) so that the peak RSS it reads
  # is its own.
  use ExUnit.Case, async: false

  alias Chunker.{CLI, Compression}

  @moduletag :stress
  @moduletag timeout: 600_000

  @gib 1_073_741_824
  @mib 1_048_576
  @bombs [zstd: 4 * @gib, lz4: 4 * @gib, xz: 2 * @gib, bzip2: 2 * @gib]

  setup_all do
    %{
      bombs:
        Map.new(@bombs, fn {format, bytes} -> {format, File.read!(CLI.bomb(format, bytes))} end)
    }
  end

  test "one-shot and batch decompression stop at max_size, memory near it", %{bombs: bombs} do
    for {format, packed} <- bombs do
      assert byte_size(packed) < 32 * @mib

      growth =
        peak_growth(fn ->
          assert {:error, %Chunker.Error{reason: :size_exceeded}} =
                   Compression.decompress(packed, max_size: 64 * @mib)
        end)

      assert growth < 64 * @mib + 48 * @mib, "#{format}: peak RSS grew #{div(growth, @mib)} MiB"

      assert {:ok, [{:error, %Chunker.Error{reason: :size_exceeded}}]} =
               Compression.decompress_many([packed], max_size: 64 * @mib)
    end
  end

  test "the default limit is 1 GiB", %{bombs: bombs} do
    growth =
      peak_growth(fn ->
        assert {:error, %Chunker.Error{reason: :size_exceeded, message: message}} =
                 Compression.decompress(bombs.zstd)

        assert message =~ "1073741824 bytes"
      end)

    assert growth < @gib + 128 * @mib, "peak RSS grew #{div(growth, @mib)} MiB"
  end

  test "streaming a bomb keeps memory bounded whatever the output size", %{bombs: bombs} do
    # zstd and lz4 streamed to the end (4 GiB out); xz and bzip2 until a 256 MiB limit.
    for {format, limit} <- [zstd: :infinity, lz4: :infinity, xz: 256 * @mib, bzip2: 256 * @mib] do
      pieces = for <<piece::binary-size(65_536) <- bombs[format]>>, do: piece

      tail =
        binary_part(bombs[format], length(pieces) * 65_536, rem(byte_size(bombs[format]), 65_536))

      stream = Compression.decompress_stream(pieces ++ [tail], max_size: limit)

      growth =
        peak_growth(fn ->
          if limit == :infinity do
            total = Enum.reduce(stream, 0, fn piece, sum -> sum + byte_size(piece) end)
            assert total == Keyword.fetch!(@bombs, format)
          else
            assert_raise Chunker.Error, ~r/exceeds the limit/, fn -> Stream.run(stream) end
          end
        end)

      assert growth < 64 * @mib, "#{format}: peak RSS grew #{div(growth, @mib)} MiB"
    end
  end

  test "a header declaring gigabytes reserves nothing like it" do
    # The tools write the content size when they read a file: 4 GiB, declared up front.
    for format <- [:zstd, :lz4] do
      packed = File.read!(CLI.bomb(format, 4 * @gib, true))

      growth =
        peak_growth(fn ->
          assert [first] = [packed] |> Compression.decompress_stream() |> Enum.take(1)
          assert byte_size(first) > 0

          assert {:error, %Chunker.Error{reason: :size_exceeded}} =
                   Compression.decompress(packed, max_size: 16 * @mib)
        end)

      assert growth < 48 * @mib, "#{format}: peak RSS grew #{div(growth, @mib)} MiB"
    end
  end

  # Runs `fun` and returns how far the process's peak RSS rose above its RSS before.
  defp peak_growth(fun) do
    :erlang.garbage_collect()
    # Writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS.
    File.write!("/proc/self/clear_refs", "5")
    before = status_kib("VmRSS")
    fun.()
    (status_kib("VmHWM") - before) * 1024
  end

  defp status_kib(field) do
    "/proc/self/status"
    |> File.read!()
    |> String.split("\n")
    |> Enum.find_value(fn line ->
      case String.split(line, ~r/:\s+/) do
        [^field, value] -> value |> String.trim_trailing(" kB") |> String.to_integer()
        _ -> nil
      end
    end)
  end
end
