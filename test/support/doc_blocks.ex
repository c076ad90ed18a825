defmodule Chunker.DocBlocks do
  @moduledoc false
  # The fenced code blocks of the README and the guides, and how test/docs_test.exs runs each
  # kind. A block's language says how it runs:
  #
  #   elixir  evaluated in the test VM (chunker loaded, :telemetry too), each block on its own
  #   erlang  evaluated by `erl -noshell -eval`, with Elixir's ebin and the project's on the path
  #   sh      run by `bash -euo pipefail -c` in the project root, MIX_ENV=test
  #   rust    a doctest of chunker_core (its lib.rs includes README.md for that)
  #   text    not code: output, layouts; never run
  #
  # A block names the inputs it needs with placeholders, replaced by fixtures before it runs
  # (see `placeholders/1`); everything else it uses it must define itself, as a reader pasting
  # it would have to.

  @languages ~w(elixir erlang sh rust text)

  @doc "The languages a block may have; anything else (or none) fails the docs test."
  def languages, do: @languages

  @doc """
  The fenced blocks of the markdown file at `path`: `%{file:, line:, lang:, code:}`, `line`
  the first line of code. Fences may be indented (inside a list item); the indentation is
  removed from the code.
  """
  def blocks(path) do
    path
    |> File.read!()
    |> String.split("\n")
    |> Enum.with_index(1)
    |> collect(path, nil, [])
  end

  defp collect([], _path, nil, acc), do: Enum.reverse(acc)

  defp collect([], path, open, _acc),
    do: raise("#{path}:#{open.line - 1}: code block never closed")

  defp collect([{line, number} | rest], path, nil, acc) do
    case Regex.run(~r/^(\s*)```\s*([\w-]*)\s*$/, line) do
      [_, indent, lang] ->
        open = %{file: path, line: number + 1, lang: lang, indent: indent, lines: []}
        collect(rest, path, open, acc)

      nil ->
        collect(rest, path, nil, acc)
    end
  end

  defp collect([{line, _number} | rest], path, open, acc) do
    if String.trim(line) == "```" do
      code = open.lines |> Enum.reverse() |> Enum.join("\n")
      block = %{file: path, line: open.line, lang: open.lang, code: code}
      collect(rest, path, nil, [block | acc])
    else
      collect(rest, path, %{open | lines: [unindent(line, open.indent) | open.lines]}, acc)
    end
  end

  defp unindent(line, ""), do: line

  defp unindent(line, indent) do
    if String.starts_with?(line, indent),
      do: binary_part(line, byte_size(indent), byte_size(line) - byte_size(indent)),
      else: String.trim_leading(line)
  end

  @doc """
  The placeholders a block may name, and what replaces them:

    * `path/to/file` - a file of 4 MiB (text and random bytes)
    * `path/to/dir` - a directory tree: files, a subdirectory, an executable, a symlink
    * `path/to/output` - a path that does not exist yet, in a directory that does (one per block)
    * `/nix/store/...-hello` - a real store path (`nix-store --add` of a copy of the tree)
    * `_build/dev/` - the test build's `_build/test/` (sh and erlang blocks)
  """
  def placeholders(fixtures) do
    [
      {"path/to/file", fixtures.file},
      {"path/to/dir", fixtures.dir},
      {"path/to/output", fixtures.output},
      {"/nix/store/...-hello", fixtures.store_path},
      {"_build/dev/", fixtures.build_dir <> "/"}
    ]
  end

  @doc "`code` with every placeholder replaced."
  def substitute(code, fixtures) do
    Enum.reduce(placeholders(fixtures), code, fn {from, to}, code ->
      String.replace(code, from, to)
    end)
  end
end
