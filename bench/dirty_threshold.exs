# Measures the costs Chunker.Schedule is built from:
#
#     mix run bench/dirty_threshold.exs
#
# 1. Rates, in bytes per microsecond, of the work a call does: the cut-point scan (chunking
#    with hash: :none), BLAKE3 and SHA-256 (hashing alone), on 1 MiB on a normal scheduler.
# 2. Per-chunk cost: chunking 1 MiB at 64/256/1024 sizes against 16/64/256 KiB sizes.
# 3. What a dirty call costs over a normal one for the same work, by size: the same bytes
#    through one `Native.chunk/6` call vs a dirty `stream_feed_dirty` + `stream_finish_dirty`
#    pair, and `Native.hash/2` vs a dirty hasher.
#
# Each figure is the median of 15 rounds, each the mean of many calls (nanosecond clock).

defmodule DirtyThreshold do
  alias Chunker.Native

  @sizes [4_096, 16_384, 65_536, 262_144, 1_048_576]

  def run do
    mib = :crypto.strong_rand_bytes(1_048_576)
    scan = us(fn -> Native.chunk(mib, 16_384, 65_536, 262_144, :none, false) end)
    blake3 = us(fn -> Native.hash(mib, :blake3) end)
    sha256 = us(fn -> Native.hash(mib, :sha256) end)

    IO.puts(
      "rates (bytes/us): scan #{rate(scan)}, blake3 #{rate(blake3)}, sha256 #{rate(sha256)}"
    )

    {:ok, small} = Native.chunk(mib, 64, 256, 1_024, :blake3, true)
    tiny = us(fn -> Native.chunk(mib, 64, 256, 1_024, :blake3, true) end)
    large = us(fn -> Native.chunk(mib, 16_384, 65_536, 262_144, :blake3, true) end)
    per_chunk = (tiny - large) / length(small)

    IO.puts(
      "per chunk: #{fmt(per_chunk)} us (#{length(small)} chunks of ~256 bytes in #{fmt(tiny)} us)\n"
    )

    IO.puts("| bytes | chunk normal us | chunk dirty us | blake3 normal us | blake3 dirty us |")
    IO.puts("|---|---|---|---|---|")

    for size <- @sizes do
      data = binary_part(mib, 0, size)

      chunk_dirty = fn ->
        {:ok, s} = Native.stream_new(16_384, 65_536, 262_144, :blake3, true)
        {:ok, _, _} = Native.stream_feed_dirty(s, data, 0, size)
        Native.stream_finish_dirty(s, data)
      end

      hash_dirty = fn ->
        h = Native.hasher_new(:blake3)
        :ok = Native.hasher_update_dirty(h, data, 0, size)
        Native.hasher_finish(h)
      end

      IO.puts(
        "| #{size} | #{fmt(us(fn -> Native.chunk(data, 16_384, 65_536, 262_144, :blake3, true) end))} " <>
          "| #{fmt(us(chunk_dirty))} | #{fmt(us(fn -> Native.hash(data, :blake3) end))} | #{fmt(us(hash_dirty))} |"
      )
    end
  end

  defp us(fun) do
    start = System.monotonic_time(:nanosecond)
    fun.()
    once = max(System.monotonic_time(:nanosecond) - start, 1)
    per_round = max(div(20_000_000, once), 3)

    for _ <- 1..15 do
      start = System.monotonic_time(:nanosecond)
      for _ <- 1..per_round, do: fun.()
      (System.monotonic_time(:nanosecond) - start) / per_round / 1000
    end
    |> Enum.sort()
    |> Enum.at(7)
  end

  defp rate(us_per_mib), do: round(1_048_576 / us_per_mib)
  defp fmt(x), do: :erlang.float_to_binary(x / 1, decimals: 1)
end

DirtyThreshold.run()
