defmodule Chunker.Nix.Signing do
  @moduledoc """
  Ed25519 signing keys and detached signatures in Nix's formats, for signing and checking
  the narinfo files of a binary cache.

    * secret key: `name:` + base64 of 64 bytes (the 32-byte seed, then the public key), as
      `nix key generate-secret --key-name name` writes it
    * public key: `name:` + base64 of the 32-byte key, as `nix key convert-secret-to-public`
      writes it and `trusted-public-keys` lists it
    * signature: `name:` + base64 of the 64-byte signature, as in a narinfo's `Sig:` line

  What is signed is a store path's fingerprint (`Chunker.Nix.NarInfo.fingerprint/1`).

      iex> {:ok, secret} = Chunker.Nix.Signing.generate_key("cache.example.org-1")
      iex> {:ok, public} = Chunker.Nix.Signing.public_key(secret)
      iex> {:ok, sig} = Chunker.Nix.Signing.sign("1;/nix/store/...", secret)
      iex> Chunker.Nix.Signing.verify("1;/nix/store/...", sig, [public])
      true
      iex> Chunker.Nix.Signing.verify("1;/nix/store/.!.", sig, [public])
      false

  Malformed keys and signatures are `{:error, %Chunker.Error{}}` with reason `:invalid_key`
  or `:invalid_signature` and a message saying what is wrong; an argument of the wrong type
  (not a binary) raises `ArgumentError`. Every function runs on the
  caller's scheduler (tens of microseconds), charged to it.
  """

  alias Chunker.{Error, Native}
  alias Chunker.Native.Run

  @typedoc "A key or signature in Nix's `name:base64` text form."
  @type text :: String.t()

  @doc """
  A new secret key named `name` (e.g. `"cache.example.org-1"`), from 32 random bytes of the
  operating system. The name must be non-empty, without `:` or white space.

      iex> {:ok, secret} = Chunker.Nix.Signing.generate_key("my-cache")
      iex> [name, key] = String.split(secret, ":")
      iex> {name, byte_size(Base.decode64!(key))}
      {"my-cache", 64}
  """
  @spec generate_key(String.t()) :: {:ok, text()} | {:error, Error.t()}
  def generate_key(name),
    do: name |> text!(:generate_key) |> Native.signing_generate() |> Run.result()

  @doc """
  The public key of a secret key, in `name:base64` form. The secret key's public half must
  match its seed.
  """
  @spec public_key(text()) :: {:ok, text()} | {:error, Error.t()}
  def public_key(secret),
    do: secret |> text!(:public_key) |> Native.signing_public_key() |> Run.result()

  @doc """
  Checks a public key's form, returning it (normalized: without trailing white space).

      iex> {:error, error} = Chunker.Nix.Signing.parse_public_key("cache:AAAA")
      iex> {error.reason, error.message}
      {:invalid_key, "a public key is 32 bytes, this one is 3"}
  """
  @spec parse_public_key(text()) :: {:ok, text()} | {:error, Error.t()}
  def parse_public_key(public),
    do: public |> text!(:parse_public_key) |> Native.signing_parse_public_key() |> Run.result()

  @doc """
  The detached signature of `fingerprint` by `secret`, as `name:base64`, the form of a
  narinfo `Sig:` line.
  """
  @spec sign(iodata(), text()) :: {:ok, text()} | {:error, Error.t()}
  def sign(fingerprint, secret) do
    message = IO.iodata_to_binary(fingerprint)
    secret = text!(secret, :sign)

    message
    |> Native.signing_sign(secret)
    |> Run.value(fn -> Native.signing_sign_dirty(message, secret) end)
  end

  @doc """
  Like `sign/2`, but returns the signature or raises `Chunker.Error`.
  """
  @spec sign!(iodata(), text()) :: text()
  def sign!(fingerprint, secret), do: Run.ok!(sign(fingerprint, secret))

  @doc """
  True if `signature` is a valid signature of `fingerprint` by one of `public_keys` (the
  key whose name the signature carries). Anything else is false: a malformed signature or
  key, a signature by a key not listed, a changed fingerprint. `check/3` says which.
  `public_keys` is a list of public keys, or one key; anything else raises `ArgumentError`.
  """
  @spec verify(iodata(), text(), [text()] | text()) :: boolean()
  def verify(fingerprint, signature, public_keys),
    do: check(fingerprint, signature, public_keys) == :ok

  @doc """
  Like `verify/3`, but says why a signature is not valid: `{:error, %Chunker.Error{}}` with
  reason `:invalid_signature` (malformed), `:invalid_key` (a malformed public key),
  `:untrusted_key` (no key of the signature's name) or `:bad_signature` (it does not verify).

      iex> {:ok, secret} = Chunker.Nix.Signing.generate_key("a")
      iex> {:ok, sig} = Chunker.Nix.Signing.sign("message", secret)
      iex> {:error, error} = Chunker.Nix.Signing.check("message", sig, [])
      iex> error.reason
      :untrusted_key
  """
  @spec check(iodata(), text(), [text()] | text()) :: :ok | {:error, Error.t()}
  def check(fingerprint, signature, public_keys) do
    message = IO.iodata_to_binary(fingerprint)
    signature = text!(signature, :check)
    keys = key_list!(public_keys)

    message
    |> Native.signing_check(signature, keys)
    |> Run.value(fn -> Native.signing_check_dirty(message, signature, keys) end)
    |> case do
      {:ok, :ok} -> :ok
      error -> error
    end
  end

  @doc false
  # Public keys as a list: one key alone is taken as a list of one.
  @spec key_list!(term()) :: [text()]
  def key_list!(key) when is_binary(key), do: [key]

  def key_list!(keys) when is_list(keys) do
    if strings?(keys), do: keys, else: bad_keys(keys)
  end

  def key_list!(keys), do: bad_keys(keys)

  # A proper list of binaries.
  defp strings?([key | rest]) when is_binary(key), do: strings?(rest)
  defp strings?([]), do: true
  defp strings?(_other), do: false

  defp bad_keys(keys) do
    raise ArgumentError,
          "expected a list of public keys (\"name:base64\" strings), got: " <>
            inspect(keys, limit: 10)
  end

  defp text!(text, _function) when is_binary(text), do: text

  defp text!(text, function) do
    raise ArgumentError, "#{function} expects a string, got: #{inspect(text, limit: 10)}"
  end
end
