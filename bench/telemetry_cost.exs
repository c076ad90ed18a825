# What observability costs. Timing whole workloads with and without it on this shared 2-core
# machine varies by 10-30% from run to run, far more than the cost, so this measures the cost
# of each thing observability adds, in tight loops (the fastest of many runs: interference
# only ever adds time), and what each workload does of them:
#
#   * a span of a one-shot function with :telemetry absent (the module not loaded) and with
#     the vendored :telemetry (test/vendor) and a no-op handler attached to every event;
#   * a stream span's cost per element (chunk) with the handler attached;
#   * the native counters' cost per NIF call: the cheapest NIF call (`hash/2` of 3 bytes, no
#     span) in this code against a checkout of the code before the counters (BEFORE_DIR, e.g.
#     `git worktree add /tmp/before <commit>` and `mix compile` there), fresh VMs alternately;
#   * per workload, its spans, stream elements and NIF calls (from Chunker.stats/0) and its
#     time, giving the overhead: spans x span cost + elements x element cost + calls x call
#     cost, over the time; and the workload itself timed with :telemetry out and in (the
#     fastest of 12 each, alternating), which says the same within this machine's noise.
#
#     mix run bench/telemetry_cost.exs BEFORE_DIR [VMS]
#
# Workloads: chunk/2 of 1 MiB (random) at 16 KiB and at 256 B average chunks (BLAKE3),
# compress_many/3 of the 1 MiB items of tmp/otp.tar at zstd level 3, stream_file/2 of a
# 256 MiB random file at the default sizes.

