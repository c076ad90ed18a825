# What NAR-aware chunking buys: deduplication between two versions of the same tree.
#
#   mix run bench/nar_dedup.exs OLD_DIR NEW_DIR [OLD_DIR NEW_DIR ...]
#
# Each directory is archived with Chunker.NAR.dump/1 and chunked with and without
# `nar_aware: true`, at the :nar_small and :nar presets. "Reused" is the share of the new
# version's NAR bytes that lie in chunks the old version already has (by BLAKE3), i.e. what a
# chunk store holding the old version would not need to store again. The figures in
# README.md came from Debian package pairs, unpacked with `dpkg-deb -x`:
#
#   apt-get download erlang-base=1:25.2.3+dfsg-1+deb12u1 erlang-base=1:25.2.3+dfsg-1+deb12u4 \
#     libssl3=3.0.17-1~deb12u2 libssl3=3.0.22-1~deb12u2 \
#     libpython3.11-stdlib=3.11.2-6+deb12u8 libpython3.11-stdlib=3.11.2-6+deb12u9

defmodule NarDedup do
  @modes [
    {"plain", :nar_small, []},
    {"NAR-aware", :nar_small, [nar_aware: true]},
    {"plain", :nar, []},
    {"NAR-aware", :nar, [nar_aware: true]}
  ]

  def run([old, new | rest]) do
    IO.puts("\n#{Path.basename(old)} -> #{Path.basename(new)}")
    nar_size = old |> Chunker.NAR.dump() |> Enum.reduce(0, &(byte_size(&1) + &2))

    IO.puts(
      "  NAR sizes: #{mib(nar_size)} -> #{mib(new |> Chunker.NAR.dump() |> Enum.reduce(0, &(byte_size(&1) + &2)))}"
    )

    IO.puts("  | preset | chunking | chunks (new) | reused bytes | new bytes to store |")

    for {label, preset, extra} <- @modes do
      opts = [preset: preset, data: false] ++ extra
      known = old |> chunks(opts) |> MapSet.new(& &1.hash)
      new_chunks = chunks(new, opts)
      total = Enum.reduce(new_chunks, 0, &(&1.length + &2))

      reused =
        new_chunks
        |> Enum.filter(&MapSet.member?(known, &1.hash))
        |> Enum.reduce(0, &(&1.length + &2))

      IO.puts(
        "  | #{preset} | #{label} | #{length(new_chunks)} | " <>
          "#{Float.round(100 * reused / total, 1)}% | #{mib(total - reused)} |"
      )
    end

    run(rest)
  end

  def run([]), do: :ok

  defp chunks(dir, opts), do: dir |> Chunker.NAR.dump() |> Chunker.stream(opts) |> Enum.to_list()

  defp mib(bytes), do: "#{Float.round(bytes / 1_048_576, 2)} MiB"
end

NarDedup.run(System.argv())
