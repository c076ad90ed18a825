# What spreading work over nodes costs: Chunker.Cluster against the local batch functions, in
# the same run, with one peer node on this machine (started with OTP's :peer, on 127.0.0.1).
# On one machine the peer shares the caller's cores, so this measures overhead, not speed-up.
#
#   mix run bench/cluster.exs
#
# Prints the per-item cost of dispatch (10,000 small items), the per-byte cost of sending
# binaries to a node (256 MiB in 1 MiB items), and the caller's peak memory while a lazy input
# of 10,000 items of 64 KiB (625 MiB in all) is compressed on the peer.
Code.require_file("../test/support/peers.ex", __DIR__)

alias Chunker.Cluster

{_pid, peer} = Chunker.Peers.start!()

best = fn runs, fun ->
  Enum.map(1..runs, fn _ -> fun |> :timer.tc() |> elem(0) end) |> Enum.min()
end

# The caller's peak memory over a lazy input of 10,000 items of 64 KiB, compressed on the peer.
input =
  Stream.map(1..10_000, fn i ->
    :binary.copy(<<i::32, "some compressible text ">>, 2_500) |> binary_part(0, 65_536)
  end)

:erlang.garbage_collect()
baseline = :erlang.memory(:total)
parent = self()

sampler =
  spawn(fn ->
    sample = fn sample, peak ->
      receive do
        :stop -> send(parent, {:peak, peak})
      after
        5 -> sample.(sample, max(peak, :erlang.memory(:total)))
      end
    end

    sample.(sample, baseline)
  end)

{micros, count} =
  :timer.tc(fn ->
    input
    |> Cluster.stream({:compress, :lz4}, nodes: [peer])
    |> Enum.reduce(0, fn {:ok, _frame}, n -> n + 1 end)
  end)

send(sampler, :stop)
peak = receive do: ({:peak, peak} -> peak)

IO.puts("""
Cluster.stream({:compress, :lz4}) of 10,000 items of 64 KiB (625 MiB) on the peer: #{count} results in \
#{Float.round(micros / 1.0e6, 2)} s; the caller's VM memory #{Float.round(baseline / 1_048_576, 1)} MiB \
before, #{Float.round(peak / 1_048_576, 1)} MiB at the peak (sampled every 5 ms)
""")

small = for i <- 1..10_000, do: :binary.copy(<<rem(i, 251)>>, 100)
large = for i <- 1..256, do: :binary.copy(<<i, i + 1, i + 2, i + 3>>, 262_144)

rows = [
  {"hash_many BLAKE3, 10,000 items of 100 B", small, 10_000, 1_000_000},
  {"hash_many BLAKE3, 256 items of 1 MiB", large, 256, 268_435_456}
]

IO.puts("| workload | local | Cluster, this node only | Cluster, one peer | peer - local |")
IO.puts("|---|---|---|---|---|")

for {name, items, count, bytes} <- rows do
  expected = Chunker.Hash.hash_many(items, :blake3)
  ^expected = Cluster.hash_many(items, :blake3, nodes: [peer])
  local = best.(5, fn -> Chunker.Hash.hash_many(items, :blake3) end)
  here = best.(5, fn -> Cluster.hash_many(items, :blake3, nodes: [node()]) end)
  remote = best.(5, fn -> Cluster.hash_many(items, :blake3, nodes: [peer]) end)
  extra = remote - local

  per =
    if count > 1_000,
      do: "#{Float.round(extra / count, 2)} us/item",
      else: "#{Float.round(extra * 1000 / bytes, 2)} ns/byte"

  IO.puts("| #{name} | #{local} us | #{here} us | #{remote} us | #{per} |")
end
