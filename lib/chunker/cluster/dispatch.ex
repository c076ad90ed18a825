defmodule Chunker.Cluster.Dispatch do
  @moduledoc false
  # Deals batches of work out to nodes and gives the results back in input order.
  #
  # The input is cut into batches lazily, and a batch is taken from it only while fewer than
  # `window` batches are in flight or done but not yet handed on (the results go out in input
  # order, so a slow batch holds the ones after it): the caller's memory is bounded by that
  # window whatever the input's length. (`Task.async_stream/3` keeps starting tasks while an
  # early one is slow, buffering every later result, hence this.) Each node has at most
  # `max_in_flight` batches, each run by a worker process (one `:erpc.call/5`, or a local call
  # for this node) that reports through its exit reason. A node that fails (down, unreachable,
  # too slow) leaves the run and its batches go back to the queue: each batch's result is
  # taken exactly once, from whichever node finished it.

  alias Chunker.Cluster.Remote
  alias Chunker.{Error, Telemetry}

  @type infos :: %{node() => map()}

  @doc """
  Asks every node for `Chunker.Cluster.Remote.info/0` and refuses the first one that cannot
  take work (unreachable, no chunker, no NIF, another version), naming it. With
  `skip_unreachable`, a node that cannot be reached is left out instead (it went down since
  it was listed).
  """
  @spec check_nodes([node()], timeout(), boolean()) :: {:ok, infos()} | {:error, Error.t()}
  def check_nodes(nodes, timeout, skip_unreachable \\ false)

  def check_nodes([], _timeout, _skip),
    do: {:error, Error.new(:no_nodes, "no nodes to run on (nodes: [])", %{nodes: []})}

  def check_nodes(nodes, timeout, skip_unreachable) do
    local = Remote.info()

    Enum.reduce_while(Enum.uniq(nodes), {:ok, %{}}, fn node, {:ok, infos} ->
      case info(node, timeout) do
        {:ok, %{version: version, nif: true} = info} when version == local.version ->
          {:cont, {:ok, Map.put(infos, node, info)}}

        {:ok, %{version: nil}} ->
          {:halt, refused(node, "chunker is not loaded there")}

        {:ok, %{nif: false}} ->
          {:halt, refused(node, "chunker's NIF is not loaded there")}

        {:ok, %{version: version}} ->
          {:halt, refused(node, "it runs chunker #{version}, and this node #{local.version}")}

        {:error, :noconnection, _why} when skip_unreachable ->
          {:cont, {:ok, infos}}

        {:error, _kind, why} ->
          {:halt, refused(node, why)}
      end
    end)
  end

  defp info(node, _timeout) when node == node(), do: {:ok, Remote.info()}

  defp info(node, timeout) do
    {:ok, :erpc.call(node, Remote, :info, [], timeout)}
  catch
    :error, {:exception, :undef, _} ->
      {:error, :undef, "chunker is not loaded there"}

    :error, {:erpc, :noconnection} ->
      {:error, :noconnection, "it cannot be reached (noconnection)"}

    :error, {:erpc, :timeout} ->
      {:error, :timeout, "it did not answer within #{timeout} ms"}

    :error, {:erpc, reason} ->
      {:error, reason, "it cannot be called (#{inspect(reason)})"}

    kind, reason ->
      {:error, kind, "its check failed: #{inspect({kind, reason})}"}
  end

  defp refused(node, why) do
    {:error, Error.new(:node_refused, "node #{node} refused: #{why}", %{node: node, why: why})}
  end

  @doc """
  The results of `op` over `items`, in input order, as a lazy enumerable. Options:
  `prepare` turns an item into what is sent (raising `ArgumentError` for a bad one), `size`
  says how many bytes it counts for, `batch_bytes` and `batch_items` bound a batch,
  `max_in_flight` bounds each node's batches, `timeout` each batch's call. Raises
  `Chunker.Error` (`:no_nodes_left`) when every node has failed with work left.
  """
  @spec stream(Enumerable.t(), tuple(), infos(), keyword()) :: Enumerable.t()
  def stream(items, op, infos, opts) do
    Stream.resource(fn -> init(items, op, infos, opts) end, &step/1, &finish/1)
  end

  defp init(items, op, infos, opts) do
    slots = Keyword.fetch!(opts, :max_in_flight)
    nodes = infos |> Map.keys() |> Map.new(&{&1, 0})

    %{
      id: make_ref(),
      input: {:cont, &Enumerable.reduce(items, &1, fn item, _ -> {:suspend, item} end)},
      op: op,
      prepare: Keyword.fetch!(opts, :prepare),
      size: Keyword.fetch!(opts, :size),
      batch_items: Keyword.fetch!(opts, :batch_items),
      batch_bytes: Keyword.get(opts, :batch_bytes) || default_batch_bytes(infos),
      timeout: Keyword.fetch!(opts, :timeout),
      slots: slots,
      # Batches in flight per node still in the run.
      nodes: nodes,
      order: Map.keys(nodes),
      # Batches to send again, lowest index first.
      retry: [],
      inflight: %{},
      done: %{},
      next_in: 0,
      next_out: 0,
      window: 2 * slots * map_size(nodes),
      emitted: 0,
      failed: []
    }
  end

  # Batch bytes: 2 MiB per dirty CPU scheduler of the smallest node, between 4 and 64 MiB.
  # Enough that a batch keeps every core of a node busy for many 0.8 ms steps, small enough
  # that a few in flight per node stay a small part of the caller's memory.
  defp default_batch_bytes(infos) do
    schedulers = infos |> Map.values() |> Enum.map(& &1.schedulers) |> Enum.min()
    (2 * schedulers * 1_048_576) |> max(4_194_304) |> min(67_108_864)
  end

  defp step(state) do
    state = fill(state)

    case Map.pop(state.done, state.next_out) do
      {nil, _} ->
        cond do
          state.inflight == %{} and state.retry == [] and state.input == :done ->
            {:halt, state}

          state.inflight == %{} ->
            no_nodes_left(state)

          true ->
            state |> await() |> step()
        end

      {results, done} ->
        emitted = state.emitted + length(results)
        {results, %{state | done: done, next_out: state.next_out + 1, emitted: emitted}}
    end
  end

  # Gives every node with a free slot a batch: one to send again first, else a new one from
  # the input while the window allows. The least busy node first, so work spreads.
  defp fill(state) do
    free =
      state.order
      |> Enum.filter(&(Map.has_key?(state.nodes, &1) and state.nodes[&1] < state.slots))
      |> Enum.min_by(&state.nodes[&1], fn -> nil end)

    if free == nil do
      state
    else
      case next_batch(state) do
        {nil, state} -> state
        {batch, state} -> state |> dispatch(free, batch) |> fill()
      end
    end
  end

  defp next_batch(%{retry: [batch | rest]} = state), do: {batch, %{state | retry: rest}}
  defp next_batch(%{input: :done} = state), do: {nil, state}

  defp next_batch(state) do
    if state.next_in - state.next_out >= state.window do
      {nil, state}
    else
      case take(state, [], 0, 0) do
        {[], state} ->
          {nil, state}

        {items, state} ->
          {{state.next_in, Enum.reverse(items)}, %{state | next_in: state.next_in + 1}}
      end
    end
  end

  defp take(state, acc, count, bytes)
       when count >= state.batch_items or bytes >= state.batch_bytes,
       do: {acc, state}

  defp take(%{input: {:cont, cont}} = state, acc, count, bytes) do
    next =
      try do
        cont.({:cont, nil})
      catch
        # The input itself raised: it has cleaned up after itself, and must not be halted.
        kind, reason -> abort(%{state | input: :done}, kind, reason, __STACKTRACE__)
      end

    case next do
      {:suspended, item, cont} ->
        state = %{state | input: {:cont, cont}}

        item =
          try do
            state.prepare.(item)
          catch
            kind, reason -> abort(state, kind, reason, __STACKTRACE__)
          end

        take(state, [item | acc], count + 1, bytes + state.size.(item))

      {_done_or_halted, _} ->
        {acc, %{state | input: :done}}
    end
  end

  defp take(%{input: :done} = state, acc, _count, _bytes), do: {acc, state}

  defp dispatch(state, node, {index, items} = batch) do
    %{op: op, timeout: timeout} = state
    metadata = %{node: node, operation: elem(op, 0), batch: index, items: length(items)}
    {pid, ref} = spawn_monitor(fn -> exit(run(node, op, items, timeout, metadata)) end)

    # `:erpc.call/5` enforces the timeout of a batch on another node; one on this node is a
    # local call, timed here.
    timer =
      if node == node() and timeout != :infinity,
        do: :erlang.start_timer(timeout, self(), {__MODULE__, ref}),
        else: nil

    %{
      state
      | inflight: Map.put(state.inflight, ref, {pid, node, batch, timer}),
        nodes: Map.update!(state.nodes, node, &(&1 + 1))
    }
  end

  defp run(node, op, items, timeout, metadata) do
    results =
      Telemetry.span(
        [:cluster, :batch],
        metadata,
        fn -> {call(node, op, items, timeout), nil} end,
        fn
          results, _ -> {%{items: length(results)}, %{}}
        end
      )

    {:ok, results}
  catch
    :error, {:erpc, why} -> {:node_failed, why}
    # The process running the batch on the node was killed (an operator, max_heap_size).
    :exit, {:signal, why} -> {:node_failed, {:signal, why}}
    # Raised on the node by the batch itself (a bug, never bad input: items were checked
    # on the caller): raised again in the caller.
    :error, {:exception, reason, stack} -> {:raise, :error, reason, stack}
    kind, reason -> {:raise, kind, reason, __STACKTRACE__}
  end

  defp call(node, op, items, _timeout) when node == node(), do: Remote.run(op, items)
  # The node watches this worker and stops the batch's work when it dies: when the call times
  # out, or the run stops early and kills its workers, the node stops working too.
  defp call(node, op, items, timeout),
    do: :erpc.call(node, Remote, :run, [op, items, self()], timeout)

  defp await(state) do
    inflight = state.inflight

    receive do
      {:timeout, _timer, {__MODULE__, ref}} when is_map_key(inflight, ref) ->
        {pid, _node, _batch, _timer} = inflight[ref]
        Process.exit(pid, {:node_failed, :timeout})
        state

      {:DOWN, ref, :process, _pid, reason} when is_map_key(inflight, ref) ->
        {{_pid, node, {index, _items} = batch, timer}, inflight} = Map.pop(inflight, ref)
        cancel(timer)

        nodes =
          if Map.has_key?(state.nodes, node),
            do: Map.update!(state.nodes, node, &(&1 - 1)),
            else: state.nodes

        state = %{state | inflight: inflight, nodes: nodes}

        case reason do
          {:ok, results} -> %{state | done: Map.put(state.done, index, results)}
          {:node_failed, why} -> state |> drop_node(node, why) |> requeue(batch)
          {:raise, kind, reason, stack} -> abort(state, kind, reason, stack)
          # The worker was killed from outside: that counts as its node failing, so that a
          # batch that keeps being killed cannot go round for ever.
          other -> state |> drop_node(node, {:worker_exit, other}) |> requeue(batch)
        end
    end
  end

  defp drop_node(state, node, why) do
    if Map.has_key?(state.nodes, node),
      do: %{state | nodes: Map.delete(state.nodes, node), failed: [{node, why} | state.failed]},
      else: state
  end

  defp requeue(state, batch), do: %{state | retry: Enum.sort([batch | state.retry])}

  @spec no_nodes_left(map()) :: no_return()
  defp no_nodes_left(state) do
    failed = Enum.reverse(state.failed)
    text = Enum.map_join(failed, ", ", fn {node, why} -> "#{node} (#{inspect(why)})" end)

    error =
      Error.new(
        :no_nodes_left,
        "no node left to run on: #{text} failed; the first #{state.emitted} results were handed on, " <>
          "the rest were not computed",
        %{failed: failed, done_items: state.emitted}
      )

    abort(state, :error, error, [])
  end

  # Raising out of `step/1`: `Stream.resource/3` then calls `finish/1` with the state from
  # before this step, which misses what this step started. So everything is cleaned up here,
  # from the current state, and `finish/1` is told not to do it again.
  @spec abort(map(), :error | :exit | :throw, term(), list()) :: no_return()
  defp abort(state, kind, reason, stack) do
    cleanup(state)
    Process.put({__MODULE__, state.id}, :cleaned)
    :erlang.raise(kind, reason, stack)
  end

  defp cancel(nil), do: :ok

  defp cancel(timer) do
    :erlang.cancel_timer(timer)

    receive do
      {:timeout, ^timer, _} -> :ok
    after
      0 -> :ok
    end
  end

  defp finish(state) do
    case Process.delete({__MODULE__, state.id}) do
      :cleaned -> :ok
      nil -> cleanup(state)
    end
  end

  defp cleanup(state) do
    for {ref, {pid, _node, _batch, timer}} <- state.inflight do
      Process.exit(pid, :kill)
      Process.demonitor(ref, [:flush])
      cancel(timer)
    end

    with {:cont, cont} <- state.input, do: cont.({:halt, nil})
    :ok
  end
end
