# What the size of the pieces a stream is given costs: every streaming entry point fed the same
# bytes as 1 MiB reads, as `File.stream!/1`'s lines (its default line mode), and as small
# binaries of a fixed size, in one run. Streams gather small pieces before a NIF sees them
# (lib/chunker/gather.ex) and read a line-mode `File.stream!/1` in blocks, so every row should
# be close to its 1 MiB row; "enumerating only" is what the pieces cost before chunker sees them.
#
#   mix run bench/small_pieces.exs [TEXT_FILE] [MEGABYTES]
#
# TEXT_FILE defaults to a file of Python's standard library sources (the `.py` files under
# /usr/lib/python3*, concatenated and repeated to MEGABYTES, default 100), written to a
# temporary directory. Each figure is the fastest of 3 runs.

alias Chunker.{Compression, NAR}

{path, megabytes} =
  case System.argv() do
    [path | rest] -> {path, rest |> List.first("100") |> String.to_integer()}
    [] -> {nil, 100}
  end

size = megabytes * 1_000_000
dir = Path.join(System.tmp_dir!(), "chunker-small-pieces-#{System.unique_integer([:positive])}")
File.mkdir_p!(dir)

text =
  if path do
    path
  else
    sources =
      "/usr/lib/python3*/**/*.py"
      |> Path.wildcard()
      |> Enum.sort()
      |> Stream.map(&File.read!/1)
      |> Enum.join()

    if sources == "", do: raise("no Python sources found; give a TEXT_FILE")
    copies = div(size, byte_size(sources)) + 1
    text = sources |> :binary.copy(copies) |> binary_part(0, size)
    out = Path.join(dir, "text")
    File.write!(out, text)
    out
  end

bytes = File.stat!(text).size
lines = text |> File.stream!() |> Enum.count()
IO.puts("#{text}: #{bytes} bytes, #{lines} lines\n")

best = fn fun ->
  fun.()
  1..3 |> Enum.map(fn _ -> fun |> :timer.tc() |> elem(0) end) |> Enum.min()
end

# The same bytes in fixed-size binaries (the last one shorter), made lazily as a socket or a
# file would give them: a list of millions of binaries held by this process would make every
# garbage collection scan it, and time that instead.
split = fn binary, piece ->
  Stream.unfold(0, fn
    at when at >= byte_size(binary) -> nil
    at -> {binary_part(binary, at, min(piece, byte_size(binary) - at)), at + piece}
  end)
end

data = File.read!(text)
frame = Compression.compress!(data, :zstd)
tree = Path.join(dir, "tree")
File.mkdir_p!(tree)
File.cp!(text, Path.join(tree, "file"))
nar = tree |> NAR.dump() |> Enum.join()

# Line mode makes sense for text only: a frame or a NAR read by lines would be altered.
inputs = [
  {"1 MiB reads", File.stream!(text, [], 1_048_576), split.(frame, 1_048_576),
   split.(nar, 1_048_576)},
  {"File.stream!/1 lines", File.stream!(text), nil, nil},
  {"64-byte binaries", split.(data, 64), split.(frame, 64), split.(nar, 64)},
  {"4 KiB binaries", split.(data, 4096), split.(frame, 4096), split.(nar, 4096)}
]

run = fn
  nil, _fun -> nil
  input, fun -> best.(fn -> fun.(input) end)
end

IO.puts(
  "| pieces | enumerating only | stream/2 | compress_stream zstd | decompress_stream | NAR.entries |"
)

IO.puts("|---|---|---|---|---|---|")

rows =
  for {name, input, frames, nars} <- inputs do
    times = [
      run.(input, &Stream.run/1),
      run.(input, &(&1 |> Chunker.stream() |> Stream.run())),
      run.(input, &(&1 |> Compression.compress_stream(:zstd) |> Stream.run())),
      run.(frames, &(&1 |> Compression.decompress_stream() |> Stream.run())),
      run.(nars, &(&1 |> NAR.entries() |> Stream.run()))
    ]

    cells = Enum.map(times, &if(&1, do: "#{Float.round(&1 / 1000, 1)} ms", else: "-"))
    IO.puts("| #{name} | #{Enum.join(cells, " | ")} |")
    {name, times}
  end

[{_, reference} | _] = rows
IO.puts("\nEach against 1 MiB reads (stream/2, compress_stream, decompress_stream, NAR.entries):")

for {name, [_ | times]} <- rows do
  ratios =
    times
    |> Enum.zip(tl(reference))
    |> Enum.map(fn {t, r} -> if t, do: "#{Float.round(t / r, 2)}x", else: "-" end)

  IO.puts("  #{name}: #{Enum.join(ratios, ", ")}")
end

File.rm_rf!(dir)
