defmodule Chunker.LiveResources do
  @moduledoc false
  # The native resources alive, by kind (`Chunker.stats().resources`), for tests that check
  # that abandoned work leaves nothing behind. A count can fall below a baseline taken at the
  # start of a test: ExUnit does not wait for the process of the test before to exit, and the
  # resources its heap still held go when it does. So "back to the baseline" is "no kind above
  # its count in the baseline", never equality, which could then not come back.

  @doc "The resources alive now, by kind."
  def now, do: Chunker.stats().resources

  @doc "Whether no kind of resource is above its count in `baseline` (a map as from now/0)."
  def at_most?(baseline),
    do: Enum.all?(now(), fn {kind, count} -> count <= Map.fetch!(baseline, kind) end)
end
