defmodule Chunker.Nix.NarInfo do
  @moduledoc """
  A binary cache's `.narinfo` file: where a store path's NAR is, its hash and size, its
  references, and signatures of its fingerprint.

      iex> text = \"\"\"
      ...> StorePath: /nix/store/0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-hello
      ...> URL: nar/0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73.nar.zst
      ...> Compression: zstd
      ...> NarHash: sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73
      ...> NarSize: 226560
      ...> References: 0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-hello
      ...> \"\"\"
      iex> {:ok, info} = Chunker.Nix.NarInfo.parse(text)
      iex> info.nar_size
      226560
      iex> to_string(info) == text
      true
      iex> Chunker.Nix.NarInfo.fingerprint(info)
      {:ok, "1;/nix/store/0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-hello;sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73;226560;/nix/store/0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-hello"}

  Fields (the narinfo key in parentheses): `store_path` (`StorePath`, the full path), `url`
  (`URL`), `compression`, `file_hash`, `file_size`, `nar_hash`, `nar_size`, `references`
  (base names, in the file's order), `deriver` (base name), `system`, `sigs` (every `Sig:`
  line, in order), `ca`, and `extra`: any other `{key, value}` lines, kept in order so that
  writing the file back loses nothing.

  Parsing, writing and fingerprinting run on the caller's scheduler, charged to it, or on a
  dirty CPU scheduler when the work would not fit about 100 us there (large or hostile text;
  see "Scheduling" in `Chunker`).
  """

  alias Chunker.{Error, Native}
  alias Chunker.Native.Run
  alias Chunker.Nix.Signing

  @enforce_keys [:store_path, :url, :nar_hash, :nar_size]
  defstruct [
    :store_path,
    :url,
    :compression,
    :file_hash,
    :file_size,
    :nar_hash,
    :nar_size,
    :deriver,
    :system,
    :ca,
    references: [],
    sigs: [],
    extra: []
  ]

  @type t :: %__MODULE__{
          store_path: String.t(),
          url: String.t(),
          compression: String.t() | nil,
          file_hash: String.t() | nil,
          file_size: non_neg_integer() | nil,
          nar_hash: String.t(),
          nar_size: pos_integer(),
          references: [String.t()],
          deriver: String.t() | nil,
          system: String.t() | nil,
          sigs: [String.t()],
          ca: String.t() | nil,
          extra: [{String.t(), String.t()}]
        }

  @doc """
  Parses narinfo text (`Key: value` lines). `StorePath`, `URL`, `NarHash` and `NarSize` are
  required; store path and reference names must have Nix's form; keys other than `Sig` may
  appear once. Anything else is `{:error, %Chunker.Error{reason: :invalid_narinfo}}`.
  `Deriver: unknown-deriver`, which Nix writes when it does not know the deriver, reads as
  `deriver: nil`, as in Nix. Raises `ArgumentError` if `text` is not a binary.
  """
  @spec parse(String.t()) :: {:ok, t()} | {:error, Error.t()}
  def parse(text) when is_binary(text) do
    text |> Native.narinfo_parse() |> Run.value(fn -> Native.narinfo_parse_dirty(text) end)
  end

  def parse(text), do: raise(ArgumentError, "expected narinfo text, got: #{inspect(text)}")

  @doc """
  Like `parse/1`, but returns the narinfo or raises `Chunker.Error`.
  """
  @spec parse!(String.t()) :: t()
  def parse!(text), do: Run.ok!(parse(text))

  @doc """
  The narinfo text: the fields in the order Nix writes them, `extra` lines last. Raises
  `ArgumentError` if a field has the wrong type (e.g. a required field is `nil`).
  """
  @spec to_string(t()) :: String.t()
  def to_string(%__MODULE__{} = info) do
    info
    |> Native.narinfo_to_text()
    |> Run.value(fn -> Native.narinfo_to_text_dirty(info) end)
    |> Run.ok!()
  end

  @doc """
  The fingerprint that the path's signatures sign, as Nix computes it:
  `1;<store path>;sha256:<NAR hash in nix32>;<NAR size>;<references as full paths, comma-separated>`.

  References are sorted by their bytes and deduplicated, as Nix does (it holds them as a set;
  narinfos it writes list them sorted), so a signature made here verifies in Nix whatever the
  order of `references`. A NAR hash given in hex
  (`sha256:<64 hex digits>`) or SRI form (`sha256-<base64>`) is converted to nix32. Any
  other hash is `{:error, %Chunker.Error{reason: :invalid_hash}}`, an invalid narinfo
  `{:error, %Chunker.Error{reason: :invalid_narinfo}}`.
  """
  @spec fingerprint(t()) :: {:ok, String.t()} | {:error, Error.t()}
  def fingerprint(%__MODULE__{} = info) do
    info
    |> Native.narinfo_fingerprint()
    |> Run.value(fn -> Native.narinfo_fingerprint_dirty(info) end)
  end

  @doc """
  Signs the narinfo's fingerprint with `secret` (see `Chunker.Nix.Signing`) and appends the
  signature to `sigs`, replacing an earlier signature by a key of the same name.

      iex> {:ok, secret} = Chunker.Nix.Signing.generate_key("cache-1")
      iex> {:ok, public} = Chunker.Nix.Signing.public_key(secret)
      iex> info = %Chunker.Nix.NarInfo{
      ...>   store_path: "/nix/store/0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-hello",
      ...>   url: "nar/hello.nar",
      ...>   nar_hash: "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
      ...>   nar_size: 120
      ...> }
      iex> {:ok, signed} = Chunker.Nix.NarInfo.sign(info, secret)
      iex> Chunker.Nix.NarInfo.verify(signed, [public])
      true
      iex> Chunker.Nix.NarInfo.verify(%{signed | nar_size: 121}, [public])
      false
  """
  @spec sign(t(), Signing.text()) :: {:ok, t()} | {:error, Error.t()}
  def sign(%__MODULE__{} = info, secret) do
    with {:ok, fingerprint} <- fingerprint(info),
         {:ok, signature} <- Signing.sign(fingerprint, secret) do
      name = key_name(signature)
      {:ok, %{info | sigs: Enum.reject(info.sigs, &(key_name(&1) == name)) ++ [signature]}}
    end
  end

  @doc """
  True if at least one of the narinfo's signatures is valid for its fingerprint by one of
  `public_keys` (as Nix requires one signature by a trusted key). `public_keys` is a list of
  public keys, or one key; anything else raises `ArgumentError`.
  """
  @spec verify(t(), [Signing.text()] | Signing.text()) :: boolean()
  def verify(%__MODULE__{} = info, public_keys) do
    public_keys = Signing.key_list!(public_keys)

    case fingerprint(info) do
      {:ok, fingerprint} -> Enum.any?(info.sigs, &Signing.verify(fingerprint, &1, public_keys))
      {:error, _error} -> false
    end
  end

  defp key_name(signature), do: signature |> String.split(":", parts: 2) |> hd()

  defimpl String.Chars do
    def to_string(info), do: Chunker.Nix.NarInfo.to_string(info)
  end
end
