defmodule Chunker.ResourceTest do
  # Streams abandoned by processes that die mid-stream must be freed. Three rounds each start
  # 10,000 processes that stream one 60 KB piece and block (so each holds an open native
  # stream with the piece buffered), then kill them all. After each round the count of live
  # stream resources and the bytes the native code holds (counted by its allocator) return to
  # their baseline, and the VM's own memory does too.
  use ExUnit.Case, async: false

  import Chunker.Eventually

  alias Chunker.{LiveResources, TestData}

  @streams 10_000
  # At least the 64 KiB a stream gathers before it feeds the NIF (lib/chunker/gather.ex).
  @piece_size 65_536

  test "10,000 streams abandoned mid-feed leave nothing behind, round after round" do
    piece = TestData.random_bytes(@piece_size, 12)
    live = LiveResources.now()
    # A first round warms up what is allocated once (rayon's pool, atom tables).
    abandon_round(piece)
    assert_settles(fn -> LiveResources.at_most?(live) end, fn -> resources(live) end)
    # The baseline again, now that what was left before this test has had time to go.
    live = LiveResources.now()
    native = Chunker.Native.allocated_bytes()
    vm = :erlang.memory(:total)

    for _round <- 1..3 do
      peak = abandon_round(piece)
      assert peak >= @streams * @piece_size, "the round held only #{peak} native bytes"
      assert_settles(fn -> LiveResources.at_most?(live) end, fn -> resources(live) end)

      assert_settles(
        fn -> Chunker.Native.allocated_bytes() <= native + 65_536 end,
        fn -> "native heap: #{Chunker.Native.allocated_bytes() - native} bytes above baseline" end
      )
    end

    :erlang.garbage_collect()

    assert_settles(
      fn -> :erlang.memory(:total) < vm + 16 * 1_048_576 end,
      fn -> "VM memory: #{div(:erlang.memory(:total) - vm, 1024)} KiB above baseline" end
    )
  end

  # 10,000 processes killed at once exit, and free what they held, as the schedulers get to
  # them: given up to 30 s on a loaded machine. A leak never settles; the message says what
  # was left.
  defp assert_settles(condition, message) do
    unless eventually(condition, 3_000), do: flunk(message.())
  end

  defp resources(live), do: "resources #{inspect(LiveResources.now())}, before #{inspect(live)}"

  # Returns the native bytes allocated while all the streams were open.
  defp abandon_round(piece) do
    parent = self()

    pids =
      for i <- 1..@streams do
        spawn(fn ->
          blocked =
            Stream.repeatedly(fn ->
              send(parent, {:fed, i})
              Process.sleep(:infinity)
            end)

          # min_size (256 KiB) > the piece: no chunk can complete, the whole piece stays held.
          Stream.concat([piece], blocked) |> Chunker.stream(avg_size: 1_048_576) |> Stream.run()
        end)
      end

    for i <- 1..@streams, do: assert_receive({:fed, ^i}, 30_000)
    peak = Chunker.Native.allocated_bytes()
    Enum.each(pids, &Process.exit(&1, :kill))
    peak
  end
end
