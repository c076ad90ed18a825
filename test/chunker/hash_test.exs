defmodule Chunker.HashTest do
  use ExUnit.Case, async: true

  alias Chunker.{Hash, Oracle, TestData}

  @moduletag :tmp_dir

  # Sizes on both sides of the dirty-scheduler thresholds and of BLAKE3's 1 KiB chunk size.
  @sizes [0, 1, 1_023, 1_024, 1_025, 65_536, 65_537, 262_144, 262_145, 5_000_000]

  test "blake3/1 equals b3sum", %{tmp_dir: dir} do
    inputs = Enum.map(@sizes, &TestData.random_bytes(&1, &1 + 1))
    assert Enum.map(inputs, &Hash.blake3/1) == Oracle.b3sum(inputs, dir)
  end

  test "sha256/1 equals :crypto and sha256sum", %{tmp_dir: dir} do
    for size <- @sizes do
      data = TestData.random_bytes(size, size + 2)
      assert Hash.sha256(data) == :crypto.hash(:sha256, data)
    end

    path = Path.join(dir, "x")
    File.write!(path, TestData.random_bytes(1_000_000, 9))
    {out, 0} = System.cmd("sha256sum", [path])

    assert Base.encode16(Hash.hash(File.read!(path), :sha256), case: :lower) ==
             hd(String.split(out))
  end

  test "iodata hashes like its binary" do
    data = TestData.random_bytes(400_000, 10)
    <<a::binary-size(3), b::binary>> = data

    for algorithm <- [:blake3, :sha256] do
      assert Hash.hash([a, [b]], algorithm) == Hash.hash(data, algorithm)
    end
  end

  test "bad arguments raise ArgumentError" do
    assert_raise ArgumentError, ~r/:blake3 or :sha256/, fn -> Hash.hash("x", :md5) end
    assert_raise ArgumentError, ~r/expected iodata/, fn -> Hash.sha256(12) end
    assert_raise ArgumentError, ~r/expected iodata/, fn -> Hash.blake3([1 | 2]) end
  end
end
