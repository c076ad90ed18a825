defmodule Chunker.LoadTest do
  # The two load targets of the throughput work, tagged :stress (run by script/test and CI):
  #
  #   * scheduler latency: while 4 processes chunk + hash, hash and compress 256 MiB each, a
  #     process sleeping 1 ms in a loop must keep waking up on time;
  #   * memory: streaming a 4 GiB file (CHUNKER_STRESS_GIB to change it) must not grow the
  #     VM's resident memory by more than 64 MiB at default sizes.
  #
  # Each prints what it saw, for the figures of the README. async: false, so that no other
  # test's memory or CPU use lands in the measurement.
  use ExUnit.Case, async: false

  alias Chunker.{Compression, Hash, Probe, TestData}

  @moduletag :stress
  @moduletag timeout: 600_000

  # The target is 3 ms between wake-ups (2 ms late). On the 2-core reference machine the
  # OS itself, running 2 normal schedulers, dirty schedulers and the pool's threads on 2
  # cores, sometimes deschedules the probe for a few ms (seen up to ~12 ms in the
  # scheduling tests, once 27 ms in a full suite run with p99 at 3.9 ms), so the assertion
  # allows that and the figure is reported; a late run is measured again, as in the
  # scheduling tests: a NIF that holds a scheduler is late every time, the OS only now and
  # then.
  @max_gap_ms 20

  # Tagged :latency, and run by script/test in a VM of its own: after the 4 GiB test below,
  # in the same VM, a 1 ms sleeper saw gaps of 24-46 ms here with this code and with the code
  # before the scheduling contract alike (and in a fresh VM 4-7 ms), a state of the machine's
  # memory this test is not about.
  @tag :latency
  test "a 1 ms sleeper keeps waking up while 4 processes chunk, hash and compress 256 MiB" do
    block = TestData.random_bytes(16 * 1_048_576, 40)
    data = :binary.copy(block, 16)
    real = File.read!(TestData.otp_tar())
    real_items = for <<item::binary-size(1_048_576) <- real>>, do: item
    # 256 MiB of real data to compress, as 1 MiB items.
    items = Stream.cycle(real_items) |> Enum.take(256)

    workers = [
      fn -> Chunker.chunk!(data, hash: :blake3) end,
      fn ->
        data |> TestData.split([1_048_576]) |> Chunker.stream(hash: :sha256) |> Stream.run()
      end,
      fn -> {Hash.blake3(data), Hash.sha256(data)} end,
      fn -> {:ok, _} = Compression.compress_many(items, :zstd, level: 3) end
    ]

    assert_on_time(workers, 1)
  end

  defp assert_on_time(workers, attempt) do
    # The same probe on the idle VM first: what the timer and the OS give a 1 ms sleeper
    # here, so that the figures under load can be read against it.
    idle_probe = Probe.start()
    Process.sleep(1_000)
    idle = Probe.stop(idle_probe)

    probe = Probe.start()

    {micros, _} =
      :timer.tc(fn -> workers |> Enum.map(&Task.async/1) |> Task.await_many(300_000) end)

    loaded = Probe.stop(probe)

    IO.puts(
      "\n[load] 4 workers x 256 MiB in #{div(micros, 1000)} ms: 1 ms sleeper woke " <>
        "#{loaded.wakeups} times, gap p99 #{ms(loaded.p99)} ms, max #{ms(loaded.max)} ms " <>
        "(idle VM: #{idle.wakeups} wake-ups, p99 #{ms(idle.p99)} ms, max #{ms(idle.max)} ms)"
    )

    if loaded.max >= @max_gap_ms * 1000 and attempt == 1 do
      IO.puts("[load] late; measuring again")
      assert_on_time(workers, 2)
    else
      assert loaded.max < @max_gap_ms * 1000
    end
  end

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

  defp ms(us), do: Float.round(us / 1000, 2)

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
