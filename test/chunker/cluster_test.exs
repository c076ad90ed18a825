defmodule Chunker.ClusterTest do
  # Chunker.Cluster over two peer nodes started here (OTP's :peer, on 127.0.0.1), against the
  # local batch functions.
  use ExUnit.Case, async: false

  alias Chunker.{Cluster, Compression, Peers}

  # Some tests boot peers of their own, each allowed Peers.start!/1's minute on a loaded
  # machine: more than ExUnit's default of a minute per test.
  @moduletag timeout: 300_000

  doctest Chunker.Cluster

  setup_all do
    {_pid1, a} = Peers.start!()
    {_pid2, b} = Peers.start!()
    # setup_all runs in a process of its own: the peers are linked to it and stop with it.
    {:ok, peers: [a, b]}
  end

  defp items(count, size) do
    for i <- 1..count,
        do: :binary.copy("item #{i} of a test ", div(size, 10) + 1) |> binary_part(0, size)
  end

  test "hash_many over the peers equals the local function, in order", %{peers: peers} do
    items = items(3_000, 1_000) ++ [["io", "data"], ""]
    expected = Chunker.Hash.hash_many(items, :sha256)

    assert Cluster.hash_many(items, :sha256, nodes: peers, batch_items: 100) == expected

    assert Cluster.hash_many(items, :sha256, nodes: [node() | peers], batch_items: 100) ==
             expected

    assert Cluster.hash_many([], :blake3, nodes: peers) == []
  end

  test "compress_many over the peers equals the local function", %{peers: peers} do
    items = items(64, 100_000)
    {:ok, expected} = Compression.compress_many(items, :zstd, level: 5)

    assert {:ok, ^expected} =
             Cluster.compress_many(items, :zstd, level: 5, nodes: peers, batch_bytes: 500_000)

    assert {:error, %Chunker.Error{reason: :invalid_options}} =
             Cluster.compress_many(items, :zstd, level: 99, nodes: peers)

    # A dictionary belongs to the node that loaded it: refused, not sent.
    samples = for i <- 1..100, do: "sample #{i} " <> String.duplicate("abc", rem(i, 7) + 3)
    dictionary = Compression.train_dictionary!(samples, size: 1_024)

    assert {:error, %Chunker.Error{reason: :invalid_options, details: %{option: :dictionary}}} =
             Cluster.compress_many(items, :zstd, dictionary: dictionary, nodes: peers)
  end

  test "chunk_files: each node reads the paths itself; metadata only unless data: true",
       %{peers: peers} do
    dir = Path.join(System.tmp_dir!(), "chunker-cluster-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf!(dir) end)

    paths =
      for i <- 1..20 do
        path = Path.join(dir, "f#{i}")
        File.write!(path, Chunker.TestData.random_bytes(50_000 * i, i))
        path
      end

    paths = paths ++ [Path.join(dir, "missing")]
    local = Enum.map(paths, &Chunker.chunk_file(&1, avg_size: 16_384, data: false))

    assert {:ok, ^local} =
             Cluster.chunk_files(paths, avg_size: 16_384, nodes: peers, batch_items: 3)

    assert {:ok, results} = Cluster.chunk_files(Enum.take(paths, 2), nodes: peers, data: true)

    assert Enum.map(results, fn {:ok, chunks} -> Enum.map_join(chunks, & &1.data) end) ==
             Enum.map(Enum.take(paths, 2), &File.read!/1)
  end

  test "the stream variant pulls its input lazily, in bounded batches", %{peers: peers} do
    pulled = :counters.new(1, [])

    input =
      Stream.map(1..1_000_000, fn i ->
        :counters.add(pulled, 1, 1)
        "item #{i}"
      end)

    first =
      input
      |> Cluster.stream({:hash, :blake3}, nodes: peers, batch_items: 50, max_in_flight: 2)
      |> Enum.take(120)

    assert first == Chunker.Hash.hash_many(Enum.map(1..120, &"item #{&1}"), :blake3)
    # The 3 batches handed on, and at most a window of 2 x 2 per node x 2 nodes batches of 50
    # in flight or waiting to be handed on: never the whole input.
    assert :counters.get(pulled, 1) <= (3 + 8) * 50
  end

  @tag :telemetry
  test "a peer killed mid-run: its batches run again on the other, results complete and once",
       %{peers: peers} do
    {_pid, doomed} = Peers.start!()
    ref = make_ref()
    test = self()

    :telemetry.attach_many(
      "cluster-test",
      [[:chunker, :cluster, :batch, :stop], [:chunker, :cluster, :batch, :exception]],
      fn [_, _, _, kind], _measure, %{node: node, batch: index}, _ ->
        send(test, {ref, kind, node, index})
      end,
      nil
    )

    on_exit(fn -> :telemetry.detach("cluster-test") end)

    # xz at level 6: slow enough that the run is still going when the peer is halted.
    items = items(40, 200_000)
    {:ok, expected} = Compression.compress_many(items, :xz, level: 6)

    killer =
      spawn(fn ->
        receive do
          {:go, node} -> :erpc.cast(node, :erlang, :halt, [])
        end
      end)

    task =
      Task.async(fn ->
        Cluster.compress_many(items, :xz, level: 6, nodes: [doomed, hd(peers)], batch_items: 1)
      end)

    # Halt the doomed peer once it has finished a batch (so it was working when it died).
    assert_receive {^ref, :stop, ^doomed, first}, 30_000
    send(killer, {:go, doomed})

    assert {:ok, results} = Task.await(task, 120_000)
    assert results == expected

    events = collect_batches(ref, [{:stop, doomed, first}])
    stops = for {:stop, node, index} <- events, do: {node, index}
    lost = for {:exception, ^doomed, index} <- events, do: index

    # Every batch finished exactly once; those the doomed node had in flight when it went
    # down (it always had one: each node has two) finished on the other peer.
    assert stops |> Enum.map(&elem(&1, 1)) |> Enum.sort() == Enum.to_list(0..39)
    assert lost != []
    for index <- lost, do: assert({hd(peers), index} in stops)
    refute doomed in Node.list()
  end

  defp collect_batches(ref, acc) do
    receive do
      {^ref, kind, node, index} -> collect_batches(ref, [{kind, node, index} | acc])
    after
      0 -> acc
    end
  end

  test "a peer without chunker loaded, or with another version, is refused up front" do
    {_pid, bare} = Peers.start!(without: ["chunker/ebin"])

    assert {:error, %Chunker.Error{reason: :node_refused, message: message}} =
             Cluster.compress_many(["x"], :zstd, nodes: [node(), bare])

    assert message == "node #{bare} refused: chunker is not loaded there"

    assert_raise Chunker.Error, ~r/node #{bare} refused/, fn ->
      Cluster.hash_many(["x"], :blake3, nodes: [bare])
    end

    {_pid, other} = Peers.start!()

    :ok =
      :erpc.call(other, :application, :load, [
        {:application, :chunker,
         [vsn: ~c"9.9.9", modules: [], registered: [], applications: [:kernel, :stdlib]]}
      ])

    assert {:error, %Chunker.Error{reason: :node_refused, message: message}} =
             Cluster.chunk_files(["mix.exs"], nodes: [other])

    assert message =~
             "node #{other} refused: it runs chunker 9.9.9, and this node #{Application.spec(:chunker, :vsn)}"
  end

  test "when every node fails, the error says which and how much was done", %{peers: peers} do
    items = items(20, 300_000)

    assert {:error, %Chunker.Error{reason: :no_nodes_left, message: message, details: details}} =
             Cluster.compress_many(items, :xz, level: 9, nodes: peers, timeout: 1, batch_items: 1)

    assert message =~ "no node left to run on: "
    assert message =~ "(:timeout)"
    assert Enum.sort(Enum.map(details.failed, &elem(&1, 0))) == Enum.sort(peers)
    assert details.done_items == 0
  end

  # Nothing may be left behind in the caller (a GenServer's mailbox): no worker, no DOWN
  # message, no process-dictionary entry, however the run ends.
  defp assert_nothing_left(workers_before) do
    Process.sleep(200)
    refute_received {:DOWN, _, _, _, _}
    assert Process.get_keys() |> Enum.filter(&match?({Chunker.Cluster.Dispatch, _}, &1)) == []
    assert length(Process.list()) <= workers_before + 2
  end

  test "nothing is left behind: halted early, consumer raising, input raising, no node left",
       %{peers: peers} do
    before = length(Process.list())
    items = Stream.map(1..100_000, &"item #{&1}")
    opts = [nodes: [node() | peers], batch_items: 10]

    assert [_ | _] = items |> Cluster.stream({:hash, :blake3}, opts) |> Enum.take(25)
    assert_nothing_left(before)

    assert_raise RuntimeError, "consumer", fn ->
      items |> Cluster.stream({:hash, :blake3}, opts) |> Enum.each(fn _ -> raise "consumer" end)
    end

    assert_nothing_left(before)

    input = Stream.map(1..10_000, fn i -> if i == 95, do: raise("input"), else: "item #{i}" end)

    assert_raise RuntimeError, "input", fn ->
      input |> Cluster.stream({:hash, :blake3}, opts) |> Stream.run()
    end

    assert_nothing_left(before)

    slow = for _ <- 1..8, do: :binary.copy("slow to compress ", 20_000)

    assert {:error, %Chunker.Error{reason: :no_nodes_left}} =
             Cluster.compress_many(slow, :xz, level: 9, nodes: peers, timeout: 1, batch_items: 1)

    assert_nothing_left(before)
  end

  test "a batch on the caller's own node is timed too" do
    slow = for _ <- 1..2, do: :binary.copy("slow to compress ", 50_000)

    assert {:error, %Chunker.Error{reason: :no_nodes_left, details: details}} =
             Cluster.compress_many(slow, :xz,
               level: 9,
               nodes: [node()],
               timeout: 1,
               batch_items: 1
             )

    assert details.failed == [{node(), :timeout}]
  end

  test "bad input raises in the caller before anything is sent", %{peers: peers} do
    assert_raise ArgumentError, fn ->
      Cluster.hash_many(["ok", :not_iodata], :blake3, nodes: peers)
    end

    assert_raise ArgumentError, fn -> Cluster.stream(["x"], {:unknown, 1}, nodes: peers) end

    assert {:error, %Chunker.Error{reason: :no_nodes}} =
             Cluster.compress_many(["x"], :zstd, nodes: [])

    for bad <- [
          max_in_flight: 0,
          batch_items: 0,
          batch_bytes: -1,
          timeout: -5,
          nodes: "a@b",
          colour: :red
        ] do
      assert_raise ArgumentError, ~r/invalid Chunker.Cluster option/, fn ->
        Cluster.hash_many(["x"], :blake3, [bad])
      end
    end
  end
end
