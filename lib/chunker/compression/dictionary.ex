defmodule Chunker.Compression.Dictionary do
  @moduledoc ~S"""
  A zstd dictionary, loaded and prepared once, for compressing many small chunks.

  A chunk store compresses each chunk on its own, so every small chunk starts with an empty
  window. A dictionary trained on chunks already stored gives each new one a window of what
  such data usually holds. Make one with `Chunker.Compression.train_dictionary/2`, or load one
  `zstd --train` wrote with `load/2`; pass it as `dictionary:` to compress and in
  `dictionaries:` to decompress. Frames record the dictionary's `id`, which is how
  decompression picks among several.

      iex> samples = for i <- 1..200, do: ~s({"id": #{i}, "user": "user-#{i}", "role": "reader", "active": true})
      iex> {:ok, dict} = Chunker.Compression.train_dictionary(samples, size: 4096)
      iex> record = ~s({"id": 1234, "user": "user-1234", "role": "reader", "active": true})
      iex> {:ok, with_dict} = Chunker.Compression.compress(record, :zstd, dictionary: dict)
      iex> {:ok, without} = Chunker.Compression.compress(record, :zstd)
      iex> byte_size(with_dict) < byte_size(without)
      true
      iex> Chunker.Compression.decompress(with_dict, dictionaries: [dict])
      {:ok, record}
      iex> {:error, error} = Chunker.Compression.decompress(with_dict)
      iex> error.reason
      :dictionary_required

  Store a dictionary with `to_binary/1` (it is zstd's format: `zstd -D file` reads it) and
  keep it as long as frames made with it are kept: they cannot be decoded without it.

  The struct holds a reference to the prepared dictionary in this VM: it is not meant to be
  sent to other nodes or persisted (send or store `to_binary/1` and `load/2` it there).
  Loading runs on a dirty scheduler: it digests the whole dictionary (about a millisecond for
  the default 110 KiB), for decoding and for compressing at `level:` (default 3); other
  levels are prepared the first time they are used, on a dirty scheduler too.
  """

  alias Chunker.{Error, Native}
  alias Chunker.Native.Run

  @enforce_keys [:id, :size, :resource]
  defstruct [:id, :size, :resource]

  @typedoc "A loaded dictionary: its zstd id, its size in bytes and the native resource."
  @type t :: %__MODULE__{id: pos_integer(), size: non_neg_integer(), resource: reference()}

  @doc """
  Loads a dictionary in zstd's format (what `zstd --train` and `to_binary/1` write) and
  prepares it for compressing at `level:` (default 3).

  Bytes that are not a zstd dictionary (raw-content dictionaries, which record no id, are not
  accepted) or whose tables are corrupt give `{:error, %Chunker.Error{reason:
  :invalid_dictionary}}`.

      iex> {:error, error} = Chunker.Compression.Dictionary.load("not a dictionary")
      iex> error.reason
      :invalid_dictionary
  """
  @spec load(binary(), keyword()) :: {:ok, t()} | {:error, Error.t()}
  def load(bytes, opts \\ []) when is_binary(bytes) do
    with {:ok, %{level: level}} <- Chunker.Compression.Options.validate(opts, [:level]) do
      bytes |> Native.zstd_dictionary_load(level) |> from_native()
    end
  end

  @doc "Like `load/2`, returning the dictionary or raising `Chunker.Error`."
  @spec load!(binary(), keyword()) :: t()
  def load!(bytes, opts \\ []), do: Run.ok!(load(bytes, opts))

  @doc """
  The dictionary in zstd's format, to store or to give the CLI (`zstd -D`). No copy is made.
  """
  @spec to_binary(t()) :: binary()
  def to_binary(%__MODULE__{resource: resource}), do: Native.zstd_dictionary_bytes(resource)

  @doc false
  # The NIF's reply to loading or training.
  @spec from_native(tuple()) :: {:ok, t()} | {:error, Error.t()}
  def from_native({:ok, resource, id}) do
    size = byte_size(Native.zstd_dictionary_bytes(resource))
    {:ok, %__MODULE__{id: id, size: size, resource: resource}}
  end

  def from_native({:error, native}), do: {:error, Error.from_native(native)}

  defimpl Inspect do
    def inspect(dictionary, _opts),
      do: "#Chunker.Compression.Dictionary<id: #{dictionary.id}, #{dictionary.size} bytes>"
  end
end
