defmodule Chunker.Schedule do
  @moduledoc false
  # Decides how a call runs, from the bytes it will process:
  #
  #   * small work runs in one normal-scheduler call (the NIF reports its cost with
  #     enif_consume_timeslice, so loops of such calls are preempted like any other code);
  #   * larger work runs on dirty CPU schedulers in slices, each about 0.8 ms of work.
  #
  # Slicing the dirty work matters as much as moving it: measured with a process that sleeps
  # 1 ms in a loop, while 2 or 4 processes chunk 64 MiB each through the dirty NIFs, the sleeper
  # wakes up 31-43 ms late when each call takes the whole 64 MiB, 5-8 ms late with 8 MiB calls
  # and 1-2 ms late with 1-2 MiB calls (the VM's scheduler busy-waiting delays timers by about
  # the length of a dirty call). A loop of normal calls without timeslice accounting made it
  # 100-300 ms late.
  #
  # Rates (bytes per microsecond) come from `mix run bench/dirty_threshold.exs` on the 2-core
  # reference machine (AMD EPYC, Zen 4): cut-point scan 2500, BLAKE3 6000, SHA-256 1800.

  @rates %{scan: 2_500, blake3: 6_000, sha256: 1_800}
  @normal_budget_us 100
  @dirty_slice_us 800
  @slice_granule 65_536

  @type work :: {:chunk, :blake3 | :sha256 | :none} | {:hash, :blake3 | :sha256}

  rate = fn
    {:chunk, :none} -> @rates.scan
    {:chunk, algo} -> 1 / (1 / @rates.scan + 1 / Map.fetch!(@rates, algo))
    {:hash, algo} -> Map.fetch!(@rates, algo)
  end

  works = [
    {:chunk, :none},
    {:chunk, :blake3},
    {:chunk, :sha256},
    {:hash, :blake3},
    {:hash, :sha256}
  ]

  @limits Map.new(works, fn work ->
            per_us = rate.(work)
            slice = max(trunc(per_us * @dirty_slice_us / @slice_granule), 1) * @slice_granule
            {work, {trunc(per_us * @normal_budget_us), slice}}
          end)

  @doc false
  @spec normal?(non_neg_integer(), work()) :: boolean()
  def normal?(bytes, work), do: bytes <= normal_limit(work)

  @doc false
  @spec normal_limit(work()) :: pos_integer()
  def normal_limit(work), do: @limits |> Map.fetch!(work) |> elem(0)

  @doc false
  @spec slice_size(work()) :: pos_integer()
  def slice_size(work), do: @limits |> Map.fetch!(work) |> elem(1)
end
