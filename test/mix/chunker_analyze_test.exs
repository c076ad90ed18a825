defmodule Mix.Tasks.Chunker.AnalyzeTest do
  # mix chunker.analyze on real trees, against what `find` and `nix-store` say about them.
  use ExUnit.Case, async: false

  import ExUnit.CaptureIO

  alias Mix.Tasks.Chunker.Analyze

  @moduletag :tmp_dir

  # A tree with what breaks naive walks: a symlink cycle (`loop -> ..`), a symlink to a file,
  # a dangling symlink, a FIFO, an empty file, two copies of the same content.
  defp tree(dir) do
    File.mkdir_p!(Path.join(dir, "a/b"))
    text = :binary.copy("the same text again, ", 40_000)
    File.write!(Path.join(dir, "a/one.txt"), text)
    File.write!(Path.join(dir, "a/b/copy.txt"), text)
    File.write!(Path.join(dir, "random.bin"), Chunker.TestData.random_bytes(300_000, 5))
    File.write!(Path.join(dir, "empty"), "")
    File.ln_s!("..", Path.join(dir, "a/b/loop"))
    File.ln_s!("one.txt", Path.join(dir, "a/link.txt"))
    File.ln_s!("nowhere", Path.join(dir, "dangling"))
    {_, 0} = System.cmd("mkfifo", [Path.join(dir, "fifo")])
    dir
  end

  defp json(args) do
    out = capture_io(fn -> Analyze.run(args ++ ["--json", "--no-progress"]) end)
    Chunker.TestJSON.decode!(out)
  end

  defp find(dir, type) do
    {out, 0} = System.cmd("find", [dir, "-type", type, "-printf", "%s\n"])
    sizes = out |> String.split("\n", trim: true) |> Enum.map(&String.to_integer/1)
    {length(sizes), Enum.sum(sizes)}
  end

  test "walks without following symlinks: totals are find's, notes name what was skipped",
       %{tmp_dir: dir} do
    dir = tree(dir)
    report = json([dir])
    {files, bytes} = find(dir, "f")
    {symlinks, _} = find(dir, "l")

    assert report["total_bytes"] == bytes
    assert report["files"] == files
    assert report["symlinks"] == symlinks
    assert report["skipped"] == 1
    assert [%{"path" => fifo, "note" => note}] = report["notes"]
    assert fifo == Path.join(dir, "fifo") and note =~ "not a regular file"

    # The two copies deduplicate: distinct bytes are one copy less.
    assert report["distinct_bytes"] == bytes - 840_000
    assert report["dedup_ratio"] == bytes / (bytes - 840_000)
    assert report["distinct_chunks"] < report["chunks"]

    histogram = report["chunk_sizes"]
    assert Enum.sum(Enum.map(histogram, & &1["chunks"])) == report["chunks"]
    assert Enum.sum(Enum.map(histogram, & &1["bytes"])) == bytes

    for %{"from" => from, "to" => to} <- histogram do
      assert to == 2 * from - 1
    end

    assert report["options"]["avg_size"] == 65_536
    assert report["options"]["algorithm"] == "v2020"
    assert report["throughput_mb_s"] > 0
  end

  test "the chunking flags and sizes with suffixes reach the chunker", %{tmp_dir: dir} do
    dir = tree(dir)
    report = json([dir, "--avg-size", "16k", "--algorithm", "v2016", "--normalization", "2"])
    assert %{"min_size" => 4096, "avg_size" => 16_384, "max_size" => 65_536} = report["options"]
    assert report["options"]["algorithm"] == "v2016"
    assert report["options"]["normalization"] == 2

    {:ok, expected} =
      Chunker.chunk_file(Path.join(dir, "random.bin"),
        avg_size: 16_384,
        algorithm: :v2016,
        normalization: 2
      )

    single =
      json([
        Path.join(dir, "random.bin"),
        "--avg-size",
        "16k",
        "--algorithm",
        "v2016",
        "--normalization",
        "2"
      ])

    assert single["chunks"] == length(expected)
  end

  test "compresses each distinct chunk on its own with each codec asked for", %{tmp_dir: dir} do
    dir = tree(dir)
    report = json([dir, "--compress", "zstd,lz4,xz:1"])
    distinct = report["distinct_bytes"]

    assert [zstd, lz4, xz] = report["compression"]
    assert {zstd["format"], zstd["level"]} == {"zstd", nil}
    assert {lz4["format"], xz["format"], xz["level"]} == {"lz4", "xz", 1}

    for codec <- [zstd, lz4, xz] do
      assert codec["bytes_in"] == distinct
      assert codec["ratio"] == distinct / codec["bytes_out"]
      assert codec["mb_s"] > 0
    end

    # What a chunk store would hold: each distinct chunk compressed alone, here by the zstd CLI.
    {:ok, chunks} = Chunker.chunk_file(Path.join(dir, "random.bin"))
    random = json([Path.join(dir, "random.bin"), "--compress", "zstd"])
    [%{"bytes_out" => ours}] = random["compression"]

    cli =
      Enum.reduce(chunks, 0, fn chunk, acc ->
        acc + byte_size(Chunker.CLI.compress(:zstd, chunk.data, dir, ["-3"]))
      end)

    assert abs(ours - cli) <= 16 * length(chunks)
  end

  test "--nar: each path as its NAR, as nix-store --dump writes it", %{tmp_dir: dir} do
    File.mkdir_p!(Path.join(dir, "t/bin"))
    File.write!(Path.join(dir, "t/bin/x"), Chunker.TestData.random_bytes(500_000, 9))
    File.ln_s!("x", Path.join(dir, "t/bin/y"))
    {nar, 0} = System.cmd("nix-store", ["--dump", Path.join(dir, "t")])

    report = json([Path.join(dir, "t"), "--nar"])
    assert report["total_bytes"] == byte_size(nar)
    assert report["files"] == 1
    assert report["options"]["nar_aware"] == true
  end

  test "the human report: totals, histogram, compression; notes on stderr", %{tmp_dir: dir} do
    dir = tree(dir)

    stderr =
      capture_io(:stderr, fn ->
        out = capture_io(fn -> Analyze.run([dir, "--compress", "lz4", "--no-progress"]) end)
        {files, bytes} = find(dir, "f")

        assert out =~
                 ~r/^files\s+#{files} regular files \(3 symlinks not followed, 1 skipped, 0 errors\)/m

        assert out =~ ~r/^bytes\s+#{bytes} /m
        assert out =~ "chunk sizes (chunks per size range)"
        assert out =~ ~r/^\s+256 KiB -\s+512 KiB\s+\d+  #+$/m or out =~ ~r/KiB\s+\d+  #+$/m
        assert out =~ ~r/^  lz4 .* MB\/s$/m
      end)

    assert stderr =~ "note: #{Path.join(dir, "fifo")}: not a regular file"
  end

  test "a progress bar on stderr when asked (or on a terminal), never on stdout", %{tmp_dir: dir} do
    File.write!(Path.join(dir, "f"), Chunker.TestData.random_bytes(1_000_000, 2))

    stderr =
      capture_io(:stderr, fn ->
        out = capture_io(fn -> Analyze.run([dir, "--progress", "--json"]) end)
        assert Chunker.TestJSON.decode!(out)["total_bytes"] == 1_000_000
      end)

    # Erased at the end (drawn at most every 250 ms, so a short run may not draw at all).
    assert String.ends_with?(stderr, "\r\e[K")

    progress = Chunker.Analyze.Progress.new(4_000_000)
    line = Chunker.Analyze.Progress.line(progress, 1_000_000, progress.started + 1000)
    assert line =~ "[######                  ] 976.6 KiB / 3.8 MiB  25%  1 MB/s  ETA 0:03"
  end

  test "--profile: where the time goes, in the report and in the JSON", %{tmp_dir: dir} do
    dir = tree(dir)
    run = fn -> Analyze.run([dir, "--profile", "--compress", "lz4", "--no-progress"]) end
    stderr = capture_io(:stderr, fn -> send(self(), {:out, capture_io(run)}) end)
    assert_received {:out, out}
    assert stderr =~ "fifo: not a regular file"
    assert out =~ ~r/^profile\s+\d+ MB\/s end to end/m
    assert out =~ ~r/^  read .*\n  chunk .*\n  hash .*\n  compress .*MB\/s$/m

    profile = json([dir, "--profile", "--compress", "none"])["profile"]
    {_files, bytes} = find(dir, "f")
    assert profile["bytes"] == bytes
    assert profile["compressed_bytes"] == nil
    assert Map.keys(profile["stages"]) |> Enum.sort() == ~w(chunk hash read)
  end

  test "errors name the bad switch, value or path" do
    assert_raise Mix.Error, "unknown option --jsn (see `mix help chunker.analyze`)", fn ->
      Analyze.run(["--jsn"])
    end

    assert_raise Mix.Error, ~r/^--avg-size: not a size: "64x"/, fn ->
      Analyze.run(["--avg-size", "64x", "."])
    end

    assert_raise Mix.Error, ~r/^--normalization: invalid value "two"/, fn ->
      Analyze.run(["--normalization", "two"])
    end

    assert_raise Mix.Error, ~r/^--compress must be one of zstd, lz4, xz, bzip2, got: gzip/, fn ->
      Analyze.run([".", "--compress", "gzip"])
    end

    assert_raise Mix.Error, ~r/--compress zstd:99: /, fn ->
      Analyze.run([".", "--compress", "zstd:99"])
    end

    assert_raise Mix.Error, ~r/^\/no\/such\/path: no such file or directory/, fn ->
      Analyze.run(["/no/such/path"])
    end

    assert_raise Mix.Error, ~r/avg_size/, fn -> Analyze.run([".", "--avg-size", "3"]) end
  end

  test "/dev/null is skipped as a device, not reported missing" do
    report = json(["/dev/null"])
    assert report["files"] == 0
    assert [%{"path" => "/dev/null", "note" => "a device, not a regular file"}] = report["notes"]
  end

  test "with no path it analyzes the Erlang installation" do
    report = json(["--avg-size", "1m"])
    assert report["paths"] == [to_string(:code.root_dir())]
    assert report["files"] > 100
  end
end
