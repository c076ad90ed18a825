defmodule Chunker.Analyze.Walk do
  @moduledoc false
  # The files under some paths, as `find PATH... -type f` sees them: directories are walked
  # in sorted order without following symlinks (a symlink is reported as one, so no cycle can
  # occur), and other non-regular files (devices, FIFOs, sockets) are reported as skipped.
  # A PATH given by the caller that is itself a symlink is followed, as `find -H` does.
  #
  # Lazy: it holds one sorted listing per directory level being walked, never the whole tree.

  @type entry ::
          {:file, Path.t(), non_neg_integer()}
          | {:symlink, Path.t()}
          | {:skipped, Path.t(), String.t()}
          | {:error, Path.t(), File.posix()}

  @doc "The entries under `paths`, in order: a lazy enumerable of `t:entry/0`."
  @spec entries([Path.t()]) :: Enumerable.t()
  def entries(paths) do
    Stream.resource(
      fn -> Enum.map(paths, &{:top, &1}) end,
      &next/1,
      fn _ -> :ok end
    )
  end

  @doc "The sum of the regular files' sizes under `paths` (a first pass, for progress)."
  @spec total_bytes([Path.t()]) :: non_neg_integer()
  def total_bytes(paths) do
    paths
    |> entries()
    |> Enum.reduce(0, fn
      {:file, _path, size}, acc -> acc + size
      _other, acc -> acc
    end)
  end

  defp next([]), do: {:halt, []}

  defp next([{:top, path} | rest]), do: visit(path, File.stat(path), rest)
  defp next([{:dir, _dir, []} | rest]), do: next(rest)

  defp next([{:dir, dir, [name | names]} | rest]) do
    path = Path.join(dir, name)
    visit(path, File.lstat(path), [{:dir, dir, names} | rest])
  end

  defp visit(path, {:ok, %File.Stat{type: type, size: size}}, stack) do
    case type do
      :regular ->
        {[{:file, path, size}], stack}

      :directory ->
        case File.ls(path) do
          {:ok, names} -> {[], [{:dir, path, Enum.sort(names)} | stack]}
          {:error, reason} -> {[{:error, path, reason}], stack}
        end

      :symlink ->
        {[{:symlink, path}], stack}

      :device ->
        {[{:skipped, path, "a device, not a regular file"}], stack}

      _other ->
        {[{:skipped, path, "not a regular file (a FIFO or a socket)"}], stack}
    end
  end

  defp visit(path, {:error, reason}, stack), do: {[{:error, path, reason}], stack}
end
