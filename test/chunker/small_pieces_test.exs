defmodule Chunker.SmallPiecesTest do
  # Streams of small pieces (File.stream!/1's lines, a socket's packets) must cost about what
  # large reads cost, with the same output. The NIF-call counts are the VM's counters, so
  # these tests run alone (async: false), after the async ones.
  use ExUnit.Case, async: false

  alias Chunker.{Compression, NAR}

  @moduletag :tmp_dir

  # Text with CR LF line ends, lone CRs, and a CR LF split across each 1 MiB block boundary
  # (a CR at the last byte of a block, its LF the first of the next), a lone CR at another
  # boundary, and a CR as the last byte of the file.
  defp crlf_text(dir) do
    line = fn i -> "line #{i} of some text#{Enum.at(["\r\n", "\n", "\r", " "], rem(i, 4))}" end
    body = 0..160_000 |> Enum.map(line) |> IO.iodata_to_binary()
    body = binary_part(body, 0, 3_200_000)
    mib = 1_048_576

    body =
      body
      |> put(mib - 1, "\r\n")
      |> put(2 * mib - 1, "\rx")
      |> put(3 * mib - 1, "\r\r\n")

    path = Path.join(dir, "crlf.txt")
    File.write!(path, body <> "tail\r")
    path
  end

  defp put(binary, at, bytes) do
    <<before::binary-size(at), _::binary-size(byte_size(bytes)), rest::binary>> = binary
    before <> bytes <> rest
  end

  defp text(size) do
    1..size
    |> Stream.map(&"word #{rem(&1 * 7919, 100_003)} ")
    |> Enum.join()
    |> binary_part(0, size)
  end

  # The bytes File.stream!/1's lines give, by Erlang's own read_line.
  defp line_bytes(path), do: path |> File.stream!() |> Enum.join()

  defp nif_calls(fun) do
    count = fn ->
      calls = Chunker.stats().nif_calls
      calls.normal.count + calls.dirty_cpu.count + calls.dirty_io.count
    end

    before = count.()
    result = fun.()
    {result, count.() - before}
  end

  test "File.stream!/1 in line mode: the same chunks and frames as its lines give", %{
    tmp_dir: dir
  } do
    path = crlf_text(dir)
    bytes = line_bytes(path)
    assert bytes != File.read!(path), "the fixture has CR LFs that line mode rewrites"

    chunks = path |> File.stream!() |> Chunker.stream(avg_size: 4096) |> Enum.to_list()
    assert chunks == Chunker.chunk!(bytes, avg_size: 4096)
    assert chunks |> Enum.map(& &1.data) |> Enum.join() == bytes

    frame = path |> File.stream!() |> Compression.compress_stream(:zstd) |> Enum.join()
    zst = Path.join(dir, "lines.zst")
    File.write!(zst, frame)
    {out, 0} = System.cmd("zstd", ["-d", "-c", "-q", zst])
    assert out == bytes

    # A gzip file read through line mode's :compressed option: the lines of the decompressed
    # bytes.
    gz = Path.join(dir, "crlf.txt.gz")
    File.write!(gz, :zlib.gzip(File.read!(path)))

    assert gz |> File.stream!([:compressed]) |> Chunker.stream() |> Enum.to_list() ==
             Chunker.chunk!(gz |> File.stream!([:compressed]) |> Enum.join())
  end

  test "File.stream!/1 of a missing file raises File.Error when enumerated, as it always did",
       %{tmp_dir: dir} do
    stream = dir |> Path.join("missing") |> File.stream!() |> Chunker.stream()
    assert_raise File.Error, ~r/no such file/, fn -> Enum.to_list(stream) end
  end

  test "one-byte pieces are gathered: a few NIF calls per 64 KiB, the same output" do
    data = text(400_000)
    bytes = for <<byte::binary-size(1) <- data>>, do: byte
    # At most one call per 64 KiB gathered, plus a few for opening, finishing and
    # continuations.
    budget = div(byte_size(data), 65_536) + 8

    {chunks, calls} =
      nif_calls(fn -> bytes |> Chunker.stream(avg_size: 1024) |> Enum.to_list() end)

    assert chunks == Chunker.chunk!(data, avg_size: 1024)
    assert calls <= budget, "stream/2: #{calls} NIF calls"

    {frame, calls} =
      nif_calls(fn -> bytes |> Compression.compress_stream(:zstd) |> Enum.join() end)

    assert Compression.decompress!(frame) == data
    assert calls <= budget, "compress_stream/3: #{calls} NIF calls"

    frame_pieces = for <<byte::binary-size(1) <- frame>>, do: byte

    {out, calls} =
      nif_calls(fn -> frame_pieces |> Compression.decompress_stream() |> Enum.join() end)

    assert out == data
    assert calls <= budget, "decompress_stream/2: #{calls} NIF calls"
  end

  test "a NAR in small pieces is parsed and restored with few NIF calls", %{tmp_dir: dir} do
    src = Path.join(dir, "src")
    File.mkdir_p!(Path.join(src, "sub"))
    File.write!(Path.join(src, "sub/a"), text(200_000))
    File.write!(Path.join(src, "b"), "small")
    nar = src |> NAR.dump() |> Enum.join()
    pieces = for <<piece::binary-size(3) <- nar>>, do: piece
    pieces = pieces ++ [binary_part(nar, 3 * length(pieces), rem(byte_size(nar), 3))]
    budget = div(byte_size(nar), 65_536) + 8

    {entries, calls} = nif_calls(fn -> pieces |> NAR.entries() |> Enum.to_list() end)
    assert entries == NAR.entries([nar]) |> Enum.to_list()
    assert calls <= budget, "entries/1: #{calls} NIF calls"

    dest = Path.join(dir, "dest")
    {:ok, calls} = nif_calls(fn -> NAR.restore(pieces, dest) end)
    assert calls <= budget, "restore/2: #{calls} NIF calls"
    assert NAR.dump(dest) |> Enum.join() == nar
  end
end
