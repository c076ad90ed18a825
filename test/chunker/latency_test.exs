defmodule Chunker.LatencyTest do
  # The latency target of the throughput work: while 4 processes chunk + hash, hash and
  # compress 256 MiB each, a process sleeping 1 ms in a loop must keep waking up on time. It
  # prints what it saw (p99 and longest gap, with the idle VM measured in the same run), for
  # the figures of the README.
  #
  # Tagged :latency (not :stress), which script/test runs first, in a VM of its own: after
  # the 4 GiB stream of load_test.exs (in the same VM, and for a while in the next), a 1 ms
  # sleeper saw gaps of 24-48 ms here, with this code and with the code before the NIF's
  # scheduling contract alike (otherwise 4-7 ms): a state of the machine this test is not
  # about.
  use ExUnit.Case, async: false

  alias Chunker.{Compression, Hash, Probe, TestData}

  @moduletag :latency
  @moduletag timeout: 600_000

  # The target is 3 ms between wake-ups (2 ms late). On the 2-core reference machine the
  # OS itself, running 2 normal schedulers, dirty schedulers and the pool's threads on 2
  # cores, sometimes deschedules the probe for a few ms (seen up to ~12 ms in the
  # scheduling tests, once 24 ms), so the assertion allows that and the figure is reported: a
  # run fails on two gaps over the limit, or one of twice it (a NIF that holds a scheduler, or
  # one dirty call per 64 MiB, makes one on every call), and a late run is measured again, as
  # in the scheduling tests: such a NIF is late every time, the OS only now and then.
  @max_gap_ms 20

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

    late = Probe.gaps_over(loaded, @max_gap_ms * 1000)
    late? = late >= 2 or loaded.max >= 2 * @max_gap_ms * 1000

    if late? and attempt == 1 do
      IO.puts("[load] #{late} gaps of #{@max_gap_ms} ms or more; measuring again")
      assert_on_time(workers, 2)
    else
      refute late?,
             "#{late} gaps of #{@max_gap_ms} ms or more, the longest #{ms(loaded.max)} ms, twice"
    end
  end

  defp ms(us), do: Float.round(us / 1000, 2)
end
