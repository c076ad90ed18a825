defmodule Chunker.NARTest do
  # Nix's own nix-store and nix are the oracles: the NAR we write must be theirs byte for
  # byte, the NARs they write we must list and restore, and what they reject we reject.
  use ExUnit.Case, async: true

  alias Chunker.{NAR, NixCLI, Oracle}
  alias Chunker.NAR.Entry

  @moduletag :tmp_dir

  doctest Chunker.NAR

  describe "dump/1" do
    test "is byte-identical to nix-store --dump for a varied tree", %{tmp_dir: dir} do
      root = NixCLI.build_tree!(Path.join(dir, "tree"))
      # A name that is not UTF-8: NAR names are bytes.
      :ok = :file.write_file(root <> "/share/" <> <<0xFF, 0xFE>>, "raw")
      ours = root |> NAR.dump() |> Enum.to_list()

      assert IO.iodata_to_binary(ours) == NixCLI.dump!(root)
      assert Enum.all?(ours, &(byte_size(&1) in 1..1_048_576))
    end

    test "matches nix-store --dump for a lone file, an executable, a symlink and an empty dir",
         %{tmp_dir: dir} do
      File.write!(Path.join(dir, "file"), "contents")
      File.write!(Path.join(dir, "exe"), "")
      File.chmod!(Path.join(dir, "exe"), 0o755)
      File.ln_s!("somewhere/else", Path.join(dir, "link"))
      File.mkdir!(Path.join(dir, "empty"))

      for name <- ["file", "exe", "link", "empty"] do
        path = Path.join(dir, name)
        assert NAR.dump(path) |> Enum.join() == NixCLI.dump!(path), name
      end
    end

    test "the NAR hash is what nix-hash computes", %{tmp_dir: dir} do
      root = NixCLI.build_tree!(Path.join(dir, "tree"))
      {expected, 0} = System.cmd("nix-hash", ["--type", "sha256", "--base32", root])
      nar = root |> NAR.dump() |> Enum.join()

      assert Chunker.Nix.Base32.encode(Chunker.Hash.sha256(nar)) == String.trim(expected)
    end

    test "errors name the path and carry the File reason", %{tmp_dir: dir} do
      missing = Path.join(dir, "missing")
      error = assert_raise Chunker.Error, fn -> NAR.dump(missing) |> Enum.to_list() end
      assert error.reason == :enoent
      assert error.message =~ missing

      File.mkdir!(Path.join(dir, "locked"))
      File.write!(Path.join(dir, "locked/secret"), "x")
      File.chmod!(Path.join(dir, "locked/secret"), 0o000)

      if File.read(Path.join(dir, "locked/secret")) == {:error, :eacces} do
        error = assert_raise Chunker.Error, fn -> NAR.dump(dir) |> Enum.to_list() end
        assert error.reason == :eacces
      end
    end

    test "a FIFO is refused, as Nix refuses it", %{tmp_dir: dir} do
      {_, 0} = System.cmd("mkfifo", [Path.join(dir, "fifo")])
      error = assert_raise Chunker.Error, fn -> NAR.dump(dir) |> Enum.to_list() end
      assert error.reason == :unsupported_file_type
      assert NixCLI.sh("nix-store --dump #{NixCLI.quote_path(dir)} > /dev/null") |> elem(1) != 0
    end

    test "stopping early closes the dump", %{tmp_dir: dir} do
      File.write!(Path.join(dir, "big"), :binary.copy("x", 3_000_000))
      assert [first] = NAR.dump(dir) |> Enum.take(1)
      assert byte_size(first) == 1_048_576
    end
  end

  describe "entries/1" do
    test "lists what nix nar ls lists, with the same content offsets", %{tmp_dir: dir} do
      root = NixCLI.build_tree!(Path.join(dir, "tree"))
      nar_file = Path.join(dir, "tree.nar")
      File.write!(nar_file, NixCLI.dump!(root))
      {json, 0} = NixCLI.nix(["nar", "ls", "--json", "-R", nar_file, "/"])

      expected = json |> Chunker.TestJSON.decode!() |> flatten("") |> Enum.sort()
      nar = File.read!(nar_file)

      for pieces <- [[nar], Chunker.TestData.split(nar, [1, 7, 4096, 100_000])] do
        ours = NAR.entries(pieces) |> Enum.map(&comparable/1)
        assert Enum.sort(ours) == expected
        paths = Enum.map(ours, &elem(&1, 0))

        for {path, index} <- Enum.with_index(paths), path != "" do
          parent = if String.contains?(path, "/"), do: Path.dirname(path), else: ""
          assert Enum.find_index(paths, &(&1 == parent)) < index, "#{path} before its parent"
        end
      end

      for %Entry{type: :regular} = entry <- NAR.entries([nar]) do
        assert binary_part(nar, entry.offset, entry.size) ==
                 File.read!(Path.join(root, entry.path))
      end
    end

    test "entries come lazily: small pieces are read at most 64 KiB ahead", %{tmp_dir: dir} do
      root = NixCLI.build_tree!(Path.join(dir, "tree"))
      File.write!(Path.join(root, "zz-large"), Chunker.TestData.random_bytes(1_000_000, 4))
      pieces = Chunker.TestData.split(NixCLI.dump!(root), [4096])
      # Streams gather pieces into 64 KiB before a NIF call (lib/chunker/gather.ex).
      stop_after = div(65_536, 4096)
      assert length(pieces) > 4 * stop_after

      # An enumerable that fails if more than the first `stop_after` pieces are read.
      guarded =
        pieces
        |> Stream.with_index()
        |> Stream.map(fn {piece, i} -> if i < stop_after, do: piece, else: raise("read ahead") end)

      assert [%Entry{path: ""}] = NAR.entries(guarded) |> Enum.take(1)
    end
  end

  describe "restore/2" do
    test "restores what nix-store --dump wrote; nix restores what we wrote", %{tmp_dir: dir} do
      root = NixCLI.build_tree!(Path.join(dir, "tree"))
      :ok = :file.write_file(root <> "/share/" <> <<0xFF>>, "raw name")
      nar = NixCLI.dump!(root)

      ours = Path.join(dir, "ours")
      assert :ok = NAR.restore(Chunker.TestData.split(nar, [65_536, 3]), ours)
      assert NixCLI.dump!(ours) == nar

      theirs = Path.join(dir, "theirs")
      nar_file = Path.join(dir, "ours.nar")
      File.write!(nar_file, NAR.dump(root) |> Enum.join())
      assert NixCLI.restore(nar_file, theirs) == 0
      assert NixCLI.dump!(theirs) == nar
      assert File.read_link!(Path.join(ours, "bin/dangling")) == "/nix/store/does-not-exist"
      assert File.stat!(Path.join(ours, "bin/tool")).mode |> Bitwise.band(0o111) == 0o111
    end

    test "restores a lone file, executable and symlink", %{tmp_dir: dir} do
      File.write!(Path.join(dir, "exe"), "#!/bin/sh\n")
      File.chmod!(Path.join(dir, "exe"), 0o755)
      File.ln_s!("target", Path.join(dir, "link"))

      for name <- ["exe", "link"] do
        nar = NixCLI.dump!(Path.join(dir, name))
        dest = Path.join(dir, name <> "-restored")
        assert :ok = NAR.restore([nar], dest)
        assert NixCLI.dump!(dest) == nar
      end
    end

    test "refuses an existing destination and leaves it alone", %{tmp_dir: dir} do
      nar = NixCLI.dump!(NixCLI.build_tree!(Path.join(dir, "tree")))
      File.mkdir!(Path.join(dir, "dest"))
      File.write!(Path.join(dir, "file"), "keep")

      assert {:error, %Chunker.Error{reason: :eexist}} =
               NAR.restore([nar], Path.join(dir, "dest"))

      assert {:error, %Chunker.Error{reason: :eexist}} =
               NAR.restore([nar], Path.join(dir, "file"))

      assert File.ls!(Path.join(dir, "dest")) == []
      assert File.read!(Path.join(dir, "file")) == "keep"
      assert_raise Chunker.Error, fn -> NAR.restore!([nar], Path.join(dir, "dest")) end
    end

    test "an invalid NAR leaves nothing behind and says why", %{tmp_dir: dir} do
      nar = NixCLI.dump!(NixCLI.build_tree!(Path.join(dir, "tree")))
      File.mkdir!(Path.join(dir, "out"))

      for bad <- [binary_part(nar, 0, div(byte_size(nar), 2)), nar <> <<0::64>>, ""] do
        dest = Path.join(dir, "out/dest")
        assert {:error, %Chunker.Error{reason: :invalid_nar} = error} = NAR.restore([bad], dest)
        assert error.message =~ "invalid NAR at offset"
        assert File.ls!(Path.join(dir, "out")) == []
      end
    end

    test "a failing enumerable leaves nothing behind and the error propagates", %{tmp_dir: dir} do
      nar = NixCLI.dump!(NixCLI.build_tree!(Path.join(dir, "tree")))

      pieces =
        Stream.concat([binary_part(nar, 0, 5000)], Stream.map([1], fn _ -> raise "disk gone" end))

      File.mkdir!(Path.join(dir, "out"))

      assert_raise RuntimeError, "disk gone", fn ->
        NAR.restore(pieces, Path.join(dir, "out/dest"))
      end

      assert File.ls!(Path.join(dir, "out")) == []
    end

    test "a concurrent restore to the same destination fails instead of replacing",
         %{tmp_dir: dir} do
      nar = NixCLI.dump!(NixCLI.build_tree!(Path.join(dir, "tree")))
      dest = Path.join(dir, "dest")
      test = self()

      # The second restore runs while the first is half-way through its input.
      pieces =
        Stream.concat([
          [binary_part(nar, 0, 1000)],
          Stream.map([:second], fn _ ->
            send(test, {:second, NAR.restore([nar], dest)})
            binary_part(nar, 1000, byte_size(nar) - 1000)
          end)
        ])

      assert NAR.restore(pieces, dest) == :ok
      assert_received {:second, {:error, %Chunker.Error{reason: :eexist}}}
      assert NixCLI.dump!(dest) == nar
      assert File.ls!(dir) |> Enum.sort() == ["dest", "tree"]
    end

    test "a missing parent is an error, not a crash", %{tmp_dir: dir} do
      nar = NixCLI.dump!(NixCLI.build_tree!(Path.join(dir, "tree")))

      assert {:error, %Chunker.Error{reason: :enoent}} =
               NAR.restore([nar], Path.join(dir, "no/such/dest"))
    end
  end

  describe "malformed NARs" do
    # Each case: a label, the NAR as nested parts with the faulty part marked {:fault, bytes},
    # words of our message, and whether Nix 2.8's nix-store --restore rejects it too. Nix 2.8
    # does not check the order of entries (it fails on a duplicate only when creating the
    # file) and ignores data after the root node; later Nix refuses unsorted entries
    # ("NAR directory is not sorted"), and the requirements ask us to refuse all three.
    defp malformed do
      file = [s("("), s("type"), s("regular"), s("contents"), s("hi"), s(")")]
      dir = fn entries -> [s("("), s("type"), s("directory"), entries, s(")")] end
      magic = s("nix-archive-1")

      entry = fn name, fault? ->
        name = if fault?, do: {:fault, s(name)}, else: s(name)
        [s("entry"), s("("), s("name"), name, s("node"), file, s(")")]
      end

      regular = fn tags -> [magic, s("("), s("type"), s("regular"), tags, s(")")] end

      [
        {"wrong magic", [{:fault, s("nix-archive-2")}, file], "not a NAR", true},
        {"non-zero padding",
         [magic, binary_part(s("("), 0, 9), {:fault, <<0, 0, 0, 0, 0, 1, 0>>}, tl(file)],
         "non-zero padding", true},
        {"empty name", [magic, dir.([entry.("", true)])], "invalid file name \"\"", true},
        {"dot", [magic, dir.([entry.(".", true)])], "invalid file name \".\"", true},
        {"dot dot", [magic, dir.([entry.("..", true)])], "invalid file name \"..\"", true},
        {"slash", [magic, dir.([entry.("a/b", true)])], "invalid file name \"a/b\"", true},
        {"NUL", [magic, dir.([entry.("a\0b", true)])], "invalid file name", true},
        {"unsorted", [magic, dir.([entry.("b", false), entry.("a", true)])],
         "unsorted directory entry \"a\" after \"b\"", false},
        {"duplicate", [magic, dir.([entry.("a", false), entry.("a", true)])],
         "duplicate directory entry \"a\"", true},
        {"byte order, not case order", [magic, dir.([entry.("a", false), entry.("B", true)])],
         "unsorted", false},
        {"executable marker with a value",
         regular.([s("executable"), {:fault, s("x")}, s("contents"), s("")]),
         "executable marker has a non-empty value", true},
        {"unknown type", [magic, s("("), s("type"), {:fault, s("fifo")}, s(")")],
         "unknown node type \"fifo\"", true},
        {"missing contents tag", regular.([{:fault, s("hi")}]),
         "expected \"executable\" or \"contents\"", true},
        {"data after the root node", [magic, file, {:fault, s("x")}],
         "data after the end of the NAR", false},
        {"truncated contents",
         [magic, binary_part(IO.iodata_to_binary(file), 0, 70), {:fault, ""}], "truncated", true},
        {"empty input", [{:fault, ""}], "truncated", true}
      ]
    end

    test "each is refused with its offset, like Nix refuses it", %{tmp_dir: dir} do
      for {label, parts, words, nix_rejects} <- malformed() do
        {nar, offset} = assemble(parts)

        for pieces <- [
              [nar],
              Chunker.TestData.split(nar, [1]),
              Chunker.TestData.split(nar, [3, 8])
            ] do
          error = assert_raise Chunker.Error, fn -> NAR.entries(pieces) |> Stream.run() end
          assert error.reason == :invalid_nar, label
          assert error.message =~ words, "#{label}: #{error.message}"
          assert error.message =~ "at offset #{offset}:", "#{label}: #{error.message}"
        end

        file = Path.join(dir, "bad.nar")
        File.write!(file, nar)
        restored = Path.join(dir, "nix-restore-#{System.unique_integer([:positive])}")
        assert NixCLI.restore(file, restored) != 0 == nix_rejects, "nix-store on #{label}"

        assert {:error, %Chunker.Error{reason: :invalid_nar}} =
                 NAR.restore([nar], Path.join(dir, "ours"))
      end
    end

    test "hostile sizes: deep paths, huge declared lengths" do
      magic = s("nix-archive-1")
      file = [s("("), s("type"), s("regular"), s("contents"), s("x"), s(")")]
      dir = fn entries -> [s("("), s("type"), s("directory"), entries, s(")")] end

      entry = fn name, node ->
        [s("entry"), s("("), s("name"), s(name), s("node"), node, s(")")]
      end

      nest = fn name, depth ->
        Enum.reduce(1..depth, file, fn _, node -> dir.([entry.(name, node)]) end)
      end

      # 2,000 levels of one-byte names: a 4,000-byte path, still valid.
      deep = IO.iodata_to_binary([magic, nest.("d", 2_000)])
      assert deep |> List.wrap() |> NAR.entries() |> Enum.count() == 2_001
      assert {:ok, _} = Chunker.chunk(deep, nar_aware: true)

      # Two levels of 4,000-byte names: a path longer than any file system takes.
      long = IO.iodata_to_binary([magic, nest.(String.duplicate("n", 4_000), 2)])
      error = assert_raise Chunker.Error, fn -> NAR.entries([long]) |> Stream.run() end
      assert error.message =~ "path of more than 4096 bytes"
      assert {:error, %Chunker.Error{reason: :invalid_nar}} = Chunker.chunk(long, nar_aware: true)

      # A file that claims 2^62 or 2^64-1 bytes: truncated, nothing allocated for it.
      for size <- [Bitwise.bsl(1, 62), Bitwise.bsl(1, 64) - 1] do
        huge =
          IO.iodata_to_binary([
            magic,
            s("("),
            s("type"),
            s("regular"),
            s("contents"),
            <<size::little-64>>,
            "abc"
          ])

        error = assert_raise Chunker.Error, fn -> NAR.entries([huge]) |> Stream.run() end
        assert error.message =~ "truncated"
        assert {:error, %Chunker.Error{message: message}} = Chunker.chunk(huge, nar_aware: true)
        assert message =~ "truncated"
      end
    end

    test "nar_aware chunking refuses them too" do
      for {label, parts, _words, _nix} <- malformed() do
        {nar, _offset} = assemble(parts)

        assert {:error, %Chunker.Error{reason: :invalid_nar}} =
                 Chunker.chunk(nar, nar_aware: true, preset: :nar_small),
               label

        assert_raise Chunker.Error, fn ->
          Chunker.TestData.split(nar, [5]) |> Chunker.stream(nar_aware: true) |> Stream.run()
        end
      end
    end
  end

  describe "NAR-aware chunking" do
    @sizes {4096, 16_384, 65_536}

    test "cuts exactly where the fastcdc crate cuts each segment between large files' contents",
         %{tmp_dir: dir} do
      root = NixCLI.build_tree!(Path.join(dir, "tree"))
      File.write!(Path.join(root, "share/mid"), Chunker.TestData.random_bytes(200_001, 3))
      nar = NixCLI.dump!(root)
      {min, avg, max} = @sizes
      opts = [min_size: min, avg_size: avg, max_size: max]

      cuts =
        for %Entry{type: :regular, size: size, offset: offset} <- NAR.entries([nar]),
            size >= min,
            cut <- [offset, offset + size],
            do: cut

      expected =
        [0 | cuts]
        |> Enum.zip(cuts ++ [byte_size(nar)])
        |> Enum.flat_map(fn {from, to} -> segment_chunks(nar, from, to, dir) end)

      assert length(cuts) >= 4

      for pieces <- [
            [nar],
            Chunker.TestData.split(nar, [1_048_576]),
            Chunker.TestData.split(nar, [7, 65_536, 100_003])
          ] do
        chunks = pieces |> Chunker.stream([nar_aware: true] ++ opts) |> Enum.to_list()
        assert Enum.map(chunks, &{&1.offset, &1.length}) == expected
        assert Enum.map_join(chunks, & &1.data) == nar
        assert Enum.all?(chunks, &(&1.hash == Chunker.Hash.blake3(&1.data)))
      end

      assert {:ok, one_shot} = Chunker.chunk(nar, [nar_aware: true] ++ opts)
      assert Enum.map(one_shot, &{&1.offset, &1.length}) == expected
    end

    test "a large file's chunks do not depend on what precedes it", %{tmp_dir: dir} do
      shared = Chunker.TestData.random_bytes(3_000_000, 11)

      nars =
        for {name, prefix_size} <- [{"one", 10}, {"two", 777_777}] do
          root = Path.join(dir, name)
          File.mkdir_p!(root)

          File.write!(
            Path.join(root, "a-prefix"),
            Chunker.TestData.random_bytes(prefix_size, prefix_size)
          )

          File.write!(Path.join(root, "b-shared"), shared)
          NixCLI.dump!(root)
        end

      own = Chunker.chunk!(shared, preset: :nar_small) |> MapSet.new(& &1.hash)
      hashes = fn nar, opts -> Chunker.chunk!(nar, opts) |> MapSet.new(& &1.hash) end

      for nar <- nars do
        assert MapSet.subset?(own, hashes.(nar, preset: :nar_small, nar_aware: true))
        # Without NAR awareness the file's first chunk also holds the archive before it.
        refute MapSet.subset?(own, hashes.(nar, preset: :nar_small))
      end
    end

    test "the :nar preset cuts around files of at least its min_size (128 KiB) only",
         %{tmp_dir: dir} do
      File.write!(Path.join(dir, "a-large"), Chunker.TestData.random_bytes(200_000, 1))
      File.write!(Path.join(dir, "b-small"), Chunker.TestData.random_bytes(100_000, 2))
      File.write!(Path.join(dir, "c-large"), Chunker.TestData.random_bytes(300_000, 3))
      nar = NixCLI.dump!(dir)
      starts = Chunker.chunk!(nar, preset: :nar, nar_aware: true) |> MapSet.new(& &1.offset)
      files = Map.new(NAR.entries([nar]), &{&1.path, &1})

      for name <- ["a-large", "c-large"] do
        %Entry{offset: offset, size: size} = files[name]
        assert offset in starts and (offset + size) in starts, name
      end

      refute files["b-small"].offset in starts

      refute files["a-large"].offset in (Chunker.chunk!(nar, preset: :nar)
                                         |> MapSet.new(& &1.offset))
    end
  end

  defp segment_chunks(_nar, from, from, _dir), do: []

  defp segment_chunks(nar, from, to, dir) do
    path = Path.join(dir, "segment-#{from}")
    File.write!(path, binary_part(nar, from, to - from))
    for {offset, length} <- Oracle.boundaries(path, @sizes), do: {from + offset, length}
  end

  # The NAR and the offset of its {:fault, bytes} part.
  defp assemble(parts) do
    {iodata, {_size, offset}} = mark(parts, {0, nil})
    {IO.iodata_to_binary(iodata), offset}
  end

  defp mark({:fault, bytes}, {size, nil}), do: {bytes, {size + byte_size(bytes), size}}

  defp mark(bytes, {size, offset}) when is_binary(bytes),
    do: {bytes, {size + byte_size(bytes), offset}}

  defp mark(list, acc) when is_list(list), do: Enum.map_reduce(list, acc, &mark/2)

  defp s(string) do
    pad = rem(8 - rem(byte_size(string), 8), 8)
    <<byte_size(string)::little-64, string::binary, 0::size(pad * 8)>>
  end

  defp flatten(%{"type" => "directory", "entries" => entries}, path) do
    children =
      Enum.flat_map(entries, fn {name, node} ->
        flatten(node, if(path == "", do: name, else: path <> "/" <> name))
      end)

    [{path, :directory, nil, nil, false, nil} | children]
  end

  defp flatten(%{"type" => "regular"} = node, path),
    do: [{path, :regular, node["size"], node["narOffset"], node["executable"] == true, nil}]

  defp flatten(%{"type" => "symlink", "target" => target}, path),
    do: [{path, :symlink, nil, nil, false, target}]

  defp comparable(%Entry{} = e), do: {e.path, e.type, e.size, e.offset, e.executable, e.target}
end
