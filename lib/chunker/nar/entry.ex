defmodule Chunker.NAR.Entry do
  @moduledoc """
  One node of a NAR, as `Chunker.NAR.entries/1` yields it.

    * `path` - relative to the archive's root, `/`-separated, as raw bytes (names need not
      be UTF-8); `""` for the root itself
    * `type` - `:regular`, `:directory` or `:symlink`
    * `executable` - true for an executable regular file
    * `size` - a regular file's length in bytes (`nil` otherwise)
    * `offset` - where a regular file's contents start in the NAR (`nil` otherwise), so
      `binary_part(nar, offset, size)` is the file
    * `target` - a symlink's target, as stored (`nil` otherwise)
  """

  @enforce_keys [:path, :type]
  defstruct [:path, :type, :size, :offset, :target, executable: false]

  @type t :: %__MODULE__{
          path: binary(),
          type: :regular | :directory | :symlink,
          executable: boolean(),
          size: non_neg_integer() | nil,
          offset: non_neg_integer() | nil,
          target: binary() | nil
        }
end
