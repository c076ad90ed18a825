defmodule Chunker.TestData do
  @moduledoc false
  # Inputs for the tests: seeded random bytes, low-entropy bytes, and a real sample (a tar of
  # the OTP installation) made once per checkout under tmp/.

  @project_root Path.expand("../..", __DIR__)

  @doc "`size` pseudo-random bytes, the same for the same seed."
  def random_bytes(size, seed) do
    state = :rand.seed_s(:exsss, {seed, seed * 7 + 1, seed * 13 + 2})
    {bytes, _state} = :rand.bytes_s(size, state)
    bytes
  end

  @doc "Bytes from a 4-symbol alphabet: matches the cut mask rarely, so max_size cuts happen."
  def low_entropy_bytes(size, seed) do
    for <<byte <- random_bytes(size, seed)>>, into: <<>>, do: <<Bitwise.band(byte, 3)>>
  end

  @mask64 0xFFFF_FFFF_FFFF_FFFF

  @doc """
  The 2 MiB golden-vector fixture, byte for byte the Rust `chunker_testdata::golden::fixture`
  (see its doc and test/golden/README.md): 1 MiB of xorshift64 bytes (seed 1), 512 KiB of
  xorshift bytes (seed 2) ANDed with 3, 256 KiB of zeros, a 12,345-byte xorshift run (seed 3)
  repeated over 256 KiB.
  """
  def golden_fixture do
    mib = 1_048_576

    low =
      for <<byte <- xorshift_bytes(div(mib, 2), 2)>>, into: <<>>, do: <<Bitwise.band(byte, 3)>>

    period = xorshift_bytes(12_345, 3)
    repeated = period |> :binary.copy(div(div(mib, 4), 12_345) + 1) |> binary_part(0, div(mib, 4))
    IO.iodata_to_binary([xorshift_bytes(mib, 1), low, <<0::size(div(mib, 4))-unit(8)>>, repeated])
  end

  # chunker_testdata::random_bytes: xorshift64, each state as 8 little-endian bytes.
  defp xorshift_bytes(len, seed) do
    import Bitwise
    start = (seed * 0x9E37_79B9_7F4A_7C15) |> band(@mask64) |> bor(1)

    {words, _} =
      Enum.map_reduce(1..div(len + 7, 8)//1, start, fn _, x ->
        x = bxor(x, band(x <<< 13, @mask64))
        x = bxor(x, x >>> 7)
        x = bxor(x, band(x <<< 17, @mask64))
        {<<x::little-64>>, x}
      end)

    words |> IO.iodata_to_binary() |> binary_part(0, len)
  end

  @doc "Path of a tar of `:code.root_dir()` (created on first use)."
  def otp_tar do
    path = Path.join([@project_root, "tmp", "otp.tar"])

    unless File.exists?(path) do
      File.mkdir_p!(Path.dirname(path))
      tmp = path <> ".partial"
      root = List.to_string(:code.root_dir())
      :ok = :erl_tar.create(String.to_charlist(tmp), [{~c"otp", String.to_charlist(root)}], [])
      File.rename!(tmp, path)
    end

    path
  end

  @doc "Splits `binary` into pieces whose sizes come from `sizes` (cycled); may yield empty pieces."
  def split(binary, sizes) do
    sizes
    |> Stream.cycle()
    |> Enum.reduce_while({binary, []}, fn
      _size, {<<>>, acc} ->
        {:halt, {<<>>, acc}}

      size, {rest, acc} ->
        take = min(size, byte_size(rest))
        <<piece::binary-size(take), tail::binary>> = rest
        {:cont, {tail, [piece | acc]}}
    end)
    |> elem(1)
    |> Enum.reverse()
  end
end
