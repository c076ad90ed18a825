defmodule Chunker.Error do
  @moduledoc """
  The error returned (inside `{:error, error}`) or raised by `Chunker` functions.

  `reason` is an atom to match on; `message` says what went wrong in words; `details` is a
  map of what a caller can act on, often empty:

    * `:invalid_options` - an option is unknown or out of range; the message names it and
      the allowed values, `details.option` names it when one option is at fault
    * `:memory_budget_exceeded` - a stream's settings could hold more than `memory_budget:`
    * a `File` reason such as `:enoent` or `:eacces` - from `Chunker.chunk_file/2`,
      `Chunker.stream_file/2`, `Chunker.NAR.dump/1` and `Chunker.NAR.restore/2`
      (`:eexist`: the destination exists); `details.path` is the path
    * `:file_changed` - a file changed while it was read (it shrank, was modified or
      replaced); `details.path` names it. `:unsupported_file_type` - `Chunker.NAR.dump/1` met
      a socket, device or FIFO
    * `:invalid_nar` - not a valid Nix archive; the message gives the offset and the fault,
      `details.offset` the offset
    * `:invalid_base32`, `:invalid_key`, `:invalid_signature`, `:invalid_narinfo`,
      `:invalid_hash` - malformed Nix values (`Chunker.Nix.*`)
    * `:untrusted_key`, `:bad_signature` - from `Chunker.Nix.Signing.check/3`
    * `:size_exceeded`, `:truncated`, `:trailing_data`, `:format_mismatch`, `:corrupt`, ... -
      compression errors, listed in `Chunker.Compression` (`details.offset` where the fault
      is, `details.limit` for `:size_exceeded`)
    * `:invalid_dictionary`, `:dictionary_required`, `:unknown_dictionary` (`details.id`: the
      dictionary the frame needs), `:not_enough_samples`, `:training_failed` - zstd
      dictionaries (`Chunker.Compression.Dictionary`)
    * `:stream_finished`, `:stream_busy` - a native stream used after it was finished, or by
      two calls at once
    * `:nif_not_loaded` - the native library could not be loaded; the message says why

      iex> {:error, error} = Chunker.chunk("data", min_size: 3)
      iex> {error.reason, error.details}
      {:invalid_options, %{option: :min_size}}
  """

  defexception [:reason, :message, details: %{}]

  @type t :: %__MODULE__{reason: atom(), message: String.t(), details: map()}

  @doc false
  @spec new(atom(), String.t(), map()) :: t()
  def new(reason, message, details \\ %{})
      when is_atom(reason) and is_binary(message) and is_map(details) do
    count(reason)
    %__MODULE__{reason: reason, message: message, details: details}
  end

  # Errors made in Elixir are counted by reason in Chunker.stats/0 (the NIF counts its own);
  # without the NIF there is nothing to count them in.
  defp count(reason) do
    Chunker.Native.count_error(reason)
  catch
    _kind, _reason -> :ok
  end

  # The one shape every NIF error has: {reason, message, details} (counted by the NIF).
  @doc false
  @spec from_native({atom(), String.t(), map()}) :: t()
  def from_native({reason, message, details}),
    do: %__MODULE__{reason: reason, message: message, details: details}
end
