defmodule Chunker.Options do
  @moduledoc """
  Chunking options and presets, validated in one place.

  | option      | values                                        | default    |
  | ----------- | --------------------------------------------- | ---------- |
  | `:preset`   | `:default`, `:nar`, `:nar_small`, `:nar_large`, `:attic` | `:default` |
  | `:algorithm` | `:v2020`, `:v2016`, `:ronomon`               | from preset (`:v2020`) |
  | `:normalization` | `0` to `3` (`:v2020` and `:v2016`)       | `1`        |
  | `:seed`     | integer, 0 to 2^64 - 1 (`:v2020`)              | `0`        |
  | `:min_size` | v2020: even integer, 64 to 1_048_576           | from preset |
  | `:avg_size` | v2020: even integer, 256 to 4_194_304          | from preset |
  | `:max_size` | v2020: even integer, 1024 to 16_777_216        | from preset |
  | `:hash`     | `:blake3`, `:sha256`, `:none`                  | `:blake3`  |
  | `:data`     | `true`, `false`                                | `true`     |
  | `:nar_aware` | `true`, `false`                               | `false`    |
  | `:copy`     | `true`, `false`                               | `false`    |
  | `:memory_budget` | bytes (positive integer) or `:infinity`  | 64 MiB     |

  ## Algorithms

  Each algorithm cuts exactly as one of the Rust `fastcdc` crate's chunkers (version 5.0.0,
  frozen by golden vectors, see the README), so chunks stored by tools built on it keep
  deduplicating against yours:

    * `:v2020` - `fastcdc::v2020::FastCDC`, the default. `:normalization` picks the crate's
      `Normalization::Level0..Level3` (level 1 by default; higher levels pull chunk sizes
      closer to the average). `:seed` XORs a 64-bit key into the gear table
      (`with_level_and_seed`), so that chunk sizes do not reveal content to someone who does
      not know the seed (as borg keys its chunker); seed 0 is the crate's own table.
    * `:v2016` - `fastcdc::v2016::FastCDC`, the FastCDC paper's original algorithm, with
      `:normalization` levels. Sizes may be odd. No seed.
    * `:ronomon` - `fastcdc::ronomon::FastCDC`, the variant attic (the Nix binary cache)
      uses. Sizes may be odd and much larger: `min_size` 64 to 67_108_864, `avg_size` 256 to
      268_435_456, `max_size` 1024 to 1_073_741_824. No normalization level, no seed.

  Giving `:normalization` or `:seed` to an algorithm that does not have it is an
  `:invalid_options` error naming the option, never silently ignored. Sizes must satisfy
  `min_size <= avg_size <= max_size`, each within the algorithm's range (the crate's; v2020's
  must be even, as the crate tests its cut points in pairs).

  ## Presets

  (min / avg / max)

    * `:default` - 16 KiB / 64 KiB / 256 KiB
    * `:nar` - 128 KiB / 512 KiB / 2 MiB, for Nix archives
    * `:nar_small` - 32 KiB / 128 KiB / 512 KiB
    * `:nar_large` - 256 KiB / 1 MiB / 4 MiB
    * `:attic` - `algorithm: :ronomon`, 16 KiB / 64 KiB / 256 KiB: attic's defaults, so chunks
      deduplicate against an attic store's. attic cuts the whole uncompressed NAR, and does
      not chunk a NAR smaller than its `nar-size-threshold` (64 KiB by default): it stores
      such a NAR as one chunk. To do as attic does, chunk only NARs of at least 64 KiB and
      keep a smaller one whole.

  The presets other than `:attic` use `:v2020`.

  With `nar_aware: true` the input must be a Nix archive (NAR; see `Chunker.NAR`): chunks also
  start and end at the edges of the contents of every file of at least `min_size` bytes, so
  such a file's chunks do not depend on what precedes it in the archive. Anything that is not
  a valid NAR is an `:invalid_nar` error.

  With `copy: true` each chunk's `data` is a binary of its own. By default a chunk's data is a
  sub-binary of the input it lies in (no copy): cheap, but while any one chunk is alive it
  keeps the whole input binary (a stream piece, a whole file read by `chunk_file/2`)
  in memory. Ask for copies when you keep a few small chunks for long (a cache, an ETS table)
  and drop the rest; the copy costs a `memcpy` of every chunk.

  `:memory_budget` bounds what a stream (`Chunker.stream/2`, `Chunker.stream_file/2`) may
  hold of its own: the unchunked tail and a chunk spanning two pieces, up to 3 × `max_size`,
  plus the two 8 MiB reads in flight of `stream_file/2` (the piece being chunked and the next) (the pieces you feed `stream/2` are yours).
  Settings that could need more fail with reason `:memory_budget_exceeded` when the stream is
  created. The default is `Application.get_env(:chunker, :memory_budget, 67_108_864)`, which
  every v2020 and v2016 size fits (3 × 16 MiB + 2 × 8 MiB); set it lower where memory is
  tight, or higher for `:ronomon` with a `max_size` above 16 MiB.

  Sizes given explicitly win over the preset. Giving `:avg_size` without `:min_size` or
  `:max_size` derives the missing ones as a quarter and four times the average (rounded down
  to even), the proportions of every preset.

      iex> {:ok, options} = Chunker.Options.validate(avg_size: 1_048_576)
      iex> {options.min_size, options.avg_size, options.max_size}
      {262144, 1048576, 4194304}

      iex> {:error, error} = Chunker.Options.validate(min_size: 65, avg_size: 256, max_size: 1024)
      iex> error.message
      "min_size must be even (FastCDC 2020 tests cut points in pairs), got 65"
  """

  alias Chunker.Error

  @presets %{
    default: [algorithm: :v2020, min_size: 16_384, avg_size: 65_536, max_size: 262_144],
    nar: [algorithm: :v2020, min_size: 131_072, avg_size: 524_288, max_size: 2_097_152],
    nar_small: [algorithm: :v2020, min_size: 32_768, avg_size: 131_072, max_size: 524_288],
    nar_large: [algorithm: :v2020, min_size: 262_144, avg_size: 1_048_576, max_size: 4_194_304],
    attic: [algorithm: :ronomon, min_size: 16_384, avg_size: 65_536, max_size: 262_144]
  }
  @hashes [:blake3, :sha256, :none]
  @known [
    :preset,
    :algorithm,
    :normalization,
    :seed,
    :min_size,
    :avg_size,
    :max_size,
    :hash,
    :data,
    :nar_aware,
    :copy,
    :memory_budget
  ]
  @default_memory_budget 67_108_864

  @enforce_keys [:min_size, :avg_size, :max_size]
  defstruct [
    :min_size,
    :avg_size,
    :max_size,
    algorithm: :v2020,
    normalization: 1,
    seed: 0,
    hash: :blake3,
    data: true,
    nar_aware: false,
    copy: false,
    memory_budget: @default_memory_budget
  ]

  @type preset :: :default | :nar | :nar_small | :nar_large | :attic
  @type algorithm :: :v2020 | :v2016 | :ronomon
  @type option ::
          {:preset, preset()}
          | {:algorithm, algorithm()}
          | {:normalization, 0..3}
          | {:seed, non_neg_integer()}
          | {:min_size, pos_integer()}
          | {:avg_size, pos_integer()}
          | {:max_size, pos_integer()}
          | {:hash, :blake3 | :sha256 | :none}
          | {:data, boolean()}
          | {:nar_aware, boolean()}
          | {:copy, boolean()}
          | {:memory_budget, pos_integer() | :infinity}
  @type t :: %__MODULE__{
          algorithm: algorithm(),
          normalization: 0..3 | nil,
          seed: non_neg_integer() | nil,
          min_size: pos_integer(),
          avg_size: pos_integer(),
          max_size: pos_integer(),
          hash: :blake3 | :sha256 | :none,
          data: boolean(),
          nar_aware: boolean(),
          copy: boolean(),
          memory_budget: pos_integer() | :infinity
        }

  @doc """
  The presets as `%{name => options}`.

      iex> Chunker.Options.presets()[:attic]
      [algorithm: :ronomon, min_size: 16384, avg_size: 65536, max_size: 262144]
  """
  @spec presets() :: %{preset() => keyword()}
  def presets, do: @presets

  @doc """
  Validates a keyword list of options, returning the resolved options or an
  `%Chunker.Error{reason: :invalid_options}` whose message names the option (and whose
  `details.option` is it). In the resolved options, `normalization` and `seed` are `nil` for
  an algorithm that does not have them.

      iex> {:ok, options} = Chunker.Options.validate(preset: :attic)
      iex> {options.algorithm, options.normalization, options.seed, options.avg_size}
      {:ronomon, nil, nil, 65536}

      iex> {:error, error} = Chunker.Options.validate(algorithm: :ronomon, seed: 7)
      iex> {error.reason, error.details.option}
      {:invalid_options, :seed}
  """
  @spec validate(term()) :: {:ok, t()} | {:error, Error.t()}
  def validate(opts) do
    with :ok <- check_keys(opts, @known),
         {:ok, preset} <- fetch_preset(opts),
         {:ok, hash} <- fetch_choice(opts, :hash, @hashes, :blake3),
         {:ok, data} <- fetch_choice(opts, :data, [true, false], true),
         {:ok, nar_aware} <- fetch_choice(opts, :nar_aware, [true, false], false),
         {:ok, copy} <- fetch_choice(opts, :copy, [true, false], false),
         {:ok, budget} <- fetch_budget(opts),
         {:ok, algorithm} <- fetch_typed(opts, :algorithm, &is_atom/1, "an atom", preset),
         {:ok, level} <- fetch_typed(opts, :normalization, &is_integer/1, "an integer", []),
         {:ok, seed} <- fetch_typed(opts, :seed, &is_integer/1, "an integer", []),
         {:ok, {min, avg, max}} <- resolve_sizes(opts, preset),
         {:ok, {algorithm, level, seed, min, avg, max}} <-
           check_config({algorithm, level, seed, min, avg, max}) do
      {:ok,
       %__MODULE__{
         algorithm: algorithm,
         normalization: level,
         seed: seed,
         min_size: min,
         avg_size: avg,
         max_size: max,
         hash: hash,
         data: data,
         nar_aware: nar_aware,
         copy: copy,
         memory_budget: budget
       }}
    end
  end

  @doc """
  Like `validate/1`, but raises `Chunker.Error` on invalid options.
  """
  @spec validate!(term()) :: t()
  def validate!(opts) do
    case validate(opts) do
      {:ok, options} -> options
      {:error, error} -> raise error
    end
  end

  @doc false
  # Shared with Chunker.Compression.Options: `opts` must be a proper keyword list of `known`
  # keys, each given once.
  @spec check_keys(term(), [atom()]) :: :ok | {:error, Error.t()}
  def check_keys(opts, known) do
    cond do
      not keyword?(opts) ->
        invalid("options must be a keyword list, got: #{inspect(opts)}")

      unknown = Enum.find(Keyword.keys(opts), &(&1 not in known)) ->
        invalid(
          "unknown option #{inspect(unknown)}; known options are " <>
            Enum.map_join(known, ", ", &inspect/1),
          unknown
        )

      duplicate = Enum.find(Keyword.keys(opts) -- Enum.uniq(Keyword.keys(opts)), & &1) ->
        invalid("option #{inspect(duplicate)} is given more than once", duplicate)

      true ->
        :ok
    end
  end

  @doc false
  # The configuration tuple the chunking NIFs take.
  @spec native_config(t()) :: tuple()
  def native_config(%__MODULE__{} = o),
    do: {o.algorithm, o.normalization, o.seed, o.min_size, o.avg_size, o.max_size}

  @doc false
  # Checks that a stream with these options, reading `read_size` bytes at a time itself,
  # fits the memory budget.
  @spec check_memory(t(), non_neg_integer()) :: :ok | {:error, Error.t()}
  def check_memory(%__MODULE__{memory_budget: :infinity}, _read_size), do: :ok

  def check_memory(%__MODULE__{memory_budget: budget, max_size: max}, read_size) do
    needed = 3 * max + read_size

    if needed <= budget do
      :ok
    else
      {:error,
       Error.new(
         :memory_budget_exceeded,
         "a stream with max_size #{max} may hold up to #{needed} bytes " <>
           "(3 * max_size#{if read_size > 0, do: " + #{read_size} bytes of reads in flight"}), " <>
           "more than memory_budget (#{budget}); lower max_size or raise memory_budget"
       )}
    end
  end

  defp fetch_budget(opts) do
    default = Application.get_env(:chunker, :memory_budget, @default_memory_budget)

    case Keyword.get(opts, :memory_budget, default) do
      budget when (is_integer(budget) and budget > 0) or budget == :infinity ->
        {:ok, budget}

      budget ->
        invalid(
          "memory_budget must be a positive integer or :infinity, got: #{inspect(budget)}",
          :memory_budget
        )
    end
  end

  # Walks the list by hand: an improper list is an invalid option, not a crash.
  defp keyword?([{key, _value} | rest]) when is_atom(key), do: keyword?(rest)
  defp keyword?([]), do: true
  defp keyword?(_other), do: false

  defp fetch_preset(opts) do
    name = Keyword.get(opts, :preset, :default)

    case @presets do
      %{^name => sizes} ->
        {:ok, sizes}

      _ ->
        invalid(
          "preset must be one of #{choices(Map.keys(@presets))}, got: #{inspect(name)}",
          :preset
        )
    end
  end

  defp fetch_choice(opts, key, allowed, default) do
    value = Keyword.get(opts, key, default)

    if value in allowed do
      {:ok, value}
    else
      invalid("#{key} must be one of #{choices(allowed)}, got: #{inspect(value)}", key)
    end
  end

  # The option's value if given, else the preset's (nil: the core's default), checked for type.
  defp fetch_typed(opts, key, type?, type, preset) do
    case Keyword.fetch(opts, key) do
      {:ok, value} ->
        if type?.(value),
          do: {:ok, value},
          else: invalid("#{key} must be #{type}, got: #{inspect(value)}", key)

      :error ->
        {:ok, Keyword.get(preset, key)}
    end
  end

  defp resolve_sizes(opts, preset) do
    {preset_min, preset_avg, preset_max} =
      {preset[:min_size], preset[:avg_size], preset[:max_size]}

    with {:ok, avg} <- fetch_size(opts, :avg_size, preset_avg) do
      {derived_min, derived_max} =
        if Keyword.has_key?(opts, :avg_size),
          do: {div(avg, 8) * 2, avg * 4},
          else: {preset_min, preset_max}

      with {:ok, min} <- fetch_size(opts, :min_size, derived_min),
           {:ok, max} <- fetch_size(opts, :max_size, derived_max) do
        {:ok, {min, avg, max}}
      end
    end
  end

  defp fetch_size(opts, key, default) do
    case Keyword.get(opts, key, default) do
      value when is_integer(value) -> {:ok, value}
      value -> invalid("#{key} must be an integer, got: #{inspect(value)}", key)
    end
  end

  # Ranges, ordering, defaults and which algorithm has which option are the Rust core's, the
  # single source of those rules.
  defp check_config(config) do
    case Chunker.Native.validate_config(config) do
      {:ok, resolved} -> {:ok, resolved}
      {:error, native} -> {:error, Error.from_native(native)}
    end
  end

  defp choices(values), do: Enum.map_join(values, ", ", &inspect/1)

  defp invalid(message), do: {:error, Error.new(:invalid_options, message)}

  defp invalid(message, option),
    do: {:error, Error.new(:invalid_options, message, %{option: option})}
end
