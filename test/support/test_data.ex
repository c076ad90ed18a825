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
