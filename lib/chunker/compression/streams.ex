defmodule Chunker.Compression.Streams do
  @moduledoc false
  # The machinery of Chunker.Compression's streams: an encoder or decoder resource fed each
  # piece, its output emitted as it comes. Errors raise Chunker.Error when reached.

  alias Chunker.{Error, Gather, Native}
  alias Chunker.Native.Run

  @doc false
  @spec compress(Enumerable.t(), atom(), integer() | nil, tuple() | nil) :: Enumerable.t()
  def compress(enumerable, format, level, zstd) do
    Gather.transform(
      enumerable,
      fn -> Native.encoder_new(format, level, zstd, false, nil) |> Run.result() |> Run.ok!() end,
      fn binary, encoder -> {encode_piece(encoder, binary), encoder} end,
      fn encoder ->
        {non_empty([encoder |> Native.encoder_finish() |> Run.result() |> Run.ok!()]), encoder}
      end,
      fn _encoder -> :ok end
    )
  end

  # Encoders work in bursts (a bzip2 block sort takes tens of milliseconds whenever 900 KB
  # have gathered), so every call, however small the piece, runs on a dirty scheduler.
  defp encode_piece(_encoder, ""), do: []

  defp encode_piece(encoder, binary) do
    encoder
    |> Native.encoder_update(binary, 0)
    |> Run.outputs(&Native.encoder_update(encoder, binary, &1))
    |> Run.ok!()
    |> non_empty()
  end

  @doc false
  @spec decompress(Enumerable.t(), atom() | nil, non_neg_integer() | :infinity, [reference()]) ::
          Enumerable.t()
  def decompress(enumerable, format, max_size, dictionaries) do
    Gather.transform(
      enumerable,
      fn ->
        Native.decoder_new(format, max_size, false, 0, dictionaries)
        |> Run.result()
        |> Run.ok!()
      end,
      fn binary, decoder -> {decode_piece(decoder, binary), decoder} end,
      fn decoder -> {finish(decoder), decoder} end,
      fn _decoder -> :ok end
    )
  end

  # The output of one piece, produced lazily, one decoder call per element: a small piece of
  # a bomb can decode to gigabytes, which must never be held at once. The first call runs on
  # the caller's scheduler (it declines work it cannot fit), the rest on dirty ones.
  defp decode_piece(decoder, binary) do
    {:normal, 0}
    |> Stream.unfold(fn
      :done ->
        nil

      {scheduler, from} ->
        reply =
          if scheduler == :normal,
            do: Native.decoder_feed(decoder, binary, from),
            else: Native.decoder_feed_dirty(decoder, binary, from)

        case reply do
          {:done, output} -> {output, :done}
          {:cont, output, from} -> {output, {:dirty, from}}
          {:error, native} -> raise Error.from_native(native)
        end
    end)
    |> Stream.reject(&(&1 == ""))
  end

  # Lazily too: the end of the input may still decode to a block's worth of output.
  defp finish(decoder) do
    Stream.flat_map([decoder], fn decoder ->
      decoder
      |> Native.decoder_finish()
      |> Run.result()
      |> Run.ok!()
      |> List.wrap()
      |> non_empty()
    end)
  end

  defp non_empty(outputs), do: Enum.reject(outputs, &(&1 == ""))
end
