defmodule Mix.Tasks.Chunker.Analyze do
  @shortdoc "Chunks files and reports chunks, deduplication, chunk sizes and compression"

  @moduledoc """
  Chunks your data and reports how it would deduplicate and compress in a chunk store:
  chunks, distinct chunks (by digest), the deduplication ratio, a histogram of chunk sizes,
  throughput and, with `--compress`, how well each distinct chunk compresses on its own.

      mix chunker.analyze [PATH...] [--json] [--nar] [--compress zstd,lz4,xz:6,...]
          [--avg-size 64k | --min-size N --avg-size N --max-size N | --preset NAME]
          [--algorithm v2020|v2016|ronomon] [--normalization 0..3] [--seed N]
          [--hash blake3|sha256] [--level N] [--profile] [--[no-]progress]

  With no PATH it analyzes the Erlang installation it runs on (`:code.root_dir/0`), as
  `script/demo` does. Directories are walked in sorted order without following symlinks: a
  symlink is counted as one (so no cycle can occur), and devices, FIFOs and sockets are
  skipped with a note, as `find PATH -type f` sees the tree; a PATH that is itself a symlink is
  followed. A file that cannot be read is noted and the rest go on. Sizes take `k`, `m` and `g`
  suffixes (powers of 1024: `--avg-size 64k`).

    * `--json` prints one JSON object on stdout instead of the report: `total_bytes` (the sum
      of the regular files' sizes, as read), `files`, `symlinks`, `skipped`, `errors`, `notes`
      (the first 100, `{path, note}`), `chunks`, `distinct_chunks`, `distinct_bytes`,
      `dedup_ratio`, `chunk_sizes` (the histogram: `{from, to, chunks, bytes}` per power of
      two), `compression` (per codec: `format`, `level`, `bytes_in`, `bytes_out`, `ratio`,
      `mb_s`), `seconds`, `throughput_mb_s` (reading and chunking, compression not included),
      `memory_bytes_per_distinct_chunk`, `options` (the chunking options used) and, with
      `--profile`, `profile`.
    * `--nar` analyzes each PATH as its NAR (`Chunker.NAR.dump/1`, what `nix-store --dump`
      writes), chunked NAR-aware (`nar_aware: true`); `files` then counts the NARs.
    * `--compress FORMATS` compresses each distinct chunk on its own with each format
      (`zstd`, `lz4`, `xz`, `bzip2`; `FORMAT:LEVEL` for a level, else `--level` or the
      format's default), in batches over all cores (`Chunker.Compression.compress_many/3`).
    * `--algorithm`, `--normalization`, `--seed`, the sizes and `--preset` (`attic` cuts as
      attic does) pick the chunker, as the options of the same names do (`Chunker.Options`).
    * `--profile` then runs the files through read -> chunk -> hash -> compress
      (`Chunker.profile/2`, with the first `--compress` format, default zstd, or `none`) and
      prints each stage's share of the time, with a suggestion when one stage dominates.
    * A progress bar (bytes done of the total, rate, time left; redrawn at most 4 times a
      second) goes to stderr when stderr is a terminal; `--progress` / `--no-progress` force it.

  Memory is bounded by the number of distinct chunks, never by file sizes: files are streamed
  (8 MiB reads) and each distinct chunk costs one digest in a map (the report says how many
  bytes that is; about 100 on a 64-bit VM), plus batches of at most 8 MiB waiting for
  compression.
  """

  use Mix.Task

  alias Chunker.Analyze
  alias Chunker.Analyze.{Progress, Report, Walk}

  @switches [
    json: :boolean,
    nar: :boolean,
    compress: :string,
    level: :integer,
    avg_size: :string,
    min_size: :string,
    max_size: :string,
    preset: :string,
    hash: :string,
    algorithm: :string,
    normalization: :integer,
    seed: :integer,
    profile: :boolean,
    progress: :boolean
  ]
  @formats ~w(zstd lz4 xz bzip2)

  @impl Mix.Task
  def run(args) do
    {parsed, paths, invalid} = OptionParser.parse(args, strict: @switches)
    check_switches!(invalid)
    Mix.Task.run("app.start")

    paths = if paths == [], do: [to_string(:code.root_dir())], else: paths
    Enum.each(paths, &check_path!/1)
    chunk = chunk_options!(parsed)
    codecs = codecs!(parsed)
    nar? = Keyword.get(parsed, :nar, false)

    progress =
      if Keyword.get_lazy(parsed, :progress, &stderr_terminal?/0),
        do: Progress.new(if(nar?, do: nil, else: Walk.total_bytes(paths)))

    report = Analyze.run(paths, chunk: chunk, compress: codecs, nar: nar?, progress: progress)

    report =
      if parsed[:profile],
        do: Map.put(report, :profile, profile!(paths, chunk, codecs, parsed)),
        else: report

    if parsed[:json] do
      IO.puts(Chunker.JSON.encode!(report))
    else
      Enum.each(report.notes, &IO.puts(:stderr, "note: #{&1.path}: #{&1.note}"))
      hidden = report.skipped + report.errors - length(report.notes)

      if hidden > 0,
        do: IO.puts(:stderr, "note: #{hidden} more not shown (--json lists the first 100)")

      Mix.shell().info(Report.text(report))
      if report[:profile], do: Mix.shell().info(profile_text(report.profile))
    end
  end

  defp check_switches!([]), do: :ok

  defp check_switches!([{switch, nil} | _]) do
    if String.trim_leading(switch, "-") |> String.replace("-", "_") |> known_switch?(),
      do: Mix.raise("#{switch} needs a value (see `mix help chunker.analyze`)"),
      else: Mix.raise("unknown option #{switch} (see `mix help chunker.analyze`)")
  end

  defp check_switches!([{switch, value} | _]),
    do: Mix.raise("#{switch}: invalid value #{inspect(value)} (see `mix help chunker.analyze`)")

  defp known_switch?(name),
    do: Enum.any?(@switches, fn {key, _} -> Atom.to_string(key) == name end)

  defp check_path!(path) do
    case File.stat(path) do
      {:ok, _} -> :ok
      {:error, reason} -> Mix.raise("#{path}: #{:file.format_error(reason)}")
    end
  end

  defp chunk_options!(parsed) do
    hash = Keyword.get(parsed, :hash, "blake3")

    if hash not in ~w(blake3 sha256),
      do: Mix.raise("--hash must be blake3 or sha256, got: #{hash}")

    sizes =
      for key <- [:min_size, :avg_size, :max_size],
          Keyword.has_key?(parsed, key),
          do: {key, size!(key, parsed[key])}

    preset =
      case Keyword.fetch(parsed, :preset) do
        {:ok, name} ->
          [preset: atom!("--preset", name, ~w(default nar nar_small nar_large attic))]

        :error ->
          []
      end

    variant =
      Enum.flat_map(parsed, fn
        {:algorithm, name} -> [algorithm: atom!("--algorithm", name, ~w(v2020 v2016 ronomon))]
        {key, value} when key in [:normalization, :seed] -> [{key, value}]
        _ -> []
      end)

    opts = preset ++ sizes ++ variant ++ [hash: String.to_atom(hash)]

    case Chunker.Options.validate(opts) do
      {:ok, _} -> opts
      {:error, error} -> Mix.raise(error.message)
    end
  end

  defp atom!(switch, name, allowed) do
    if name in allowed,
      do: String.to_atom(name),
      else: Mix.raise("#{switch} must be one of #{Enum.join(allowed, ", ")}, got: #{name}")
  end

  @doc false
  @spec size!(atom(), String.t()) :: pos_integer()
  def size!(key, text) do
    case Integer.parse(String.downcase(text)) do
      {n, ""} ->
        n

      {n, suffix} when suffix in ["k", "kib"] ->
        n * 1024

      {n, suffix} when suffix in ["m", "mib"] ->
        n * 1_048_576

      {n, suffix} when suffix in ["g", "gib"] ->
        n * 1_073_741_824

      _ ->
        Mix.raise(
          "--#{String.replace(to_string(key), "_", "-")}: not a size: #{inspect(text)} (bytes, or with k, m or g)"
        )
    end
  end

  defp codecs!(parsed) do
    case Keyword.get(parsed, :compress) do
      nil ->
        []

      "none" ->
        []

      list ->
        for item <- String.split(list, ",", trim: true) do
          {name, level} =
            case String.split(item, ":") do
              [name] -> {name, parsed[:level]}
              [name, level] -> {name, level!(level)}
              _ -> Mix.raise("--compress: not FORMAT or FORMAT:LEVEL: #{inspect(item)}")
            end

          format = atom!("--compress", name, @formats)
          opts = if level, do: [level: level], else: []

          case Chunker.Compression.compress("", format, opts) do
            {:ok, _} -> {format, level}
            {:error, error} -> Mix.raise("--compress #{item}: #{error.message}")
          end
        end
    end
  end

  defp level!(text) do
    case Integer.parse(text) do
      {n, ""} -> n
      _ -> Mix.raise("--compress: not a level: #{inspect(text)}")
    end
  end

  defp stderr_terminal? do
    case System.find_executable("sh") do
      nil -> false
      sh -> match?({_, 0}, System.cmd(sh, ["-c", "test -t 2"]))
    end
  end

  defp profile!(paths, chunk, codecs, parsed) do
    compress =
      case {parsed[:compress], codecs} do
        {"none", _} ->
          [compress: nil]

        {_, [{format, level} | _]} ->
          [compress: format] ++ if(level, do: [level: level], else: [])

        {_, []} ->
          [compress: :zstd] ++ Keyword.take(parsed, [:level])
      end

    files = for {:file, path, _size} <- Walk.entries(paths), do: path

    case Chunker.Profile.run({:files, files}, chunk ++ compress) do
      {:ok, report} ->
        %{report | stages: Map.new(report.stages), options: Map.new(report.options)}

      {:error, error} ->
        Mix.raise(error.message)
    end
  end

  defp profile_text(report) do
    stages =
      report.stages
      |> Enum.sort_by(fn {stage, _} ->
        Enum.find_index([:read, :chunk, :hash, :compress], &(&1 == stage))
      end)
      |> Enum.map_join("\n", fn {stage, s} ->
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

  defp mib(bytes), do: Float.round(bytes / 1_048_576, 1)
  defp ratio(_bytes, 0), do: "1.00"
  defp ratio(bytes, distinct), do: :erlang.float_to_binary(bytes / distinct, decimals: 2)
end
