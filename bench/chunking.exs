# Chunk + BLAKE3 throughput through Elixir, as a ratio to the raw Rust crates in the same run.
#
#     mix run bench/chunking.exs            # 256 MiB of random data
#     CHUNKER_BENCH_MIB=64 mix run bench/chunking.exs
#
# The reference is native/chunker_core/examples/reference.rs (`chunk` mode): the `fastcdc` crate's
# v2020::FastCDC iterator and `blake3::hash` of each chunk, sequentially on one core, over the
# same file held in memory. It runs before and after the Elixir measurements and the better
# figure counts, so a noisy neighbour cannot flatter the ratio. Every figure is the best of
# five runs.
#
#   one-shot:    File.read! (not timed), then Chunker.chunk/2 on the binary
#   stream:      File.stream!(path, [], 1_048_576) |> Chunker.stream/2 |> Stream.run(), reads timed
#   stream_file: Chunker.stream_file/2 |> Stream.run() (raw 1 MiB reads), reads timed

defmodule ChunkingBench do
  @avg_sizes [16_384, 65_536, 262_144]
  @repeats 5
  @root Path.expand("..", __DIR__)

  def run do
    mib = String.to_integer(System.get_env("CHUNKER_BENCH_MIB", "256"))
    path = input_file(mib)
    bytes = mib * 1_048_576
    reference = build_reference!()

    before = run_reference(reference, path)
    data = File.read!(path)

    ours =
      for avg <- @avg_sizes do
        opts = [avg_size: avg, hash: :blake3]
        one_shot = best_of(fn -> {:ok, _} = Chunker.chunk(data, opts) end)

        stream =
          best_of(fn ->
            path |> File.stream!([], 1_048_576) |> Chunker.stream(opts) |> Stream.run()
          end)

        stream_file = best_of(fn -> path |> Chunker.stream_file(opts) |> Stream.run() end)
        {avg, one_shot, stream, stream_file}
      end

    later = run_reference(reference, path)

    IO.puts("\n#{mib} MiB random data, BLAKE3, min/avg/max = avg/4, avg, avg*4; #{machine()}\n")

    IO.puts(
      "| avg size | reference MB/s | one-shot MB/s | ratio | stream MB/s | ratio " <>
        "| stream_file MB/s | ratio |"
    )

    IO.puts("|---|---|---|---|---|---|---|---|")

    for {avg, one_shot, stream, stream_file} <- ours do
      ref = min(Map.fetch!(before, avg), Map.fetch!(later, avg))

      IO.puts(
        "| #{div(avg, 1024)} KiB | #{mbps(bytes, ref)} " <>
          "| #{mbps(bytes, one_shot)} | #{ratio(ref, one_shot)}x " <>
          "| #{mbps(bytes, stream)} | #{ratio(ref, stream)}x " <>
          "| #{mbps(bytes, stream_file)} | #{ratio(ref, stream_file)}x |"
      )
    end
  end

  defp input_file(mib) do
    path = Path.join([@root, "tmp", "bench-random-#{mib}MiB.bin"])

    unless File.exists?(path) do
      File.mkdir_p!(Path.dirname(path))

      File.open!(path, [:write, :binary], fn file ->
        for _ <- 1..mib, do: IO.binwrite(file, :crypto.strong_rand_bytes(1_048_576))
      end)
    end

    path
  end

  defp build_reference! do
    native = Path.join(@root, "native")
    args = ~w(build --release --quiet --package chunker_core --example reference)
    {_, 0} = System.cmd("cargo", args, cd: native, stderr_to_stdout: true)
    Path.join([native, "target", "release", "examples", "reference"])
  end

  defp run_reference(binary, path) do
    args = ["chunk", path, Integer.to_string(@repeats), "blake3"]
    {output, 0} = System.cmd(binary, args ++ Enum.map(@avg_sizes, &Integer.to_string/1))

    for line <- String.split(output, "\n", trim: true), into: %{} do
      [avg, seconds, _chunks] = String.split(line, " ")
      {String.to_integer(avg), String.to_float(seconds)}
    end
  end

  # Each run in a fresh process, as a user's worker would be: the bench process's own heap
  # (holding the whole input) would otherwise slow every garbage collection.
  defp best_of(fun) do
    for _ <- 1..@repeats do
      Task.async(fn -> elem(:timer.tc(fun), 0) / 1_000_000 end) |> Task.await(:infinity)
    end
    |> Enum.min()
  end

  defp mbps(bytes, seconds), do: round(bytes / seconds / 1_000_000)
  defp ratio(reference, ours), do: :erlang.float_to_binary(reference / ours, decimals: 2)

  defp machine do
    cpu =
      case File.read("/proc/cpuinfo") do
        {:ok, info} ->
          Regex.run(~r/model name\s*:\s*(.+)/, info, capture: :all_but_first) |> List.first()

        _ ->
          "unknown CPU"
      end

    "#{cpu}, #{System.schedulers_online()} schedulers, OTP #{System.otp_release()}"
  end
end

ChunkingBench.run()
