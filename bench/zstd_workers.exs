# zstd on one large input: `workers:` (zstd's own threads) and `long: true` against one
# worker at the same level, in the same run, on 256 MiB of real files (a tar of
# /usr/lib/x86_64-linux-gnu and /usr/share, made once under tmp/).
#
#   mix run bench/zstd_workers.exs [LEVEL] [MIB]
#
# LEVEL defaults to 3, MIB to 256. Each row is the best of 3 runs of
# `Chunker.Compression.compress/3`, with its speed against `workers: 0` (compressed on the
# calling thread, the default) and `workers: 1` (one zstd thread; the caller only feeds it);
# every frame is checked with the zstd CLI (`zstd -t`).

alias Chunker.Compression

{level, mib} =
  case System.argv() do
    [level, mib] -> {String.to_integer(level), String.to_integer(mib)}
    [level] -> {String.to_integer(level), 256}
    [] -> {3, 256}
  end

path = "tmp/usr-#{mib}.tar"

unless File.exists?(path) do
  File.mkdir_p!("tmp")

  {_, 0} =
    System.cmd("sh", [
      "-c",
      "tar -cf - /usr/lib/x86_64-linux-gnu /usr/share 2>/dev/null | head -c #{mib * 1_048_576} > #{path}.partial"
    ])

  File.rename!(path <> ".partial", path)
end

data = File.read!(path)

best = fn opts ->
  for _ <- 1..3, reduce: {:infinity, nil} do
    {best, _} ->
      {micros, {:ok, frame}} = :timer.tc(fn -> Compression.compress(data, :zstd, opts) end)
      {min(best, micros), frame}
  end
end

check = fn frame ->
  file = Path.join(System.tmp_dir!(), "zstd-workers-#{System.unique_integer([:positive])}.zst")
  File.write!(file, frame)
  {_, status} = System.cmd("zstd", ["-q", "-t", file])
  File.rm!(file)
  if status == 0, do: "zstd -t ok", else: "zstd -t FAILED (#{status})"
end

{base, base_frame} = best.(level: level)
{one, _} = best.(level: level, workers: 1)
mbps = fn micros -> Float.round(byte_size(data) / micros, 1) end

IO.puts(
  "#{byte_size(data)} bytes at level #{level}; ratios: workers: 0's time (the default: " <>
    "compressed on the calling thread), then workers: 1's, / this row's"
)

row = fn label, micros, frame ->
  IO.puts(
    "#{String.pad_trailing(label, 24)}#{mbps.(micros)} MB/s  #{Float.round(base / micros, 2)}x  " <>
      "#{Float.round(one / micros, 2)}x  #{byte_size(frame)} bytes  #{check.(frame)}"
  )
end

row.("workers: 0", base, base_frame)

for opts <- [[workers: 1], [workers: 2], [long: true], [workers: 2, long: true]] do
  {micros, frame} = best.([level: level] ++ opts)
  row.(Enum.map_join(opts, ", ", fn {k, v} -> "#{k}: #{v}" end), micros, frame)
end
