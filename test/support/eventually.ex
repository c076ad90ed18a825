defmodule Chunker.Eventually do
  @moduledoc false
  # Waiting for something that happens asynchronously (resources freed by the garbage
  # collector, processes exiting), polling every 10 ms.

  @doc "True once `condition` returns true, polling up to `tries` times (3 s by default)."
  def eventually(condition, tries \\ 300) do
    cond do
      condition.() -> true
      tries == 0 -> false
      true -> Process.sleep(10) && eventually(condition, tries - 1)
    end
  end
end