defmodule TelemetryCost do
  @here Path.expand("..", __DIR__)

  def main([before]), do: main([before, "4"])

  def main([before, vms]) do
    vms = String.to_integer(vms)
    file = Path.join(System.tmp_dir!(), "chunker-telemetry-cost.bin")
    unless File.exists?(file), do: File.write!(file, :crypto.strong_rand_bytes(256 * 1_048_576))

    units = run(@here, file, units_script())

    call_costs =
      for vm <- 1..vms do
        dirs = [before: Path.expand(before), now: @here]
        dirs = if rem(vm, 2) == 0, do: Enum.reverse(dirs), else: dirs
        times = Map.new(dirs, fn {name, dir} -> {name, run(dir, file, call_script())} end)
        times.now - times.before
      end

    call_ns = call_costs |> Enum.sort() |> Enum.at(div(vms, 2))

    IO.puts("""
    span, :telemetry absent:            #{units.span_absent} ns
    span, no-op handler attached:       #{units.span_handler} ns
    stream element, handler attached:   #{units.element} ns (plain stream: #{units.element_plain} ns)
    NIF call, counters (per VM):        #{Enum.join(call_costs, " ")} ns; median #{call_ns} ns

    | workload | time | spans | stream elements | NIF calls | overhead, handler + counters | timed: handler / absent |
    |---|---|---|---|---|---|---|\
    """)

    for {name, w} <- units.workloads do
      extra_ns =
        w.spans * (units.span_handler - units.span_absent) +
          w.elements * max(units.element - units.element_plain, 0) + w.calls * max(call_ns, 0)

      share = Float.round(extra_ns / (w.us * 1000) * 100, 3)

      IO.puts(
        "| #{name} | #{Float.round(w.us / 1000, 1)} ms | #{w.spans} | #{w.elements} | #{w.calls} | " <>
          "#{share}% | #{Float.round(w.us_handler / w.us, 3)} |"
      )
    end
  end

  defp run(dir, file, script) do
    {out, 0} =
      System.cmd("mix", ["run", "--no-compile", "-e", script],
        cd: dir,
        env: [{"COST_FILE", file}, {"MIX_ENV", "dev"}],
        stderr_to_stdout: true
      )

    [_, result] = Regex.run(~r/RESULT (.*)/, out)
    {result, _} = Code.eval_string(result)
    result
  end

  # The cheapest NIF call, ns: the fastest of 20 runs of 100,000.
  # The cheapest NIF call, ns: the fastest of 20 runs of 100,000. (In a module: code given to
  # `mix run -e` is interpreted, which would cost more than what is measured.)
  defp call_script do
    ~S"""
    defmodule CallCost do
      def run(0), do: :ok
      def run(n), do: (Chunker.Native.hash("abc", :blake3); run(n - 1))
    end
    CallCost.run(100_000)
    best = Enum.min(for _ <- 1..20, do: elem(:timer.tc(CallCost, :run, [100_000]), 0))
    IO.puts("RESULT #{round(best * 1000 / 100_000)}")
    """
  end

  defp units_script do
    ~S"""
    ns = fn n, f ->
      f.()
      best = Enum.min(for _ <- 1..10, do: elem(:timer.tc(f), 0))
      round(best * 1000 / n)
    end

    defmodule UnitCost do
      def spans(0), do: :ok

      def spans(n) do
        Chunker.Telemetry.span([:hash], %{operation: :x}, fn -> {:ok, 1} end, &measure/2)
        spans(n - 1)
      end

      defp measure(_result, n), do: {%{bytes: n}, %{}}

      # Output elements only (a chunk stream's input comes in a few large pieces).
      def streamed(elements) do
        Chunker.Telemetry.stream([:stream], %{operation: :x}, fn _count -> elements end, :chunks)
        |> Stream.run()
      end
    end

    elements = Enum.to_list(1..1_000_000)
    spans = fn -> UnitCost.spans(100_000) end
    streamed = fn -> UnitCost.streamed(elements) end
    plain = fn -> Stream.run(elements) end

    span_absent = ns.(100_000, spans)
    Code.require_file("test/support/vendored_telemetry.ex")
    defmodule NoOp, do: def handle(_e, _m, _meta, _c), do: :ok
    events =
      for p <- [[:chunk], [:stream], [:hash], [:compress], [:decompress], [:nar, :dump], [:nar, :restore], [:nar, :entries]],
          k <- [:start, :stop, :exception, :progress], do: [:chunker | p] ++ [k]

    # :telemetry in (started, the no-op handler attached) or out (stopped and unloaded).
    telemetry = fn
      true ->
        unless :erlang.module_loaded(:telemetry) do
          Chunker.VendoredTelemetry.start!()
          :ok = :telemetry.attach_many("no-op", events, &NoOp.handle/4, nil)
        end

      false ->
        if :erlang.module_loaded(:telemetry) do
          :ok = Application.stop(:telemetry)
          :code.purge(:telemetry)
          :code.delete(:telemetry)
          :code.purge(:telemetry)
        end
    end

    telemetry.(true)
    span_handler = ns.(100_000, spans)
    element = ns.(1_000_000, streamed)
    element_plain = ns.(1_000_000, plain)

    random = :crypto.strong_rand_bytes(1_048_576)
    real = File.read!("tmp/otp.tar")
    items = for <<item::binary-size(1_048_576) <- real>>, do: item
    file = System.fetch_env!("COST_FILE")

    workloads = [
      {"chunk/2, 1 MiB, 16 KiB avg", 0, fn -> Chunker.chunk(random, avg_size: 16_384) end},
      {"chunk/2, 1 MiB, 256 B avg", 0, fn -> Chunker.chunk(random, min_size: 64, avg_size: 256, max_size: 1024) end},
      {"compress_many zstd 3, #{length(items)} x 1 MiB", 0, fn -> Chunker.Compression.compress_many(items, :zstd, level: 3) end},
      {"stream_file 256 MiB, 64 KiB avg", 1, fn -> file |> Chunker.stream_file() |> Stream.run() end}
    ]

    calls = fn -> Chunker.stats().nif_calls |> Map.values() |> Enum.map(& &1.count) |> Enum.sum() end

    measured =
      for {name, streams, f} <- workloads do
        f.()
        before = Chunker.stats()
        c0 = calls.()
        f.()
        c1 = calls.()
        chunks = Chunker.stats().chunk.chunks - before.chunk.chunks

        # The whole workload too, with :telemetry out and in, in rounds ordered A B B A ...;
        # the fastest of each.
        times =
          for round <- 1..12, on <- if(rem(round, 2) == 0, do: [true, false], else: [false, true]), reduce: %{} do
            acc ->
              telemetry.(on)
              Map.update(acc, on, [elem(:timer.tc(f), 0)], &[elem(:timer.tc(f), 0) | &1])
          end

        {name,
         %{us: Enum.min(times[false]), us_handler: Enum.min(times[true]), spans: 1,
           elements: streams * chunks, calls: c1 - c0}}
      end

    result = %{span_absent: span_absent, span_handler: span_handler, element: element,
               element_plain: element_plain, workloads: measured}
    IO.puts("RESULT " <> inspect(result, limit: :infinity))
    """
  end
end

TelemetryCost.main(System.argv())
