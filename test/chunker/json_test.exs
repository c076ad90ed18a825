defmodule Chunker.JSONTest do
  # What Chunker.JSON writes, read back by a real JSON parser (python3's json module): it must
  # accept every document and give back the same values.
  use ExUnit.Case, async: true

  import Bitwise
  alias Chunker.JSON

  doctest Chunker.JSON

  @python """
  import json, sys
  for line in sys.stdin:
      print(json.dumps(json.loads(line), sort_keys=True))
  """

  # python3 parses each line we wrote and prints it again; Chunker.TestJSON reads that back.
  defp through_python(terms) do
    input = Enum.map_join(terms, "", &(JSON.encode!(&1) <> "\n"))
    path = Path.join(System.tmp_dir!(), "chunker-json-#{System.unique_integer([:positive])}")
    File.write!(path, input)

    try do
      {out, 0} = System.cmd("sh", ["-c", "python3 -c \"$0\" < \"$1\"", @python, path])
      out |> String.split("\n", trim: true) |> Enum.map(&Chunker.TestJSON.decode!/1)
    after
      File.rm(path)
    end
  end

  # What the value is once it has been JSON: atom keys and atoms are strings.
  defp plain(map) when is_map(map), do: Map.new(map, fn {k, v} -> {to_string(k), plain(v)} end)
  defp plain(list) when is_list(list), do: Enum.map(list, &plain/1)
  defp plain(atom) when is_atom(atom) and atom not in [nil, true, false], do: Atom.to_string(atom)
  defp plain(other), do: other

  test "a real parser reads back every kind of value exactly" do
    terms = [
      %{
        total_bytes: 4_200_993_845,
        huge: 123_456_789_012_345_678_901_234_567_890,
        negative: -17,
        ratio: 1.1443747529096246,
        tiny: 5.0e-324,
        large: 1.0e300,
        minus_zero: -0.0,
        whole: 2.0,
        null: nil,
        yes: true,
        no: false,
        atom: :blake3,
        list: [1, [2, [3, []]], %{}],
        "string key": "value"
      },
      ["quote \" backslash \\ slash /", "tab\tnewline\nreturn\rbell\a nul\0 \x1F"],
      ["naïve ünïcödé", "日本語", "emoji 😀", "\u2028\u2029", "\u007F"],
      []
    ]

    assert through_python(terms) == Enum.map(terms, &plain/1)
  end

  test "random documents survive the round trip" do
    :rand.seed(:exsss, {1, 2, 3})
    terms = for _ <- 1..200, do: random_term(4)
    assert through_python(terms) == Enum.map(terms, &plain/1)
  end

  defp random_term(0), do: random_scalar()

  defp random_term(depth) do
    case :rand.uniform(4) do
      1 -> for _ <- 1..:rand.uniform(4), do: random_term(depth - 1)
      2 -> Map.new(1..:rand.uniform(4), fn _ -> {random_string(), random_term(depth - 1)} end)
      _ -> random_scalar()
    end
  end

  defp random_scalar do
    case :rand.uniform(6) do
      1 -> :rand.uniform(1 <<< 70) - (1 <<< 69)
      2 -> (:rand.uniform() - 0.5) * :math.pow(10, :rand.uniform(600) - 300)
      3 -> Enum.random([nil, true, false])
      _ -> random_string()
    end
  end

  defp random_string do
    for _ <- 1..:rand.uniform(12), into: "" do
      <<Enum.random([:rand.uniform(0x7F) - 1, 0xE9, 0x2028, 0x1F600, ?", ?\\])::utf8>>
    end
  end

  test "refuses what JSON cannot hold, naming it" do
    assert_raise ArgumentError, ~r/cannot encode \{:a, 1\}/, fn -> JSON.encode!(%{x: {:a, 1}}) end
    assert_raise ArgumentError, ~r/not valid UTF-8/, fn -> JSON.encode!(<<0xFF>>) end
    assert_raise ArgumentError, ~r/keys must be strings/, fn -> JSON.encode!(%{1 => 2}) end
    assert_raise ArgumentError, ~r/cannot encode/, fn -> JSON.encode!(self()) end
  end
end
