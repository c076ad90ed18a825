defmodule Chunker.Error do
  @moduledoc """
  The error returned (inside `{:error, error}`) or raised by `Chunker` functions.

  `reason` is an atom to match on; `message` says what went wrong in words:

    * `:invalid_options` - an option is unknown or out of range; the message names it and
      the allowed values
    * `:stream_finished` - a low-level stream was used after it was finished or closed
    * `:stream_busy` - a low-level stream is in use by another call at the same moment
    * `:nif_not_loaded` - the native library could not be loaded; the message says why
    * a `File` reason such as `:enoent` or `:eacces` - from `Chunker.chunk_file/2`,
      `Chunker.NAR.dump/1` and `Chunker.NAR.restore/2` (`:eexist`: the destination exists)
    * `:invalid_nar` - not a valid Nix archive; the message gives the offset and the fault
    * `:unsupported_file_type`, `:file_changed` - `Chunker.NAR.dump/1` met a socket, device
      or FIFO, or a file that shrank while it was read
    * `:invalid_base32`, `:invalid_key`, `:invalid_signature`, `:invalid_narinfo`,
      `:invalid_hash` - malformed Nix values (`Chunker.Nix.*`)
    * `:untrusted_key`, `:bad_signature` - from `Chunker.Nix.Signing.check/3`
    * `:size_exceeded`, `:truncated`, `:corrupt`, ... - compression errors, listed in
      `Chunker.Compression`
  """

  defexception [:reason, :message]

  @type t :: %__MODULE__{reason: atom(), message: String.t()}

  @doc false
  @spec new(atom(), String.t()) :: t()
  def new(reason, message) when is_atom(reason) and is_binary(message) do
    %__MODULE__{reason: reason, message: message}
  end
end
