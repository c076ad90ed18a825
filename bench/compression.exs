# Compression and decompression through Elixir, as a ratio to the same crates called directly
# in Rust in the same run; compress_many on both cores against one; compress_adaptive's
# decision cost.
#
#     mix run bench/compression.exs
#     CHUNKER_BENCH_FORMATS=zstd,lz4 mix run bench/compression.exs
#
# Data: 64 MiB of real files (the first 64 MiB of a tar of /usr/lib/erlang and
# /usr/lib/x86_64-linux-gnu), made once under tmp/. The reference is
# native/chunker_core/examples/compression_reference (each crate's own API, one core); every
# figure is the best of a few runs (one for xz compression, which takes ~30 s), ours each in a
# fresh process.

defmodule CompressionBench do
  alias Chunker.Compression

  @root Path.expand("..", __DIR__)
  @mib 64

  def run do
    path = input_file()
    data = File.read!(path)
    formats = formats()
    reference = reference(path, formats)
    IO.puts("\n#{@mib} MiB of real data; #{machine()}\n")

    IO.puts(
      "| format | compress MB/s (Rust) | Elixir | ratio | decompress MB/s (Rust) | Elixir | ratio | size |"
    )

    IO.puts("|---|---|---|---|---|---|---|---|")

    for format <- formats do
      repeats = if format == :xz, do: 1, else: 3
      {c_ref, d_ref, _size} = Map.fetch!(reference, format)
      {c, packed} = best(repeats, fn -> Compression.compress!(data, format) end)
      {d, ^data} = best(3, fn -> Compression.decompress!(packed) end)

      IO.puts(
        "| #{format} | #{mbps(c_ref)} | #{mbps(c)} | #{ratio(c_ref, c)}x | #{mbps(d_ref)} | #{mbps(d)} " <>
          "| #{ratio(d_ref, d)}x | #{byte_size(packed)} |"
      )
    end

    batch(data)
    adaptive(data)
  end

  defp batch(data) do
    items = for <<item::binary-size(1_048_576) <- data>>, do: item
    {one, _} = best(3, fn -> Enum.map(items, &Compression.compress!(&1, :zstd, level: 3)) end)
    {many, {:ok, results}} = best(3, fn -> Compression.compress_many(items, :zstd, level: 3) end)
    true = Enum.all?(results, &match?({:ok, _}, &1))

    IO.puts(
      "\ncompress_many, 64 items of 1 MiB, zstd level 3: one core (Enum.map compress/3) " <>
        "#{mbps(one)} MB/s, compress_many #{mbps(many)} MB/s: #{ratio(one, many)}x"
    )
  end

  # What deciding costs, per input kind, against compressing outright.
  defp adaptive(data) do
    text = binary_part(data, 0, 1_048_576)
    random = :crypto.strong_rand_bytes(1_048_576)
    {:ok, zstd} = Compression.compress(text, :zstd)
    IO.puts("\ncompress_adaptive on 1 MiB (zstd level 3), microseconds per call:")

    for {label, input} <- [
          {"real data (compresses)", text},
          {"random (skipped: entropy)", random},
          {"zstd frame (skipped: magic)", zstd}
        ] do
      {adaptive, {:ok, decision}} = best(5, fn -> Compression.compress_adaptive(input) end)
      {plain, _} = best(5, fn -> Compression.compress(input, :zstd) end)
      kind = elem(decision, 0)
      IO.puts("  #{label}: adaptive #{us(adaptive)} us (#{kind}), compress/3 #{us(plain)} us")
    end
  end

  defp input_file do
    path = Path.join([@root, "tmp", "real-#{@mib}MiB.bin"])

    unless File.exists?(path) do
      File.mkdir_p!(Path.dirname(path))

      tar =
        "tar -cf - /usr/lib/erlang /usr/lib/x86_64-linux-gnu 2>/dev/null | head -c #{@mib * 1_048_576}"

      {_, 0} = System.cmd("sh", ["-c", "#{tar} > #{path}"])
    end

    path
  end

  defp formats do
    System.get_env("CHUNKER_BENCH_FORMATS", "zstd,lz4,xz,bzip2")
    |> String.split(",", trim: true)
    |> Enum.map(&String.to_atom/1)
  end

  defp reference(path, formats) do
    native = Path.join(@root, "native")
    binary = Chunker.Build.Cargo.example!(native, "compression_reference")

    for format <- formats, into: %{} do
      repeats = if format == :xz, do: "1", else: "3"
      {line, 0} = System.cmd(binary, [path, repeats, Atom.to_string(format)])
      [_, c, d, size] = line |> String.trim() |> String.split(" ")
      {format, {String.to_float(c), String.to_float(d), String.to_integer(size)}}
    end
  end

  defp best(repeats, fun) do
    runs =
      for _ <- 1..repeats do
        Task.async(fn -> :timer.tc(fun) end) |> Task.await(:infinity)
      end

    {micros, value} = Enum.min_by(runs, &elem(&1, 0))
    {micros / 1_000_000, value}
  end

  defp mbps(seconds), do: round(@mib * 1_048_576 / seconds / 1_000_000)
  defp ratio(reference, ours), do: :erlang.float_to_binary(reference / ours, decimals: 2)
  defp us(seconds), do: round(seconds * 1_000_000)

  defp machine, do: Mix.Tasks.Chunker.Bench.machine()
end

CompressionBench.run()
