defmodule Chunker.Chunk do
  @moduledoc """
  One content-defined chunk.

    * `:offset` - position of the chunk's first byte, counted from the start of the input
    * `:length` - number of bytes (never zero)
    * `:hash` - the 32-byte digest of the chunk's bytes (`hash:` option), or `nil` with `hash: :none`
    * `:data` - the chunk's bytes, or `nil` with `data: false`

  From `Chunker.chunk/2`, `data` is a sub-binary of the input: no bytes are copied, and the
  input stays in memory as long as any of its chunks does. Use `:binary.copy/1` on the chunks
  you keep if you want to let a large input go.
  """

  @enforce_keys [:offset, :length]
  defstruct [:offset, :length, :hash, :data]

  @type t :: %__MODULE__{
          offset: non_neg_integer(),
          length: pos_integer(),
          hash: <<_::256>> | nil,
          data: binary() | nil
        }
end
