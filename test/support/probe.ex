defmodule Chunker.Probe do
  @moduledoc false
  # A process that sleeps 1 ms in a loop and records the gaps between its wake-ups: how late
  # the VM lets a timer fire while work runs, which is what a NIF holding a scheduler (or a
  # long dirty call, which the schedulers busy-wait for) shows up as.

  @doc "Starts the probe."
  def start, do: Task.async(fn -> loop(System.monotonic_time(:microsecond), []) end)

  @doc """
  Stops it: %{wakeups, p99, max, lateness, gaps} (microseconds; lateness is max less 1 ms,
  gaps all of them, longest first).
  """
  def stop(probe) do
    send(probe.pid, :stop)
    sorted = probe |> Task.await() |> Enum.sort()
    count = length(sorted)
    max = List.last(sorted) || 0

    %{
      wakeups: count,
      p99: Enum.at(sorted, min(count - 1, div(count * 99, 100))) || 0,
      max: max,
      lateness: max(max - 1_000, 0),
      gaps: Enum.reverse(sorted)
    }
  end

  @doc "How many of the probe's wake-ups came `us` microseconds or more after the last."
  def gaps_over(%{gaps: gaps}, us), do: gaps |> Enum.take_while(&(&1 >= us)) |> length()

  defp loop(last, gaps) do
    receive do
      :stop -> gaps
    after
      1 ->
        now = System.monotonic_time(:microsecond)
        loop(now, [now - last | gaps])
    end
  end
end
