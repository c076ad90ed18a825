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

  alias Chunker.{Input, Native, Schedule}

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

  def hash(_data, algorithm) do
    raise ArgumentError, "hash algorithm must be :blake3 or :sha256, got: #{inspect(algorithm)}"
  end

  defp update_slices(hasher, binary, from, slice) when from < byte_size(binary) do
    len = min(slice, byte_size(binary) - from)
    :ok = Native.hasher_update_dirty(hasher, binary, from, len)
    update_slices(hasher, binary, from + len, slice)
  end

  defp update_slices(_hasher, _binary, _from, _slice), do: :ok
end
