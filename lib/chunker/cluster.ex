defmodule Chunker.Cluster do
  @moduledoc """
  The batch functions spread over connected BEAM nodes, with OTP's own distribution
  (`:erpc`): hashing, compressing and chunking files on every node that runs chunker, with
  results in input order and the shapes of the local functions.

      iex> Chunker.Cluster.hash_many(["a", "b"], :blake3, nodes: [node()]) ==
      ...>   Chunker.Hash.hash_many(["a", "b"], :blake3)
      true

  ## Nodes

  `nodes:` names the nodes to use (default: this node and `Node.list/0`; a node that is not
  distributed has only itself). Before any work is sent, each node is asked what it runs:
  one that cannot be reached, does not have chunker loaded (its code path), has no NIF, or
  runs another version of chunker refuses the whole call with `%Chunker.Error{reason:
  :node_refused}` naming it, so that a misconfigured node is found at once rather than by a
  wrong result. With the default list, a node that cannot be reached is left out instead:
  it went down since `Node.list/0` listed it. Every node must run the same version: deploy the same release (or the same
  precompiled NIF) everywhere.

  ## Batches

  The input is cut into batches (`batch_bytes:`, default 2 MiB per dirty CPU scheduler of
  the smallest node, 4 to 64 MiB; `batch_items:`, default 1,000, or 8 files for
  `chunk_files/2`), and each node has at most `max_in_flight:` batches (default 2, each its
  own call, so that a node always has the next batch while one finishes) at a time. A batch
  is sent to one node only, and each node runs it with the local batch function, on all its
  cores. Results go out in input order, so a slow batch holds those after it: the caller
  holds at most 2 x `max_in_flight` x nodes batches (in flight, or done and waiting), of
  input or of results, whatever the input's length. `stream/3` does not need the input in
  memory at all.

  Moving bytes costs: distribution is a TCP link, and a binary sent to a node is copied over
  it. Hashing a binary on another node costs more in transfer than the hash itself on most
  networks; compressing at high levels or chunking files the nodes can read themselves
  (`chunk_files/2`, for shared or replicated storage) is where other nodes pay.

  ## Faults

  A node that goes down, cannot be reached or does not finish a batch within `timeout:`
  (default 60 s per batch, transfer included; the caller's own node too, for a hung file
  system) leaves the run, its work on that batch is stopped, and its batches run again on the nodes that are
  left: every result is computed, handed on once, and in order. When no node is left with
  work remaining, the call returns (or the stream raises) `%Chunker.Error{reason:
  :no_nodes_left}`, whose message and details (`failed:`, `done_items:`) say which nodes failed
  and how many results were handed on before.

  ## Telemetry

  Each batch is a span `[:chunker, :cluster, :batch, :start | :stop | :exception]`, with
  `node`, `operation` (`:hash`, `:compress`, `:chunk_files`), `batch` (its index) and `items`
  in metadata, measured in the process that dispatches it. The work on the node emits that
  node's own events.
  """

  alias Chunker.Cluster.Dispatch
  alias Chunker.{Compression, Error, Input}

  @cluster_keys [:nodes, :timeout, :max_in_flight, :batch_bytes, :batch_items]

  @typedoc "Options of every function here; the others go to the local function."
  @type cluster_option ::
          {:nodes, [node()]}
          | {:timeout, timeout()}
          | {:max_in_flight, pos_integer()}
          | {:batch_bytes, pos_integer()}
          | {:batch_items, pos_integer()}

  @typedoc "What `stream/3` does to each item."
  @type operation ::
          {:hash, Chunker.Hash.algorithm()}
          | {:compress, Compression.format()}
          | {:compress, Compression.format(), keyword()}
          | {:chunk_files, keyword()}

  @doc """
  `Chunker.Hash.hash_many/2` over the nodes: the digests of `items` (iodata), in order.
  Raises `Chunker.Error` when a node is refused or none is left, `ArgumentError` for an item
  that is not iodata (before anything is sent).
  """
  @spec hash_many([iodata()], Chunker.Hash.algorithm(), [cluster_option()]) :: [<<_::256>>]
  def hash_many(items, algorithm, opts \\ [])

  def hash_many(items, algorithm, opts) when is_list(items) do
    items |> stream({:hash, algorithm}, opts) |> Enum.to_list()
  end

  def hash_many(items, _algorithm, _opts), do: not_a_list!(items)

  @doc """
  `Chunker.Compression.compress_many/3` over the nodes: one `{:ok, binary}` or `{:error,
  error}` per item, in order. Compression options (`level:`) are checked here first;
  `dictionary:` is refused (a loaded dictionary belongs to its node).
  """
  @spec compress_many([iodata()], Compression.format(), keyword()) ::
          {:ok, [{:ok, binary()} | {:error, Error.t()}]} | {:error, Error.t()}
  def compress_many(items, format, opts \\ [])

  def compress_many(items, format, opts) when is_list(items) do
    {cluster, local} = Keyword.split(opts, @cluster_keys)
    collect(fn -> stream(items, {:compress, format, local}, cluster) end)
  end

  def compress_many(items, _format, _opts), do: not_a_list!(items)

  @doc """
  `Chunker.chunk_file/2` of each path, on the nodes, each node reading the files itself (the
  paths must name the same files everywhere: shared or replicated storage): one `{:ok,
  chunks}` or `{:error, error}` per path, in order. Chunks come without their bytes unless
  `data: true` is given, since sending the bytes back is what this avoids; the other chunking
  options are `Chunker.Options`'.
  """
  @spec chunk_files([Path.t()], keyword()) ::
          {:ok, [{:ok, [Chunker.Chunk.t()]} | {:error, Error.t()}]} | {:error, Error.t()}
  def chunk_files(paths, opts \\ [])

  def chunk_files(paths, opts) when is_list(paths) do
    {cluster, local} = Keyword.split(opts, @cluster_keys)
    collect(fn -> stream(paths, {:chunk_files, local}, cluster) end)
  end

  def chunk_files(paths, _opts), do: not_a_list!(paths)

  @doc """
  The lazy form: each item's result, in input order, for an enumerable that need not fit in
  memory. `operation` is `{:hash, algorithm}` (digests), `{:compress, format}` or
  `{:compress, format, opts}` (`{:ok, binary}` or `{:error, error}` each) or `{:chunk_files,
  opts}` (the items are paths). Nodes and options are checked when this is called, raising
  `Chunker.Error`; a run that loses every node raises `Chunker.Error` when enumerated.

      iex> ["one", "two"]
      ...> |> Chunker.Cluster.stream({:compress, :zstd}, nodes: [node()])
      ...> |> Enum.map(fn {:ok, frame} -> Chunker.Compression.decompress!(frame) end)
      ["one", "two"]
  """
  @spec stream(Enumerable.t(), operation(), [cluster_option()]) :: Enumerable.t()
  def stream(items, operation, opts \\ []) do
    {op, prepare, size, batch_items} = operation!(operation)
    check_options!(opts)
    timeout = Keyword.get(opts, :timeout, 60_000)

    # The check is small: a node that cannot answer it in 10 s is not one to send work to.
    infos =
      case Keyword.fetch(opts, :nodes) do
        {:ok, nodes} -> Dispatch.check_nodes(nodes, 10_000)
        :error -> Dispatch.check_nodes([node() | Node.list()], 10_000, true)
      end
      |> ok!()

    Dispatch.stream(items, op, infos,
      prepare: prepare,
      size: size,
      batch_items: Keyword.get(opts, :batch_items, batch_items),
      batch_bytes: Keyword.get(opts, :batch_bytes),
      max_in_flight: Keyword.get(opts, :max_in_flight, 2),
      timeout: timeout
    )
  end

  defp check_options!(opts) do
    for {key, value} <- opts do
      valid =
        case key do
          :nodes ->
            is_list(value) and Enum.all?(value, &is_atom/1)

          :timeout ->
            value == :infinity or (is_integer(value) and value >= 0)

          key when key in [:max_in_flight, :batch_bytes, :batch_items] ->
            is_integer(value) and value > 0

          _other ->
            false
        end

      if not valid do
        raise ArgumentError,
              "invalid Chunker.Cluster option #{inspect({key, value})}: nodes: a list of node names, " <>
                "timeout: milliseconds or :infinity, max_in_flight, batch_bytes, batch_items: positive integers"
      end
    end
  end

  defp not_a_list!(items), do: raise(ArgumentError, "expected a list, got: #{inspect(items)}")

  defp operation!({:hash, algorithm} = op) do
    # The local function's own check: an unknown algorithm raises as it does there.
    _ = Chunker.Hash.hash_many([], algorithm)
    {op, &binary!/1, &byte_size/1, 1_000}
  end

  defp operation!({:compress, format}), do: operation!({:compress, format, []})

  defp operation!({:compress, format, opts}) do
    [] = ok!(Compression.compress_many([], format, opts))

    # A loaded dictionary is a resource of this VM: another node could not use it.
    if opts[:dictionary] do
      raise Error.new(
              :invalid_options,
              "dictionary: is not supported across nodes (a Chunker.Compression.Dictionary " <>
                "belongs to the node that loaded it); call Compression.compress_many/3 on each " <>
                "node with a dictionary loaded there",
              %{option: :dictionary}
            )
    end

    {{:compress, format, opts}, &binary!/1, &byte_size/1, 1_000}
  end

  defp operation!({:chunk_files, opts}) do
    opts = Keyword.put_new(opts, :data, false)
    ok!(Chunker.Options.validate(opts))
    {{:chunk_files, opts}, &Input.path!(&1, "Chunker.Cluster.chunk_files/2"), fn _ -> 1 end, 8}
  end

  defp operation!(other) do
    raise ArgumentError,
          "expected {:hash, algorithm}, {:compress, format}, {:compress, format, opts} or " <>
            "{:chunk_files, opts}, got: #{inspect(other)}"
  end

  # Items are made binaries here, so that a bad one raises in the caller before anything is
  # sent, and a list of small pieces crosses the wire as one binary.
  defp binary!(item) when is_binary(item), do: item
  defp binary!(item), do: Input.to_binary!(item)

  defp ok!({:ok, value}), do: value
  defp ok!({:error, error}), do: raise(error)

  defp collect(fun) do
    {:ok, Enum.to_list(fun.())}
  rescue
    error in Error -> {:error, error}
  end
end
