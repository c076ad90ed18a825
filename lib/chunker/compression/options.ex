defmodule Chunker.Compression.Options do
  @moduledoc false
  # Validation of Chunker.Compression's keyword options. Level ranges are the Rust core's
  # (asked through Native.compression_validate/2); types, names and the other ranges are
  # checked here.

  alias Chunker.{Error, Native}

  @formats [:zstd, :lz4, :xz, :bzip2]
  @default_max_size 1_073_741_824
  @u64_max 18_446_744_073_709_551_615

  @doc false
  def formats, do: @formats

  @doc false
  def default_max_size, do: @default_max_size

  @doc false
  @spec format(term()) :: {:ok, atom()} | {:error, Error.t()}
  def format(format) when format in @formats, do: {:ok, format}

  def format(other) do
    invalid("format must be one of #{inspect(@formats)}, got: #{inspect(other)}")
  end

  @doc """
  Checks `opts` has only `allowed` keys (once each) and returns them as a map with defaults
  for the missing ones; values are checked by `check/3` per key.
  """
  @spec validate(term(), [atom()], map()) :: {:ok, map()} | {:error, Error.t()}
  def validate(opts, allowed, context) do
    with :ok <- Chunker.Options.check_keys(opts, allowed) do
      Enum.reduce_while(allowed, {:ok, %{}}, fn key, {:ok, acc} ->
        case check(key, Keyword.fetch(opts, key), Map.put(context, :options, acc)) do
          {:ok, value} -> {:cont, {:ok, Map.put(acc, key, value)}}
          {:error, _} = error -> {:halt, error}
        end
      end)
    end
  end

  @doc "Like `validate/3`, raising `Chunker.Error`."
  @spec validate!(term(), [atom()], map()) :: map()
  def validate!(opts, allowed, context) do
    case validate(opts, allowed, context) do
      {:ok, options} -> options
      {:error, error} -> raise error
    end
  end

  # The level is checked against the format being written (context.format, or the :format
  # option for compress_adaptive).
  defp check(:level, :error, _context), do: {:ok, nil}

  defp check(:level, {:ok, level}, context) when is_integer(level) do
    format = Map.get(context, :format) || Map.get(context.options, :format)

    case Native.compression_validate(format, level) do
      :ok -> {:ok, level}
      {:error, {:invalid_options, message}} -> invalid(message)
    end
  end

  defp check(:level, {:ok, level}, _),
    do: invalid("level must be an integer, got: #{inspect(level)}")

  defp check(:format, :error, context), do: {:ok, Map.get(context, :default_format)}

  defp check(:format, {:ok, format}, _) when format in @formats, do: {:ok, format}

  defp check(:format, {:ok, format}, _),
    do: invalid("format must be one of #{inspect(@formats)}, got: #{inspect(format)}")

  defp check(:max_size, :error, context),
    do: {:ok, Map.get(context, :default_max_size, @default_max_size)}

  defp check(:max_size, {:ok, :infinity}, %{infinity: true}), do: {:ok, @u64_max}

  defp check(:max_size, {:ok, size}, _) when is_integer(size) and size >= 0 and size <= @u64_max,
    do: {:ok, size}

  defp check(:max_size, {:ok, size}, context) do
    also = if context[:infinity], do: " or :infinity", else: ""

    invalid("max_size must be a non-negative integer below 2^64#{also}, got: #{inspect(size)}")
  end

  defp check(:max_ratio, :error, _), do: {:ok, 0.9}

  defp check(:max_ratio, {:ok, ratio}, _) when is_number(ratio) and ratio > 0,
    do: {:ok, ratio / 1}

  defp check(:max_ratio, {:ok, ratio}, _),
    do: invalid("max_ratio must be a positive number, got: #{inspect(ratio)}")

  defp check(:max_entropy, :error, _), do: {:ok, 7.5}

  defp check(:max_entropy, {:ok, bits}, _) when is_number(bits) and bits >= 0 and bits <= 8,
    do: {:ok, bits / 1}

  defp check(:max_entropy, {:ok, bits}, _),
    do: invalid("max_entropy must be a number from 0 to 8 (bits per byte), got: #{inspect(bits)}")

  defp invalid(message), do: {:error, Error.new(:invalid_options, message)}
end
