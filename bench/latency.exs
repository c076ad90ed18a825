# How late a 1 ms sleeper wakes up while the load of test/chunker/latency_test.exs runs (4
# processes: chunk + BLAKE3, stream + SHA-256, hash, and compress_many at zstd 3, 256 MiB
# each), over several rounds pooled, against the idle VM measured in the same run. The test
# itself runs one round (about 600 wake-ups, so its p99 is the sixth-longest gap and moves a
# lot from run to run); pooling rounds makes two builds comparable.
#
#   mix run bench/latency.exs [ROUNDS]
#
# ROUNDS defaults to 5. Prints one line: the load's time per round, the gaps' median, p99 and
# longest, and the idle VM's p99 and longest (microseconds).

alias Chunker.{Compression, Hash}

rounds =
  case System.argv() do
    [n] -> String.to_integer(n)
    [] -> 5
  end

block = :crypto.strong_rand_bytes(16 * 1_048_576)
data = :binary.copy(block, 16)
# Real data to compress: a tar of the OTP installation, as the test uses.
unless File.exists?("tmp/otp.tar") do
  File.mkdir_p!("tmp")
  {_, 0} = System.cmd("tar", ["-cf", "tmp/otp.tar", "-C", to_string(:code.root_dir()), "."])
end

real = File.read!("tmp/otp.tar")
real_items = for <<item::binary-size(1_048_576) <- real>>, do: item
items = Stream.cycle(real_items) |> Enum.take(256)
pieces = for <<piece::binary-size(1_048_576) <- data>>, do: piece

workers = [
  fn -> Chunker.chunk!(data, hash: :blake3) end,
  fn -> pieces |> Chunker.stream(hash: :sha256) |> Stream.run() end,
  fn -> {Hash.blake3(data), Hash.sha256(data)} end,
  fn -> {:ok, _} = Compression.compress_many(items, :zstd, level: 3) end
]

# The gaps between the wake-ups of a process sleeping 1 ms in a loop while `fun` runs.
probed = fn fun ->
  sleeper =
    Task.async(fn ->
      loop = fn loop, last, gaps ->
        receive do
          :stop -> gaps
        after
          1 ->
            now = System.monotonic_time(:microsecond)
            loop.(loop, now, [now - last | gaps])
        end
      end

      loop.(loop, System.monotonic_time(:microsecond), [])
    end)

  {micros, _} = :timer.tc(fun)
  send(sleeper.pid, :stop)
  {micros, Task.await(sleeper)}
end

{_, idle} = probed.(fn -> Process.sleep(1_500) end)

{times, gaps} =
  1..rounds
  |> Enum.map(fn _ ->
    probed.(fn -> workers |> Enum.map(&Task.async/1) |> Task.await_many(300_000) end)
  end)
  |> Enum.unzip()

at = fn sorted, percent -> Enum.at(sorted, div(length(sorted) * percent, 100)) end
{gaps, idle} = {Enum.sort(Enum.concat(gaps)), Enum.sort(idle)}

IO.puts(
  "load #{div(Enum.sum(times), rounds * 1000)} ms a round; #{length(gaps)} gaps: " <>
    "p50 #{at.(gaps, 50)}, p99 #{at.(gaps, 99)}, max #{List.last(gaps)} us " <>
    "(idle VM: p99 #{at.(idle, 99)}, max #{List.last(idle)} us)"
)
