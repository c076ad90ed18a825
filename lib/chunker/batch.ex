defmodule Chunker.Batch do
  @moduledoc false
  # Runs compress_many / decompress_many, and hash_many when some items are large: every item
  # gets its own encoder (decoder, hasher), and each dirty NIF call advances several of them
  # by one slice each, in parallel on rayon's pool. A call thus does about one slice of work
  # per pool thread (~0.8 ms), however large the items, and all cores stay busy: small items
  # are packed many to a call, large ones take turns.

  alias Chunker.{Error, Native}

  # `open` makes an item's codec and says how large its slices are (bytes of input for an
  # encoder, of output for a decoder): {:ok, codec, slice} or {:error, error}.
  @spec run(
          [binary()],
          (binary() -> {:ok, term(), pos_integer()} | {:error, Error.t()}),
          :encode | :decode | :hash
        ) :: [{:ok, binary()} | {:error, Error.t()}]
  def run(binaries, open, kind) do
    queue = binaries |> Enum.with_index() |> Enum.map(fn {binary, index} -> {index, binary} end)

    loop(queue, [], %{}, {kind, open, Native.thread_count()})
    |> Enum.sort_by(&elem(&1, 0))
    |> Enum.map(&elem(&1, 1))
  end

  # Works through `binaries` in order: runs of items of at most `max_item` bytes go to
  # `round`, a dirty NIF that takes one round from the front of the list it is given and
  # returns {:done, results}, {:cont, results, rest} or {:error, reason}; runs of larger items
  # go to `large` ([binary] -> {:ok, results} | {:error, error}). Results in input order.
  @spec rounds([binary()], pos_integer(), ([binary()] -> tuple()), ([binary()] -> tuple())) ::
          {:ok, list()} | {:error, term()}
  def rounds(binaries, max_item, round, large), do: rounds(binaries, max_item, round, large, [])

  defp rounds([], _max_item, _round, _large, acc),
    do: {:ok, acc |> Enum.reverse() |> Enum.concat()}

  defp rounds([first | _] = binaries, max_item, round, large, acc)
       when byte_size(first) > max_item do
    {big, rest} = Enum.split_while(binaries, &(byte_size(&1) > max_item))

    case large.(big) do
      {:ok, results} -> rounds(rest, max_item, round, large, [results | acc])
      error -> error
    end
  end

  defp rounds(binaries, max_item, round, large, acc) do
    case round.(binaries) do
      {:done, results} -> rounds([], max_item, round, large, [results | acc])
      {:cont, results, rest} -> rounds(rest, max_item, round, large, [results | acc])
      {:error, _} = error -> error
    end
  end

  # Items in progress are {index, binary, codec, slice, from}, in turn order.
  defp loop([], [], results, _config), do: Map.to_list(results)

  defp loop(queue, active, results, {kind, _, _} = config) do
    {entries, waiting, queue, results} = pick(active, queue, results, config)

    if entries == [] do
      loop(queue, waiting, results, config)
    else
      replies = step(kind, Enum.map(entries, &native_entry(&1, kind)))

      {stepped, results} =
        entries
        |> Enum.zip(replies)
        |> Enum.reduce({[], results}, fn {entry, reply}, acc -> advance(entry, reply, acc) end)

      # Items that waited go first next round.
      loop(queue, waiting ++ Enum.reverse(stepped), results, config)
    end
  end

  # Chooses this round's entries: started items first, then new ones, until the round holds
  # about one slice of work per core (always at least one entry). Returns the entries, the
  # started items left waiting, the queue left, and the results so far.
  defp pick(active, queue, results, config, work \\ 0.0, acc \\ [])

  defp pick(active, queue, results, {_, _, cores}, work, [_ | _] = acc) when work >= cores,
    do: {Enum.reverse(acc), active, queue, results}

  defp pick([item | rest], queue, results, {kind, _, _} = config, work, acc),
    do: pick(rest, queue, results, config, work + cost(item, kind), [item | acc])

  defp pick([], [{index, binary} | rest], results, {kind, open, _} = config, work, acc) do
    case open.(binary) do
      {:ok, codec, slice} ->
        item = {index, binary, codec, slice, 0}
        pick([], rest, results, config, work + cost(item, kind), [item | acc])

      {:error, error} ->
        pick([], rest, Map.put(results, index, {:error, error}), config, work, acc)
    end
  end

  defp pick([], [], results, _config, _work, acc), do: {Enum.reverse(acc), [], [], results}

  # An entry's work, in slices: what it has left, up to one slice. Decoding cost follows
  # output, unknown in advance: a compressed byte is assumed to yield at least four.
  defp cost({_index, binary, _codec, slice, from}, kind) when kind in [:encode, :hash],
    do: min((byte_size(binary) - from) / slice, 1.0)

  defp cost({_index, binary, _codec, slice, from}, :decode),
    do: min((byte_size(binary) - from) * 4 / slice, 1.0)

  defp native_entry({_index, binary, codec, slice, from}, kind) when kind in [:encode, :hash] do
    len = min(slice, byte_size(binary) - from)
    {codec, binary, from, len, from + len == byte_size(binary)}
  end

  defp native_entry({_index, binary, codec, slice, from}, :decode) do
    {codec, binary, from, byte_size(binary) - from, slice}
  end

  defp step(:encode, entries), do: Native.encoders_step(entries)
  defp step(:decode, entries), do: Native.decoders_step(entries)
  defp step(:hash, entries), do: Native.hashers_step(entries)

  defp advance({index, _, _, _, _}, {:ok, output}, {active, results}) when is_binary(output),
    do: {active, Map.put(results, index, {:ok, output})}

  defp advance({index, binary, codec, slice, from}, {:ok, consumed, _pending}, {active, results}),
    do: {[{index, binary, codec, slice, from + consumed} | active], results}

  defp advance({index, _, _, _, _}, {:error, {reason, message}}, {active, results}),
    do: {active, Map.put(results, index, {:error, Error.new(reason, message)})}

  defp advance({index, _, _, _, _}, {:error, reason}, {active, results}),
    do: {active, Map.put(results, index, {:error, busy_error(reason)})}

  defp busy_error(:stream_busy),
    do: Error.new(:stream_busy, "the item's codec or hasher is being used by another call")

  defp busy_error(reason),
    do: Error.new(reason, "the item's codec or hasher cannot be used (#{reason})")
end
