defmodule Chunker.CutEngineTest do
  # Every cut engine gives the same boundaries through every Elixir path. The engine is chosen
  # once per VM (CHUNKER_CUT_ENGINE, read when the library loads), so each engine runs in a
  # peer node of its own (OTP's :peer, on 127.0.0.1) fed the same inputs as this VM.
  use ExUnit.Case, async: false

  alias Chunker.{Peers, TestData}

  setup_all do
    {_pid, scalar} = Peers.start!(env: [{"CHUNKER_CUT_ENGINE", "scalar"}])
    {_pid, interleaved} = Peers.start!(env: [{"CHUNKER_CUT_ENGINE", "interleaved"}])
    {_pid, unknown} = Peers.start!(env: [{"CHUNKER_CUT_ENGINE", "avx9000"}])
    %{scalar: scalar, interleaved: interleaved, unknown: unknown}
  end

  test "CHUNKER_CUT_ENGINE chooses the engine; a value naming none is ignored", ctx do
    assert :erpc.call(ctx.scalar, Chunker, :cut_engine, []) == :scalar
    assert :erpc.call(ctx.interleaved, Chunker, :cut_engine, []) == :interleaved
    assert :erpc.call(ctx.unknown, Chunker, :cut_engine, []) == :interleaved

    assert {:interleaved, warning} = :erpc.call(ctx.unknown, Chunker.Native, :cut_engine, [])
    assert warning =~ ~s(CHUNKER_CUT_ENGINE="avx9000")
  end

  # Inputs long enough that a run is split into lanes (at least 2 x 128 KiB, and 8 average
  # chunks), for every variant, through one-shot, batch and stream paths.
  defp workloads do
    random = TestData.random_bytes(3_000_000, 31)

    text =
      1..400_000
      |> Enum.map_join(&"word#{rem(&1 * 7919, 10_007)} ")
      |> binary_part(0, 3_000_000)

    low = TestData.low_entropy_bytes(3_000_000, 33)

    variants = [
      [],
      [avg_size: 4096, min_size: 1024, max_size: 16_384],
      [avg_size: 1_048_576, min_size: 262_144, max_size: 4_194_304],
      [normalization: 0],
      [normalization: 3, seed: 12_345],
      [algorithm: :v2016],
      [algorithm: :ronomon]
    ]

    for opts <- variants, data <- [random, text, low] do
      {opts, data}
    end
  end

  # Offsets, lengths and digests on `node`, through chunk!/2, stream/2 in uneven pieces and
  # chunk_many/2. Only functions of the library are called there: the peer does not have this
  # test's code.
  defp cut(node, {opts, data}) do
    pieces = TestData.split(data, [1, 100_000, 777_777, 65_536])
    spans = fn chunks -> Enum.map(chunks, &{&1.offset, &1.length, &1.hash}) end
    stream = :erpc.call(node, Chunker, :stream, [pieces, opts])

    {:ok, many} =
      :erpc.call(node, Chunker, :chunk_many, [[data, binary_part(data, 5, 1_000_000)], opts])

    [
      spans.(:erpc.call(node, Chunker, :chunk!, [data, opts])),
      spans.(:erpc.call(node, Enum, :to_list, [stream])),
      Enum.map(many, spans)
    ]
  end

  test "scalar and interleaved engines cut every variant identically, on every path", ctx do
    for workload <- workloads() do
      here = cut(node(), workload)
      assert cut(ctx.scalar, workload) == here, inspect(elem(workload, 0))
      assert cut(ctx.interleaved, workload) == here, inspect(elem(workload, 0))
    end
  end
end
