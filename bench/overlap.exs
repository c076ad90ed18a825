# How much of a stream's chunking overlaps the time its caller spends between pieces: a stream
# hands the rest of a large piece to chunker's threads and returns, so that the caller can
# wait for its next piece (a disk, a socket) while that piece is chunked. 256 MiB of random
# data, as 8 MiB pieces taken from memory, with a pause of PAUSE ms before each piece (as a
# slow source would make), chunked with BLAKE3 at 64 KiB average chunks.
#
#   mix run bench/overlap.exs [PAUSE_MS ...]
#
# PAUSE_MS defaults to 0 1 3. For each pause prints the total time, the pauses' share of it,
# and the median time the stream took per piece (the caller's wait for chunker). With full
# overlap a pause shorter than the chunking of a piece costs nothing and the per-piece wait
# falls as the pause grows. Run it with and without the VM's busy-waiting
# (`ELIXIR_ERL_OPTIONS="+sbwt none +sbwtdcpu none +sbwtdio none"`): on a machine with few
# cores, schedulers spinning while the caller pauses take the cores chunker's threads need.
# Each figure is the fastest of 3 runs.

pauses =
  case System.argv() do
    [] -> [0, 1, 3]
    args -> Enum.map(args, &String.to_integer/1)
  end

piece_size = 8 * 1_048_576
data = :crypto.strong_rand_bytes(32 * piece_size)
pieces = for <<piece::binary-size(piece_size) <- data>>, do: piece
options = [avg_size: 65_536, hash: :blake3]
now = fn -> System.monotonic_time(:microsecond) end

# The pieces with the pause before each, recording when each was handed over and when the
# stream asked for the next one: the difference is the time spent in chunker for that piece.
run = fn pause ->
  Process.put(:waits, [])
  Process.put(:asked, nil)

  paced =
    Stream.map(pieces, fn piece ->
      if asked = Process.get(:asked),
        do: Process.put(:waits, [now.() - asked | Process.get(:waits)])

      if pause > 0, do: Process.sleep(pause)
      Process.put(:asked, now.())
      piece
    end)

  {micros, _} = :timer.tc(fn -> paced |> Chunker.stream(options) |> Stream.run() end)
  waits = Enum.sort(Process.get(:waits))
  {micros, Enum.at(waits, div(length(waits), 2))}
end

# The stream's first run learns the work's pace.
run.(0)

for pause <- pauses do
  {micros, wait} = Enum.min_by(Enum.map(1..3, fn _ -> run.(pause) end), &elem(&1, 0))
  paused = pause * 1000 * length(pieces)

  IO.puts(
    "pause #{pause} ms: #{div(micros, 1000)} ms in all (#{round(byte_size(data) / micros)} MB/s), " <>
      "pauses #{div(paused * 100, micros)}% of it; median wait in chunker per piece #{wait} us"
  )
end
