defmodule Chunker.Analyze.Progress do
  @moduledoc false
  # A one-line progress bar on stderr for `mix chunker.analyze`: bytes done of the total,
  # rate and time left, redrawn at most every @interval_ms (an update is one clock read when
  # it is not time to draw), erased at the end.

  @interval_ms 250
  @width 24

  defstruct [:total, :started, :last, :device]

  @type t :: %__MODULE__{}

  @doc "A progress bar for `total` bytes (`nil` when unknown: no bar, no time left)."
  @spec new(non_neg_integer() | nil, IO.device()) :: t()
  def new(total, device \\ :stderr) do
    now = System.monotonic_time(:millisecond)
    %__MODULE__{total: total, started: now, last: now, device: device}
  end

  @doc "Records that `done` bytes are done; redraws if the last draw is old enough."
  @spec update(t(), non_neg_integer()) :: t()
  def update(progress, done) do
    now = System.monotonic_time(:millisecond)

    if now - progress.last >= @interval_ms do
      IO.write(progress.device, ["\r", line(progress, done, now), "\e[K"])
      %{progress | last: now}
    else
      progress
    end
  end

  @doc "Erases the bar."
  @spec finish(t()) :: :ok
  def finish(progress), do: IO.write(progress.device, "\r\e[K")

  @doc "The text of the bar for `done` bytes at `now` (monotonic milliseconds)."
  @spec line(t(), non_neg_integer(), integer()) :: String.t()
  def line(progress, done, now) do
    seconds = max(now - progress.started, 1) / 1000
    rate = done / seconds

    case progress.total do
      total when is_integer(total) and total > 0 ->
        fraction = min(done / total, 1.0)
        filled = round(fraction * @width)
        left = if rate > 0, do: max(total - done, 0) / rate, else: nil

        "[#{String.duplicate("#", filled)}#{String.duplicate(" ", @width - filled)}] " <>
          "#{size(done)} / #{size(total)}  #{round(fraction * 100)}%  #{mb(rate)} MB/s  " <>
          "ETA #{clock(left)}"

      _unknown ->
        "#{size(done)}  #{mb(rate)} MB/s  #{clock(seconds)} elapsed"
    end
  end

  defp mb(rate), do: round(rate / 1_000_000)

  defp clock(nil), do: "-"

  defp clock(seconds) do
    s = round(seconds)
    "#{div(s, 60)}:#{String.pad_leading(Integer.to_string(rem(s, 60)), 2, "0")}"
  end

  @doc "`bytes` in binary units, one decimal unless whole: `\"3.9 GiB\"`, `\"16 KiB\"`."
  @spec size(non_neg_integer()) :: String.t()
  def size(bytes) when bytes < 1024, do: "#{bytes} B"

  def size(bytes) do
    {value, unit} =
      Enum.reduce_while(
        [{"KiB", 1024}, {"MiB", 1_048_576}, {"GiB", 1_073_741_824}, {"TiB", 1_099_511_627_776}],
        nil,
        fn
          {unit, scale}, _acc when bytes < scale * 1024 -> {:halt, {bytes / scale, unit}}
          {unit, scale}, _acc -> {:cont, {bytes / scale, unit}}
        end
      )

    if value == trunc(value),
      do: "#{trunc(value)} #{unit}",
      else: "#{:erlang.float_to_binary(value, decimals: 1)} #{unit}"
  end
end
