defmodule Chunker.CLI do
  @moduledoc false
  # The reference command-line tools, used as oracles: what we write they must read, and
  # what they write we must read.

  @compress %{
    zstd: ["zstd", "-q", "-c"],
    lz4: ["lz4", "-q", "-c"],
    xz: ["xz", "-q", "-c", "-T1"],
    bzip2: ["bzip2", "-q", "-c"]
  }

  @doc "Compresses `data` with the tool for `format` (extra flags appended), via files in `dir`."
  def compress(format, data, dir, flags \\ []) do
    input = write(dir, "plain", data)
    [tool | args] = Map.fetch!(@compress, format)
    run!(tool, args ++ flags ++ [input])
  end

  @doc "Decompresses `packed` with the tool for `format`; `{:ok, data}` or `{:error, status}`."
  def decompress(format, packed, dir) do
    input = write(dir, "packed", packed)
    [tool | args] = Map.fetch!(@compress, format)

    case System.cmd(tool, args ++ ["-d", input], stderr_to_stdout: false) do
      {out, 0} -> {:ok, out}
      {_, status} -> {:error, status}
    end
  end

  @doc "The file `name` under `dir` holding `data`."
  def write(dir, name, data) do
    path = Path.join(dir, "#{name}-#{System.unique_integer([:positive])}")
    File.write!(path, data)
    path
  end

  @doc """
  `bytes` of zeros compressed by the tool, made once under tmp/bombs. With `sized: true`
  the tool reads a (sparse) file, so zstd and lz4 write the content size in the header.
  """
  def bomb(format, bytes, sized \\ false) do
    name = "zeros-#{bytes}#{if sized, do: "-sized", else: ""}.#{format}"
    path = Path.expand("../../tmp/bombs/#{name}", __DIR__)

    unless File.exists?(path) do
      File.mkdir_p!(Path.dirname(path))
      [tool | args] = Map.fetch!(@compress, format)
      flags = Enum.join(args ++ bomb_flags(format, sized), " ")

      command =
        if sized,
          do:
            "truncate -s #{bytes} #{path}.zeros && #{tool} #{flags} #{path}.zeros > #{path}.partial; rm -f #{path}.zeros",
          else: "head -c #{bytes} /dev/zero | #{tool} #{flags} > #{path}.partial"

      {_, 0} = System.cmd("sh", ["-c", command])
      File.rename!(path <> ".partial", path)
    end

    path
  end

  defp bomb_flags(format, _sized) when format in [:xz, :bzip2], do: ["-1"]
  defp bomb_flags(:lz4, true), do: ["--content-size"]
  defp bomb_flags(_format, _sized), do: []

  defp run!(tool, args) do
    case System.cmd(tool, args) do
      {out, 0} -> out
      {out, status} -> raise "#{tool} #{Enum.join(args, " ")} failed (#{status}): #{out}"
    end
  end
end
