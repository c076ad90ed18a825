defmodule Chunker.CompressionTest do
  # Formats are checked against the real command-line tools both ways; hostile input must
  # give clear errors, never crashes or short output.
  use ExUnit.Case, async: true

  alias Chunker.{CLI, Compression, TestData}

  @formats [:zstd, :lz4, :xz, :bzip2]
  @moduletag :tmp_dir

  doctest Chunker.Compression

  setup_all do
    real = File.read!(TestData.otp_tar())

    %{
      samples: %{
        random: TestData.random_bytes(1_000_000, 41),
        zeros: :binary.copy(<<0>>, 3_000_000),
        real: binary_part(real, 0, 1_000_000),
        empty: ""
      },
      real: real
    }
  end

  describe "interop with the command-line tools" do
    for format <- @formats do
      @format format

      test "#{format}: what we write, the tool reads", %{samples: samples, tmp_dir: dir} do
        for {name, data} <- samples do
          {:ok, packed} = Compression.compress(data, @format)
          assert CLI.decompress(@format, packed, dir) == {:ok, data}, "#{name}, one-shot"

          streamed =
            data
            |> TestData.split([65_537])
            |> Compression.compress_stream(@format)
            |> Enum.join()

          assert CLI.decompress(@format, streamed, dir) == {:ok, data}, "#{name}, streamed"
        end
      end

      test "#{format}: what the tool writes, we read", %{samples: samples, tmp_dir: dir} do
        for {name, data} <- samples do
          packed = CLI.compress(@format, data, dir)
          assert Compression.detect(packed) == @format
          assert Compression.decompress(packed) == {:ok, data}, "#{name}, one-shot"
          pieces = TestData.split(packed, [1, 7, 4_096, 100_000])
          assert Enum.join(Compression.decompress_stream(pieces)) == data, "#{name}, streamed"
        end
      end

      test "#{format}: concatenated frames from the tool", %{samples: samples, tmp_dir: dir} do
        both =
          CLI.compress(@format, samples.real, dir) <> CLI.compress(@format, samples.random, dir)

        expected = samples.real <> samples.random
        assert Compression.decompress(both) == {:ok, expected}

        assert Enum.join(Compression.decompress_stream(TestData.split(both, [33_333]))) ==
                 expected
      end
    end

    test "the tools' other modes and levels", %{samples: samples, tmp_dir: dir} do
      data = samples.real

      for {format, flags} <- [
            zstd: ["-19"],
            zstd: ["--fast=5"],
            zstd: ["-T2", "--long"],
            zstd: ["--no-check"],
            lz4: ["-9"],
            lz4: ["-BD"],
            lz4: ["-BD", "-B4"],
            lz4: ["-BX", "-B4"],
            lz4: ["--content-size", "--no-frame-crc"],
            xz: ["-1"],
            xz: ["-T2", "--block-size=500KiB"],
            xz: ["--check=sha256"],
            bzip2: ["-1"]
          ] do
        packed = CLI.compress(format, data, dir, flags)
        assert Compression.decompress(packed) == {:ok, data}, "#{format} #{inspect(flags)}"
        assert Enum.join(Compression.decompress_stream(TestData.split(packed, [999]))) == data
      end
    end

    test "a tar of the OTP installation, zstd and lz4 whole", %{real: real, tmp_dir: dir} do
      for format <- [:zstd, :lz4] do
        {:ok, packed} = Compression.compress(real, format)
        assert CLI.decompress(format, packed, dir) == {:ok, real}
        assert Compression.decompress(CLI.compress(format, real, dir)) == {:ok, real}
      end
    end

    test "our levels are the tools' levels", %{samples: samples, tmp_dir: dir} do
      for {format, level} <- [zstd: -3, zstd: 19, xz: 0, xz: 9, bzip2: 1] do
        {:ok, packed} = Compression.compress(samples.real, format, level: level)
        assert CLI.decompress(format, packed, dir) == {:ok, samples.real}, "#{format} #{level}"
      end
    end
  end

  describe "decompress_stream edge cases" do
    test "an input shorter than the detection window", %{tmp_dir: dir} do
      empty = CLI.compress(:zstd, "", dir, ["--no-check"])
      assert byte_size(empty) < 10
      assert Compression.decompress(empty) == {:ok, ""}
      assert Enum.to_list(Compression.decompress_stream([empty])) == []
      assert Enum.join(Compression.decompress_stream([CLI.compress(:zstd, "abc", dir)])) == "abc"
    end

    test "a skippable frame in front, split across pieces", %{samples: samples} do
      {:ok, packed} = Compression.compress(samples.real, :zstd)
      skippable = <<0x50, 0x2A, 0x4D, 0x18, 4::little-32, "meta">>

      for split <- [1, 5, 10, 12, 13, 20] do
        pieces = TestData.split(skippable <> packed, [split, 100_000])
        assert Enum.join(Compression.decompress_stream(pieces)) == samples.real, "split #{split}"
      end
    end

    test "stopping early leaves nothing running", %{samples: samples} do
      {:ok, packed} = Compression.compress(samples.zeros, :lz4)
      assert [first | _] = Compression.decompress_stream([packed]) |> Enum.take(2)
      assert is_binary(first) and first != ""
    end
  end

  describe "hostile input" do
    test "exactly max_size bytes is fine, one more is refused", %{tmp_dir: dir} do
      data = TestData.random_bytes(100_000, 5)

      for format <- @formats do
        packed = CLI.compress(format, data, dir)
        assert {:ok, ^data} = Compression.decompress(packed, max_size: 100_000)

        assert {:error, %Chunker.Error{reason: :size_exceeded}} =
                 Compression.decompress(packed, max_size: 99_999)

        assert {:ok, [{:error, %{reason: :size_exceeded}}]} =
                 Compression.decompress_many([packed], max_size: 99_999)

        assert_raise Chunker.Error, ~r/exceeds the limit of 99999 bytes/, fn ->
          [packed] |> Compression.decompress_stream(max_size: 99_999) |> Stream.run()
        end
      end
    end

    test "garbage, truncated frames, trailing data and the wrong format are errors", %{
      samples: samples
    } do
      for format <- @formats do
        {:ok, packed} = Compression.compress(samples.real, format)
        cut = binary_part(packed, 0, div(byte_size(packed), 2))
        assert {:error, %Chunker.Error{reason: reason}} = Compression.decompress(cut)
        assert reason in [:truncated, :corrupt], "#{format} truncated: #{reason}"

        assert {:error, %Chunker.Error{reason: reason}} =
                 Compression.decompress(packed <> "garbage after the last frame")

        assert reason in [:trailing_data, :corrupt], "#{format} trailing: #{reason}"

        other = Enum.find(@formats, &(&1 != format))
        assert {:error, %Chunker.Error{}} = Compression.decompress(packed, format: other)

        assert_raise Chunker.Error, fn ->
          [cut] |> Compression.decompress_stream() |> Stream.run()
        end
      end

      assert {:error, %Chunker.Error{reason: :unknown_format}} =
               Compression.decompress("garbage!")

      assert {:error, %Chunker.Error{reason: :unsupported_format}} =
               Compression.decompress(:zlib.gzip("x"))

      assert Compression.detect(:zlib.gzip("x")) == :gzip
    end

    test "corrupting any byte never crashes and never returns wrong data silently", %{
      samples: samples
    } do
      data = binary_part(samples.real, 0, 200_000)

      for format <- @formats do
        {:ok, packed} = Compression.compress(data, format)

        for position <-
              Enum.take_every(0..(byte_size(packed) - 1), max(div(byte_size(packed), 150), 1)) do
          <<head::binary-size(position), byte, tail::binary>> = packed
          corrupt = <<head::binary, Bitwise.bxor(byte, 0x5A), tail::binary>>

          case Compression.decompress(corrupt, format: format) do
            {:error, %Chunker.Error{}} ->
              :ok

            # Some bytes carry no meaning (padding, a level digit, an unchecked field).
            {:ok, ^data} ->
              :ok

            {:ok, other} ->
              flunk("#{format}: byte #{position} corrupted gave #{byte_size(other)} bytes")
          end
        end
      end
    end

    test "bad options" do
      for {call, message} <- [
            {fn -> Compression.compress("x", :zstd, level: 23) end,
             ~r/from -131072 to 22, got 23/},
            {fn -> Compression.compress("x", :xz, level: -1) end,
             ~r/level for xz must be an integer from 0 to 9/},
            {fn -> Compression.compress("x", :bzip2, level: 0) end, ~r/from 1 to 9/},
            {fn -> Compression.compress("x", :lz4, level: 1) end, ~r/not supported for lz4/},
            {fn -> Compression.compress("x", :zstd, level: "3") end,
             ~r/level must be an integer/},
            {fn -> Compression.compress("x", :zstd, level: Bitwise.bsl(1, 70)) end,
             ~r/outside the 64-bit range/},
            {fn -> Compression.compress("x", :gzip) end, ~r/format must be one of/},
            {fn -> Compression.compress("x", :zstd, speed: 1) end, ~r/unknown option :speed/},
            {fn -> Compression.decompress("x", max_size: -1) end, ~r/max_size must be/},
            {fn -> Compression.decompress("x", max_size: :infinity) end, ~r/max_size must be/},
            {fn -> Compression.decompress("x", format: :rar) end, ~r/format must be one of/},
            {fn -> Compression.compress_adaptive("x", max_entropy: 9) end, ~r/max_entropy/},
            {fn -> Compression.compress_many(["x"], :zstd, level: 99) end, ~r/got 99/}
          ] do
        assert {:error, %Chunker.Error{reason: :invalid_options, message: text}} = call.()
        assert text =~ message
      end

      assert_raise Chunker.Error, ~r/got 99/, fn ->
        Compression.compress_stream([], :zstd, level: 99)
      end

      assert_raise ArgumentError, fn -> Compression.compress(123, :zstd) end
      assert_raise ArgumentError, fn -> Compression.decompress(:atom) end
      assert_raise ArgumentError, fn -> Compression.compress_many(["ok", 1], :zstd) end
    end
  end

  describe "round trips through every API path" do
    test "random inputs, every format, every path" do
      seed = ExUnit.configuration()[:seed]
      :rand.seed(:exsss, {seed, 7, 11})

      for round <- 1..12, format <- @formats do
        size = Enum.random([0, 1, 100, 5_000, 70_000, 400_000])

        data =
          if rem(round, 2) == 0,
            do: TestData.random_bytes(size, round),
            else: TestData.low_entropy_bytes(size, round)

        piece = Enum.random([1, 999, 65_536, 300_000])
        pieces = TestData.split(data, [if(size > 20_000, do: max(piece, 999), else: piece)])
        why = "#{format}, #{size} bytes, round #{round}, seed #{seed}"

        {:ok, one} = Compression.compress(data, format)
        streamed = pieces |> Compression.compress_stream(format) |> Enum.join()
        {:ok, [{:ok, many}]} = Compression.compress_many([data], format)

        for packed <- [one, streamed, many] do
          assert Compression.decompress(packed) == {:ok, data}, why
          assert Compression.decompress_many([packed]) == {:ok, [{:ok, data}]}, why

          # 1-byte pieces cost a dirty NIF call each: only on small inputs.
          piece = if byte_size(packed) < 20_000, do: Enum.random([1, 13, 4_096]), else: 4_096
          out = packed |> TestData.split([piece]) |> Compression.decompress_stream()

          assert Enum.join(out) == data, why
        end
      end
    end

    test "batches keep input order and fail per item", %{samples: samples} do
      items = for i <- 1..30, do: binary_part(samples.real, i * 10_000, 5_000 + i * 1_000)

      for format <- @formats do
        {:ok, results} = Compression.compress_many(items, format)
        packed = Enum.map(results, fn {:ok, p} -> p end)
        {:ok, back} = Compression.decompress_many(List.replace_at(packed, 3, "junk"))
        assert Enum.at(back, 3) |> elem(0) == :error

        assert back |> List.delete_at(3) |> Enum.map(fn {:ok, d} -> d end) ==
                 List.delete_at(items, 3)
      end
    end

    test "large inputs (sliced on dirty schedulers) round trip", %{real: real} do
      for format <- [:zstd, :lz4] do
        {:ok, packed} = Compression.compress(real, format)
        assert Compression.decompress(packed) == {:ok, real}
      end
    end
  end

  describe "compress_adaptive" do
    test "compresses text, stores compressed, random and incompressible data", %{samples: samples} do
      assert {:ok, {:compressed, :zstd, packed}} = Compression.compress_adaptive(samples.zeros)
      assert Compression.decompress(packed) == {:ok, samples.zeros}

      assert {:ok, {:compressed, :xz, _}} =
               Compression.compress_adaptive(samples.zeros, format: :xz, level: 1)

      {:ok, zst} = Compression.compress(samples.real, :zstd)
      assert Compression.compress_adaptive(zst) == {:ok, {:stored, {:already_compressed, "zstd"}}}

      assert Compression.compress_adaptive(:zlib.gzip("x")) ==
               {:ok, {:stored, {:already_compressed, "gzip"}}}

      assert {:ok, {:stored, {:high_entropy, bits}}} =
               Compression.compress_adaptive(samples.random)

      assert bits > 7.9

      # Compressible, but not below the ratio asked for.
      assert {:ok, {:stored, {:no_gain, ratio}}} =
               Compression.compress_adaptive(samples.real, max_ratio: 0.1)

      assert ratio > 0.1
    end
  end
end
