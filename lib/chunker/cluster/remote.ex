defmodule Chunker.Cluster.Remote do
  @moduledoc false
  # What `Chunker.Cluster` runs on each node (through `:erpc`, or directly on the caller's
  # node): a description of the node, and one batch of work. Everything here calls the local
  # batch functions, so a batch on another node gives exactly what it gives here.

  @doc """
  What the caller checks before it sends a node work: chunker's version, whether its NIF
  loaded, and the node's dirty CPU schedulers (how much it can take at once).
  """
  @spec info() :: %{version: String.t() | nil, nif: boolean(), schedulers: pos_integer()}
  def info do
    _ = Application.load(:chunker)

    %{
      version: with(vsn when vsn != nil <- Application.spec(:chunker, :vsn), do: to_string(vsn)),
      nif: nif_loaded?(),
      schedulers: :erlang.system_info(:dirty_cpu_schedulers_online)
    }
  end

  defp nif_loaded? do
    is_binary(Chunker.Hash.blake3(""))
  rescue
    _ -> false
  end

  @doc """
  Runs one batch: `{:hash, algorithm}` on binaries gives their digests, `{:compress, format,
  opts}` on binaries one `{:ok, binary}` or `{:error, error}` each, `{:chunk_files, opts}` on
  paths one `{:ok, chunks}` or `{:error, error}` each (the node reads the files itself).
  """
  @spec run(tuple(), list()) :: list()
  def run({:hash, algorithm}, binaries), do: Chunker.Hash.hash_many(binaries, algorithm)

  def run({:compress, format, opts}, binaries) do
    # The options were validated on the caller, so only a fault of the node itself can make
    # the whole batch fail here.
    {:ok, results} = Chunker.Compression.compress_many(binaries, format, opts)
    results
  end

  def run({:chunk_files, opts}, paths), do: Enum.map(paths, &Chunker.chunk_file(&1, opts))

  @doc """
  `run/2` on behalf of `owner`, the caller's worker process: a watcher on this node stops the
  work when `owner` dies first (the call timed out, the caller stopped early, the connection
  dropped). Not a link: `:erpc` ends the process it runs this in with the result as exit
  reason, which a link would turn into a signal to `owner`.
  """
  @spec run(tuple(), list(), pid()) :: list()
  def run(op, items, owner) do
    runner = self()

    spawn(fn ->
      owner_ref = Process.monitor(owner)
      runner_ref = Process.monitor(runner)

      receive do
        {:DOWN, ^runner_ref, :process, _, _} -> :ok
        {:DOWN, ^owner_ref, :process, _, _} -> Process.exit(runner, :kill)
      end
    end)

    run(op, items)
  end
end
