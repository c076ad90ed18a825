defmodule Chunker.NAR do
  @moduledoc """
  Nix archives (NAR): writing one from a file, symlink or directory tree, listing one,
  restoring one, all as streams in bounded memory.

  A NAR is what Nix hashes, signs and ships for a store path. `dump/1` writes exactly the
  bytes `nix-store --dump` writes; `entries/1` and `restore/2` accept exactly what current
  Nix accepts, and point at the offset of anything else.

      nar = Chunker.NAR.dump("/nix/store/...-hello")
      nar_hash = "sha256:" <> Chunker.Nix.Base32.encode(nar |> Enum.to_list() |> Chunker.Hash.sha256())

      nar |> Chunker.stream(preset: :nar, nar_aware: true) |> Enum.each(&store_chunk/1)

  ## Scheduling

  `dump/1` reads files and directories on dirty I/O schedulers, at most 1 MiB and about
  2 ms per call. `entries/1` and `restore/2` parse each piece on the caller's scheduler for
  about 100 us (charged to the caller), then on dirty schedulers (see "Scheduling" in
  `Chunker`); a file's contents are passed on as sub-binaries of the input, without a copy.
  `restore/2` writes with `:file` in raw mode, whose calls run on dirty I/O schedulers.

  ## Errors

  An invalid NAR raises (from the streams) or returns (from `restore/2`) a
  `Chunker.Error` with reason `:invalid_nar` and a message such as
  `"invalid NAR at offset 136: unsorted directory entry \\"a\\" after \\"b\\""`. File system
  errors carry the `File` reason (`:enoent`, `:eacces`, ...) and the path in the message.
  """

  import Bitwise, only: [<<<: 2, bor: 2]

  alias Chunker.{Error, Gather, Input, Native, Telemetry}
  alias Chunker.Native.Run
  alias Chunker.NAR.Entry

  @read_size 1_048_576

  @doc """
  The NAR of the file, symlink or directory at `path`, as a lazy stream of binaries
  (pieces of at most 1 MiB) whose concatenation is byte-identical to `nix-store --dump path`.

  Memory stays bounded whatever the tree's size: file contents are read piece by piece, and
  only the entry names of the directories being written are held. A symlink at `path` is
  archived as a symlink, not followed. Enumerating raises `Chunker.Error` when a path
  cannot be read (reason `:enoent`, `:eacces`, ...), when the tree holds a socket, device
  or FIFO (`:unsupported_file_type`), or when a file shrinks while it is read
  (`:file_changed`).

      iex> dir = Path.join(System.tmp_dir!(), "chunker-nar-doc-\#{System.unique_integer([:positive])}")
      iex> File.write!(dir, "hi")
      iex> nar = dir |> Chunker.NAR.dump() |> Enum.join()
      iex> byte_size(nar)
      120
      iex> [%Chunker.NAR.Entry{type: :regular, size: 2, offset: offset}] = Chunker.NAR.entries([nar]) |> Enum.to_list()
      iex> binary_part(nar, offset, 2)
      "hi"
      iex> File.rm!(dir)
      :ok
  """
  @spec dump(Path.t()) :: Enumerable.t()
  def dump(path) do
    path = Input.path!(path, "dump/1")

    Telemetry.stream(
      [:nar, :dump],
      %{operation: :dump, path: path},
      fn _count -> dump_pieces(path) end,
      :bytes
    )
  end

  defp dump_pieces(path) do
    Stream.resource(
      fn -> path |> Native.nar_dump_open() |> Run.result() |> Run.ok!() end,
      fn dump ->
        case Native.nar_dump_read(dump, @read_size) do
          {:ok, piece} -> {[piece], dump}
          :eof -> {:halt, dump}
          {:error, native} -> raise Error.from_native(native)
        end
      end,
      &Native.nar_dump_close/1
    )
  end

  @doc """
  Lazily parses a NAR given as an enumerable of iodata pieces (any sizes), yielding a
  `Chunker.NAR.Entry` for each node, parents before children, in archive order. Pieces under
  64 KiB are gathered into one NIF call, so an entry is yielded at most 64 KiB of input
  after its header arrives.

  The NAR is validated as current Nix validates it: the magic string, zero padding, names
  that are non-empty, not `.` or `..` and without `/` or NUL, entries strictly sorted by name
  bytes (so no duplicates), an empty executable marker, known node types, no data after the
  root node and no early end. The first problem raises `Chunker.Error` (reason
  `:invalid_nar`), after the entries before it were yielded.

      iex> Chunker.NAR.entries([<<13::little-64, "nix-archive-2", 0, 0, 0>>]) |> Enum.to_list()
      ** (Chunker.Error) invalid NAR at offset 0: not a NAR: it does not start with the string "nix-archive-1" (its first string is "nix-archive-2")
  """
  @spec entries(Enumerable.t()) :: Enumerable.t()
  def entries(enumerable) do
    Telemetry.stream(
      [:nar, :entries],
      %{operation: :entries},
      &(&1.(Gather.blocks(enumerable)) |> entry_stream()),
      :entries
    )
  end

  defp entry_stream(enumerable) do
    enumerable
    |> events(false)
    |> Stream.map(fn
      {:directory, path} ->
        %Entry{path: path, type: :directory}

      {:symlink, path, target} ->
        %Entry{path: path, type: :symlink, target: target}

      {:file, path, executable, size, offset} ->
        %Entry{path: path, type: :regular, executable: executable, size: size, offset: offset}
    end)
  end

  @doc """
  Recreates the tree a NAR holds (a binary, iodata, or an enumerable of iodata pieces such as
  `dump/1` gives) at `dest`, as
  `nix-store --restore dest` does: directories, regular files (executable ones get the
  execute bits, as in Nix), symlinks with their targets as stored.

  `dest` must not exist; its parent must. `dest` is claimed at once as an empty directory, the
  tree is written under a temporary name next to it and moved to `dest` only once the whole
  NAR has been read and found valid, so `dest` never holds a partial tree (and a concurrent
  restore to the same `dest` fails with `:eexist`). On error the temporary tree is removed, and
  `{:error, %Chunker.Error{}}` is returned: `:eexist` if `dest` exists, `:invalid_nar` for an
  invalid NAR, or the `File` reason of a failed write. Nothing is written outside `dest`:
  entry names cannot contain `/` or be `..`, and no path is written through a symlink.

      iex> src = Path.join(System.tmp_dir!(), "chunker-restore-doc-\#{System.unique_integer([:positive])}")
      iex> File.mkdir_p!(Path.join(src, "bin"))
      iex> File.write!(Path.join(src, "bin/hello"), "#!/bin/sh\\necho hello\\n")
      iex> dest = src <> "-copy"
      iex> Chunker.NAR.restore(Chunker.NAR.dump(src), dest)
      :ok
      iex> File.read!(Path.join(dest, "bin/hello"))
      "#!/bin/sh\\necho hello\\n"
      iex> {:error, error} = Chunker.NAR.restore(Chunker.NAR.dump(src), dest)
      iex> error.reason
      :eexist
      iex> File.rm_rf!(src) && File.rm_rf!(dest) && :ok
      :ok
  """
  @spec restore(iodata() | Enumerable.t(), Path.t()) :: :ok | {:error, Error.t()}
  def restore(nar, dest) do
    dest = Input.path!(dest, "restore/2")

    Telemetry.span(
      [:nar, :restore],
      %{operation: :restore, path: dest},
      fn ->
        {enumerable, bytes} = nar |> pieces() |> Gather.blocks() |> Telemetry.counted()
        result = restore_to(enumerable, dest)
        {result, bytes.()}
      end,
      fn _result, bytes -> {%{bytes: bytes}, %{}} end
    )
  end

  defp restore_to(enumerable, dest) do
    # `dest` is claimed first, as an empty directory: a concurrent restore to the same place,
    # or anything else creating it meanwhile, then fails instead of being replaced.
    case :file.make_dir(dest) do
      :ok ->
        staging = dest <> ".chunker-restore-" <> unique_suffix()
        restore_staged(enumerable, staging, dest)

      {:error, :eexist} ->
        {:error,
         Error.new(:eexist, "#{inspect(dest)} already exists; restore/2 does not replace", %{
           path: dest
         })}

      {:error, reason} ->
        {:error, file_error(reason, "create", dest)}
    end
  end

  @doc """
  Like `restore/2`, but raises `Chunker.Error` on failure.
  """
  @spec restore!(iodata() | Enumerable.t(), Path.t()) :: :ok
  def restore!(enumerable, dest) do
    case restore(enumerable, dest) do
      :ok -> :ok
      {:error, error} -> raise error
    end
  end

  defp restore_staged(enumerable, staging, dest) do
    enumerable
    |> events(true)
    |> Stream.transform(fn -> nil end, &write_event(&1, &2, staging), &close_file/1)
    |> Stream.run()

    commit(staging, dest)
  rescue
    error in Error -> {:error, discard(staging, dest, error)}
  catch
    kind, reason ->
      discard(staging, dest, nil)
      :erlang.raise(kind, reason, __STACKTRACE__)
  end

  defp write_event({:directory, path}, nil, root) do
    target = join(root, path)
    check(:file.make_dir(target), "create directory", target)
    {[], nil}
  end

  defp write_event({:symlink, path, target}, nil, root) do
    link = join(root, path)
    check(:file.make_symlink(target, link), "create symlink", link)
    {[], nil}
  end

  defp write_event({:file, path, executable, _size, _offset}, nil, root) do
    target = join(root, path)

    case :file.open(target, [:write, :exclusive, :raw, :binary]) do
      {:ok, fd} -> {[], {fd, target, executable}}
      {:error, reason} -> raise file_error(reason, "create file", target)
    end
  end

  defp write_event({:data, data}, {fd, target, _executable} = file, _root) do
    check(:file.write(fd, data), "write", target)
    {[], file}
  end

  defp write_event(:file_end, {fd, target, executable}, _root) do
    check(:file.close(fd), "write", target)
    if executable, do: add_execute_bits(target)
    {[], nil}
  end

  # Nix sets all three execute bits on top of the mode the file was created with.
  defp add_execute_bits(target) do
    {:ok, %File.Stat{mode: mode}} = check(File.stat(target), "stat", target)
    check(:file.change_mode(target, bor(mode, 0o111)), "chmod", target)
  end

  defp close_file({fd, _target, _executable}), do: :file.close(fd)
  defp close_file(nil), do: :ok

  # Directory entries only: a file that is rooted elsewhere than the staging path cannot be
  # named, since the parser refuses `/`, `.` and `..` in names.
  defp join(root, ""), do: root
  defp join(root, path), do: root <> "/" <> path

  # A directory replaces the empty directory claimed at `dest` (rename fails if something was
  # put in it meanwhile); a file or symlink is linked in its place once it is removed (link
  # fails if anything took the place in between).
  defp commit(staging, dest) do
    result =
      case File.lstat(staging) do
        {:ok, %File.Stat{type: :directory}} ->
          :file.rename(staging, dest)

        {:ok, _file_or_symlink} ->
          with :ok <- :file.del_dir(dest),
               :ok <- :file.make_link(staging, dest),
               do: :file.delete(staging)

        {:error, :enoent} ->
          {:error, :empty}
      end

    case result do
      :ok ->
        :ok

      {:error, :empty} ->
        {:error, Error.new(:invalid_nar, "invalid NAR: the input is empty")}

      {:error, reason} ->
        {:error, discard(staging, dest, file_error(reason, "move into place", dest))}
    end
  end

  # Removes the staging tree and the claim on `dest` (only if it is still our empty directory).
  defp discard(staging, dest, error) do
    _ = :file.del_dir(dest)

    case File.rm_rf(staging) do
      {:ok, _removed} ->
        error

      {:error, reason, path} when is_struct(error, Error) ->
        %{
          error
          | message:
              error.message <>
                "; the partial tree at #{inspect(staging)} could not be removed " <>
                "(#{inspect(path)}: #{:file.format_error(reason)})"
        }

      {:error, _reason, _path} ->
        error
    end
  end

  defp check(:ok, _action, _path), do: :ok
  defp check({:ok, _} = ok, _action, _path), do: ok
  defp check({:error, reason}, action, path), do: raise(file_error(reason, action, path))

  defp file_error(reason, action, path) do
    message = "could not #{action} #{inspect(path)}: #{:file.format_error(reason)}"
    Error.new(reason, message, %{path: path})
  end

  defp unique_suffix do
    Integer.to_string(System.unique_integer([:positive]), 36) <>
      "-" <> Integer.to_string(:rand.uniform(1 <<< 40), 36)
  end

  # A NAR given whole (a binary, or iodata) is one piece; anything else is an enumerable of
  # pieces.
  defp pieces(nar) when is_binary(nar), do: [nar]

  defp pieces(nar) when is_list(nar) do
    [IO.iodata_to_binary(nar)]
  rescue
    ArgumentError -> nar
  end

  defp pieces(nar) do
    if Enumerable.impl_for(nar) do
      nar
    else
      raise ArgumentError,
            "expected a NAR as a binary, iodata or an enumerable of iodata, got: " <>
              inspect(nar, limit: 10)
    end
  end

  # The parser's events for an enumerable of pieces; file contents only if `contents`.
  defp events(enumerable, contents) do
    Gather.transform(
      enumerable,
      fn -> Native.nar_parser_new(contents) end,
      fn binary, parser -> {parse(parser, binary), parser} end,
      fn parser -> {finish(parser), parser} end,
      fn _parser -> :ok end
    )
  end

  defp parse(_parser, ""), do: []

  defp parse(parser, binary) do
    parser
    |> Native.nar_parser_feed(binary, 0)
    |> Run.outputs(&Native.nar_parser_feed_dirty(parser, binary, &1))
    |> Run.ok!()
    |> Enum.concat()
  end

  defp finish(parser) do
    parser |> Native.nar_parser_finish() |> Run.result() |> Run.ok!()
    []
  end
end
