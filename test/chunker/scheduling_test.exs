defmodule Chunker.SchedulingTest do
  # Work must not stall the VM. A probe process sleeps 1 ms in a loop and records how late it
  # wakes up, while :erlang.system_monitor reports any process that runs longer than the limit
  # without being descheduled (a NIF call counts as running). Two loads, each aimed at one
  # mechanism (measured on the 2-core reference machine, probe lateness):
  #
  #   * large inputs go to dirty schedulers in ~0.8 ms slices: 1-3 ms late; one dirty call per
  #     64 MiB input instead: 30-40 ms late (busy-waiting schedulers delay timers);
  #   * normal-scheduler calls charge their time to the caller: 1-3 ms late; uncharged, a loop
  #     of ~100 KB calls on every scheduler: 40+ ms late.
  #
  # The limit leaves room for the OS scheduler on a loaded 2-core machine (seen: up to 12 ms
  # in about one run in twenty, once 24 ms, typically 1-7 ms), while catching both failures
  # above, which are late again and again in a run, not once; a late run is measured a second
  # time, and late again with no long schedule it is judged against the idle VM measured just
  # after (see assert_responsive/3).
  use ExUnit.Case, async: false

  alias Chunker.TestData

  @max_lateness_ms 20
  @long_schedule_ms 10

  setup_all do
    %{data: TestData.random_bytes(64 * 1_048_576, 30)}
  end

  test "large inputs: chunking, streaming and hashing in parallel", %{data: data} do
    pieces = for <<piece::binary-size(4_194_304) <- data>>, do: piece

    assert_responsive([
      fn -> for _ <- 1..2, do: Chunker.chunk!(data, avg_size: 16_384, hash: :sha256) end,
      fn -> for _ <- 1..2, do: pieces |> Chunker.stream() |> Stream.run() end,
      fn -> for _ <- 1..2, do: Chunker.Hash.sha256(data) end,
      fn -> for _ <- 1..4, do: Chunker.Hash.blake3(data) end
    ])
  end

  test "large inputs: compressing and decompressing in parallel", %{data: data} do
    real = File.read!(Chunker.TestData.otp_tar())
    {:ok, packed} = Chunker.Compression.compress(real, :zstd)
    items = for <<item::binary-size(1_048_576) <- real>>, do: item

    assert_responsive([
      fn -> for format <- [:zstd, :lz4], do: Chunker.Compression.compress(real, format) end,
      fn -> for _ <- 1..3, do: Chunker.Compression.decompress(packed) end,
      fn -> Chunker.Compression.compress_many(items, :zstd) end,
      fn -> Chunker.Compression.compress(binary_part(data, 0, 4_000_000), :xz, level: 1) end
    ])
  end

  test "streaming compression of small pieces never holds a normal scheduler", %{data: data} do
    # Encoders work in bursts: bzip2 sorts a whole block (900 KB at level 9, ~80 ms) when it
    # fills, whatever piece completed it. That call runs dirty, as all streaming encoder calls
    # do; being one indivisible library call it can still delay timers by its length, so only
    # the normal schedulers are checked here.
    pieces = data |> binary_part(0, 2_000_000) |> Chunker.TestData.split([100])

    assert_responsive(
      [fn -> pieces |> Chunker.Compression.compress_stream(:bzip2) |> Stream.run() end],
      probe: false
    )
  end

  @tag :tmp_dir
  test "NAR work: dumping, listing and NAR-aware chunking, header-dense and data-heavy",
       %{data: data, tmp_dir: dir} do
    # 10,000 tiny files: a NAR that is nearly all headers, the parser's worst case.
    tiny = Path.join(dir, "tiny")
    File.mkdir!(tiny)
    for i <- 1..10_000, do: File.write!(Path.join(tiny, "f#{i}"), "#{i}")
    dense = tiny |> Chunker.NAR.dump() |> Enum.join()
    big = Path.join(dir, "big")
    File.write!(big, data)
    big_nar = big |> Chunker.NAR.dump() |> Enum.join()

    assert_responsive([
      fn -> for _ <- 1..3, do: tiny |> Chunker.NAR.dump() |> Stream.run() end,
      fn -> for _ <- 1..5, do: [dense] |> Chunker.NAR.entries() |> Stream.run() end,
      fn -> for _ <- 1..5, do: Chunker.chunk!(dense, preset: :nar_small, nar_aware: true) end,
      fn -> Chunker.chunk!(big_nar, preset: :nar, nar_aware: true) end
    ])
  end

  test "batches: many tiny items and many medium ones", %{data: data} do
    # Each worker cuts its own items, and results are dropped: lists of 100,000 items, built
    # here and copied into each worker, or kept, make garbage collections of 10-40 ms in the
    # workers (each holding its scheduler), which would hide what this test is about.
    tiny = fn -> for <<item::binary-size(64) <- binary_part(data, 0, 1_280_000)>>, do: item end

    medium = fn ->
      for <<item::binary-size(65_536) <- binary_part(data, 0, 32_000_000)>>, do: item
    end

    assert_responsive([
      fn -> Enum.each(1..5, fn _ -> Chunker.Hash.hash_many(tiny.(), :sha256) end) end,
      fn ->
        Enum.each(1..3, fn _ -> {:ok, _} = Chunker.chunk_many(tiny.(), avg_size: 4_096) end)
      end,
      fn -> {:ok, _} = Chunker.chunk_many(medium.(), avg_size: 4_096) end,
      fn -> {:ok, _} = Chunker.Compression.compress_many(medium.(), :zstd) end,
      # Small batches in a loop: each runs on the caller's scheduler, in continued calls.
      fn ->
        Enum.each(Enum.chunk_every(tiny.(), 200), fn batch ->
          Chunker.Hash.hash_many(batch, :blake3)
          {:ok, _} = Chunker.chunk_many(batch, avg_size: 256)
        end)
      end
    ])
  end

  test "loops of small calls on every normal scheduler", %{data: data} do
    # Just below the normal-scheduler limits: each call runs ~50-100 us on the caller's
    # scheduler, so only the NIFs' timeslice accounting lets the probe in.
    small = for <<piece::binary-size(98_304) <- binary_part(data, 0, 48_000_000)>>, do: piece

    assert_responsive(
      for _ <- 1..System.schedulers_online() do
        fn ->
          Enum.each(small, &Chunker.Hash.sha256/1)
          Enum.each(small, &Chunker.chunk!(&1, hash: :sha256))
        end
      end
    )
  end

  # The probe's lateness also counts the OS descheduling the VM on this shared 2-core
  # machine (seen once in a CI run: 24 ms, with every scheduler free), and so do long
  # schedules: a scheduler thread preempted by the OS shows one (seen on 2026-12-03, 11-12 ms,
  # in the code before and after the observability issue alike, once inside a test's own list
  # comprehension). The OS does it once in a while, a NIF that holds a scheduler on every call:
  # a run fails on two long schedules or two late wake-ups, or one of either at twice the
  # limit (a worker of a single call that holds its scheduler); and only a second failing run
  # fails the test.
  defp assert_responsive(workers, opts \\ [], attempt \\ 1) do
    :erlang.system_monitor(self(), [{:long_schedule, @long_schedule_ms}])
    started = System.monotonic_time(:millisecond)
    probe = Chunker.Probe.start()
    tasks = Enum.map(workers, &Task.async/1)
    Task.await_many(tasks, 120_000)
    probed = Chunker.Probe.stop(probe)
    duration_ms = System.monotonic_time(:millisecond) - started
    :erlang.system_monitor(:undefined)
    # Only the workers' long schedules count: the monitor is VM-wide, and ExUnit's own
    # processes (other tests' runners) are not what is being tested.
    pids = [probe.pid | Enum.map(tasks, & &1.pid)]
    long = Enum.filter(collect_long_schedules([]), fn {pid, _info} -> pid in pids end)

    held? =
      length(long) >= 2 or
        Enum.any?(long, fn {_pid, info} -> info[:timeout] >= 2 * @long_schedule_ms end)

    late? =
      Keyword.get(opts, :probe, true) and
        (Chunker.Probe.gaps_over(probed, (@max_lateness_ms + 1) * 1000) >= 2 or
           probed.lateness >= 2 * @max_lateness_ms * 1000)

    cond do
      not held? and not late? ->
        :ok

      attempt == 1 ->
        IO.puts(
          "\n[scheduling] probe #{div(probed.lateness, 1000)} ms late, long schedules " <>
            "#{inspect(long)}; measuring again"
        )

        assert_responsive(workers, opts, 2)

      held? ->
        flunk(
          "processes ran uninterrupted for over #{@long_schedule_ms} ms, twice: #{inspect(long)}"
        )

      true ->
        # No process held its scheduler, yet the sleeper was late twice: the machine's own
        # delays (the OS descheduling the VM) or timers starved by busy schedulers. Only the
        # latter goes away when the VM is idle, so the idle VM is measured as long, right now.
        lateness_us = probed.lateness
        idle_us = idle_lateness(min(duration_ms, 10_000))

        if idle_us * 2 >= lateness_us do
          IO.puts(
            "\n[scheduling] probe #{div(lateness_us, 1000)} ms late with no long schedules, " <>
              "the idle VM's #{div(idle_us, 1000)} ms: this machine's delays, not the NIF's"
          )
        else
          flunk(
            "a 1 ms sleeper woke up #{div(lateness_us, 1000)} ms late, twice " <>
              "(the idle VM's: #{div(idle_us, 1000)} ms)"
          )
        end
    end
  end

  defp idle_lateness(duration_ms) do
    probe = Chunker.Probe.start()
    Process.sleep(duration_ms)
    Chunker.Probe.stop(probe).lateness
  end

  defp collect_long_schedules(acc) do
    receive do
      {:monitor, pid, :long_schedule, info} -> collect_long_schedules([{pid, info} | acc])
    after
      0 -> acc
    end
  end
end
