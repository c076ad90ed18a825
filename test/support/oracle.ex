defmodule Chunker.Oracle do
  @moduledoc false
  # Independent oracles: the fastcdc crate (through native/chunker_core/examples/fastcdc_oracle,
  # which calls the crate, not our code) for boundaries, and the b3sum CLI for BLAKE3.

  @native Path.expand("../../native", __DIR__)

  @doc "Builds the oracle binary unless it is up to date (cargo decides)."
  def build! do
    :persistent_term.put(
      {__MODULE__, :binary},
      Chunker.Build.Cargo.example!(@native, "fastcdc_oracle")
    )

    :ok
  end

  defp binary, do: :persistent_term.get({__MODULE__, :binary})

  @doc """
  The fastcdc crate's `{offset, length}` list for the file at `path`, with v2020 at level 1,
  or the variant that `opts` name (`algorithm:`, `normalization:`, `seed:`, as options).
  """
  def boundaries(path, {min, avg, max}, opts \\ []) do
    variant = [
      Atom.to_string(Keyword.get(opts, :algorithm, :v2020)),
      Integer.to_string(Keyword.get(opts, :normalization) || 1),
      Integer.to_string(Keyword.get(opts, :seed) || 0)
    ]

    args = [path | Enum.map([min, avg, max], &Integer.to_string/1)] ++ variant
    {output, 0} = System.cmd(binary(), args)

    for line <- String.split(output, "\n", trim: true) do
      [offset, length] = String.split(line, " ")
      {String.to_integer(offset), String.to_integer(length)}
    end
  end

  @doc "b3sum's digest of each binary in `pieces`, in order (one b3sum run for all)."
  def b3sum(pieces, dir) do
    paths =
      pieces
      |> Enum.with_index()
      |> Enum.map(fn {piece, i} ->
        path = Path.join(dir, "piece-#{i}")
        File.write!(path, piece)
        path
      end)

    {output, 0} = System.cmd("b3sum", ["--no-names" | paths])
    Enum.each(paths, &File.rm!/1)
    output |> String.split("\n", trim: true) |> Enum.map(&Base.decode16!(&1, case: :lower))
  end
end
