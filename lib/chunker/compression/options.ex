defmodule Chunker.Compression.Options do
  @moduledoc false
  # The names and types of Chunker.Compression's keyword options. Defaults and ranges are the
  # Rust core's: a missing option is passed on as nil, and the NIFs refuse values out of range
  # (Native.compression_validate/3 checks them ahead of work that starts later, streams).

  alias Chunker.Compression.Dictionary
  alias Chunker.Error

  @formats [:zstd, :lz4, :xz, :bzip2]
  # zstd's own limit on worker threads (ZSTDMT_NBWORKERS_MAX on 64-bit builds).
  @max_workers 256

  @doc false
  @spec format(term()) :: {:ok, atom()} | {:error, Error.t()}
  def format(format) when format in @formats, do: {:ok, format}

  def format(other),
    do: invalid(:format, "format must be one of #{inspect(@formats)}, got: #{inspect(other)}")

  @doc false
  # Checks that `opts` has only `allowed` keys (once each) of the right types; returns them as
  # a map, nil for the missing ones.
  # `max_size: :infinity` is for streams only (`infinity: true`).
  @spec validate(term(), [atom()], keyword()) :: {:ok, map()} | {:error, Error.t()}
  def validate(opts, allowed, context \\ []) do
    with :ok <- Chunker.Options.check_keys(opts, allowed) do
      Enum.reduce_while(allowed, {:ok, %{}}, fn key, {:ok, acc} ->
        case check(key, Keyword.get(opts, key), context) do
          :ok -> {:cont, {:ok, Map.put(acc, key, Keyword.get(opts, key))}}
          {:error, _} = error -> {:halt, error}
        end
      end)
    end
  end

  @doc false
  # zstd's options beyond the level as the NIFs take them: nil for none, else
  # {dictionary resource | nil, workers, long}. Other formats refuse them.
  @spec zstd(atom(), map()) :: {:ok, nil | tuple()} | {:error, Error.t()}
  def zstd(format, options) do
    dictionary = options[:dictionary]
    workers = options[:workers] || 0
    long = options[:long] || false

    cond do
      dictionary == nil and workers == 0 and not long ->
        {:ok, nil}

      format != :zstd ->
        given = %{dictionary: dictionary != nil, workers: workers != 0, long: long}
        option = Enum.find([:dictionary, :workers, :long], &given[&1])

        invalid(option, "#{option} is a zstd option; #{inspect(format)} does not take it")

      true ->
        {:ok, {dictionary && dictionary.resource, workers, long}}
    end
  end

  @doc false
  # The resources of `dictionaries:` as the NIFs take them.
  @spec dictionaries([Dictionary.t()] | nil) :: [reference()]
  def dictionaries(nil), do: []
  def dictionaries(dictionaries), do: Enum.map(dictionaries, & &1.resource)

  @doc false
  @spec validate!(term(), [atom()], keyword()) :: map()
  def validate!(opts, allowed, context \\ []) do
    case validate(opts, allowed, context) do
      {:ok, options} -> options
      {:error, error} -> raise error
    end
  end

  defp check(_key, nil, _context), do: :ok
  defp check(:level, level, _context) when is_integer(level), do: :ok

  defp check(:level, level, _context),
    do: invalid(:level, "level must be an integer, got: #{inspect(level)}")

  defp check(:format, format, _context) when format in @formats, do: :ok

  defp check(:format, format, _context),
    do: invalid(:format, "format must be one of #{inspect(@formats)}, got: #{inspect(format)}")

  defp check(:max_size, size, _context) when is_integer(size) and size >= 0, do: :ok

  defp check(:max_size, :infinity, context) do
    if context[:infinity],
      do: :ok,
      else: invalid(:max_size, "max_size must be a non-negative integer, got: :infinity")
  end

  defp check(:max_size, size, context) do
    also = if context[:infinity], do: " or :infinity", else: ""
    invalid(:max_size, "max_size must be a non-negative integer#{also}, got: #{inspect(size)}")
  end

  defp check(key, value, _context) when key in [:max_ratio, :max_entropy] and is_number(value),
    do: :ok

  defp check(:dictionary, %Dictionary{}, _context), do: :ok

  defp check(:dictionary, other, _context),
    do:
      invalid(
        :dictionary,
        "dictionary must be a Chunker.Compression.Dictionary (train_dictionary/2 or " <>
          "Dictionary.load/2 make one), got: #{inspect(other, limit: 5, printable_limit: 40)}"
      )

  defp check(:dictionaries, list, _context) when is_list(list) do
    if Enum.all?(list, &is_struct(&1, Dictionary)),
      do: :ok,
      else:
        invalid(:dictionaries, "dictionaries must be a list of Chunker.Compression.Dictionary")
  end

  defp check(:dictionaries, other, _context),
    do: invalid(:dictionaries, "dictionaries must be a list, got: #{inspect(other, limit: 5)}")

  defp check(:workers, workers, _context)
       when is_integer(workers) and workers >= 0 and workers <= @max_workers,
       do: :ok

  defp check(:workers, other, _context),
    do:
      invalid(
        :workers,
        "workers must be an integer from 0 to #{@max_workers}, got: #{inspect(other)}"
      )

  defp check(:long, long, _context) when is_boolean(long), do: :ok

  defp check(:long, other, _context),
    do: invalid(:long, "long must be a boolean, got: #{inspect(other)}")

  defp check(key, value, _context),
    do: invalid(key, "#{key} must be a number, got: #{inspect(value)}")

  defp invalid(option, message),
    do: {:error, Error.new(:invalid_options, message, %{option: option})}
end
