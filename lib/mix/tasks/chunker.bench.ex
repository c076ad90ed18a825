defmodule Mix.Tasks.Chunker.Bench do
  @shortdoc "Benchmarks chunker against the raw Rust crates, measured in the same run"

  @moduledoc """
  Measures chunker through Elixir and prints one Markdown table, each figure next to a
  reference measured in the same run, and the ratio (reference time / our time: above 1 is
  faster than the reference).

      mix chunker.bench [--mib N] [--repeats N]

  The references are the raw crates called from Rust, sequentially on one core
  (`native/chunker_core/examples/reference.rs`, built with cargo), or `:crypto`; they run
  before and after our measurements and the better of the two counts, so a noisy neighbour
  cannot flatter a ratio. Every figure is the best of `--repeats` runs (default 3), ours each
  in a fresh process.

  Data: `--mib` MiB (default 256) of random bytes, and a tar of the OTP installation
  (`:code.root_dir()`) as real data, both made once under `tmp/`.

  Rows:

    * chunk + BLAKE3 at 16/64/256 KiB average chunks: `Chunker.chunk/2` of the binary,
      `File.stream!/3` (8 MiB reads) piped into `Chunker.stream/2`, and
      `Chunker.stream_file/2`, against the `fastcdc` crate + `blake3::hash` of each chunk;
    * the cost per chunk of crossing the NIF: `Chunker.chunk/2` with `hash: :none` at 256,
      1024 and 4096-byte average chunks against the `fastcdc` crate alone (microseconds per
      chunk, ours and the crate's);
    * `Chunker.Hash.hash_many/2` of 1 KiB, 64 KiB and 1 MiB items against the `blake3`
      crate (and SHA-256 against the `sha2` crate and `:crypto.hash/2`), one item after the
      other on one core;
    * `Chunker.Compression.compress_many/3` (zstd level 3) of 1 MiB items of real data against
      zstd-safe, one item after the other;
    * end to end: `Chunker.stream_file/2` (BLAKE3, 64 KiB chunks) and each batch of chunks
      compressed with `compress_many/3` at zstd level 3, against the same pipeline in Rust
      on one core, and against `compress_many/3` alone over the same batches of chunks
      (already in memory): compression is the ceiling of the pipeline.
  """

  use Mix.Task

  alias Chunker.{Compression, Hash}

  @switches [mib: :integer, repeats: :integer]
  @native Path.expand("../../../native", __DIR__)
  @root Path.expand("../../..", __DIR__)

  @impl Mix.Task
  def run(args) do
    {parsed, _rest, invalid} = OptionParser.parse(args, strict: @switches)
    if invalid != [], do: Mix.raise("usage: mix chunker.bench [--mib N] [--repeats N]")
    Mix.Task.run("app.start")

    config = %{
      mib: Keyword.get(parsed, :mib, 256),
      repeats: Keyword.get(parsed, :repeats, 3),
      reference: build_reference!()
    }

    random = random_file(config.mib)
    real = otp_tar()
    Mix.shell().info("Measuring (#{machine()}); this takes a few minutes.")

    rows =
      chunking_rows(random, config) ++
        overhead_rows(random, config) ++
        hash_rows(random, config) ++ compression_rows(real, config) ++ pipeline_rows(real, config)

    IO.puts("""

    #{config.mib} MiB random data; real data: a tar of the OTP installation (#{mib(File.stat!(real).size)} MiB).
    #{machine()}. Best of #{config.repeats}; reference = raw Rust crates on one core unless said.

    | workload | reference | reference MB/s | chunker MB/s | ratio |
    |---|---|---|---|---|
    #{Enum.map_join(rows, "\n", &row/1)}
    """)
  end

  defp row({workload, reference, bytes, ref_seconds, our_seconds}) do
    "| #{workload} | #{reference} | #{mbps(bytes, ref_seconds)} | #{mbps(bytes, our_seconds)} " <>
      "| #{ratio(ref_seconds, our_seconds)}x |"
  end

  # Chunk + BLAKE3: one-shot, stream from File.stream!, stream_file.
  defp chunking_rows(path, config) do
    avgs = [16_384, 65_536, 262_144]
    bytes = File.stat!(path).size
    reference = fn -> reference(config, ["chunk", path, "blake3" | ints(avgs)]) end
    before = reference.()
    data = File.read!(path)

    ours =
      for avg <- avgs do
        opts = [avg_size: avg, hash: :blake3]
        one_shot = best(config, fn -> {:ok, _} = Chunker.chunk(data, opts) end)

        stream =
          best(config, fn ->
            path |> File.stream!([], 8_388_608) |> Chunker.stream(opts) |> Stream.run()
          end)

        stream_file = best(config, fn -> path |> Chunker.stream_file(opts) |> Stream.run() end)
        {avg, one_shot, stream, stream_file}
      end

    later = reference.()

    for {avg, one_shot, stream, stream_file} <- ours,
        ref = min(seconds(before, avg), seconds(later, avg)),
        {how, ours} <- [
          {"`chunk/2`", one_shot},
          {"`File.stream!` (8 MiB reads) \\|> `stream/2`", stream},
          {"`stream_file/2`", stream_file}
        ] do
      {"chunk + BLAKE3, #{kib(avg)} KiB avg: #{how}", "fastcdc + blake3", bytes, ref, ours}
    end
  end

  # hash: :none at small averages: what each chunk costs through the NIF.
  defp overhead_rows(path, config) do
    avgs = [256, 1_024, 4_096]
    data = File.read!(path) |> binary_part(0, 64 * 1_048_576)
    part = Path.join(Path.dirname(path), "bench-random-64MiB-part.bin")
    File.write!(part, data)
    before = reference(config, ["chunk", part, "none" | ints(avgs)])

    ours =
      for avg <- avgs do
        {avg, best(config, fn -> {:ok, _} = Chunker.chunk(data, avg_size: avg, hash: :none) end)}
      end

    later = reference(config, ["chunk", part, "none" | ints(avgs)])
    File.rm!(part)

    for {avg, ours} <- ours do
      ref = min(seconds(before, avg), seconds(later, avg))
      chunks = chunk_count(later, avg)

      {"chunk, `hash: :none`, #{avg} B avg (#{chunks} chunks): " <>
         "#{us(ours / chunks)} us/chunk, crate #{us(ref / chunks)} us/chunk", "fastcdc",
       byte_size(data), ref, ours}
    end
  end

  defp hash_rows(path, config) do
    data = File.read!(path) |> binary_part(0, 64 * 1_048_576)
    part = Path.join(Path.dirname(path), "bench-random-64MiB-part.bin")
    File.write!(part, data)
    sizes = [1_024, 65_536, 1_048_576]
    blake3_ref = reference(config, ["hash", part, "blake3" | ints(sizes)])
    sha_ref = reference(config, ["hash", part, "sha256", "65536"])
    File.rm!(part)

    blake3 =
      for size <- sizes do
        items = for <<item::binary-size(size) <- data>>, do: item
        ours = best(config, fn -> Hash.hash_many(items, :blake3) end)

        {"`Hash.hash_many/2` BLAKE3, #{kib(size)} KiB items", "blake3", byte_size(data),
         seconds(blake3_ref, size), ours}
      end

    items = for <<item::binary-size(65_536) <- data>>, do: item
    sha = best(config, fn -> Hash.hash_many(items, :sha256) end)
    crypto = best(config, fn -> Enum.map(items, &:crypto.hash(:sha256, &1)) end)

    blake3 ++
      [
        {"`Hash.hash_many/2` SHA-256, 64 KiB items", "sha2", byte_size(data),
         seconds(sha_ref, 65_536), sha},
        {"`Hash.hash_many/2` SHA-256, 64 KiB items", "`:crypto.hash/2` in Elixir, one core",
         byte_size(data), crypto, sha}
      ]
  end

  defp compression_rows(path, config) do
    data = File.read!(path)
    items = for <<item::binary-size(1_048_576) <- data>>, do: item
    bytes = length(items) * 1_048_576
    ref = reference(config, ["zstd", path, "3", "1048576"])
    ours = best(config, fn -> {:ok, _} = Compression.compress_many(items, :zstd, level: 3) end)
    # The reference compresses the file's tail too; scale it to the whole items only.
    ref_seconds = seconds(ref, 1_048_576) * bytes / byte_size(data)

    [{"`compress_many/3` zstd 3, 1 MiB items (real data)", "zstd-safe", bytes, ref_seconds, ours}]
  end

  defp pipeline_rows(path, config) do
    bytes = File.stat!(path).size
    [line] = reference_lines(config, ["pipeline", path, "65536", "3"])
    ref = String.to_float(line)

    compress = fn chunks ->
      {:ok, _} = Compression.compress_many(Enum.map(chunks, & &1.data), :zstd, level: 3)
    end

    ours =
      best(config, fn ->
        path
        |> Chunker.stream_file(avg_size: 65_536, hash: :blake3)
        |> Stream.chunk_every(64)
        |> Stream.each(compress)
        |> Stream.run()
      end)

    # The ceiling: compress_many/3 alone over the same batches of the same chunks, already in
    # memory.
    batches = path |> Chunker.stream_file(avg_size: 65_536) |> Enum.chunk_every(64)
    alone = best(config, fn -> Enum.each(batches, compress) end)

    [
      {"end to end: `stream_file/2` + BLAKE3 + `compress_many/3` zstd 3 (real data)",
       "fastcdc + blake3 + zstd-safe", bytes, ref, ours},
      {"end to end, as above", "`compress_many/3` alone over the same chunks", bytes, alone, ours}
    ]
  end

  # Chunker.Build.Cargo is loaded by chunker's mix.exs, as the compiler step is.
  defp build_reference!, do: Chunker.Build.Cargo.example!(@native, "reference")

  defp reference_lines(config, [mode, path | rest]) do
    args = [mode, path, Integer.to_string(config.repeats) | rest]
    {output, 0} = System.cmd(config.reference, args)
    String.split(output, "\n", trim: true)
  end

  # %{size => {seconds, extra fields}} from the reference's `SIZE SECONDS ...` lines.
  defp reference(config, args) do
    for line <- reference_lines(config, args), into: %{} do
      [size, seconds | extra] = String.split(line, " ")
      {String.to_integer(size), {String.to_float(seconds), extra}}
    end
  end

  defp seconds(reference, size), do: reference |> Map.fetch!(size) |> elem(0)

  defp chunk_count(reference, size),
    do: reference |> Map.fetch!(size) |> elem(1) |> hd() |> String.to_integer()

  # Each run in a fresh process, as a user's worker would be: the bench process's heap
  # (holding the inputs) would otherwise slow every garbage collection.
  defp best(config, fun) do
    for _ <- 1..config.repeats do
      Task.async(fn -> elem(:timer.tc(fun), 0) / 1_000_000 end) |> Task.await(:infinity)
    end
    |> Enum.min()
  end

  defp random_file(mib) do
    path = Path.join([@root, "tmp", "bench-random-#{mib}MiB.bin"])

    unless File.exists?(path) do
      File.mkdir_p!(Path.dirname(path))

      File.open!(path, [:write, :binary], fn file ->
        for _ <- 1..mib, do: IO.binwrite(file, :crypto.strong_rand_bytes(1_048_576))
      end)
    end

    path
  end

  defp otp_tar do
    path = Path.join([@root, "tmp", "otp.tar"])

    unless File.exists?(path) do
      File.mkdir_p!(Path.dirname(path))
      {_, 0} = System.cmd("tar", ["-cf", path, "-C", to_string(:code.root_dir()), "."])
    end

    path
  end

  defp ints(values), do: Enum.map(values, &Integer.to_string/1)
  defp mbps(bytes, seconds), do: round(bytes / seconds / 1_000_000)
  defp ratio(reference, ours), do: :erlang.float_to_binary(reference / ours, decimals: 2)
  defp us(seconds), do: :erlang.float_to_binary(seconds * 1_000_000, decimals: 3)
  defp kib(bytes), do: div(bytes, 1024)
  defp mib(bytes), do: Float.round(bytes / 1_048_576, 1)

  @doc false
  # The CPU, schedulers, pool threads and OTP release, for the header of a figure.
  @spec machine() :: String.t()
  def machine do
    cpu =
      case File.read("/proc/cpuinfo") do
        {:ok, info} ->
          Regex.run(~r/model name\s*:\s*(.+)/, info, capture: :all_but_first) |> List.first()

        _ ->
          "unknown CPU"
      end

    "#{cpu}, #{System.schedulers_online()} schedulers, #{Chunker.Native.thread_count()} " <>
      "chunker threads, OTP #{System.otp_release()}"
  end
end
