defmodule Chunker.ErrorsTest do
  # The error contract, on the cases a new user met: every public function's error is a
  # %Chunker.Error{} with an atom reason, a message in the user's terms and, where a caller can
  # act on it, details; a wrong type is an ArgumentError that says what was expected; a file
  # that changes while it is read is an error, never a shorter result.
  use ExUnit.Case, async: true

  alias Chunker.{Compression, Error, Hash, NAR, TestData}
  alias Chunker.Nix.{NarInfo, Signing}

  @moduletag :tmp_dir

  test "garbage given as a NAR is said not to be a NAR" do
    # Its first 8 bytes read as a string length of 7,020,584,470,645,600,110 bytes.
    garbage = "not a nar, just text"

    for call <- [
          fn -> garbage |> List.wrap() |> NAR.entries() |> Stream.run() end,
          fn -> raise Chunker.chunk!(garbage, nar_aware: true) end
        ] do
      error = assert_raise Error, call
      assert error.reason == :invalid_nar
      assert error.message =~ "not a NAR"
      refute error.message =~ "7020584470645600110"
      assert error.details == %{offset: 0}
    end
  end

  test "data in another format than the one forced is said to be not that format" do
    {:ok, zstd} = Compression.compress("some data", :zstd)

    assert {:error, %Error{reason: :format_mismatch} = error} =
             Compression.decompress(zstd, format: :lz4)

    assert error.message == "not lz4 data: it is zstd (at offset 0)"
    assert error.details == %{format: :lz4, found: :zstd, offset: 0}

    assert {:error, %Error{reason: :format_mismatch, details: %{found: :unknown}}} =
             Compression.decompress("plain text!", format: :xz)

    stream = [zstd] |> Compression.decompress_stream(format: :bzip2)
    assert_raise Error, ~r/not bzip2 data: it is zstd/, fn -> Stream.run(stream) end
    # Bytes after a good frame are still trailing data, at their offset.
    assert {:error, %Error{reason: :trailing_data, details: %{offset: offset}}} =
             Compression.decompress(zstd <> "junk")

    assert offset == byte_size(zstd)
  end

  test "NarInfo.verify/2 takes one key as well as a list, and says what it expected" do
    {:ok, secret} = Signing.generate_key("cache-1")
    {:ok, public} = Signing.public_key(secret)

    info = %NarInfo{
      store_path: "/nix/store/0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-hello",
      url: "nar/hello.nar",
      nar_hash: "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
      nar_size: 120
    }

    {:ok, signed} = NarInfo.sign(info, secret)
    assert NarInfo.verify(signed, public)
    assert NarInfo.verify(signed, [public])

    for bad <- [123, [public, :other], [public | "x"]] do
      assert_raise ArgumentError, ~r/expected a list of public keys/, fn ->
        NarInfo.verify(signed, bad)
      end
    end

    assert_raise ArgumentError, ~r/sign expects a string/, fn -> Signing.sign("x", 42) end
  end

  test "an unknown hash algorithm is the same ArgumentError for one item and for many" do
    message = "hash algorithm must be :blake3 or :sha256, got: :md5"
    assert_raise ArgumentError, message, fn -> Hash.hash("x", :md5) end
    assert_raise ArgumentError, message, fn -> Hash.hash_many(["x"], :md5) end
  end

  test "a path that is not a path is an ArgumentError that says so" do
    assert_raise ArgumentError, ~r/chunk_file\/2 expects a path .* got: 123/, fn ->
      Chunker.chunk_file(123)
    end

    assert_raise ArgumentError, ~r/stream_file\/2 expects a path/, fn ->
      Chunker.stream_file(%{})
    end

    assert_raise ArgumentError, ~r/dump\/1 expects a path/, fn -> NAR.dump(:nope) end
  end

  test "file errors read as File's do, with the path in the details", %{tmp_dir: dir} do
    missing = Path.join(dir, "nope")

    error = assert_raise Error, fn -> missing |> NAR.dump() |> Stream.run() end
    assert error.reason == :enoent
    assert error.message == "could not read #{inspect(missing)}: no such file or directory"
    assert error.details == %{path: missing}

    for result <- [Chunker.chunk_file(missing), Chunker.chunk_file(missing, data: false)] do
      assert {:error, %Error{reason: :enoent, details: %{path: ^missing}} = error} = result
      refute error.message =~ "os error"
    end
  end

  test "NAR.restore/2 takes the NAR as a binary, as iodata or as pieces", %{tmp_dir: dir} do
    src = Path.join(dir, "src")
    File.mkdir_p!(Path.join(src, "bin"))
    File.write!(Path.join(src, "bin/hello"), "#!/bin/sh\necho hello\n")
    nar = src |> NAR.dump() |> Enum.join()
    half = div(byte_size(nar), 2)
    iodata = [binary_part(nar, 0, half), [binary_part(nar, half, byte_size(nar) - half)]]

    for {given, name} <- [{nar, "binary"}, {iodata, "iodata"}, {NAR.dump(src), "pieces"}] do
      dest = Path.join(dir, name)
      assert NAR.restore(given, dest) == :ok
      assert File.read!(Path.join(dest, "bin/hello")) == "#!/bin/sh\necho hello\n"
    end

    assert_raise ArgumentError, ~r/expected a NAR/, fn -> NAR.restore(42, Path.join(dir, "x")) end
  end

  describe "a file that changes while it is read" do
    # Enough 8 MiB pieces that the file can be changed after the first chunk arrives and before
    # the end is read.
    setup %{tmp_dir: dir} do
      path = Path.join(dir, "big.bin")
      data = :binary.copy(TestData.random_bytes(1_048_576, 11), 40)
      File.write!(path, data)
      # An hour old: a rewrite in place is seen by the file's times, and file times come from
      # the kernel's coarse clock (a tick of 1-10 ms), which could otherwise give this write
      # and the rewrite the same mtime. (Only mtime can be set back, and it is enough.)
      File.touch!(path, System.os_time(:second) - 3_600)
      %{path: path, data: data}
    end

    # Streams `path`, calling `change` once the first chunk has arrived.
    defp stream_changing(path, change, opts \\ []) do
      path
      |> Chunker.stream_file(opts)
      |> Stream.transform(false, fn chunk, changed? ->
        unless changed?, do: change.()
        {[chunk], true}
      end)
      |> Enum.to_list()
    end

    test "shrinking is :file_changed, not a shorter result", %{path: path} do
      error =
        assert_raise Error, fn ->
          stream_changing(path, fn -> {:ok, _} = truncate(path, 10 * 1_048_576) end)
        end

      assert error.reason == :file_changed
      assert error.details == %{path: path}
      assert error.message == "#{inspect(path)} changed while it was read: it shrank"
    end

    test "rewriting in place is :file_changed", %{path: path} do
      error =
        assert_raise Error, fn ->
          stream_changing(path, fn ->
            File.open!(path, [:read, :write, :raw], &:file.pwrite(&1, 30 * 1_048_576, "changed"))
          end)
        end

      assert error.reason == :file_changed
      assert error.message =~ "it was modified"
    end

    test "replacing the file is :file_changed", %{path: path, tmp_dir: dir} do
      other = Path.join(dir, "other.bin")
      File.write!(other, "another file")

      error =
        assert_raise Error, fn ->
          stream_changing(path, fn -> File.rename!(other, path) end)
        end

      assert error.reason == :file_changed
      assert error.message =~ "the path now names another file"
    end

    test "growing is read up to the size at open", %{path: path, data: data} do
      chunks =
        stream_changing(path, fn ->
          File.open!(path, [:append, :raw], &:file.write(&1, "more at the end"))
        end)

      assert chunks == Chunker.chunk!(data)
    end

    defp truncate(path, size) do
      File.open(path, [:read, :write, :raw], fn file ->
        {:ok, _} = :file.position(file, size)
        :ok = :file.truncate(file)
      end)
    end
  end
end
