defmodule Chunker.Batch do
  @moduledoc false
  # Runs the batch functions (chunk_many, hash_many, compress_many, decompress_many) over the
  # NIFs' batch contract (native/chunker_nif/src/lists.rs), deciding nothing about how long
  # anything takes:
  #
  #   * list/4: a list NIF takes items from the front of the list and replies
  #     {:done, results}, {:cont, results, rest} (call the dirty twin with rest) or
  #     {:large, results, large, rest} (a run of items each too large for one call, for the
  #     caller's resumable path);
  #   * each/3: items that each have a resource (hasher, encoder, decoder) are stepped
  #     together, one per pool thread and call, each as far as the call's deadline allows.

  alias Chunker.{Error, Native}

  @doc false
  @spec list(
          [binary()],
          ([binary()] -> tuple()),
          ([binary()] -> tuple()),
          ([binary()] -> {:ok, list()} | {:error, Error.t()})
        ) :: {:ok, list()} | {:error, Error.t()}
  def list(binaries, normal, dirty, large), do: list_loop(normal.(binaries), dirty, large, [])

  defp list_loop({:done, results}, _dirty, _large, acc),
    do: {:ok, [results | acc] |> Enum.reverse() |> Enum.concat()}

  defp list_loop({:cont, results, rest}, dirty, large, acc),
    do: list_loop(dirty.(rest), dirty, large, [results | acc])

  defp list_loop({:large, results, big, rest}, dirty, large, acc) do
    case large.(big) do
      {:ok, big_results} -> list_loop(dirty.(rest), dirty, large, [big_results, results | acc])
      {:error, _} = error -> error
    end
  end

  defp list_loop({:error, native}, _dirty, _large, _acc), do: {:error, Error.from_native(native)}

  @doc false
  # `open` makes an item's resource ({:ok, resource} or {:error, error}); `step` is the NIF
  # that steps a list of {resource, binary, from} entries and replies per entry with
  # {:done, output}, {:cont, next_from} or a native error. Results in input order.
  @spec each([binary()], (binary() -> {:ok, term()} | {:error, Error.t()}), ([tuple()] -> list())) ::
          [{:ok, term()} | {:error, Error.t()}]
  def each(binaries, open, step) do
    queue = Enum.with_index(binaries)
    width = Native.thread_count()

    each_loop(queue, [], %{}, {open, step, width})
    |> Enum.sort_by(&elem(&1, 0))
    |> Enum.map(&elem(&1, 1))
  end

  # Entries in progress are {index, binary, resource, from}, oldest first.
  defp each_loop([], [], results, _config), do: Map.to_list(results)

  defp each_loop(queue, active, results, {open, step, width} = config) do
    {active, queue, results} = fill(active, queue, results, open, width)

    if active == [] do
      each_loop(queue, active, results, config)
    else
      replies =
        step.(Enum.map(active, fn {_, binary, resource, from} -> {resource, binary, from} end))

      {active, results} =
        active
        |> Enum.zip(replies)
        |> Enum.reduce({[], results}, fn {{index, binary, resource, _}, reply}, {left, done} ->
          case reply do
            {:done, output} -> {left, Map.put(done, index, {:ok, output})}
            {:cont, from} -> {[{index, binary, resource, from} | left], done}
            {:error, native} -> {left, Map.put(done, index, {:error, Error.from_native(native)})}
          end
        end)

      each_loop(queue, Enum.reverse(active), results, config)
    end
  end

  defp fill(active, queue, results, _open, width) when length(active) >= width or queue == [],
    do: {active, queue, results}

  defp fill(active, [{binary, index} | queue], results, open, width) do
    case open.(binary) do
      {:ok, resource} ->
        fill(active ++ [{index, binary, resource, 0}], queue, results, open, width)

      {:error, error} ->
        fill(active, queue, Map.put(results, index, {:error, error}), open, width)
    end
  end
end
