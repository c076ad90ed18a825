defmodule Chunker.ChunkStream do
  @moduledoc false
  # A native chunk stream, driven from Elixir: opened with validated options, fed binaries,
  # finished, closed. Chunker's one-shot chunking of a large binary and its streams both go
  # through here; each feed and finish is a run of NIF calls against their deadlines
  # (Chunker.Native.Run), normal first, dirty once a call did not finish.

  alias Chunker.{Chunk, Error, Gather, Heap, Native, Options}
  alias Chunker.Native.Run

  @enforce_keys [:ref]
  defstruct [:ref, last: nil, dirty: false]

  @typedoc """
  `ref` is the NIF resource; `last` is the last binary fed, which lets the final chunks be
  sub-binaries of it rather than copies; `dirty` is set once a normal-scheduler feed did not
  finish, after which every feed starts on the dirty twin: the pieces of a stream are alike,
  and a normal call that hands its work on right after a file read costs more than it saves
  (measured: `File.stream!/3` with read-ahead piped into `stream/2` ran at half speed).
  """
  @type t :: %__MODULE__{ref: reference(), last: binary() | nil, dirty: boolean()}

  @doc false
  @spec open!(Options.t()) :: t()
  def open!(%Options{} = o) do
    case Native.stream_new(Options.native_config(o), o.hash, o.data, o.nar_aware) do
      {:ok, ref} -> %__MODULE__{ref: ref}
      {:error, native} -> raise Error.from_native(native)
    end
  end

  @doc false
  @spec feed!(t(), binary()) :: {[Chunk.t()], t()}
  def feed!(stream, ""), do: {[], stream}

  def feed!(%__MODULE__{ref: ref, dirty: dirty} = stream, binary) do
    first =
      if dirty,
        do: Native.stream_feed_dirty(ref, binary, 0),
        else: Native.stream_feed(ref, binary, 0)

    chunks =
      first
      |> Run.outputs(&Native.stream_feed_dirty(ref, binary, &1))
      |> Run.ok!()
      |> Enum.concat()

    {chunks, %__MODULE__{stream | last: binary, dirty: dirty or match?({:cont, _, _}, first)}}
  end

  @doc false
  @spec finish!(t()) :: [Chunk.t()]
  def finish!(%__MODULE__{ref: ref, last: last}) do
    ref
    |> Native.stream_finish(last)
    |> Run.outputs(fn nil -> Native.stream_finish_dirty(ref, last) end)
    |> Run.ok!()
    |> Enum.concat()
  end

  @doc false
  @spec close(t()) :: :ok
  def close(%__MODULE__{ref: ref}), do: Native.stream_close(ref)

  @doc false
  # The chunks of an enumerable of iodata pieces, lazily.
  @spec transform(Enumerable.t(), Options.t()) :: Enumerable.t()
  def transform(enumerable, %Options{} = options) do
    Gather.transform(
      enumerable,
      fn -> open!(options) end,
      &feed!(&2, &1),
      fn stream -> {finish!(stream), stream} end,
      &close/1
    )
  end

  @doc false
  # The chunks of `binary`, every one a sub-binary of it: in one normal-scheduler call when
  # that is enough, else through a stream continued on dirty schedulers.
  @spec chunk(binary(), Options.t()) :: {:ok, [Chunk.t()]} | {:error, Error.t()}
  def chunk(binary, %Options{nar_aware: true} = options) do
    stream = open!(options)
    words = div(byte_size(binary), options.avg_size) * Heap.words_per_chunk()

    try do
      Heap.presized(words, fn ->
        {fed, stream} = feed!(stream, binary)
        {:ok, fed ++ finish!(stream)}
      end)
    after
      close(stream)
    end
  rescue
    error in Error -> {:error, error}
  end

  def chunk(binary, %Options{} = o) do
    case Native.chunk(binary, Options.native_config(o), o.hash, o.data) do
      {:done, chunks} ->
        {:ok, chunks}

      {:cont, chunks, ref, from} ->
        words = div(byte_size(binary) - from, o.avg_size) * Heap.words_per_chunk()

        Heap.presized(words, fn ->
          rest =
            ref
            |> Native.stream_feed_dirty(binary, from)
            |> Run.outputs(&Native.stream_feed_dirty(ref, binary, &1))
            |> Run.ok!()

          tail = finish!(%__MODULE__{ref: ref, last: binary})
          {:ok, Enum.concat([chunks | rest]) ++ tail}
        end)

      {:error, native} ->
        {:error, Error.from_native(native)}
    end
  rescue
    error in Error -> {:error, error}
  end
end
