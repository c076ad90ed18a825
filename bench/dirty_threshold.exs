# Measures what a dirty-scheduler call costs over a normal one, to pick the size above which
# Chunker moves work off the normal schedulers (Chunker.Schedule.dirty_threshold/0).
#
#     mix run bench/dirty_threshold.exs
#
# For each input size it times Chunker.Native.chunk/6 (normal scheduler) and chunk_dirty/6
# (dirty CPU scheduler) with BLAKE3 at the default sizes, and the same for the BLAKE3 hash
# NIFs: the median of 15 rounds, each the mean of many calls. The threshold should sit where the normal call still
# takes a small fraction of a millisecond while the dirty switch is a small fraction of the
# call.

defmodule DirtyThreshold do
  @sizes [1_024, 4_096, 16_384, 32_768, 65_536, 131_072, 262_144, 1_048_576]

  def run do
    IO.puts(
      "| bytes | chunk normal us | chunk dirty us | blake3 normal us | blake3 dirty us " <>
        "| sha256 normal us | sha256 dirty us |"
    )

    IO.puts("|---|---|---|---|---|---|---|")

    for size <- @sizes do
      data = :crypto.strong_rand_bytes(size)
      reps = max(div(64 * 1_048_576, size), 50) |> min(20_000)

      chunk_normal =
        median_us(reps, fn ->
          Chunker.Native.chunk(data, 16_384, 65_536, 262_144, :blake3, true)
        end)

      chunk_dirty =
        median_us(reps, fn ->
          Chunker.Native.chunk_dirty(data, 16_384, 65_536, 262_144, :blake3, true)
        end)

      hash_normal = median_us(reps, fn -> Chunker.Native.blake3(data) end)
      hash_dirty = median_us(reps, fn -> Chunker.Native.blake3_dirty(data) end)
      sha_normal = median_us(reps, fn -> Chunker.Native.sha256(data) end)
      sha_dirty = median_us(reps, fn -> Chunker.Native.sha256_dirty(data) end)

      IO.puts(
        "| #{size} | #{fmt(chunk_normal)} | #{fmt(chunk_dirty)} | " <>
          "#{fmt(hash_normal)} | #{fmt(hash_dirty)} | #{fmt(sha_normal)} | #{fmt(sha_dirty)} |"
      )
    end
  end

  # Median over 15 rounds of the mean time of a round of calls (nanosecond clock).
  defp median_us(reps, fun) do
    per_round = max(div(reps, 15), 3)

    for _ <- 1..15 do
      start = System.monotonic_time(:nanosecond)
      for _ <- 1..per_round, do: fun.()
      (System.monotonic_time(:nanosecond) - start) / per_round / 1000
    end
    |> Enum.sort()
    |> Enum.at(7)
  end

  defp fmt(x), do: :erlang.float_to_binary(x, decimals: 1)
end

DirtyThreshold.run()
