# Does a zstd dictionary pay for a chunk store? In the order a store meets its data: chunks
# already stored train the dictionary, then each new chunk is compressed alone, without a
# dictionary, with ours (`Chunker.Compression.train_dictionary/2`) and with the one
# `zstd --train` makes from the same chunks (one file per chunk), at zstd's level 3.
#
#   mix run bench/dictionary.exs [TREE [GLOB]]
#
# TREE defaults to Python's standard library (/usr/lib/python3.*, GLOB `**/*.py`; for Perl's,
# `/usr/share/perl '**/*.pm'`): source nobody here wrote,
# split by file name as a store would see two halves of it arrive: files whose names start
# with a-l are "stored" (chunked, and the dictionary trained on their chunks), m-z are "new".
# Each half is the concatenation of its files in name order, chunked with FastCDC at 4, 16
# and 64 KiB averages (min avg/4, max avg*4). Ratio is input bytes / output bytes (higher is
# better); MB/s is compress_many/3 of all new chunks, best of 3; "vs CLI" is the size of our
# dictionary's output against the CLI dictionary's (below 1.00 is smaller).

alias Chunker.Compression
alias Chunker.Compression.Dictionary

{tree, glob} =
  case System.argv() do
    [tree, glob] -> {tree, glob}
    [tree] -> {tree, "**/*.py"}
    [] -> {"/usr/lib/python3.*" |> Path.wildcard() |> Enum.max(), "**/*.py"}
  end

files =
  Path.wildcard(Path.join(tree, glob))
  |> Enum.filter(&File.regular?/1)
  |> Enum.reject(&String.contains?(&1, ["site-packages", "dist-packages"]))
  |> Enum.sort()

{stored, new} =
  Enum.split_with(files, fn path ->
    <<first, _::binary>> = path |> Path.basename() |> String.downcase()
    first in ?a..?l or first in [?_ | Enum.to_list(?0..?9)]
  end)

read = fn paths -> paths |> Enum.map(&File.read!/1) |> IO.iodata_to_binary() end
stored = read.(stored)
new = read.(new)
size = 112_640
level = 3

IO.puts(
  "#{tree}: #{byte_size(stored)} bytes stored (a-l), #{byte_size(new)} bytes new (m-z); " <>
    "dictionaries of #{size} bytes, zstd level #{level}"
)

IO.puts(
  "avg    chunks  | no dictionary      | ours                         | zstd --train      | vs CLI"
)

best_of_3 = fn fun ->
  Enum.map(1..3, fn _ -> :timer.tc(fun) end) |> Enum.min_by(&elem(&1, 0))
end

for avg <- [4096, 16_384, 65_536] do
  chunk = fn data ->
    data
    |> Chunker.chunk!(min_size: div(avg, 4), avg_size: avg, max_size: avg * 4)
    |> Enum.map(& &1.data)
  end

  samples = chunk.(stored)
  items = chunk.(new)
  bytes = byte_size(new)

  {train_us, {:ok, ours}} =
    :timer.tc(fn -> Compression.train_dictionary(samples, size: size, level: level) end)

  dir = Path.join(System.tmp_dir!(), "dictionary-bench-#{System.unique_integer([:positive])}")
  File.mkdir_p!(Path.join(dir, "samples"))

  samples
  |> Enum.with_index()
  |> Enum.each(fn {sample, i} -> File.write!(Path.join(dir, "samples/#{i}"), sample) end)

  cli_path = Path.join(dir, "cli.dict")

  {cli_us, {_, 0}} =
    :timer.tc(fn ->
      System.cmd("zstd", [
        "-q",
        "--train",
        "-r",
        Path.join(dir, "samples"),
        "--maxdict=#{size}",
        "-#{level}",
        "-o",
        cli_path
      ])
    end)

  cli = cli_path |> File.read!() |> Dictionary.load!(level: level)
  File.rm_rf!(dir)

  run = fn opts ->
    {micros, {:ok, frames}} =
      best_of_3.(fn -> Compression.compress_many(items, :zstd, [level: level] ++ opts) end)

    out = frames |> Enum.map(fn {:ok, frame} -> byte_size(frame) end) |> Enum.sum()
    {out, bytes / micros}
  end

  {plain, plain_mbps} = run.([])
  {with_ours, ours_mbps} = run.(dictionary: ours)
  {with_cli, cli_mbps} = run.(dictionary: cli)
  f = fn x, d -> x |> Float.round(d) |> to_string() end

  IO.puts(
    "#{String.pad_trailing("#{div(avg, 1024)}K", 6)} #{String.pad_leading("#{length(items)}", 6)}  | " <>
      "#{f.(bytes / plain, 2)}x #{f.(plain_mbps, 0)} MB/s | " <>
      "#{f.(bytes / with_ours, 2)}x #{f.(ours_mbps, 0)} MB/s (#{f.(plain / with_ours, 2)}x smaller; trained in #{f.(train_us / 1.0e6, 1)} s) | " <>
      "#{f.(bytes / with_cli, 2)}x #{f.(cli_mbps, 0)} MB/s (#{f.(cli_us / 1.0e6, 1)} s) | " <>
      "#{f.(with_ours / with_cli, 3)}"
  )
end
