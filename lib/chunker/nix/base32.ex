defmodule Chunker.Nix.Base32 do
  @moduledoc """
  Nix's base32 ("nix32"), in which store paths and hashes are printed: the alphabet
  `0123456789abcdfghijklmnpqrsvwxyz` (no `e`, `o`, `t`, `u`) and Nix's bit order, in which
  the last character holds the lowest bits of the first byte. It is not RFC 4648 base32.

      iex> Chunker.Hash.sha256("") |> Chunker.Nix.Base32.encode()
      "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"

      iex> Chunker.Nix.Base32.decode("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73")
      ...> |> elem(1) |> Base.encode16(case: :lower)
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

  Inputs are converted on the caller's scheduler, or on a dirty CPU scheduler when the work
  would not fit about 100 us there (see "Scheduling" in `Chunker`).
  """

  alias Chunker.{Error, Native}
  alias Chunker.Native.Run

  @doc """
  Encodes `bytes` in nix-base32: `ceil(8 * n / 5)` characters for `n` bytes.

      iex> Chunker.Nix.Base32.encode(<<0xFF>>)
      "7z"
      iex> Chunker.Nix.Base32.encode("")
      ""
  """
  @spec encode(binary()) :: String.t()
  def encode(bytes) when is_binary(bytes) do
    bytes
    |> Native.base32_encode()
    |> Run.value(fn -> Native.base32_encode_dirty(bytes) end)
    |> Run.ok!()
  end

  def encode(other),
    do: raise(ArgumentError, "expected a binary to encode, got: #{inspect(other)}")

  @doc """
  Decodes a nix-base32 string. Returns `{:error, %Chunker.Error{reason: :invalid_base32}}`
  for a character outside the alphabet, a length that no byte count encodes to, or a first
  character with bits set beyond the encoded bytes (Nix rejects all three).

      iex> Chunker.Nix.Base32.decode("7z")
      {:ok, <<255>>}
      iex> {:error, error} = Chunker.Nix.Base32.decode("8z")
      iex> error.message
      "the first character sets bits beyond the encoded bytes"
      iex> {:error, error} = Chunker.Nix.Base32.decode("7e")
      iex> error.message
      "'e' is not a nix-base32 character"
  """
  @spec decode(String.t()) :: {:ok, binary()} | {:error, Error.t()}
  def decode(string) when is_binary(string) do
    string
    |> Native.base32_decode()
    |> Run.value(fn -> Native.base32_decode_dirty(string) end)
  end

  def decode(other),
    do: raise(ArgumentError, "expected a string to decode, got: #{inspect(other)}")

  @doc """
  Like `decode/1`, but returns the bytes or raises `Chunker.Error`.

      iex> Chunker.Nix.Base32.decode!("00")
      <<0>>
  """
  @spec decode!(String.t()) :: binary()
  def decode!(string), do: Run.ok!(decode(string))
end
