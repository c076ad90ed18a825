defmodule Chunker.Eventually do
  @moduledoc false
  # Waiting for something that happens asynchronously (resources freed by the garbage
  # collector, processes exiting), polling every 10 ms. What it waits for takes milliseconds on
  # a quiet machine, and can take seconds on a loaded one; only a condition that never holds
  # (a leak) waits the whole time, so the time is generous.

  @doc "True once `condition` returns true, polling up to `tries` times (10 s by default)."
  def eventually(condition, tries \\ 1_000) do
    cond do
      condition.() -> true
      tries == 0 -> false
      true -> Process.sleep(10) && eventually(condition, tries - 1)
    end
  end
end
