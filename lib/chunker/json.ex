defmodule Chunker.JSON do
  @moduledoc false
  # A small JSON encoder for what chunker prints (`mix chunker.analyze --json`): Elixir 1.14
  # has no JSON module and the package takes no dependencies. It encodes exactly what JSON can
  # hold and refuses the rest, so that what it writes any JSON parser reads back as the same
  # value (test/chunker/json_test.exs checks it with python3's `json`).

  @doc """
  Encodes `term` as JSON text: maps (atom or string keys; written in key order, so the
  output is deterministic) as objects, lists as arrays, binaries (valid UTF-8) as strings,
  integers, floats, `true`, `false`, `nil` as `null`, other atoms as strings. Raises
  `ArgumentError` for anything else (tuples, pids, non-UTF-8 binaries, ...), naming it.

      iex> Chunker.JSON.encode!(%{b: [1, 2.5, nil], a: "x\\ny"})
      ~S({"a":"x\\ny","b":[1,2.5,null]})
  """
  @spec encode!(term()) :: String.t()
  def encode!(term), do: term |> value() |> IO.iodata_to_binary()

  defp value(nil), do: "null"
  defp value(true), do: "true"
  defp value(false), do: "false"
  defp value(atom) when is_atom(atom), do: string(Atom.to_string(atom))
  defp value(integer) when is_integer(integer), do: Integer.to_string(integer)
  # Float.to_string/1 writes the shortest text that reads back as the same float, always with
  # a fraction or an exponent ("1.0e20"): valid JSON numbers. The BEAM has no NaN or infinity.
  defp value(float) when is_float(float), do: Float.to_string(float)
  defp value(binary) when is_binary(binary), do: string(binary)

  defp value(list) when is_list(list),
    do: ["[", list |> Enum.map(&value/1) |> Enum.intersperse(","), "]"]

  defp value(map) when is_map(map) and not is_struct(map) do
    pairs =
      map
      |> Enum.map(fn {key, value} -> {key_string(key), value} end)
      |> Enum.sort()
      |> Enum.map(fn {key, value} -> [string(key), ":", value(value)] end)

    ["{", Enum.intersperse(pairs, ","), "}"]
  end

  defp value(other), do: raise(ArgumentError, "cannot encode #{inspect(other)} as JSON")

  defp key_string(key) when is_atom(key), do: Atom.to_string(key)
  defp key_string(key) when is_binary(key), do: key

  defp key_string(key),
    do: raise(ArgumentError, "JSON object keys must be strings, got #{inspect(key)}")

  defp string(binary) do
    if not String.valid?(binary) do
      raise ArgumentError, "cannot encode #{inspect(binary)} as JSON: not valid UTF-8"
    end

    [?", escape(binary, binary, 0, 0, []), ?"]
  end

  # Runs of bytes that need no escape are copied as slices of the original.
  defp escape(<<>>, original, start, len, acc), do: [acc, binary_part(original, start, len)]

  defp escape(<<byte, rest::binary>>, original, start, len, acc)
       when byte < 0x20 or byte == ?" or byte == ?\\ do
    acc = [acc, binary_part(original, start, len), escaped(byte)]
    escape(rest, original, start + len + 1, 0, acc)
  end

  defp escape(<<_byte, rest::binary>>, original, start, len, acc),
    do: escape(rest, original, start, len + 1, acc)

  defp escaped(?"), do: "\\\""
  defp escaped(?\\), do: "\\\\"
  defp escaped(?\n), do: "\\n"
  defp escaped(?\r), do: "\\r"
  defp escaped(?\t), do: "\\t"
  defp escaped(byte), do: "\\u" <> String.pad_leading(Integer.to_string(byte, 16), 4, "0")
end
