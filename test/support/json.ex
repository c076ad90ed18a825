defmodule Chunker.TestJSON do
  @moduledoc false
  # Just enough JSON to read what `nix ... --json` prints (Elixir 1.14 has no JSON module and
  # the project takes no hex dependencies). Objects become maps with string keys.

  def decode!(text) do
    {value, rest} = value(skip(text))

    case skip(rest) do
      "" ->
        value

      other ->
        raise ArgumentError,
              "trailing JSON: #{inspect(binary_part(other, 0, min(20, byte_size(other))))}"
    end
  end

  defp value("{" <> rest), do: object(skip(rest), %{})
  defp value("[" <> rest), do: array(skip(rest), [])
  defp value("\"" <> rest), do: string(rest, [])
  defp value("true" <> rest), do: {true, rest}
  defp value("false" <> rest), do: {false, rest}
  defp value("null" <> rest), do: {nil, rest}
  defp value(text), do: number(text)

  defp object("}" <> rest, acc), do: {acc, rest}

  defp object("\"" <> rest, acc) do
    {key, rest} = string(rest, [])
    ":" <> rest = skip(rest)
    {value, rest} = value(skip(rest))
    acc = Map.put(acc, key, value)

    case skip(rest) do
      "," <> rest -> object(skip(rest), acc)
      "}" <> rest -> {acc, rest}
    end
  end

  defp array("]" <> rest, acc), do: {Enum.reverse(acc), rest}

  defp array(text, acc) do
    {value, rest} = value(text)

    case skip(rest) do
      "," <> rest -> array(skip(rest), [value | acc])
      "]" <> rest -> {Enum.reverse([value | acc]), rest}
    end
  end

  defp string("\"" <> rest, acc), do: {acc |> Enum.reverse() |> IO.iodata_to_binary(), rest}

  # A character outside the BMP, escaped as a UTF-16 surrogate pair.
  defp string("\\u" <> <<high::binary-4, "\\u", low::binary-4, rest::binary>>, acc)
       when binary_part(high, 0, 2) in ["d8", "d9", "da", "db", "D8", "D9", "DA", "DB"] do
    code =
      0x10000 + (String.to_integer(high, 16) - 0xD800) * 0x400 + String.to_integer(low, 16) -
        0xDC00

    string(rest, [<<code::utf8>> | acc])
  end

  defp string("\\u" <> <<hex::binary-4, rest::binary>>, acc),
    do: string(rest, [<<String.to_integer(hex, 16)::utf8>> | acc])

  defp string("\\" <> <<c, rest::binary>>, acc), do: string(rest, [escape(c) | acc])
  defp string(<<c, rest::binary>>, acc), do: string(rest, [c | acc])

  defp escape(?n), do: ?\n
  defp escape(?t), do: ?\t
  defp escape(?r), do: ?\r
  defp escape(?b), do: ?\b
  defp escape(?f), do: ?\f
  defp escape(c), do: c

  defp number(text) do
    [digits | _] = Regex.run(~r/^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/, text)
    rest = binary_part(text, byte_size(digits), byte_size(text) - byte_size(digits))
    value = if digits =~ ~r/[.eE]/, do: float(digits), else: String.to_integer(digits)
    {value, rest}
  end

  # JSON allows "1e+300"; String.to_float/1 wants a fraction.
  defp float(digits) do
    {value, ""} = Float.parse(digits)
    value
  end

  defp skip(<<c, rest::binary>>) when c in ~c" \t\r\n", do: skip(rest)
  defp skip(text), do: text
end
