defmodule Mix.Tasks.Chunker.Analyze do
  @shortdoc "Chunks files and reports chunks, distinct chunks and throughput"

  @moduledoc """
  Chunks the given files (directories are walked, files in sorted order) and prints how many
  chunks and distinct chunks they make, how much deduplication that gives, and how fast it
  went.

      mix chunker.analyze PATH... [--avg-size N | --preset NAME] [--hash blake3|sha256]
          [--algorithm v2020|v2016|ronomon] [--normalization 0..3] [--seed N]
          [--profile [--compress zstd|lz4|xz|bzip2|none] [--level N]]

  `--profile` then runs the files through read -> chunk -> hash -> compress
  (`Chunker.profile/2`, compression with `--compress`, default zstd, at `--level`) and prints
  each stage's share of the time and throughput, with a suggestion when one stage dominates.

  `--algorithm`, `--normalization` and `--seed` pick the FastCDC variant as the options of
  the same names do (see `Chunker.Options`); `--preset attic` cuts as attic does.

  Distinct chunks are counted by digest, so `--hash` must not be `none`. Files are streamed
  8 MiB at a time (`Chunker.stream_file/2` with `data: false`), in bounded memory.
  """

  use Mix.Task

  @switches [
    avg_size: :integer,
    min_size: :integer,
    max_size: :integer,
    preset: :string,
    hash: :string,
    algorithm: :string,
    normalization: :integer,
    seed: :integer,
    profile: :boolean,
    compress: :string,
    level: :integer
  ]

  @impl Mix.Task
  def run(args) do
    {parsed, paths, invalid} = OptionParser.parse(args, strict: @switches)

    if invalid != [] or paths == [] do
      Mix.raise(
        "usage: mix chunker.analyze PATH... [--avg-size N | --preset NAME] [--hash ALGO] " <>
          "[--algorithm v2020|v2016|ronomon] [--normalization 0..3] [--seed N] " <>
          "[--profile [--compress FORMAT] [--level N]]"
      )
    end

    Mix.Task.run("app.start")
    opts = chunk_options(parsed)
    files = paths |> Enum.flat_map(&list_files/1)
    if files == [], do: Mix.raise("no regular files under #{Enum.join(paths, ", ")}")

    {micros, stats} =
      :timer.tc(fn -> Enum.reduce(files, new_stats(), &add_file(&1, &2, opts)) end)

    report(stats, length(files), micros, opts)
    if parsed[:profile], do: profile(files, opts, parsed)
  end

  defp profile(files, opts, parsed) do
    compress =
      case Keyword.get(parsed, :compress, "zstd") do
        "none" -> [compress: nil]
        format when format in ~w(zstd lz4 xz bzip2) -> [compress: String.to_atom(format)]
        other -> Mix.raise("--compress must be zstd, lz4, xz, bzip2 or none, got: #{other}")
      end

    opts = Keyword.delete(opts, :data) ++ compress ++ Keyword.take(parsed, [:level])

    case Chunker.Profile.run({:files, files}, opts) do
      {:ok, report} -> Mix.shell().info(profile_text(report))
      {:error, error} -> Mix.raise(error.message)
    end
  end

  defp profile_text(report) do
    stages =
      Enum.map_join(report.stages, "\n", fn {stage, s} ->
        share = :erlang.float_to_binary(s.share * 100, decimals: 1)

        "  #{String.pad_trailing(to_string(stage), 9)} #{String.pad_leading(share, 5)}%  " <>
          "#{String.pad_leading(to_string(round(s.mb_per_s)), 6)} MB/s"
      end)

    compressed =
      if report.compressed_bytes,
        do:
          "\ncompressed       #{report.compressed_bytes} bytes (#{ratio(report.bytes, report.compressed_bytes)}x)",
        else: ""

    """
    profile          #{round(report.mb_per_s)} MB/s end to end (#{Float.round(report.seconds, 3)} s), stages one after the other:
    #{stages}#{compressed}
    memory           VM #{mib(report.memory.start)} MiB at the start, #{mib(report.memory.peak)} MiB at the peak
    suggestion       #{report.suggestion || "no stage takes half the time"}
    """
  end

  defp chunk_options(parsed) do
    hash = String.to_atom(Keyword.get(parsed, :hash, "blake3"))
    if hash not in [:blake3, :sha256], do: Mix.raise("--hash must be blake3 or sha256")

    sizes =
      case Keyword.fetch(parsed, :preset) do
        {:ok, name} -> [preset: String.to_atom(name)]
        :error -> Keyword.take(parsed, [:min_size, :avg_size, :max_size])
      end

    variant =
      Enum.flat_map(parsed, fn
        {:algorithm, name} -> [algorithm: String.to_atom(name)]
        {key, value} when key in [:normalization, :seed] -> [{key, value}]
        _ -> []
      end)

    opts = sizes ++ variant ++ [hash: hash, data: false]

    case Chunker.Options.validate(opts) do
      {:ok, _} -> opts
      {:error, error} -> Mix.raise(error.message)
    end
  end

  defp list_files(path) do
    cond do
      File.regular?(path) ->
        [path]

      File.dir?(path) ->
        path
        |> Path.join("**")
        |> Path.wildcard(match_dot: true)
        |> Enum.filter(&File.regular?/1)
        |> Enum.sort()

      true ->
        Mix.raise("#{path}: no such file or directory")
    end
  end

  defp new_stats, do: %{bytes: 0, chunks: 0, seen: %{}, distinct_bytes: 0}

  defp add_file(path, stats, opts) do
    path
    |> Chunker.stream_file(opts)
    |> Enum.reduce(stats, fn chunk, acc ->
      acc = %{acc | bytes: acc.bytes + chunk.length, chunks: acc.chunks + 1}

      if Map.has_key?(acc.seen, chunk.hash) do
        acc
      else
        %{
          acc
          | seen: Map.put(acc.seen, chunk.hash, true),
            distinct_bytes: acc.distinct_bytes + chunk.length
        }
      end
    end)
  end

  defp variant_name(o) do
    level = if o.normalization, do: ", normalization #{o.normalization}", else: ""
    seed = if o.seed not in [nil, 0], do: ", seeded", else: ""
    "#{o.algorithm}#{level}#{seed}"
  end

  defp report(stats, files, micros, opts) do
    {:ok, o} = Chunker.Options.validate(opts)
    seconds = max(micros, 1) / 1_000_000
    distinct = map_size(stats.seen)

    Mix.shell().info("""
    files            #{files}
    bytes            #{stats.bytes} (#{mib(stats.bytes)} MiB)
    chunk sizes      #{o.min_size} / #{o.avg_size} / #{o.max_size} (min / avg / max), #{o.hash}
    algorithm        #{variant_name(o)}
    chunks           #{stats.chunks} (average #{div(stats.bytes, max(stats.chunks, 1))} bytes)
    distinct chunks  #{distinct} holding #{stats.distinct_bytes} bytes (#{mib(stats.distinct_bytes)} MiB)
    dedup ratio      #{ratio(stats.bytes, stats.distinct_bytes)}x (bytes / distinct bytes)
    throughput       #{round(stats.bytes / seconds / 1_000_000)} MB/s (#{Float.round(seconds, 3)} s, reading included)
    """)
  end

  defp mib(bytes), do: Float.round(bytes / 1_048_576, 1)
  defp ratio(_bytes, 0), do: "1.00"
  defp ratio(bytes, distinct), do: :erlang.float_to_binary(bytes / distinct, decimals: 2)
end
