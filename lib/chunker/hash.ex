defmodule Chunker.Hash do
  @moduledoc """
  BLAKE3 and SHA-256 digests of iodata, as 32-byte binaries.

  Small inputs (up to about 100 us of work: 600 KB for BLAKE3, 180 KB for SHA-256) are hashed
  in one call on the caller's scheduler; larger ones on dirty CPU schedulers, in slices of
  about 0.8 ms each, so the VM stays responsive.

      iex> Chunker.Hash.sha256("abc") |> Base.encode16(case: :lower)
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

      iex> Chunker.Hash.blake3(["ab", ?c]) == Chunker.Hash.blake3("abc")
      true
  """

  alias Chunker.{Batch, Heap, Input, Native, Schedule}

  @type algorithm :: :blake3 | :sha256

  @doc "BLAKE3 (unkeyed, 32-byte output) of `data`."
  @spec blake3(iodata()) :: <<_::256>>
  def blake3(data), do: hash(data, :blake3)

  @doc "SHA-256 of `data`."
  @spec sha256(iodata()) :: <<_::256>>
  def sha256(data), do: hash(data, :sha256)

  @doc """
  The `algorithm` digest of `data`. Raises `ArgumentError` for anything but iodata and
  `:blake3` or `:sha256`.

      iex> Chunker.Hash.hash("", :blake3) |> Base.encode16(case: :lower)
      "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
  """
  @spec hash(iodata(), algorithm()) :: <<_::256>>
  def hash(data, algorithm) when algorithm in [:blake3, :sha256] do
    binary = Input.to_binary!(data)
    work = {:hash, algorithm}

    if Schedule.normal?(byte_size(binary), work) do
      Native.hash(binary, algorithm)
    else
      hasher = Native.hasher_new(algorithm)
      update_slices(hasher, binary, 0, Schedule.slice_size(work))
      {:ok, digest} = Native.hasher_finish(hasher)
      digest
    end
  end

  def hash(_data, algorithm), do: bad_algorithm(algorithm)

  defp bad_algorithm(algorithm) do
    raise ArgumentError, "hash algorithm must be :blake3 or :sha256, got: #{inspect(algorithm)}"
  end

  @doc """
  The `algorithm` digest of each item of `items` (a list of iodata), in input order, computed
  on all cores.

  A small batch (up to about 0.2 ms of work) runs on the caller's scheduler, in calls of
  about 0.1 ms that resume where the previous one stopped, so even a list of many tiny items
  never holds the scheduler; a larger one runs on dirty CPU schedulers, about 0.8 ms of work
  per thread and call, with the items spread over chunker's thread pool (one thread per core unless
  `CHUNKER_THREADS` says otherwise; see `Chunker`). Items larger than a slice are hashed in
  slices, several at once. Raises `ArgumentError` if an item is not iodata.

      iex> Chunker.Hash.hash_many(["a", ["b", ?c]], :sha256) ==
      ...>   [Chunker.Hash.sha256("a"), Chunker.Hash.sha256("bc")]
      true
      iex> Chunker.Hash.hash_many([], :blake3)
      []
  """
  @spec hash_many([iodata()], algorithm()) :: [<<_::256>>]
  def hash_many(items, algorithm) when is_list(items) and algorithm in [:blake3, :sha256] do
    binaries = Input.binaries!(items)
    work = {:hash, algorithm}
    {bytes, count} = Input.measure(binaries)

    if Schedule.batch_on_normal?(bytes, count, work) do
      hash_steps(binaries, algorithm, [])
    else
      limits = Schedule.round_limits(work, Native.thread_count())
      slice = elem(limits, 2)
      round = &Native.hash_round(&1, algorithm, limits)

      # Items larger than a slice: a hasher each, fed a slice per call, several at a time.
      large = fn binaries ->
        open = fn _binary -> {:ok, Native.hasher_new(algorithm), slice} end
        {:ok, Enum.map(Batch.run(binaries, open, :hash), fn {:ok, digest} -> digest end)}
      end

      # A digest and its list cell: 8 words.
      {:ok, digests} =
        Heap.presized(count * 8, fn -> Batch.rounds(binaries, slice, round, large) end)

      digests
    end
  end

  def hash_many(items, algorithm) when is_list(items), do: bad_algorithm(algorithm)

  def hash_many(items, _algorithm) do
    raise ArgumentError, "hash_many/2 expects a list of iodata, got: #{inspect(items, limit: 10)}"
  end

  defp hash_steps(binaries, algorithm, acc) do
    case Native.hash_list(binaries, algorithm, Schedule.normal_step_us()) do
      {:done, digests} -> [digests | acc] |> Enum.reverse() |> Enum.concat()
      {:cont, digests, rest} -> hash_steps(rest, algorithm, [digests | acc])
    end
  end

  defp update_slices(hasher, binary, from, slice) when from < byte_size(binary) do
    len = min(slice, byte_size(binary) - from)
    :ok = Native.hasher_update_dirty(hasher, binary, from, len)
    update_slices(hasher, binary, from + len, slice)
  end

  defp update_slices(_hasher, _binary, _from, _slice), do: :ok
end
