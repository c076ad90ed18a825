defmodule Chunker.NixTest do
  # Nix's own tools are the oracles: nix-hash for base32, `nix key` for keys, `nix store sign`
  # and `nix store verify` against a private store and a file:// binary cache for signatures.
  use ExUnit.Case, async: true

  alias Chunker.Nix.{Base32, NarInfo, Signing}
  alias Chunker.NixCLI

  @moduletag :tmp_dir

  doctest Chunker.Nix.Base32
  doctest Chunker.Nix.Signing
  doctest Chunker.Nix.NarInfo

  describe "Base32" do
    test "encodes and decodes as nix-hash does, for 16, 20, 32 and 64-byte digests" do
      for {type, size} <- [md5: 16, sha1: 20, sha256: 32, sha512: 64], seed <- 1..4 do
        digest = Chunker.TestData.random_bytes(size, seed * size)
        hex = Base.encode16(digest, case: :lower)
        {nix32, 0} = System.cmd("nix-hash", ["--type", "#{type}", "--to-base32", hex])
        nix32 = String.trim(nix32)

        assert Base32.encode(digest) == nix32
        assert Base32.decode(nix32) == {:ok, digest}
        {back, 0} = System.cmd("nix-hash", ["--type", "#{type}", "--to-base16", nix32])
        assert String.trim(back) == hex
      end
    end

    test "round-trips every length from 0 to 100 bytes" do
      for size <- 0..100 do
        bytes = Chunker.TestData.random_bytes(size, size + 1)
        encoded = Base32.encode(bytes)
        assert byte_size(encoded) == div(size * 8 + 4, 5)
        assert Base32.decode!(encoded) == bytes
      end
    end

    test "large inputs go through the dirty path with the same result" do
      bytes = Chunker.TestData.random_bytes(10_000_000, 5)
      encoded = Base32.encode(bytes)
      # Milliseconds of work: the normal-scheduler NIF declines it, the dirty twin does it.
      assert {:cont, nil, nil} = Chunker.Native.base32_encode(bytes)
      assert {:done, ^encoded} = Chunker.Native.base32_encode_dirty(bytes)
      assert Base32.decode!(encoded) == bytes
      # A small input: done by the normal call itself, unless its learned pace (or the OS
      # preempting it) made it leave even that to the dirty twin.
      small = binary_part(bytes, 0, 32)

      assert {:ok, Base32.encode(small)} ==
               Chunker.Native.Run.value(Chunker.Native.base32_encode(small), fn ->
                 Chunker.Native.base32_encode_dirty(small)
               end)
    end

    test "rejects what Nix rejects: foreign characters, bad lengths, overflow bits" do
      good = Base32.encode(Chunker.Hash.sha256("x"))

      bad = [
        {"e" <> binary_part(good, 1, 51), "'e' is not a nix-base32 character"},
        {String.replace(good, String.at(good, 10), "o", global: false), "not a nix-base32"},
        {String.upcase(good), "not a nix-base32"},
        {good <> " ", "not a nix-base32"},
        {binary_part(good, 1, 51), "length"},
        # 52 characters hold 260 bits; the first character may only use the low 1 bit.
        {"2" <> binary_part(good, 1, 51), "bits beyond"},
        {"z" <> binary_part(good, 1, 51), "bits beyond"},
        {"é", "a non-ASCII character is not"},
        {<<0xFF>>, "UTF-8"}
      ]

      for {text, words} <- bad do
        assert {:error, %Chunker.Error{reason: :invalid_base32, message: message}} =
                 Base32.decode(text)

        assert message =~ words, "#{inspect(text)}: #{message}"

        if byte_size(text) == 52 and String.valid?(text) do
          {_, status} = NixCLI.sh("nix-hash --type sha256 --to-base16 '#{text}'")
          assert status != 0, "nix-hash accepted #{text}"
        end
      end

      assert_raise Chunker.Error, fn -> Base32.decode!("e") end
      assert_raise ArgumentError, fn -> Base32.encode(:atom) end
      assert_raise ArgumentError, fn -> Base32.decode(123) end
    end
  end

  describe "Signing keys" do
    test "our public key of nix's secret key is nix's public key; and the reverse",
         %{tmp_dir: dir} do
      {secret, 0} = NixCLI.nix(["key", "generate-secret", "--key-name", "cache.test-1"])
      public = nix_public_key(secret, dir)
      assert Signing.public_key(secret) == {:ok, public}

      {:ok, ours} = Signing.generate_key("ours-1")
      {:ok, our_public} = Signing.public_key(ours)
      assert nix_public_key(ours, dir) == our_public
      assert Signing.parse_public_key(public <> "\n") == {:ok, public}
    end

    test "malformed keys are errors with reasons" do
      {:ok, secret} = Signing.generate_key("k")
      [_, encoded] = String.split(secret, ":")
      <<seed::binary-32, public::binary-32>> = Base.decode64!(encoded)
      other_public = Chunker.TestData.random_bytes(32, 9)

      for {bad, words} <- [
            {"no-colon", "no `:` found"},
            {":" <> encoded, "key name"},
            {"k:not base64!", "not valid base64"},
            {"k:" <> Base.encode64(seed), "a secret key is 64 bytes, this one is 32"},
            {"k:" <> Base.encode64(seed <> other_public), "does not match"},
            {<<0xFF, ?:>> <> encoded, "UTF-8"}
          ] do
        assert {:error, %Chunker.Error{reason: :invalid_key, message: message}} =
                 Signing.public_key(bad)

        assert message =~ words
        assert {:error, %Chunker.Error{reason: :invalid_key}} = Signing.sign("m", bad)
      end

      assert {:ok, _} = Signing.parse_public_key("k:" <> Base.encode64(public))

      assert {:error, %Chunker.Error{reason: :invalid_key}} =
               Signing.parse_public_key("k:" <> Base.encode64(seed <> public))

      for name <- ["", "a:b", "has space"] do
        assert {:error, %Chunker.Error{reason: :invalid_key}} = Signing.generate_key(name)
      end

      assert_raise ArgumentError, fn -> Signing.public_key(nil) end
      assert_raise Chunker.Error, fn -> Signing.sign!("m", "bad") end
    end

    test "malformed signatures are false for verify/3 and say why for check/3" do
      {:ok, secret} = Signing.generate_key("k")
      {:ok, public} = Signing.public_key(secret)
      sig = Signing.sign!("m", secret)
      [_, raw] = String.split(sig, ":")

      for {bad, reason} <- [
            {"k", :invalid_signature},
            {"k:" <> binary_part(raw, 0, 40), :invalid_signature},
            {"k:" <> Base.encode64(<<1, 2, 3>>), :invalid_signature},
            {"other:" <> raw, :untrusted_key},
            {"k:" <> Base.encode64(:binary.copy(<<0>>, 64)), :bad_signature}
          ] do
        refute Signing.verify("m", bad, [public])
        assert {:error, %Chunker.Error{reason: ^reason}} = Signing.check("m", bad, [public])
      end

      assert {:error, %Chunker.Error{reason: :invalid_key}} = Signing.check("m", sig, ["k:xyz"])
      refute Signing.verify("m", sig, ["k:xyz"])
      assert Signing.verify(["m"], sig, ["other:" <> String.duplicate("A", 43) <> "=", public])
    end
  end

  describe "signatures against nix" do
    setup %{tmp_dir: dir} do
      {secret, 0} = NixCLI.nix(["key", "generate-secret", "--key-name", "nix-made-1"])
      secret_file = Path.join(dir, "secret")
      File.write!(secret_file, secret)
      public = nix_public_key(secret, dir)

      # Two store paths in a private store, one referring to the other.
      store = Path.join(dir, "store")
      src = Path.join(dir, "dep")
      File.mkdir_p!(src)
      File.write!(Path.join(src, "lib"), "dependency")
      {dep_path, 0} = NixCLI.nix(["store", "add-path", "--store", store, src])
      dep_path = String.trim(dep_path)

      # `nix store add-path` records no references; copy-to-cache keeps what the store says,
      # so references are tested through narinfo text below.
      {_, 0} =
        NixCLI.nix(["store", "sign", "--store", store, "--key-file", secret_file, dep_path])

      cache = "file://" <> Path.join(dir, "cache")
      {_, 0} = NixCLI.nix(["copy", "--store", store, "--to", cache, dep_path])
      narinfo_file = Path.join([dir, "cache", hash_part(dep_path) <> ".narinfo"])

      %{public: public, cache: cache, path: dep_path, narinfo_file: narinfo_file}
    end

    test "we verify what nix signed, and reject it tampered", ctx do
      {:ok, info} = NarInfo.parse(File.read!(ctx.narinfo_file))
      assert [sig] = info.sigs
      assert String.starts_with?(sig, "nix-made-1:")
      assert NarInfo.verify(info, [ctx.public])
      {:ok, fingerprint} = NarInfo.fingerprint(info)
      assert Signing.check(fingerprint, sig, [ctx.public]) == :ok

      tampered = [
        %{info | nar_size: info.nar_size + 1},
        %{info | store_path: String.replace(info.store_path, "-dep", "-dex")},
        %{info | nar_hash: "sha256:" <> Base32.encode(Chunker.Hash.sha256("other"))},
        %{info | references: [Path.basename(info.store_path)]}
      ]

      for bad <- tampered do
        refute NarInfo.verify(bad, [ctx.public])
        {:ok, fingerprint} = NarInfo.fingerprint(bad)

        assert {:error, %Chunker.Error{reason: :bad_signature}} =
                 Signing.check(fingerprint, sig, [ctx.public])
      end

      {:ok, other} = Signing.generate_key("nix-made-1")
      {:ok, other_public} = Signing.public_key(other)
      refute NarInfo.verify(info, [other_public])
    end

    test "nix verifies what we signed, and rejects it tampered", ctx do
      {:ok, secret} = Signing.generate_key("chunker-made-1")
      {:ok, public} = Signing.public_key(secret)
      {:ok, info} = NarInfo.parse(File.read!(ctx.narinfo_file))
      # Without its CA field: Nix trusts a content-addressed path without any signature.
      # References, listed out of order, are only read by `nix store verify --no-contents`.
      references = ["zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-b", "00000000000000000000000000000000-a"]
      info = %{info | ca: nil, references: references}
      {:ok, signed} = NarInfo.sign(%{info | sigs: []}, secret)
      File.write!(ctx.narinfo_file, to_string(signed))

      assert nix_verify(ctx, public) == 0
      assert nix_verify(ctx, ctx.public) != 0

      # A signature of a fingerprint with another NAR size, in an otherwise true narinfo.
      {:ok, wrong} = NarInfo.fingerprint(%{info | nar_size: info.nar_size + 8})
      File.write!(ctx.narinfo_file, to_string(%{info | sigs: [Signing.sign!(wrong, secret)]}))
      assert nix_verify(ctx, public) != 0
    end
  end

  describe "NarInfo" do
    @path "/nix/store/0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-hello-2.12"
    @ref_a "1b9p07z77phvv2hf6gm9f28syp39f1ag-glibc-2.35"
    @ref_b "0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-hello-2.12"
    @text """
    StorePath: #{@path}
    URL: nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.xz
    Compression: xz
    FileHash: sha256:1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3
    FileSize: 50088
    NarHash: sha256:1ypbcxcbgw0fs4cdg9mjpac5z5v5x1kpx5wwfhxbk6kv3pz4qcvr
    NarSize: 226488
    References: #{@ref_a} #{@ref_b}
    Deriver: 8dsmh8bqr0sxzvlm7i6n2d2rhlp9x4rk-hello-2.12.drv
    Sig: cache.nixos.org-1:ZJNNAk2O8wW4ga6Hd0gh7w==
    Sig: other-1:ZJNNAk2O8wW4ga6Hd0gh7w==
    CA: fixed:r:sha256:1ypbcxcbgw0fs4cdg9mjpac5z5v5x1kpx5wwfhxbk6kv3pz4qcvr
    X-Custom: kept
    """

    test "parses every field and writes the text back unchanged" do
      assert {:ok, info} = NarInfo.parse(@text)
      assert info.store_path == @path
      assert info.file_size == 50_088
      assert info.nar_size == 226_488
      assert info.references == [@ref_a, @ref_b]
      assert info.deriver == "8dsmh8bqr0sxzvlm7i6n2d2rhlp9x4rk-hello-2.12.drv"
      assert length(info.sigs) == 2
      assert info.extra == [{"X-Custom", "kept"}]
      assert NarInfo.to_string(info) == @text
      assert to_string(info) == @text
    end

    test "the fingerprint sorts references, as Nix does, and converts hex hashes" do
      info = NarInfo.parse!(@text)
      nix32 = "1ypbcxcbgw0fs4cdg9mjpac5z5v5x1kpx5wwfhxbk6kv3pz4qcvr"

      expected = "1;#{@path};sha256:#{nix32};226488;/nix/store/#{@ref_b},/nix/store/#{@ref_a}"

      assert NarInfo.fingerprint(info) == {:ok, expected}

      assert NarInfo.fingerprint(%{info | references: [@ref_b, @ref_a, @ref_b]}) ==
               {:ok, expected}

      {hex, 0} = System.cmd("nix-hash", ["--type", "sha256", "--to-base16", nix32])
      hex_info = %{info | nar_hash: "sha256:" <> String.trim(hex)}
      assert NarInfo.fingerprint(hex_info) == {:ok, expected}

      assert {:error, %Chunker.Error{reason: :invalid_hash}} =
               NarInfo.fingerprint(%{info | nar_hash: "md5:" <> String.trim(hex)})
    end

    test "malformed narinfos are errors with reasons" do
      for {text, words} <- [
            {"", "is not `Key: value`"},
            {String.replace(@text, "NarSize: 226488\n", ""), "NarSize is missing"},
            {String.replace(@text, "NarSize: 226488", "NarSize: big"), "non-negative integer"},
            {@text <> "URL: again\n", "URL is given more than once"},
            {String.replace(@text, @ref_a, "glibc"), "not a store path name"},
            {String.replace(@text, "/nix/store/0md", "nix/store/0md"), "not an absolute path"},
            {String.replace(@text, "Deriver: 8ds", "Deriver: 8d"), "not a store path name"},
            {<<0xFF>>, "UTF-8"}
          ] do
        assert {:error, %Chunker.Error{reason: :invalid_narinfo, message: message}} =
                 NarInfo.parse(text)

        assert message =~ words, "#{inspect(text)}: #{message}"
      end

      assert_raise Chunker.Error, fn -> NarInfo.parse!("nope") end
      assert_raise ArgumentError, fn -> NarInfo.parse(:text) end

      # What Nix writes for an unknown deriver, and reads as none.
      unknown = String.replace(@text, ~r/Deriver: .*\n/, "Deriver: unknown-deriver\n")
      assert {:ok, %NarInfo{deriver: nil}} = NarInfo.parse(unknown)

      # Large text goes to a dirty scheduler; the same errors come back.
      many = @text <> Enum.map_join(1..40_000, &"X-#{&1}: v\n")
      assert {:ok, %NarInfo{extra: extra}} = NarInfo.parse(many)
      assert length(extra) == 40_001

      assert {:error, %Chunker.Error{reason: :invalid_narinfo}} =
               NarInfo.parse(many <> "X-1: again\n")

      assert_raise ArgumentError, fn -> NarInfo.to_string(%{NarInfo.parse!(@text) | url: nil}) end
    end
  end

  defp nix_public_key(secret, dir) do
    file = Path.join(dir, "secret-#{System.unique_integer([:positive])}")
    File.write!(file, secret)

    {public, 0} =
      NixCLI.sh(
        "nix --extra-experimental-features nix-command key convert-secret-to-public",
        file
      )

    String.trim(public)
  end

  # A fresh cache directory each time, so that no narinfo Nix cached earlier is used.
  defp nix_verify(ctx, public) do
    cache_home = Path.join(ctx.tmp_dir, "xdg-#{System.unique_integer([:positive])}")

    {_, status} =
      NixCLI.nix(
        [
          "store",
          "verify",
          "--store",
          ctx.cache,
          "--trusted-public-keys",
          public,
          "--sigs-needed",
          "1",
          "--no-contents",
          ctx.path
        ],
        cache_home
      )

    status
  end

  defp hash_part(store_path), do: store_path |> Path.basename() |> binary_part(0, 32)
end
