defmodule Chunker.ZstdOptionsTest do
  # zstd dictionaries, worker threads and long windows, checked against the zstd CLI both
  # ways (`-D`, `--train`, `-T`, `--long`), and the ways bad dictionaries and frames naming
  # dictionaries nobody gave must fail: errors, never crashes.
  use ExUnit.Case, async: true

  alias Chunker.{CLI, Compression, TestData}
  alias Chunker.Compression.Dictionary

  @moduletag :tmp_dir

  doctest Chunker.Compression.Dictionary

  # Records of the kind a dictionary helps with: small, alike, none the same.
  defp records(range) do
    for i <- range do
      ~s({"id": #{i}, "name": "user #{i}", "email": "user#{i}@example.com", ) <>
        ~s("groups": ["readers", "writers"], "active": #{rem(i, 3) == 0}, "quota": #{i * 37}}\n)
    end
  end

  # Pieces of about 2 KiB of those records.
  defp pieces(range), do: range |> records() |> Enum.chunk_every(16) |> Enum.map(&Enum.join/1)

  setup_all do
    {:ok, dictionary} = Compression.train_dictionary(pieces(1..8_000), size: 16_384)
    {:ok, other} = Compression.train_dictionary(pieces(100_000..104_000), size: 8_192)
    real = File.read!(TestData.otp_tar())
    # Over 8 MiB, so zstd cuts the input into jobs for its workers.
    large = binary_part(real <> real, 0, min(2 * byte_size(real), 24 * 1_048_576))
    %{dictionary: dictionary, other: other, large: large}
  end

  defp cli!(args) do
    {out, 0} = System.cmd("zstd", ["-q" | args])
    out
  end

  describe "dictionaries with the CLI" do
    test "what we write with a dictionary, zstd -D reads", %{dictionary: dict, tmp_dir: dir} do
      dict_path = CLI.write(dir, "dict", Dictionary.to_binary(dict))

      for data <- pieces(20_000..20_100) do
        {:ok, frame} = Compression.compress(data, :zstd, dictionary: dict)
        assert cli!(["-d", "-c", "-D", dict_path, CLI.write(dir, "frame", frame)]) == data
      end

      data = Enum.join(pieces(30_000..31_000))

      streamed =
        data |> TestData.split([4_099]) |> Compression.compress_stream(:zstd, dictionary: dict)

      frame = Enum.join(streamed)
      assert cli!(["-d", "-c", "-D", dict_path, CLI.write(dir, "streamed", frame)]) == data
    end

    test "what zstd -D writes, we read", %{dictionary: dict, tmp_dir: dir} do
      dict_path = CLI.write(dir, "dict", Dictionary.to_binary(dict))

      for data <- pieces(40_000..40_050), level <- ["-1", "-3", "-19"] do
        frame = cli!([level, "-c", "-D", dict_path, CLI.write(dir, "plain", data)])
        assert Compression.decompress(frame, dictionaries: [dict]) == {:ok, data}

        assert frame
               |> TestData.split([1, 3])
               |> Compression.decompress_stream(dictionaries: [dict])
               |> Enum.join() ==
                 data
      end
    end

    test "dictionaries zstd --train makes work with ours, and ours with the CLI", %{tmp_dir: dir} do
      samples_dir = Path.join(dir, "samples")
      File.mkdir_p!(samples_dir)
      samples = pieces(50_000..56_000)

      samples
      |> Enum.with_index()
      |> Enum.each(fn {sample, i} -> File.write!(Path.join(samples_dir, "#{i}"), sample) end)

      cli_dict = Path.join(dir, "cli.dict")
      cli!(["--train", "-r", samples_dir, "--maxdict=8192", "-o", cli_dict])
      {:ok, theirs} = cli_dict |> File.read!() |> Dictionary.load()
      assert Dictionary.to_binary(theirs) == File.read!(cli_dict)

      data = hd(pieces(60_000..60_020))
      {:ok, frame} = Compression.compress(data, :zstd, dictionary: theirs)
      assert cli!(["-d", "-c", "-D", cli_dict, CLI.write(dir, "frame", frame)]) == data
      frame = cli!(["-c", "-D", cli_dict, CLI.write(dir, "plain", data)])
      assert Compression.decompress(frame, dictionaries: [theirs]) == {:ok, data}

      # Ours, trained on the same samples, is as good (the same trainer, the same defaults).
      {:ok, ours} = Compression.train_dictionary(samples, size: 8_192)
      new = pieces(70_000..71_000)

      size = fn dict ->
        new
        |> Enum.map(&byte_size(Compression.compress!(&1, :zstd, dictionary: dict)))
        |> Enum.sum()
      end

      assert size.(ours) <= size.(theirs) * 1.02
    end

    test "a dictionary makes small pieces smaller, in every entry point", %{dictionary: dict} do
      items = pieces(80_000..80_200)
      {:ok, plain} = Compression.compress_many(items, :zstd)
      {:ok, with_dict} = Compression.compress_many(items, :zstd, dictionary: dict)
      total = fn results -> results |> Enum.map(fn {:ok, f} -> byte_size(f) end) |> Enum.sum() end
      assert total.(with_dict) < total.(plain) * 0.9

      frames = for {:ok, frame} <- with_dict, do: frame

      assert Compression.decompress_many(frames, dictionaries: [dict]) ==
               {:ok, Enum.map(items, &{:ok, &1})}

      assert Compression.decompress_many(frames, dictionaries: [dict], format: :zstd) ==
               {:ok, Enum.map(items, &{:ok, &1})}
    end

    test "each frame is decoded with the dictionary whose id it records", ctx do
      %{dictionary: a, other: b} = ctx
      [x, y, z] = pieces(90_000..90_048) |> Enum.take(3)

      stream =
        Compression.compress!(x, :zstd, dictionary: a) <>
          Compression.compress!(y, :zstd) <>
          Compression.compress!(z, :zstd, dictionary: b, level: 7)

      assert Compression.decompress(stream, dictionaries: [b, a]) == {:ok, x <> y <> z}

      assert stream
             |> TestData.split([5])
             |> Compression.decompress_stream(dictionaries: [a, b])
             |> Enum.join() == x <> y <> z
    end

    test "chunks are samples", %{tmp_dir: _} do
      data = Enum.join(records(1..40_000))
      chunks = Chunker.chunk!(data, avg_size: 4_096, min_size: 1_024, max_size: 16_384)
      assert {:ok, %Dictionary{size: size}} = Compression.train_dictionary(chunks, size: 4_096)
      assert size in 1..4_096

      without =
        Chunker.chunk!(data, avg_size: 4_096, min_size: 1_024, max_size: 16_384, data: false)

      assert_raise ArgumentError, ~r/without its data/, fn ->
        Compression.train_dictionary(without)
      end
    end
  end

  describe "bad dictionaries and frames that need one" do
    test "frames naming a dictionary nobody gave", %{dictionary: a, other: b} do
      {:ok, frame} = Compression.compress("some data some data", :zstd, dictionary: a)

      assert {:error, %Chunker.Error{reason: :dictionary_required, details: %{id: id}} = error} =
               Compression.decompress(frame)

      assert id == a.id
      assert error.message =~ "dictionary #{a.id}"

      assert {:error, %Chunker.Error{reason: :unknown_dictionary, details: %{id: ^id}}} =
               Compression.decompress(frame, dictionaries: [b])

      assert {:ok, [{:error, %Chunker.Error{reason: :unknown_dictionary}}]} =
               Compression.decompress_many([frame], dictionaries: [b])

      assert_raise Chunker.Error, ~r/dictionary/, fn ->
        [frame] |> Compression.decompress_stream() |> Stream.run()
      end
    end

    test "a frame naming any id, and a hostile one, are errors", %{dictionary: a} do
      {:ok, frame} = Compression.compress("some data some data", :zstd, dictionary: a)
      <<magic::binary-size(4), descriptor, rest::binary>> = frame
      # The id's field size is the descriptor's low two bits; overwrite the id with others.
      id_size = elem({0, 1, 2, 4}, Bitwise.band(descriptor, 3))
      window = if Bitwise.band(descriptor, 0x20) == 0, do: 1, else: 0
      <<head::binary-size(window), _id::binary-size(id_size), tail::binary>> = rest

      for id <- [1, 0xFFFFFFFF, a.id + 1] do
        hostile = magic <> <<descriptor>> <> head <> <<id::little-size(id_size * 8)>> <> tail

        assert {:error, %Chunker.Error{reason: :unknown_dictionary}} =
                 Compression.decompress(hostile, dictionaries: [a])
      end

      # Random bytes after a header that names the right dictionary.
      garbage =
        magic <>
          <<descriptor>> <>
          head <> <<a.id::little-size(id_size * 8)>> <> TestData.random_bytes(200, 3)

      assert {:error, %Chunker.Error{}} = Compression.decompress(garbage, dictionaries: [a])
    end

    test "bytes that are not a dictionary, or a corrupt one", %{dictionary: dict} do
      bytes = Dictionary.to_binary(dict)
      assert {:error, %Chunker.Error{reason: :invalid_dictionary}} = Dictionary.load("")

      assert {:error, %Chunker.Error{reason: :invalid_dictionary}} =
               Dictionary.load(TestData.random_bytes(5_000, 1))

      # The magic number kept, the entropy tables after the 8-byte header ruined.
      <<header::binary-size(8), tables::binary-size(64), rest::binary>> = bytes
      ruined = header <> :binary.copy(<<0xFF>>, byte_size(tables)) <> rest
      assert {:error, %Chunker.Error{reason: :invalid_dictionary}} = Dictionary.load(ruined)

      # Cut inside the header or the tables (cut later, it is a shorter dictionary).
      for cut <- [4, 8, 12, 100] do
        assert {:error, %Chunker.Error{reason: :invalid_dictionary}} =
                 Dictionary.load(binary_part(bytes, 0, cut))
      end

      assert_raise Chunker.Error, fn -> Dictionary.load!("nope") end
    end

    test "training: too few or too small samples, bad options" do
      assert {:error, %Chunker.Error{reason: :not_enough_samples}} =
               Compression.train_dictionary(["one", "two", "three"])

      assert {:error, %Chunker.Error{reason: :not_enough_samples}} =
               Compression.train_dictionary(List.duplicate("abc", 1_000))

      assert {:error, %Chunker.Error{reason: :invalid_options, details: %{option: :size}}} =
               Compression.train_dictionary(pieces(1..100), size: 10)

      assert {:error, %Chunker.Error{reason: :invalid_options}} =
               Compression.train_dictionary(pieces(1..100), sizes: 10)

      assert_raise ArgumentError, fn -> Compression.train_dictionary([1, 2, 3]) end
    end

    test "options: other formats refuse them, wrong types are errors", %{dictionary: dict} do
      for format <- [:lz4, :xz, :bzip2],
          opts <- [[dictionary: dict], [workers: 2], [long: true]] do
        assert {:error, %Chunker.Error{reason: :invalid_options}} =
                 Compression.compress("x", format, opts)

        assert_raise Chunker.Error, fn -> Compression.compress_stream(["x"], format, opts) end
      end

      for opts <- [[dictionary: "bytes"], [workers: -1], [workers: 1_000], [long: 1]] do
        assert {:error, %Chunker.Error{reason: :invalid_options}} =
                 Compression.compress("x", :zstd, opts)
      end

      assert {:error, %Chunker.Error{reason: :invalid_options}} =
               Compression.decompress("x", dictionaries: dict)

      assert {:error, %Chunker.Error{reason: :invalid_options}} =
               Compression.compress_many(["x"], :zstd, workers: 2)
    end
  end

  describe "worker threads and long windows" do
    test "frames with workers: 2 and long: true are what the CLI reads", %{
      large: data,
      tmp_dir: dir
    } do
      for opts <- [[workers: 2], [long: true], [workers: 2, long: true, level: 5]] do
        {:ok, frame} = Compression.compress(data, :zstd, opts)
        assert Compression.decompress(frame, max_size: byte_size(data)) == {:ok, data}
        assert CLI.decompress(:zstd, frame, dir) == {:ok, data}, inspect(opts)

        streamed =
          data
          |> TestData.split([1_048_576])
          |> Compression.compress_stream(:zstd, opts)
          |> Enum.join()

        assert CLI.decompress(:zstd, streamed, dir) == {:ok, data}, "streamed #{inspect(opts)}"
      end
    end

    test "what zstd -T2 --long writes, we read", %{large: data, tmp_dir: dir} do
      frame = CLI.compress(:zstd, data, dir, ["-T2", "--long"])
      assert Compression.decompress(frame, max_size: byte_size(data)) == {:ok, data}
    end
  end
end

defmodule Chunker.ZstdWorkersCleanupTest do
  # Not async: it counts the VM's live resources and OS threads, which other tests change.
  use ExUnit.Case, async: false

  import Chunker.Eventually

  alias Chunker.{Compression, LiveResources, TestData}

  defp threads, do: "/proc/self/task" |> File.ls!() |> length()

  test "streams with workers abandoned halfway leave no resource and no thread behind" do
    real = File.read!(TestData.otp_tar())
    data = binary_part(real <> real, 0, min(2 * byte_size(real), 24 * 1_048_576))
    {resources, threads} = {LiveResources.now(), threads()}

    for _ <- 1..3 do
      data
      |> TestData.split([1_048_576])
      |> Compression.compress_stream(:zstd, workers: 2)
      |> Enum.take(1)
    end

    # The garbage collector frees each encoder at once; a thread of chunker's own then waits
    # for zstd's jobs of the abandoned frame and frees their threads.
    :erlang.garbage_collect()
    # (At most the counts before: threads and resources of earlier tests may have gone since.)
    settled? = fn -> LiveResources.at_most?(resources) and threads() <= threads end

    assert eventually(settled?, 500),
           "resources #{inspect(LiveResources.now())} (before: #{inspect(resources)}), " <>
             "threads #{threads()} (before: #{threads})"
  end
end
