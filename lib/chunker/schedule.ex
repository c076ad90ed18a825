defmodule Chunker.Schedule do
  @moduledoc false
  # Decides how a call runs, from an estimate of its cost:
  #
  #   * up to @normal_budget_us of work runs in one normal-scheduler call (the NIF reports its
  #     cost with enif_consume_timeslice, so loops of such calls are preempted like any other
  #     code);
  #   * more runs on dirty CPU schedulers in slices of about @dirty_slice_us each.
  #
  # Slicing the dirty work matters as much as moving it: measured with a process that sleeps
  # 1 ms in a loop, while 2 or 4 processes chunk 64 MiB each through the dirty NIFs, the sleeper
  # wakes up 31-43 ms late when each call takes the whole 64 MiB, 5-8 ms late with 8 MiB calls
  # and 1-2 ms late with 1-2 MiB calls (the VM's scheduler busy-waiting delays timers by about
  # the length of a dirty call). A loop of normal calls without timeslice accounting made it
  # 40-300 ms late.
  #
  # Costs measured on the 2-core reference machine (AMD EPYC, Zen 4): bytes per microsecond
  # from `mix run bench/dirty_threshold.exs` (cut-point scan 2500, BLAKE3 6000, SHA-256 1800),
  # and about 0.4 us per chunk for building its term and hashing a small input (`Native.chunk`
  # of 1 MiB at 64/256/1024 sizes: 3413 chunks in 1.5-1.7 ms, against 0.5 ms at 64 KiB chunks).

  #
  # Compression and decompression rates (bytes of input, resp. output, per microsecond) come
  # from `mix run bench/compression.exs` on the same machine, on real data (a tar of system
  # files); zstd and xz levels are grouped by cost.

  #
  # NAR-aware chunking also parses the NAR: about 600 bytes/us where it is densest (20,000
  # tiny files, all headers; `nar_aware` 1.3 MiB dirty slices took 2.7 ms against 0.55 ms
  # plain), nearly free over file contents. The worst case is charged, so slices stay short
  # on any NAR.

  @rates %{scan: 2_500, blake3: 6_000, sha256: 1_800, nar_parse: 500}
  @per_chunk_us 0.4
  @normal_budget_us 100
  @dirty_slice_us 800
  @per_item_us 0.3
  @batch_normal_max_us 200
  @slice_granule 4_096

  @decompress_rates %{zstd: 1_200, lz4: 2_500, xz: 80, bzip2: 35}

  # A dirty chunking slice is scanned in parallel segments, one per core, each hashed by its
  # core (chunker_core's cut_run.rs): measured 2.8-3.2 GB/s per 1.3-4 MiB slice with BLAKE3
  # at 16-64 KiB chunks on the 2 cores, against 1.7-1.8 GB/s for the sequential rates above.
  # Slices are sized for that, so each still takes about @dirty_slice_us.
  @parallel_chunking_speedup 1.7

  @typedoc """
  Chunking (of a NAR, NAR-aware) with a hash and an average chunk size, hashing alone, compressing at a level
  (`nil`: the format's default), or decompressing.
  """
  @type work ::
          {:chunk, :blake3 | :sha256 | :none, pos_integer()}
          | {:nar_chunk, :blake3 | :sha256 | :none, pos_integer()}
          | {:hash, :blake3 | :sha256}
          | {:compress, atom(), integer() | nil}
          | {:decompress, atom()}

  @doc false
  @spec normal?(non_neg_integer(), work()) :: boolean()
  def normal?(bytes, work), do: bytes * us_per_byte(work) <= @normal_budget_us

  @doc false
  @spec slice_size(work()) :: pos_integer()
  def slice_size(work) do
    granules = trunc(@dirty_slice_us * speedup(work) / us_per_byte(work) / @slice_granule)
    max(granules, 1) * @slice_granule
  end

  defp speedup({kind, _algo, _avg}) when kind in [:chunk, :nar_chunk] do
    if Chunker.Native.thread_count() > 1, do: @parallel_chunking_speedup, else: 1.0
  end

  defp speedup(_work), do: 1.0

  defp us_per_byte({:chunk, :none, avg}), do: 1 / @rates.scan + @per_chunk_us / avg

  defp us_per_byte({:chunk, algo, avg}),
    do: 1 / @rates.scan + 1 / Map.fetch!(@rates, algo) + @per_chunk_us / avg

  defp us_per_byte({:nar_chunk, algo, avg}),
    do: us_per_byte({:chunk, algo, avg}) + 1 / @rates.nar_parse

  defp us_per_byte({:hash, algo}), do: 1 / Map.fetch!(@rates, algo)
  defp us_per_byte({:compress, format, level}), do: 1 / compress_rate(format, level)
  defp us_per_byte({:decompress, format}), do: 1 / Map.fetch!(@decompress_rates, format)

  defp compress_rate(:zstd, nil), do: compress_rate(:zstd, 3)
  defp compress_rate(:zstd, level) when level < 0, do: 600
  defp compress_rate(:zstd, level) when level <= 3, do: 250
  defp compress_rate(:zstd, level) when level <= 6, do: 100
  defp compress_rate(:zstd, level) when level <= 12, do: 30
  defp compress_rate(:zstd, level) when level <= 17, do: 8
  defp compress_rate(:zstd, _level), do: 3
  defp compress_rate(:lz4, _level), do: 500
  defp compress_rate(:xz, nil), do: compress_rate(:xz, 6)
  defp compress_rate(:xz, level) when level <= 1, do: 15
  defp compress_rate(:xz, level) when level <= 3, do: 8
  defp compress_rate(:xz, _level), do: 2.5
  defp compress_rate(:bzip2, _level), do: 12

  @doc false
  @spec batch_cost_us(non_neg_integer(), non_neg_integer(), work()) :: float()
  def batch_cost_us(bytes, count, work), do: bytes * us_per_byte(work) + count * per_item_us(work)

  # A batch of many items (hash_many, chunk_many) whose whole cost is at most
  # @batch_normal_max_us runs on the caller's scheduler, in calls of @normal_budget_us that
  # return a continuation; a larger one on dirty schedulers, spread over the pool's threads.
  @doc false
  @spec batch_on_normal?(non_neg_integer(), non_neg_integer(), work()) :: boolean()
  def batch_on_normal?(bytes, count, work),
    do: batch_cost_us(bytes, count, work) <= @batch_normal_max_us

  @doc false
  @spec normal_step_us() :: pos_integer()
  def normal_step_us, do: @normal_budget_us

  # What one dirty round of a batch may take (see the NIF's rounds.rs), in bytes: about one
  # slice of work per pool thread in all, each item weighing its size plus its fixed cost,
  # and no item larger than a slice.
  @doc false
  @spec round_limits(work(), pos_integer()) ::
          {non_neg_integer(), non_neg_integer(), pos_integer()}
  def round_limits(work, threads) do
    byte_us = us_per_byte(work)

    {trunc(@dirty_slice_us * threads / byte_us), trunc(per_item_us(work) / byte_us),
     slice_size(work)}
  end

  defp per_item_us({kind, _algo, _avg}) when kind in [:chunk, :nar_chunk],
    do: @per_item_us + @per_chunk_us

  defp per_item_us(_work), do: @per_item_us

  @doc false
  @spec normal_budget(work()) :: pos_integer()
  def normal_budget(work), do: max(trunc(@normal_budget_us / us_per_byte(work)), 1)
end
