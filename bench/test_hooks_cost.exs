# What the test hooks (the NIF's `test_hooks` feature: a counting global allocator, two atomic
# operations on every allocation) cost, measured by building the NIF with and without them and
# timing the same work with each, alternately, in fresh VMs:
#
#     MIX_ENV=test mix run --no-compile bench/test_hooks_cost.exs [ROUNDS]
#
# (MIX_ENV=test, whose Chunker.Native has the hooks' stubs and so loads either library.) Rows:
# chunk/2 of 64 MiB at 256-byte chunks without hashes (allocation-heavy: a chunk list per
# step), chunk/2 of 256 MiB at 16 KiB chunks with BLAKE3, and compress_many/3 of 1 MiB items of
# real data at zstd level 3. Each figure is the best of ROUNDS (default 3) runs.

defmodule TestHooksCost do
  @native Path.expand("../native", __DIR__)
  @library Mix.Tasks.Compile.ChunkerNative.library_path()

  def main([]), do: main(["3"])

  def main([rounds]) do
    rounds = String.to_integer(rounds)
    saved = File.read!(@library)

    try do
      libraries = for hooks <- [false, true], into: %{}, do: {hooks, build(hooks)}

      results =
        for _ <- 1..rounds, hooks <- [false, true], reduce: %{} do
          acc ->
            File.cp!(libraries[hooks], @library)
            Map.update(acc, hooks, [measure()], &[measure() | &1])
        end

      best = fn hooks -> results[hooks] |> Enum.zip_with(&Enum.min/1) end
      [off, on] = [best.(false), best.(true)]

      IO.puts("| workload | without hooks | with hooks | cost |\n|---|---|---|---|")

      for {{name, a}, {_, b}} <- Enum.zip(off, on) do
        IO.puts("| #{name} | #{ms(a)} ms | #{ms(b)} ms | #{Float.round((b / a - 1) * 100, 1)}% |")
      end
    after
      File.write!(@library, saved)
    end
  end

  defp build(hooks) do
    features = if hooks, do: "chunker_nif/test_hooks", else: ""
    built = Chunker.Build.Cargo.build!(@native, features, locked: true)
    copy = Path.join(System.tmp_dir!(), "libchunker_nif-hooks-#{hooks}.so")
    File.cp!(built, copy)
    copy
  end

  # One fresh VM per measurement, so that each loads the library just copied in place.
  defp measure do
    script = ~S"""
    random = :crypto.strong_rand_bytes(256 * 1_048_576)
    small = binary_part(random, 0, 64 * 1_048_576)
    real = File.read!("tmp/otp.tar")
    items = for <<item::binary-size(1_048_576) <- real>>, do: item
    time = fn f -> f.(); {us, _} = :timer.tc(f); us end
    rows = [
      {"chunk/2, 256 B avg, hash: :none (64 MiB)", time.(fn -> {:ok, _} = Chunker.chunk(small, avg_size: 256, hash: :none) end)},
      {"chunk/2, 16 KiB avg, BLAKE3 (256 MiB)", time.(fn -> {:ok, _} = Chunker.chunk(random, avg_size: 16_384) end)},
      {"compress_many/3, zstd 3, 1 MiB items (#{length(items)} MiB real data)", time.(fn -> {:ok, _} = Chunker.Compression.compress_many(items, :zstd, level: 3) end)}
    ]
    IO.write(:erlang.term_to_binary(rows) |> Base.encode64())
    """

    {out, 0} =
      System.cmd("mix", ["run", "--no-compile", "-e", script], env: [{"MIX_ENV", "test"}])

    out |> String.split("\n") |> List.last() |> Base.decode64!() |> :erlang.binary_to_term()
  end

  defp ms(us), do: Float.round(us / 1000, 1)
end

TestHooksCost.main(System.argv())
