defmodule Chunker.HexPackage do
  @moduledoc false
  # The package tarball as `mix hex.build` makes it (hex itself is unreachable here): the
  # `package: [files: ...]` of mix.exs expanded as hex expands them (wildcards, directories
  # recursively, regular files only; a listed path that matches nothing stops the build), in
  # hex's tarball format 3 (an outer tar of VERSION, CHECKSUM, metadata.config and
  # contents.tar.gz). `unpack!/2` checks the checksum and extracts the contents, as
  # `mix deps.get` does into deps/.

  @doc "Writes `DIR/chunker-<version>.tar` for the project at `root` and returns its path."
  def build!(root, dir) do
    config = Mix.Project.config()
    files = expand!(config[:package][:files], root)

    contents = Path.join(dir, "contents.tar.gz")

    entries =
      for file <- files, do: {String.to_charlist(file), String.to_charlist(Path.join(root, file))}

    :ok = :erl_tar.create(String.to_charlist(contents), entries, [:compressed])
    contents = File.read!(contents)

    metadata = metadata(config, files)
    version = "3"
    checksum = Base.encode16(:crypto.hash(:sha256, version <> metadata <> contents))

    tar = Path.join(dir, "#{config[:app]}-#{config[:version]}.tar")

    :ok =
      :erl_tar.create(
        String.to_charlist(tar),
        [
          {~c"VERSION", version},
          {~c"CHECKSUM", checksum},
          {~c"metadata.config", metadata},
          {~c"contents.tar.gz", contents}
        ],
        []
      )

    tar
  end

  @doc "The files of the package, relative to `root`, as hex lists them."
  def expand!(paths, root) do
    missing = Enum.filter(paths, &(Path.wildcard(Path.join(root, &1)) == []))
    if missing != [], do: raise("Missing files: #{Enum.join(missing, ", ")}")

    paths
    |> Enum.flat_map(&Path.wildcard(Path.join(root, &1)))
    |> Enum.flat_map(fn path ->
      if File.dir?(path), do: Path.wildcard(Path.join(path, "**")), else: [path]
    end)
    |> Enum.filter(&File.regular?/1)
    |> Enum.uniq()
    |> Enum.map(&Path.relative_to(&1, root))
  end

  defp metadata(config, files) do
    package = config[:package]

    terms = [
      {"name", Atom.to_string(config[:app])},
      {"app", Atom.to_string(config[:app])},
      {"version", config[:version]},
      {"description", config[:description]},
      {"elixir", config[:elixir]},
      {"licenses", package[:licenses]},
      {"links", Map.to_list(package[:links])},
      {"files", files},
      {"build_tools", ["mix"]},
      {"requirements", []}
    ]

    Enum.map_join(terms, fn {key, value} ->
      IO.iodata_to_binary(:io_lib.format(~c"~tp.~n", [{key, to_binaries(value)}]))
    end)
  end

  defp to_binaries(list) when is_list(list), do: Enum.map(list, &to_binaries/1)
  defp to_binaries({a, b}), do: {to_binaries(a), to_binaries(b)}
  defp to_binaries(value), do: value

  @doc "Extracts the package at `tar` into `dir` after checking its checksum; returns `dir`."
  def unpack!(tar, dir) do
    {:ok, outer} = :erl_tar.extract(String.to_charlist(tar), [:memory])
    outer = Map.new(outer, fn {name, data} -> {List.to_string(name), data} end)
    %{"VERSION" => "3", "CHECKSUM" => checksum} = outer

    expected =
      :crypto.hash(
        :sha256,
        outer["VERSION"] <> outer["metadata.config"] <> outer["contents.tar.gz"]
      )

    unless Base.decode16!(checksum) == expected do
      raise "#{tar}: the package checksum does not match its contents"
    end

    File.mkdir_p!(dir)

    :ok =
      :erl_tar.extract({:binary, outer["contents.tar.gz"]}, [
        :compressed,
        cwd: String.to_charlist(dir)
      ])

    dir
  end
end
