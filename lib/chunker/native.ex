defmodule Chunker.Native do
  @moduledoc false
  # NIF stubs and the loader, nothing else. The NIFs' contract (native/chunker_nif/src/lib.rs):
  # every error is {:error, {reason, message, details}} (decoded by Chunker.Error.from_native/1),
  # and every NIF whose work grows with its input runs against a deadline and replies
  # {:done, _} or {:cont, _, _} (looped by Chunker.Native.Run). Argument checking is the Rust
  # side's.

  @on_load :load_nif

  @doc false
  def load_nif do
    case :code.priv_dir(:chunker) do
      {:error, reason} ->
        remember_load_error({:no_priv_dir, reason})

      priv ->
        path = :filename.join(priv, ~c"native/libchunker_nif")

        case :erlang.load_nif(path, threads()) do
          :ok -> warn_if_engine_ignored()
          {:error, reason} -> remember_load_error({path, reason})
        end
    end

    # Loading the module succeeds either way, so that each call can explain the problem.
    :ok
  end

  # The size of rayon's pool, read once when the library loads: `config :chunker, threads: n`
  # or the CHUNKER_THREADS environment variable; 0 (the default) means one per core.
  defp threads do
    case Application.get_env(:chunker, :threads) || System.get_env("CHUNKER_THREADS") do
      threads when is_integer(threads) and threads > 0 ->
        threads

      threads when is_binary(threads) ->
        case Integer.parse(threads) do
          {threads, ""} when threads > 0 -> threads
          _ -> 0
        end

      _ ->
        0
    end
  end

  # CHUNKER_CUT_ENGINE is read here, once; a value naming no engine is said, not obeyed.
  defp warn_if_engine_ignored do
    case cut_engine() do
      {_engine, nil} -> :ok
      {engine, warning} -> :logger.warning(~c"chunker: ~ts; using ~ts", [warning, engine])
    end
  end

  defp remember_load_error(error), do: :persistent_term.put({__MODULE__, :load_error}, error)

  # What a stub raises (as :erlang.nif_error/1, which Dialyzer takes for a NIF's stub).
  defp not_loaded do
    detail = :persistent_term.get({__MODULE__, :load_error}, :unknown)

    # The struct itself: Chunker.Error.new/3 would count the error with a NIF.
    :erlang.nif_error(%Chunker.Error{
      reason: :nif_not_loaded,
      message: """
      the chunker native library is not loaded (#{inspect(detail)}).
      `mix compile` in the project that depends on :chunker installs it under the build path
      (_build/ENV/lib/chunker/priv/native): the precompiled library for this machine when the
      release lists one, otherwise (or with CHUNKER_BUILD=1) built from source with cargo
      (https://rustup.rs). To rebuild an installed dependency from source:
      CHUNKER_BUILD=1 mix deps.compile chunker --force
      """,
      details: %{}
    })
  end

  def thread_count, do: not_loaded()
  def cut_engine, do: not_loaded()
  def stats, do: not_loaded()
  def reset_stats, do: not_loaded()
  def count_error(_reason), do: not_loaded()
  def validate_config(_config), do: not_loaded()

  def chunk(_binary, _config, _hash, _with_data), do: not_loaded()
  def stream_new(_config, _hash, _with_data, _nar_aware), do: not_loaded()
  def stream_feed(_stream, _binary, _from), do: not_loaded()
  def stream_feed_dirty(_stream, _binary, _from), do: not_loaded()
  def stream_finish(_stream, _last_binary), do: not_loaded()
  def stream_finish_dirty(_stream, _last_binary), do: not_loaded()
  def stream_close(_stream), do: not_loaded()
  def chunk_list(_binaries, _config, _hash, _with_data), do: not_loaded()
  def chunk_list_dirty(_binaries, _config, _hash, _with_data), do: not_loaded()

  def hash(_binary, _algorithm), do: not_loaded()
  def hasher_new(_algorithm), do: not_loaded()
  def hasher_update(_hasher, _binary, _from), do: not_loaded()
  def hasher_update_dirty(_hasher, _binary, _from), do: not_loaded()
  def hasher_finish(_hasher), do: not_loaded()
  def hash_list(_binaries, _algorithm), do: not_loaded()
  def hash_list_dirty(_binaries, _algorithm), do: not_loaded()
  def hashers_step(_entries), do: not_loaded()

  def compression_validate(_format, _level, _max_size), do: not_loaded()
  def detect_format(_binary), do: not_loaded()
  def compress(_binary, _format, _level, _zstd), do: not_loaded()
  def compress_dirty(_binary, _format, _level, _zstd), do: not_loaded()
  def compress_adaptive(_binary, _format, _level, _max_ratio, _max_entropy), do: not_loaded()

  def compress_adaptive_dirty(_binary, _format, _level, _max_ratio, _max_entropy),
    do: not_loaded()

  def compress_list(_binaries, _format, _level, _zstd), do: not_loaded()
  def compress_list_dirty(_binaries, _format, _level, _zstd), do: not_loaded()
  def decompress(_binary, _format, _max_size, _dictionaries), do: not_loaded()
  def decompress_dirty(_binary, _format, _max_size, _dictionaries), do: not_loaded()
  def encoder_new(_format, _level, _zstd, _collect, _size), do: not_loaded()
  def encoder_update(_encoder, _binary, _from), do: not_loaded()
  def encoder_finish(_encoder), do: not_loaded()
  def encoders_step(_entries), do: not_loaded()
  def decoder_new(_format, _max_size, _collect, _input_size, _dictionaries), do: not_loaded()
  def decoder_feed(_decoder, _binary, _from), do: not_loaded()
  def decoder_feed_dirty(_decoder, _binary, _from), do: not_loaded()
  def decoder_finish(_decoder), do: not_loaded()
  def decoders_step(_entries), do: not_loaded()
  def zstd_dictionary_load(_bytes, _level), do: not_loaded()
  def zstd_dictionary_bytes(_dictionary), do: not_loaded()
  def zstd_train(_samples, _size, _level, _reference), do: not_loaded()

  def file_open(_path), do: not_loaded()
  def file_read(_file, _max), do: not_loaded()
  def file_read_all(_file), do: not_loaded()
  def file_close(_file), do: not_loaded()

  def nar_dump_open(_path), do: not_loaded()
  def nar_dump_read(_dump, _max), do: not_loaded()
  def nar_dump_close(_dump), do: not_loaded()
  def nar_parser_new(_contents), do: not_loaded()
  def nar_parser_feed(_parser, _binary, _from), do: not_loaded()
  def nar_parser_feed_dirty(_parser, _binary, _from), do: not_loaded()
  def nar_parser_finish(_parser), do: not_loaded()

  def base32_encode(_binary), do: not_loaded()
  def base32_encode_dirty(_binary), do: not_loaded()
  def base32_decode(_string), do: not_loaded()
  def base32_decode_dirty(_string), do: not_loaded()
  def signing_generate(_name), do: not_loaded()
  def signing_public_key(_secret), do: not_loaded()
  def signing_parse_public_key(_public), do: not_loaded()
  def signing_sign(_message, _secret), do: not_loaded()
  def signing_sign_dirty(_message, _secret), do: not_loaded()
  def signing_check(_message, _signature, _public_keys), do: not_loaded()
  def signing_check_dirty(_message, _signature, _public_keys), do: not_loaded()
  def narinfo_parse(_text), do: not_loaded()
  def narinfo_parse_dirty(_text), do: not_loaded()
  def narinfo_to_text(_info), do: not_loaded()
  def narinfo_to_text_dirty(_info), do: not_loaded()
  def narinfo_fingerprint(_info), do: not_loaded()
  def narinfo_fingerprint_dirty(_info), do: not_loaded()

  # Test builds only (MIX_ENV=test builds the NIF with its `test_hooks` feature): the bytes
  # the native code holds, the chunk streams alive, and a panic injected into the next
  # chunking call. No other build has these, in Elixir or in the library.
  if Mix.env() == :test do
    def allocated_bytes, do: not_loaded()
    def inject_panic, do: not_loaded()
  end
end
