defmodule Chunker.Input do
  @moduledoc false
  # Turns user-supplied iodata into the binary the NIFs take, with an ArgumentError that
  # says what was expected. `IO.iodata_to_binary/1` yields to the scheduler on large lists.

  @doc false
  @spec to_binary!(iodata()) :: binary()
  def to_binary!(data) when is_binary(data), do: data

  def to_binary!(data) when is_list(data) do
    IO.iodata_to_binary(data)
  rescue
    ArgumentError -> raise ArgumentError, message(data)
  end

  def to_binary!(data), do: raise(ArgumentError, message(data))

  # Each item of a list of iodata as a binary; an improper list is an ArgumentError too.
  @doc false
  @spec binaries!([iodata()]) :: [binary()]
  def binaries!(items), do: binaries!(items, items, [])

  defp binaries!([item | rest], items, acc), do: binaries!(rest, items, [to_binary!(item) | acc])
  defp binaries!([], _items, acc), do: Enum.reverse(acc)

  defp binaries!(_tail, items, _acc) do
    raise ArgumentError, "expected a list of iodata, got: #{inspect(items, limit: 10)}"
  end

  # The bytes of a list of binaries.
  @doc false
  @spec total_size([binary()]) :: non_neg_integer()
  def total_size(binaries), do: Enum.reduce(binaries, 0, &(byte_size(&1) + &2))

  # A path as a string; `function` names the caller in the ArgumentError for anything else.
  @doc false
  @spec path!(term(), String.t()) :: String.t()
  def path!(path, _function) when is_binary(path), do: path

  def path!(path, function) when is_list(path) do
    IO.chardata_to_string(path)
  rescue
    ArgumentError -> bad_path(path, function)
  end

  def path!(path, function), do: bad_path(path, function)

  defp bad_path(path, function) do
    raise ArgumentError,
          "#{function} expects a path (a string or charlist), got: #{inspect(path, limit: 10)}"
  end

  defp message(data) do
    "expected iodata (a binary, or a list of bytes and binaries), got: #{inspect(data, limit: 10)}"
  end
end
