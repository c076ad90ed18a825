defmodule ChunkerTest do
  use ExUnit.Case, async: true

  import Bitwise

  alias Chunker.{Chunk, TestData}
  alias Chunker.Native.Run

  doctest Chunker
  doctest Chunker.Options
  doctest Chunker.Hash

  describe "edges" do
    test "empty input gives no chunks" do
      assert Chunker.chunk("") == {:ok, []}
      assert Chunker.chunk([]) == {:ok, []}
      assert Chunker.chunk([[], ""], hash: :sha256) == {:ok, []}
    end

    test "input shorter than min_size is one chunk" do
      data = TestData.random_bytes(16_383, 1)
      assert [%Chunk{offset: 0, length: 16_383, data: ^data}] = Chunker.chunk!(data)
    end

    test "all-zero data, and an all-zero input of exactly max_size, are cut at max_size" do
      assert [%Chunk{offset: 0, length: 262_144}] = Chunker.chunk!(:binary.copy(<<0>>, 262_144))

      assert [%Chunk{length: 262_144}, %Chunk{offset: 262_144, length: 1}] =
               Chunker.chunk!(:binary.copy(<<0>>, 262_145))

      chunks =
        Chunker.chunk!(:binary.copy(<<0>>, 5 * 65_536 + 3),
          min_size: 4_096,
          avg_size: 16_384,
          max_size: 65_536
        )

      assert Enum.map(chunks, & &1.length) == [65_536, 65_536, 65_536, 65_536, 65_536, 3]
      assert Enum.map(chunks, & &1.offset) == [0, 65_536, 131_072, 196_608, 262_144, 327_680]
    end

    test "iodata input gives the same chunks as its binary" do
      data = TestData.random_bytes(300_000, 3)
      <<a::binary-size(1000), b::binary>> = data
      assert Chunker.chunk!([a, [b]]) == Chunker.chunk!(data)
    end

    test "data: false and hash: :none leave the fields nil" do
      [chunk] = Chunker.chunk!("abc", data: false, hash: :none)
      assert %Chunk{offset: 0, length: 3, hash: nil, data: nil} = chunk
    end

    test "chunk data are sub-binaries of the input, not copies, at every size" do
      # 100 KB takes one normal-scheduler call, 10 MB several dirty slices.
      for size <- [100_000, 10_000_000] do
        data = TestData.random_bytes(size, 4)
        chunks = Chunker.chunk!(data, avg_size: 16_384)
        assert length(chunks) > 1
        for chunk <- chunks, do: assert(:binary.referenced_byte_size(chunk.data) == size)
        assert Enum.map_join(chunks, & &1.data) == data
      end
    end

    test "presets and a lone avg_size pick the documented sizes" do
      data = TestData.random_bytes(3_000_000, 5)
      nar = Chunker.chunk!(data, preset: :nar)
      explicit = Chunker.chunk!(data, min_size: 131_072, avg_size: 524_288, max_size: 2_097_152)
      assert nar == explicit

      assert Chunker.chunk!(data, avg_size: 16_384) ==
               Chunker.chunk!(data, min_size: 4_096, avg_size: 16_384, max_size: 65_536)
    end
  end

  describe "bad options give {:error, %Chunker.Error{reason: :invalid_options}}" do
    for {opts, message} <- [
          {[min_size: 65_536, avg_size: 16_384, max_size: 262_144],
           ~r/min_size \(65536\) must not be greater than avg_size/},
          {[min_size: 16_384, avg_size: 65_536, max_size: 32_768],
           ~r/max_size \(32768\) must not be less than avg_size/},
          {[min_size: 16_385], ~r/min_size must be even/},
          {[avg_size: 65_537], ~r/avg_size must be even/},
          {[min_size: 0], ~r/min_size must be an even integer from 64 to 1048576, got 0/},
          {[min_size: -64], ~r/got -64/},
          {[avg_size: -256], ~r/^avg_size must be an even integer from 256 to 4194304, got -256/},
          {[avg_size: 1 <<< 80], ~r/^avg_size .* outside the 64-bit range/},
          {[hash: :none, hash: :sha256], ~r/option :hash is given more than once/},
          {[{:hash, :none} | :improper], ~r/keyword list/},
          {[max_size: 16_777_218], ~r/max_size must be an even integer from 1024 to 16777216/},
          {[avg_size: 8_388_608], ~r/avg_size must be an even integer from 256 to 4194304/},
          {[min_size: 4_294_967_296 + 16_384], ~r/got 4294983680/},
          {[min_size: 1 <<< 80], ~r/outside the 64-bit range/},
          {[avg_size: :big], ~r/avg_size must be an integer, got: :big/},
          {[min_size: 1.5], ~r/min_size must be an integer/},
          {[hash: :md5], ~r/hash must be one of :blake3, :sha256, :none, got: :md5/},
          {[data: :yes], ~r/data must be one of true, false/},
          {[preset: :huge], ~r/preset must be one of/},
          {[chunk_size: 10], ~r/unknown option :chunk_size/},
          {[{"avg_size", 10}], ~r/keyword list/},
          {%{avg_size: 10}, ~r/keyword list/}
        ] do
      @opts opts
      @message message
      test "#{inspect(opts)}" do
        assert {:error, %Chunker.Error{reason: :invalid_options, message: message}} =
                 Chunker.chunk("data", @opts)

        assert message =~ @message
        assert_raise Chunker.Error, @message, fn -> Chunker.chunk!("data", @opts) end
        assert_raise Chunker.Error, @message, fn -> Chunker.stream(["data"], @opts) end

        assert {:error, %Chunker.Error{reason: :invalid_options}} =
                 Chunker.chunk_file("mix.exs", @opts)
      end
    end
  end

  describe "wrong argument types raise ArgumentError" do
    test "non-iodata input" do
      for bad <- [123, :atom, nil, 1.0, {"tuple"}, [1 | 2], [256], [-1], %{}] do
        assert_raise ArgumentError, fn -> Chunker.chunk(bad) end
        assert_raise ArgumentError, fn -> Chunker.chunk!(bad) end
        assert_raise ArgumentError, fn -> Chunker.Hash.blake3(bad) end
      end
    end

    test "the NIFs themselves reject wrong types without crashing the VM" do
      sizes = {:v2020, nil, nil, 16_384, 65_536, 262_144}
      assert_raise ArgumentError, fn -> Chunker.Native.chunk(1, sizes, :blake3, true) end

      # A configuration of the wrong shape or types.
      for config <- [
            {16_384, 65_536, 262_144},
            {:v2020, nil, nil, "16384", 65_536, 262_144},
            {"v2020", nil, nil, 16_384, 65_536, 262_144},
            {:v2020, 1.0, nil, 16_384, 65_536, 262_144}
          ] do
        assert_raise ArgumentError, fn -> Chunker.Native.chunk("x", config, :blake3, true) end
      end

      assert_raise ArgumentError, fn -> Chunker.Native.chunk("x", sizes, :md5, true) end
      assert_raise ArgumentError, fn -> Chunker.Native.stream_feed(make_ref(), "x", 0) end
      assert_raise ArgumentError, fn -> Chunker.Native.hash([1, 2], :blake3) end
      assert_raise ArgumentError, fn -> Chunker.Native.hash("x", :md5) end
      {:ok, ref} = Chunker.Native.stream_new(sizes, :blake3, true, false)
      # Offsets outside the binary, and offsets that do not fit.
      assert_raise ArgumentError, fn -> Chunker.Native.stream_feed(ref, "abc", 4) end
      assert_raise ArgumentError, fn -> Chunker.Native.stream_feed(ref, "abc", -1) end
      assert_raise ArgumentError, fn -> Chunker.Native.stream_feed_dirty(ref, "abc", 1 <<< 64) end

      hasher = Chunker.Native.hasher_new(:sha256)
      assert_raise ArgumentError, fn -> Chunker.Native.hasher_update(hasher, "abc", 4) end
      # Sizes the core refuses come back as errors in the one shape, not crashes.
      assert {:error,
              {:invalid_options, "min_size must be an even integer" <> _, %{option: :min_size}}} =
               Chunker.Native.chunk("x", {:v2020, nil, nil, 3, 65_536, 262_144}, :blake3, true)

      assert {:error, {:invalid_options, "min_size must be an even integer" <> _, _}} =
               Chunker.Native.chunk("x", {:v2020, nil, nil, -1, 65_536, 262_144}, :blake3, true)

      assert {:ok, [_]} = Chunker.chunk("still alive")
    end
  end

  describe "files" do
    @describetag :tmp_dir

    test "chunk_file/2 and stream_file/2 equal chunk/2 of the contents", %{tmp_dir: dir} do
      data = TestData.random_bytes(3_000_000, 6)
      path = Path.join(dir, "f.bin")
      File.write!(path, data)
      expected = Chunker.chunk!(data)
      assert Chunker.chunk_file(path) == {:ok, expected}
      assert Enum.to_list(Chunker.stream_file(path)) == expected
      no_data = Enum.map(expected, &%{&1 | data: nil})
      assert Chunker.chunk_file(path, data: false) == {:ok, no_data}
    end

    test "file errors are {:error, %Chunker.Error{}} with the File reason", %{tmp_dir: dir} do
      missing = Path.join(dir, "missing")
      assert {:error, %Chunker.Error{reason: :enoent}} = Chunker.chunk_file(missing)
      assert {:error, %Chunker.Error{reason: :enoent}} = Chunker.chunk_file(missing, data: false)
      assert {:error, %Chunker.Error{reason: :eisdir}} = Chunker.chunk_file(dir)
      assert {:error, %Chunker.Error{reason: :eisdir}} = Chunker.chunk_file(dir, data: false)
      error = assert_raise Chunker.Error, fn -> Enum.to_list(Chunker.stream_file(missing)) end
      assert error.reason == :enoent
      assert error.details == %{path: missing}
      assert error.message == "could not open #{inspect(missing)}: no such file or directory"
    end

    test "stream_file/2's read-ahead process ends with the stream, however it ends",
         %{tmp_dir: dir} do
      path = Path.join(dir, "big.bin")
      # Several 8 MiB pieces.
      File.write!(path, :binary.copy(TestData.random_bytes(1_048_576, 7), 20))
      # A reader monitors its consumer (and nothing else).
      readers_of = fn pid ->
        for p <- Process.list(), Process.info(p, :monitors) == {:monitors, [process: pid]}, do: p
      end

      consume = fn how ->
        test = self()

        spawn(fn ->
          send(test, {:consumer, self()})
          how.(Chunker.stream_file(path))
          send(test, :done)
          Process.sleep(:infinity)
        end)

        assert_receive {:consumer, consumer}, 5_000
        consumer
      end

      # Stopped early, and run to the end: the reader is gone once the stream is.
      for how <- [&Enum.take(&1, 1), &Stream.run/1] do
        consumer = consume.(how)
        assert_receive :done, 5_000
        # The reader exits once it has read the stop message.
        assert Chunker.Eventually.eventually(fn -> readers_of.(consumer) == [] end)
      end

      # A consumer killed mid-stream: its reader notices and exits.
      consumer = consume.(&Stream.run(Stream.each(&1, fn _ -> Process.sleep(:infinity) end)))
      assert Chunker.Eventually.eventually(fn -> match?([_], readers_of.(consumer)) end)
      [reader] = readers_of.(consumer)
      ref = Process.monitor(reader)
      Process.exit(consumer, :kill)
      assert_receive {:DOWN, ^ref, :process, ^reader, _}, 5_000

      assert {:ok, chunks} = Chunker.chunk_file(path, data: false)
      assert Enum.sum(Enum.map(chunks, & &1.length)) == 20 * 1_048_576
    end
  end

  describe "low-level streams" do
    test "use after finish and close is an error, not a crash" do
      {:ok, ref} =
        Chunker.Native.stream_new(
          {:v2020, nil, nil, 16_384, 65_536, 262_144},
          :blake3,
          true,
          false
        )

      # The normal calls through feed/3, finish/2 and update/2; the dirty twins, which always
      # do the work, give the exact replies.
      assert {:ok, fed} = feed(ref, "hello", 0)
      assert Enum.concat(fed) == []
      assert {:ok, chunks} = finish(ref, nil)
      assert [%Chunk{length: 5, data: "hello"}] = Enum.concat(chunks)
      finished = {:error, {:stream_finished, "the stream is already finished or closed", %{}}}
      assert {:error, %Chunker.Error{reason: :stream_finished}} = feed(ref, "more", 0)
      assert {:error, %Chunker.Error{reason: :stream_finished}} = finish(ref, nil)
      assert Chunker.Native.stream_feed_dirty(ref, "more", 0) == finished
      assert Chunker.Native.stream_finish_dirty(ref, nil) == finished
      assert :ok = Chunker.Native.stream_close(ref)
      assert Chunker.Native.stream_feed_dirty(ref, "more", 0) == finished

      hasher = Chunker.Native.hasher_new(:blake3)
      assert {:ok, outputs} = update(hasher, "abc")
      assert Enum.all?(outputs, &is_nil/1)
      assert {:ok, digest} = Chunker.Native.hasher_finish(hasher)
      assert digest == Chunker.Hash.blake3("abc")
      assert {:error, %Chunker.Error{reason: :stream_finished}} = update(hasher, "abc")
      assert Chunker.Native.hasher_update_dirty(hasher, "abc", 0) == finished
      assert Chunker.Native.hasher_finish(hasher) == finished
    end

    test "the chunks of a binary fed from an offset map back to it" do
      binary = "0123456789abcdefghij"

      {:ok, ref} =
        Chunker.Native.stream_new({:v2020, nil, nil, 64, 256, 1_024}, :none, true, false)

      assert {:ok, fed} = feed(ref, binary, 10)
      assert Enum.concat(fed) == []
      assert {:ok, chunks} = finish(ref, binary)
      assert [%Chunk{offset: 0, length: 10, data: "abcdefghij"} = chunk] = Enum.concat(chunks)

      # A sub-binary of the binary fed, not a copy.
      assert :binary.referenced_byte_size(chunk.data) == byte_size(binary)
    end

    test "a stream can be fed from another process" do
      {:ok, ref} =
        Chunker.Native.stream_new({:v2020, nil, nil, 4_096, 16_384, 65_536}, :sha256, true, false)

      data = TestData.random_bytes(200_000, 7)

      fed =
        Task.async(fn ->
          {:ok, lists} =
            Run.outputs(
              Chunker.Native.stream_feed_dirty(ref, data, 0),
              &Chunker.Native.stream_feed_dirty(ref, data, &1)
            )

          Enum.concat(lists)
        end)
        |> Task.await()

      # The finish may find the pool still chunking the last part fed: it says so, and is
      # called again.
      finish_dirty = fn nil -> Chunker.Native.stream_finish_dirty(ref, nil) end
      {:ok, tails} = Run.outputs(finish_dirty.(nil), finish_dirty)
      assert fed ++ Enum.concat(tails) == Chunker.chunk!(data, avg_size: 16_384, hash: :sha256)
    end
  end

  # A normal call may leave even a few bytes to its dirty twin (its pace is learned, and the OS
  # may preempt it): these make the normal call and follow it as the API does, giving each
  # call's output in order, or the error.
  defp feed(ref, binary, from) do
    Run.outputs(
      Chunker.Native.stream_feed(ref, binary, from),
      &Chunker.Native.stream_feed_dirty(ref, binary, &1)
    )
  end

  defp finish(ref, last) do
    Run.outputs(
      Chunker.Native.stream_finish(ref, last),
      fn nil -> Chunker.Native.stream_finish_dirty(ref, last) end
    )
  end

  defp update(hasher, binary) do
    Run.outputs(
      Chunker.Native.hasher_update(hasher, binary, 0),
      &Chunker.Native.hasher_update_dirty(hasher, binary, &1)
    )
  end

  test "callable from Erlang" do
    data = TestData.random_bytes(500_000, 8)
    assert {:ok, chunks} = :chunker_erlang_client.chunk(data, 65_536)
    assert chunks == Chunker.chunk!(data, avg_size: 65_536)

    assert :chunker_erlang_client.stream_lengths([data, data]) ==
             Enum.map(Chunker.chunk!([data, data]), & &1.length)

    assert :chunker_erlang_client.blake3(<<"abc">>) == Chunker.Hash.blake3("abc")
  end
end
