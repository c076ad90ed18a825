defmodule Chunker.Hash do
  @moduledoc """
  BLAKE3 and SHA-256 digests of iodata, as 32-byte binaries.

  Small inputs are hashed in one call on the caller's scheduler (about 100 us of work at
  most); larger ones go on from there on dirty CPU schedulers, about 0.8 ms per call, so the
  VM stays responsive (see "Scheduling" in `Chunker`).

      iex> Chunker.Hash.sha256("abc") |> Base.encode16(case: :lower)
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

      iex> Chunker.Hash.blake3(["ab", ?c]) == Chunker.Hash.blake3("abc")
      true
  """

  alias Chunker.{Batch, Heap, Input, Native, Telemetry}
  alias Chunker.Native.Run

  @algorithms [:blake3, :sha256]

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
  def hash(data, algorithm) when algorithm in @algorithms do
    Telemetry.span(
      [:hash],
      %{operation: :hash, algorithm: algorithm},
      fn ->
        binary = Input.to_binary!(data)
        {hash_binary(binary, algorithm), byte_size(binary)}
      end,
      fn _digest, bytes -> {%{bytes: bytes}, %{}} end
    )
  end

  def hash(_data, algorithm), do: bad_algorithm(algorithm)

  defp hash_binary(binary, algorithm) do
    case Native.hash(binary, algorithm) do
      {:done, digest} ->
        digest

      {:cont, hasher, from} ->
        {:ok, _} =
          Run.outputs({:cont, nil, from}, &Native.hasher_update_dirty(hasher, binary, &1))

        {:ok, digest} = Native.hasher_finish(hasher)
        digest
    end
  end

  defp bad_algorithm(algorithm) do
    raise ArgumentError, "hash algorithm must be :blake3 or :sha256, got: #{inspect(algorithm)}"
  end

  @doc """
  The `algorithm` digest of each item of `items` (a list of iodata), in input order, computed
  on all cores.

  A small batch runs on the caller's scheduler in calls of about 0.1 ms that resume where the
  previous one stopped, so even a list of many tiny items never holds the scheduler; the rest
  runs on dirty CPU schedulers, about 0.8 ms of work per thread and call, with the items
  spread over chunker's thread pool (one thread per core unless `CHUNKER_THREADS` says
  otherwise; see `Chunker`). Items too large for one call are hashed in steps, several at
  once. Raises `ArgumentError` if an item is not iodata, or for an algorithm other than
  `:blake3` or `:sha256` (as `hash/2` does).

      iex> Chunker.Hash.hash_many(["a", ["b", ?c]], :sha256) ==
      ...>   [Chunker.Hash.sha256("a"), Chunker.Hash.sha256("bc")]
      true
      iex> Chunker.Hash.hash_many([], :blake3)
      []
  """
  @spec hash_many([iodata()], algorithm()) :: [<<_::256>>]
  def hash_many(items, algorithm) when is_list(items) and algorithm in @algorithms do
    Telemetry.span(
      [:hash],
      %{operation: :hash_many, algorithm: algorithm},
      fn ->
        binaries = Input.binaries!(items)
        {hash_binaries(binaries, algorithm), binaries}
      end,
      fn digests, binaries ->
        {%{bytes: Input.total_size(binaries), items: length(digests)}, %{}}
      end
    )
  end

  def hash_many(items, algorithm) when is_list(items), do: bad_algorithm(algorithm)

  def hash_many(items, _algorithm) do
    raise ArgumentError, "hash_many/2 expects a list of iodata, got: #{inspect(items, limit: 10)}"
  end

  defp hash_binaries(binaries, algorithm) do
    # A digest and its list cell: 8 words.
    Heap.presized(length(binaries) * 8, fn ->
      binaries
      |> Batch.list(
        &Native.hash_list(&1, algorithm),
        &Native.hash_list_dirty(&1, algorithm),
        &hash_large(&1, algorithm)
      )
      |> Run.ok!()
    end)
  end

  # Items too large for one call: a hasher each, stepped several at a time.
  defp hash_large(binaries, algorithm) do
    digests =
      binaries
      |> Batch.each(fn _binary -> {:ok, Native.hasher_new(algorithm)} end, &Native.hashers_step/1)
      |> Enum.map(fn {:ok, digest} -> digest end)

    {:ok, digests}
  end
end
