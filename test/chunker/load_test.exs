defmodule Chunker.LoadTest do
  # The memory target of the throughput work, tagged :stress (run by script/test and CI):
  # streaming a 4 GiB file (CHUNKER_STRESS_GIB to change it) must not grow the VM's resident
  # memory by more than 64 MiB at default sizes. (The latency target is latency_test.exs.)
  # It prints what it saw, for the figures of the README. async: false, so that no other
  # test's memory or CPU use lands in the measurement.
  use ExUnit.Case, async: false

  alias Chunker.TestData

  @moduletag :stress
  @moduletag timeout: 600_000

  @tag :tmp_dir
  test "streaming a 4 GiB file keeps resident memory bounded", %{tmp_dir: dir} do
    gib = String.to_integer(System.get_env("CHUNKER_STRESS_GIB", "4"))
    path = Path.join(dir, "big.bin")
    block = TestData.random_bytes(16 * 1_048_576, 41)

    File.open!(path, [:write, :raw, :binary], fn file ->
      for _ <- 1..(gib * 64), do: :ok = :file.write(file, block)
    end)

    :erlang.garbage_collect()
    before = rss()
    reset_peak()

    # Counting as a user's consumer would, without keeping the chunks.
    {chunks, bytes} =
      path
      |> Chunker.stream_file()
      |> Enum.reduce({0, 0}, fn chunk, {n, bytes} -> {n + 1, bytes + chunk.length} end)

    growth = peak() - before
    File.rm!(path)

    IO.puts(
      "\n[load] stream_file of #{gib} GiB: #{chunks} chunks, peak RSS growth " <>
        "#{Float.round(growth / 1_048_576, 1)} MiB"
    )

    assert bytes == gib * 1_073_741_824
    assert growth < 64 * 1_048_576
  end

  # Resident and peak resident set of the VM, from /proc (Linux).
  defp rss, do: status_kib("VmRSS") * 1024
  defp peak, do: status_kib("VmHWM") * 1024

  defp status_kib(field) do
    [_, kib] = Regex.run(~r/#{field}:\s+(\d+) kB/, File.read!("/proc/self/status"))
    String.to_integer(kib)
  end

  # Writing 5 to clear_refs resets VmHWM to the current RSS.
  defp reset_peak, do: File.write!("/proc/self/clear_refs", "5")
end
