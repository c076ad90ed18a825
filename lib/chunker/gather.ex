defmodule Chunker.Gather do
  @moduledoc false
  # Every streaming entry point feeds its NIF resource through here: pieces smaller than
  # @min_bytes are gathered into one binary before a NIF call sees them. A NIF call costs a few
  # microseconds whatever its size (the scheduling loop, the counters, the terms it returns),
  # so a stream of small pieces, such as `File.stream!/1` in its default line mode (one
  # piece per line), spent nearly all its time in calls: 2.7 million lines of 100 MB through
  # `Chunker.stream/2` took 8.8 s where 1 MiB reads took 0.08 s (measured with a one-off
  # script before this module existed; `mix run bench/small_pieces.exs` measures the streams
  # as they are now, piece sizes against 1 MiB reads). Pieces at
  # least @min_bytes long pass through as they are, uncopied (so chunks cut from one still share
  # its memory); the bytes and their order never change, so neither does any output.
  #
  # What gathering costs: up to @min_bytes of input wait for the next call, so a chunk or an
  # output block is handed on a little later on a slow source (a socket trickling bytes);
  # nothing is held beyond the end of the input.

  alias Chunker.Input

  @min_bytes 65_536

  # What a `File.Stream` read line by line is read in instead.
  @block_bytes 1_048_576

  @doc false
  # `enumerable` itself, unless it is a `File.Stream` in line mode on the raw file (no
  # encoding): then the same file read in blocks, with the bytes its lines would have given.
  # Line mode's only change to the bytes is Erlang's `file:read_line/1` returning each CR LF as
  # LF; a block holds the same. Enumerating millions of lines costs more than chunking or
  # hashing them, so this is the one way such a stream can run at the speed of block reads.
  @spec blocks(Enumerable.t()) :: Enumerable.t()
  def blocks(%File.Stream{raw: true, line_or_bytes: :line} = stream) do
    Stream.transform(
      %{stream | line_or_bytes: @block_bytes},
      fn -> "" end,
      fn
        block, "" -> line_ends(block)
        block, carry -> line_ends(carry <> block)
      end,
      fn
        "" -> {[], ""}
        carry -> {[carry], ""}
      end,
      fn _carry -> :ok end
    )
  end

  def blocks(enumerable), do: enumerable

  # A block with each CR LF as LF, a CR at its end held back until the next byte is known.
  defp line_ends(""), do: {[], ""}

  defp line_ends(block) do
    {whole, carry} =
      if :binary.last(block) == ?\r,
        do: {binary_part(block, 0, byte_size(block) - 1), "\r"},
        else: {block, ""}

    case :binary.matches(whole, "\r") do
      [] -> {[whole], carry}
      crs -> {[drop_crs_before_lf(whole, crs)], carry}
    end
  end

  defp drop_crs_before_lf(binary, crs) do
    {parts, from} =
      Enum.reduce(crs, {[], 0}, fn {at, 1}, {parts, from} ->
        if :binary.at(binary, at + 1) == ?\n,
          do: {[parts, binary_part(binary, from, at - from)], at + 1},
          else: {parts, from}
      end)

    IO.iodata_to_binary([parts, binary_part(binary, from, byte_size(binary) - from)])
  end

  @doc false
  # `Stream.transform/5` with `feed` given binaries of at least @min_bytes (the last one may
  # be shorter), each piece checked as iodata as it arrives. `feed` is never given "".
  @spec transform(
          Enumerable.t(),
          (() -> acc),
          (binary(), acc -> {Enumerable.t(), acc}),
          (acc -> {Enumerable.t(), acc}),
          (acc -> term())
        ) :: Enumerable.t()
        when acc: term()
  def transform(enumerable, start, feed, last, after_fun) do
    Stream.transform(
      enumerable,
      fn -> {start.(), [], 0} end,
      fn piece, {acc, pending, size} ->
        binary = Input.to_binary!(piece)

        case byte_size(binary) do
          0 ->
            {[], {acc, pending, size}}

          n when size == 0 and n >= @min_bytes ->
            {out, acc} = feed.(binary, acc)
            {out, {acc, [], 0}}

          n when n >= @min_bytes ->
            # Fed apart, so that what is cut from the large piece can share its memory.
            {first, acc} = feed.(IO.iodata_to_binary(pending), acc)
            {out, acc} = feed.(binary, acc)
            {Stream.concat(first, out), {acc, [], 0}}

          n when size + n >= @min_bytes ->
            {out, acc} = feed.(IO.iodata_to_binary([pending, binary]), acc)
            {out, {acc, [], 0}}

          n ->
            {[], {acc, [pending, binary], size + n}}
        end
      end,
      fn
        {acc, _pending, 0} ->
          {out, acc} = last.(acc)
          {out, {acc, [], 0}}

        {acc, pending, _size} ->
          {fed, acc} = feed.(IO.iodata_to_binary(pending), acc)
          {out, acc} = last.(acc)
          {Stream.concat(fed, out), {acc, [], 0}}
      end,
      fn {acc, _pending, _size} -> after_fun.(acc) end
    )
  end
end
