# NAR writing throughput against Nix's own `nix-store --dump`, on the same trees in the same
# run (files warm in the page cache: each is read once before timing).
#
#   mix run bench/nar_dump.exs [DIR ...]     (default: this OTP installation)
#
# For each tree, best of 5 runs of:
#   * nix-store --dump DIR > /dev/null       (the reference)
#   * Chunker.NAR.dump(DIR) |> Stream.run()  (every piece is a BEAM binary)
#   * nix-hash --type sha256 DIR             (NAR hash, the reference)
#   * Chunker.NAR.dump(DIR) hashed with :crypto SHA-256, piece by piece

defmodule NarDumpBench do
  @runs 5

  def run(dirs) do
    IO.puts(
      "| tree | NAR size | nix-store --dump | NAR.dump | ratio | nix-hash | NAR.dump + :crypto sha256 | ratio |"
    )

    IO.puts("|---|---|---|---|---|---|---|---|")

    for dir <- dirs do
      size = dir |> Chunker.NAR.dump() |> Enum.reduce(0, &(byte_size(&1) + &2))
      quoted = "'" <> String.replace(dir, "'", "'\\''") <> "'"

      nix_dump =
        best(fn -> {_, 0} = System.cmd("sh", ["-c", "nix-store --dump #{quoted} > /dev/null"]) end)

      ours = best(fn -> dir |> Chunker.NAR.dump() |> Stream.run() end)
      nix_hash = best(fn -> {_, 0} = System.cmd("nix-hash", ["--type", "sha256", dir]) end)

      our_hash =
        best(fn ->
          dir
          |> Chunker.NAR.dump()
          |> Enum.reduce(:crypto.hash_init(:sha256), &:crypto.hash_update(&2, &1))
          |> :crypto.hash_final()
        end)

      IO.puts(
        "| #{dir} | #{mib(size)} | #{rate(size, nix_dump)} | #{rate(size, ours)} | " <>
          "#{Float.round(nix_dump / ours, 2)}x | #{rate(size, nix_hash)} | #{rate(size, our_hash)} | " <>
          "#{Float.round(nix_hash / our_hash, 2)}x |"
      )
    end
  end

  defp best(fun) do
    fun.()
    1..@runs |> Enum.map(fn _ -> fun |> :timer.tc() |> elem(0) end) |> Enum.min()
  end

  defp rate(bytes, us), do: "#{round(bytes / us)} MB/s (#{Float.round(us / 1000, 1)} ms)"
  defp mib(bytes), do: "#{Float.round(bytes / 1_048_576, 1)} MiB"
end

dirs = if System.argv() == [], do: [List.to_string(:code.root_dir())], else: System.argv()
NarDumpBench.run(dirs)
