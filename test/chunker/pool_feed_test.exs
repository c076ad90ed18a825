defmodule Chunker.PoolFeedTest do
  # A large binary is chunked on the pool between dirty calls (native/chunker_nif/src/ahead.rs):
  # each call only waits for the pool until its deadline. The chunks must be the fastcdc
  # crate's, with b3sum's digests, on every path that feeds large binaries; and a feed left
  # mid-way (closed, fed something else, finished, its process killed, a panic in the pool)
  # must neither crash the VM nor leak.
  use ExUnit.Case, async: false

  import Chunker.Eventually

  alias Chunker.{LiveResources, Native, Oracle, TestData}

  @moduletag :tmp_dir
  @moduletag timeout: 300_000

  @size 40 * 1_048_576
  @config {:v2020, nil, nil, 16_384, 65_536, 262_144}

  setup_all do
    data = TestData.random_bytes(@size, 21)
    # What the pool's jobs are sized from is learned by the calls: chunk once to learn it.
    for avg <- [4_096, 65_536, 1_048_576], do: Chunker.chunk!(data, avg_size: avg)
    %{data: data}
  end

  for {min, avg, max} = sizes <- [
        {1_024, 4_096, 16_384},
        {16_384, 65_536, 262_144},
        {262_144, 1_048_576, 4_194_304}
      ] do
    @sizes sizes
    test "chunks of a #{div(@size, 1_048_576)} MiB binary at #{min}/#{avg}/#{max} are the crate's, " <>
           "with b3sum's digests, in one piece and streamed",
         %{data: data, tmp_dir: dir} do
      {min, avg, max} = @sizes
      path = Path.join(dir, "data.bin")
      File.write!(path, data)
      expected = Oracle.boundaries(path, @sizes)
      opts = [min_size: min, avg_size: avg, max_size: max]
      jobs = Chunker.stats().chunk.pool_jobs

      chunks = Chunker.chunk!(data, opts)
      assert spans(chunks) == expected
      assert Enum.all?(chunks, &(&1.data == binary_part(data, &1.offset, &1.length)))

      sample = Enum.take_every(chunks, max(div(length(chunks), 200), 1))
      assert Enum.map(sample, & &1.hash) == Oracle.b3sum(Enum.map(sample, & &1.data), dir)
      # Small chunks are chunked by the calls themselves (a job's chunks are bounded, and a
      # job too short does not pay); from 64 KiB averages parts go to the pool on any machine.
      if avg >= 65_536, do: assert(Chunker.stats().chunk.pool_jobs > jobs, "no part on the pool")

      # Pieces of several jobs each, and pieces of about one, with chunks spanning them.
      for piece <- [20_000_000, 8_388_608 + 7] do
        streamed = data |> TestData.split([piece]) |> Chunker.stream(opts) |> Enum.to_list()
        assert Enum.map(streamed, &{&1.offset, &1.length, &1.hash}) == triples(chunks)
        assert Enum.all?(streamed, &(&1.data == binary_part(data, &1.offset, &1.length)))
      end

      assert Enum.map(Chunker.stream_file(path, opts), &{&1.offset, &1.length, &1.hash}) ==
               triples(chunks)
    end
  end

  test "a stream closed while its chunker is on the pool is finished, and frees it",
       %{data: data} do
    before = held()
    {:ok, stream} = Native.stream_new(@config, :blake3, true, false)
    assert {:cont, _, at} = Native.stream_feed_dirty(stream, data, 0)
    assert at < byte_size(data)
    assert :ok = Native.stream_close(stream)
    assert {:error, {:stream_finished, _, _}} = Native.stream_feed_dirty(stream, data, at)
    stream = nil
    _ = stream
    :erlang.garbage_collect()
    assert_back_to(before)
  end

  test "a stream fed another binary, or finished, while its chunker is on the pool goes on",
       %{data: data} do
    other = TestData.random_bytes(3_000_000, 22)

    {:ok, stream} = Native.stream_new(@config, :blake3, true, false)
    assert {:cont, _, _} = Native.stream_feed_dirty(stream, data, 0)
    # The abandoned feed's chunks are lost to the caller, as after any continuation it does
    # not follow; the stream goes on from where the pool's part of that feed ended.
    assert {:ok, fed} = follow(Native.stream_feed_dirty(stream, other, 0), stream, other)
    assert {:ok, tail} = finish(Native.stream_finish_dirty(stream, other), stream, other)
    chunks = fed ++ tail
    assert chunks != []
    assert contiguous?(chunks)

    # A normal call never waits for the pool: while the chunker is away on it, the call hands
    # the finish to the dirty twin. The feed's reply says whether it is: `{:cont, [], 0}` after
    # starting a job is a feed that gave back nothing, as its job at 0 still ran at its
    # deadline. (A job that ended in time is collected by the feed itself, which then chunks
    # the rest up to its deadline; a finish after that may run on the normal call.) Try until
    # a feed left its job running; every try ends in a contiguous tail.
    away =
      Enum.find(1..20, fn _ ->
        {:ok, stream} = Native.stream_new(@config, :blake3, false, false)
        jobs = Chunker.stats().chunk.pool_jobs
        reply = Native.stream_feed_dirty(stream, data, 0)
        assert {:cont, _, _} = reply
        away? = match?({:cont, [], 0}, reply) and Chunker.stats().chunk.pool_jobs > jobs

        if away?, do: assert({:cont, [], nil} = Native.stream_finish(stream, data))

        assert {:ok, tail} = finish(Native.stream_finish_dirty(stream, data), stream, data)
        assert contiguous?(tail)
        away?
      end)

    assert away, "no feed left its job running on the pool in 20 tries"
  end

  test "a feed that hands the pool the rest of its binary returns at once; its chunks come " <>
         "with the next feed or the finish, in order",
       %{data: data} do
    more = TestData.random_bytes(30_000_000, 23)
    expected = triples(Chunker.chunk!(data <> more))
    whole = data <> more

    # Whether the rest of a binary goes to the pool or is chunked by the call depends on what
    # the call has left of its time: try until a feed returned with its last part on the pool
    # (more than a max_size chunk of its binary missing from what it gave); every try must
    # give the chunks of the whole input, in order.
    deferred =
      Enum.find(1..20, fn _ ->
        {:ok, stream} = Native.stream_new(@config, :blake3, true, false)
        {:ok, first} = follow(Native.stream_feed_dirty(stream, data, 0), stream, data)
        {:ok, second} = follow(Native.stream_feed_dirty(stream, more, 0), stream, more)
        {:ok, tail} = finish(Native.stream_finish_dirty(stream, more), stream, more)
        chunks = first ++ second ++ tail
        assert triples(chunks) == expected
        assert Enum.all?(chunks, &(&1.data == binary_part(whole, &1.offset, &1.length)))
        Enum.sum(Enum.map(first, & &1.length)) < byte_size(data) - 262_144
      end)

    assert deferred, "no feed returned with the rest of its binary on the pool in 20 tries"
  end

  test "the same binary fed twice is chunked twice", %{data: data} do
    # One part on the pool for the whole piece: the rest of a feed that returned at once.
    piece = binary_part(data, 0, 5_000_000)
    expected = triples(Chunker.chunk!(piece <> piece))

    for _ <- 1..3 do
      assert triples(Enum.to_list(Chunker.stream([piece, piece]))) == expected
    end
  end

  test "a process killed while its binary is chunked on the pool leaves nothing behind",
       %{data: data} do
    before = held()
    jobs = Chunker.stats().chunk.pool_jobs

    for delay <- [1, 3, 7, 12] do
      pid = spawn(fn -> Chunker.chunk!(data) end)
      Process.sleep(delay)
      Process.exit(pid, :kill)
    end

    assert Chunker.stats().chunk.pool_jobs > jobs
    assert_back_to(before)
  end

  test "a panic on the pool is an exception in the call that waits for it; the VM goes on",
       %{data: data} do
    expected = Chunker.chunk!(data)
    :ok = Native.inject_panic()
    assert_raise ErlangError, ~r/nif_panicked/, fn -> Chunker.chunk(data) end
    assert Chunker.chunk!(data) == expected
  end

  defp follow({:cont, chunks, at}, stream, binary),
    do:
      with(
        {:ok, rest} <- follow(Native.stream_feed_dirty(stream, binary, at), stream, binary),
        do: {:ok, chunks ++ rest}
      )

  defp follow({:done, chunks}, _stream, _binary), do: {:ok, chunks}

  defp finish({:cont, chunks, nil}, stream, last) do
    with {:ok, rest} <- finish(Native.stream_finish_dirty(stream, last), stream, last),
         do: {:ok, chunks ++ rest}
  end

  defp finish({:done, chunks}, _stream, _last), do: {:ok, chunks}

  defp contiguous?(chunks) do
    chunks
    |> Enum.chunk_every(2, 1, :discard)
    |> Enum.all?(fn [a, b] -> a.offset + a.length == b.offset end)
  end

  defp spans(chunks), do: Enum.map(chunks, &{&1.offset, &1.length})
  defp triples(chunks), do: Enum.map(chunks, &{&1.offset, &1.length, &1.hash})
  # The resources alive and the bytes the native code holds (its counting allocator).
  defp held, do: {LiveResources.now(), Native.allocated_bytes()}

  # Nothing left behind: no resource above `before`'s, the native heap within 64 KiB.
  defp assert_back_to({live, native}) do
    assert eventually(fn -> LiveResources.at_most?(live) end)
    assert eventually(fn -> Native.allocated_bytes() <= native + 65_536 end)
  end
end
