defmodule Chunker.FileReader do
  @moduledoc false
  # The pieces of a file, read one piece ahead by a helper process, so that reading the next
  # piece (a copy from the page cache, or a wait on the disk) overlaps chunking the current
  # one. Measured on 256 MiB from the page cache with 8 MiB pieces: `stream_file/2` 8-10%
  # faster than reading in the consuming process (2,211 against 2,037 MB/s at 64 KiB chunks).
  #
  # The helper opens the file itself (a raw file belongs to the process that opened it),
  # sends each piece when asked (binaries this size are shared, not copied), and exits when
  # the file ends, when told to stop, or when the consumer exits (it monitors it). Errors go
  # to the consumer, which raises File.Error as a plain read would.

  @doc false
  @spec stream(Path.t(), pos_integer()) :: Enumerable.t()
  def stream(path, read_size) do
    Stream.resource(fn -> start(path, read_size) end, &next/1, &stop/1)
  end

  defp start(path, read_size) do
    consumer = self()
    ref = make_ref()
    pid = spawn(fn -> init(consumer, ref, path, read_size) end)
    monitor = Process.monitor(pid)
    {pid, ref, monitor, path}
  end

  defp next({pid, ref, monitor, path} = reader) do
    send(pid, {ref, :next})

    receive do
      {^ref, {:ok, piece}} ->
        {[piece], reader}

      {^ref, :eof} ->
        {:halt, reader}

      {^ref, {:error, action, reason}} ->
        raise File.Error, reason: reason, action: action, path: path

      {:DOWN, ^monitor, :process, ^pid, reason} ->
        raise File.Error, reason: {:reader_exited, reason}, action: "read", path: path
    end
  end

  defp stop({pid, ref, monitor, _path}) do
    Process.demonitor(monitor, [:flush])
    send(pid, {ref, :stop})
    # Drop a piece sent before the reader saw :stop.
    receive do
      {^ref, _} -> :ok
    after
      0 -> :ok
    end
  end

  defp init(consumer, ref, path, read_size) do
    watch = Process.monitor(consumer)

    case :file.open(path, [:raw, :read, :binary]) do
      {:ok, device} -> loop(device, read_size, consumer, ref, watch)
      {:error, reason} -> reply(consumer, ref, watch, {:error, "open", reason})
    end
  end

  # Reads the next piece, then waits to be asked for it.
  defp loop(device, read_size, consumer, ref, watch) do
    piece =
      case :file.read(device, read_size) do
        {:ok, piece} -> {:ok, piece}
        :eof -> :eof
        {:error, reason} -> {:error, "read", reason}
      end

    case {reply(consumer, ref, watch, piece), piece} do
      {:sent, {:ok, _}} -> loop(device, read_size, consumer, ref, watch)
      _done -> :file.close(device)
    end
  end

  defp reply(consumer, ref, watch, message) do
    receive do
      {^ref, :next} ->
        send(consumer, {ref, message})
        :sent

      {^ref, :stop} ->
        :stopped

      {:DOWN, ^watch, :process, ^consumer, _reason} ->
        :stopped
    end
  end
end
