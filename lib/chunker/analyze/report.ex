defmodule Chunker.Analyze.Report do
  @moduledoc false
  # The human report of `mix chunker.analyze`, from the map `Chunker.Analyze.run/2` returns.

  import Chunker.Analyze.Progress, only: [size: 1]

  @bar 40

  @doc "The report as text: totals, a histogram of chunk sizes, compression per codec."
  @spec text(map()) :: String.t()
  def text(r) do
    o = r.options
    what = if r.nar, do: "NARs", else: "regular files"

    """
    files            #{r.files} #{what} (#{r.symlinks} symlinks not followed, #{r.skipped} skipped, #{r.errors} errors)
    bytes            #{r.total_bytes} (#{size(r.total_bytes)})
    chunking         #{variant(o)}; #{o.min_size} / #{o.avg_size} / #{o.max_size} (min / avg / max), #{o.hash}
    chunks           #{r.chunks} (average #{size(div(r.total_bytes, max(r.chunks, 1)))})
    distinct chunks  #{r.distinct_chunks} holding #{r.distinct_bytes} bytes (#{size(r.distinct_bytes)})
    dedup ratio      #{fixed(r.dedup_ratio)}x (bytes / distinct bytes)
    throughput       #{round(r.throughput_mb_s)} MB/s (#{fixed(r.seconds, 3)} s, reading included#{if r.compression != [], do: ", compression not", else: ""})
    memory           #{r.memory_bytes_per_distinct_chunk} bytes per distinct chunk for the digests seen (#{size(r.memory_bytes_per_distinct_chunk * r.distinct_chunks)} here)
    """ <> histogram(r.chunk_sizes) <> compression(r.compression)
  end

  defp variant(o) do
    level = if o.normalization, do: ", normalization #{o.normalization}", else: ""
    seed = if o.seed not in [nil, 0], do: ", seeded", else: ""
    aware = if o.nar_aware, do: ", NAR-aware", else: ""
    "#{o.algorithm}#{level}#{seed}#{aware}"
  end

  defp histogram([]), do: ""

  defp histogram(buckets) do
    most = buckets |> Enum.map(& &1.chunks) |> Enum.max()

    lines =
      Enum.map_join(buckets, "\n", fn b ->
        bar = String.duplicate("#", max(1, round(b.chunks * @bar / most)))

        "  #{String.pad_leading(size(b.from), 9)} - #{String.pad_leading(size(b.to + 1), 9)}  " <>
          "#{String.pad_leading(Integer.to_string(b.chunks), 9)}  #{bar}"
      end)

    "\nchunk sizes (chunks per size range)\n" <> lines <> "\n"
  end

  defp compression([]), do: ""

  defp compression(codecs) do
    lines =
      Enum.map_join(codecs, "\n", fn c ->
        name = "#{c.format}#{if c.level, do: " #{c.level}", else: ""}"

        "  #{String.pad_trailing(name, 9)} #{String.pad_leading(size(c.bytes_in), 10)} -> " <>
          "#{String.pad_leading(size(c.bytes_out), 10)}  #{fixed(c.ratio)}x  " <>
          "#{String.pad_leading(Integer.to_string(round(c.mb_s)), 5)} MB/s"
      end)

    "\ncompression of each distinct chunk on its own (as a chunk store stores them)\n" <>
      lines <> "\n"
  end

  defp fixed(float, decimals \\ 2), do: :erlang.float_to_binary(float / 1, decimals: decimals)
end
