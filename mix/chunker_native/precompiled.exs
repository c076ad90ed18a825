defmodule Chunker.Build.Precompiled do
  @moduledoc false
  # Precompiled NIFs, in rustler_precompiled's model and file names: a tarball per target,
  # `libchunker_nif-v<version>-nif-<nif version>-<target>.so.tar.gz`, holding the library of
  # the same name without `.tar.gz`, its SHA-256 listed in the checksum file at the project
  # root. Fetched into a cache, verified, then installed by the compiler step; written by
  # `mix chunker.precompile`.

  alias Chunker.Build.Download

  @checksum_file "checksum-Elixir.Chunker.Native.exs"

  @doc "The checksum file of the project at `root`."
  def checksum_path(root), do: Path.join(root, @checksum_file)

  @doc """
  The NIF version the library is built for: the `nif_version_2_N` feature of rustler in
  native/chunker_nif/Cargo.toml, so that the file names cannot drift from the build.
  """
  def nif_version!(native) do
    manifest = Path.join(native, "chunker_nif/Cargo.toml")

    case Regex.run(~r/"nif_version_(\d+)_(\d+)"/, File.read!(manifest)) do
      [_, major, minor] -> "#{major}.#{minor}"
      nil -> Mix.raise("#{manifest} does not pick a rustler nif_version_* feature")
    end
  end

  @doc """
  Whether this VM loads a library built for `nif_version`: the same major version and a minor
  version at most the VM's (a VM accepts libraries built for older NIF versions).
  """
  def loadable?(nif_version) do
    [major, minor] = parse_version(nif_version)
    [vm_major, vm_minor | _] = parse_version(List.to_string(:erlang.system_info(:nif_version)))
    major == vm_major and minor <= vm_minor
  end

  defp parse_version(version), do: version |> String.split(".") |> Enum.map(&String.to_integer/1)

  @doc """
  The Rust target triple of this VM's machine, from `:erlang.system_info(:system_architecture)`
  (so that a machine without rustc can name it), normalized as rustler_precompiled does:
  `x86_64-pc-linux-gnu` is `x86_64-unknown-linux-gnu`, `aarch64-apple-darwin23.1.0` is
  `aarch64-apple-darwin`. `:error` where there is no such mapping (then: build from source).
  """
  def host_target do
    :erlang.system_info(:system_architecture) |> List.to_string() |> target()
  end

  @doc false
  def target(architecture) do
    case String.split(architecture, "-") do
      [cpu, _vendor, "linux", abi] -> {:ok, "#{linux_cpu(cpu)}-unknown-linux-#{abi}"}
      [cpu, _vendor, "linux"] -> {:ok, "#{linux_cpu(cpu)}-unknown-linux-gnu"}
      [cpu, "apple", "darwin" <> _] -> {:ok, "#{darwin_cpu(cpu)}-apple-darwin"}
      [cpu, _vendor, "freebsd" <> _] -> {:ok, "#{linux_cpu(cpu)}-unknown-freebsd"}
      _ -> :error
    end
  end

  defp linux_cpu("amd64"), do: "x86_64"
  defp linux_cpu("riscv64"), do: "riscv64gc"
  defp linux_cpu(cpu), do: cpu

  defp darwin_cpu("arm"), do: "aarch64"
  defp darwin_cpu(cpu), do: cpu

  @doc "The library's file name inside the tarball: the tarball's without `.tar.gz`."
  def lib_name(version, nif_version, target),
    do: "libchunker_nif-v#{version}-nif-#{nif_version}-#{target}.so"

  @doc "The tarball's file name, the key of the checksum file."
  def tarball_name(version, nif_version, target),
    do: lib_name(version, nif_version, target) <> ".tar.gz"

  @doc """
  The checksum file's map of tarball name => "sha256:<hex>", `%{}` when there is no file.
  Raises on a file that is not such a map (it is read as data, never evaluated).
  """
  def read_checksums!(path) do
    case File.read(path) do
      {:ok, text} ->
        parse_checksums(text) ||
          Mix.raise("#{path} is not a map of file name => \"sha256:<hex>\"")

      {:error, :enoent} ->
        %{}

      {:error, reason} ->
        Mix.raise("cannot read #{path}: #{:file.format_error(reason)}")
    end
  end

  defp parse_checksums(text) do
    with {:ok, {:%{}, _, pairs}} <- Code.string_to_quoted(text),
         true <- Enum.all?(pairs, &checksum_pair?/1) do
      Map.new(pairs)
    else
      _ -> nil
    end
  end

  defp checksum_pair?({name, "sha256:" <> hex}) when is_binary(name),
    do: byte_size(hex) == 64 and hex =~ ~r/\A[0-9a-f]+\z/

  defp checksum_pair?(_), do: false

  @doc "Writes the checksum file, its entries sorted by name."
  def write_checksums!(path, checksums) do
    entries =
      checksums
      |> Enum.sort()
      |> Enum.map_join(fn {name, checksum} ->
        "  #{inspect(name)} =>\n    #{inspect(checksum)},\n"
      end)

    File.write!(path, "%{\n" <> entries <> "}\n")
  end

  @doc "`\"sha256:<hex>\"` of `binary`."
  def checksum(binary),
    do: "sha256:" <> Base.encode16(:crypto.hash(:sha256, binary), case: :lower)

  @doc "Packs the library at `library` as `lib_name` into the tarball `out`."
  def pack!(library, lib_name, out) do
    tmp = "#{out}.#{System.pid()}.tmp"

    case :erl_tar.create(
           String.to_charlist(tmp),
           [{String.to_charlist(lib_name), String.to_charlist(library)}],
           [:compressed]
         ) do
      :ok -> File.rename!(tmp, out)
      {:error, reason} -> Mix.raise("cannot write #{out}: #{inspect(reason)}")
    end
  end

  @doc """
  The library's bytes for the checksum entry `name => checksum`: from the cache when a
  cached copy matches, otherwise downloaded from `base_url`, verified, then cached. A download
  that does not match is refused, naming the file and both digests; a failed one names the
  URL and how to build from source.
  """
  def fetch!(name, checksum, base_url, cache_dir) do
    cached = Path.join(cache_dir, name)

    tarball =
      case File.read(cached) do
        {:ok, tarball} ->
          if checksum(tarball) == checksum do
            tarball
          else
            # A partial or corrupted earlier download: fetch it again.
            File.rm(cached)
            download!(name, checksum, base_url, cached)
          end

        {:error, _} ->
          download!(name, checksum, base_url, cached)
      end

    extract!(tarball, String.replace_suffix(name, ".tar.gz", ""), name)
  end

  defp download!(name, checksum, base_url, cached) do
    url = String.trim_trailing(base_url, "/") <> "/" <> name
    Mix.shell().info("Downloading the precompiled chunker NIF from #{url}")

    case Download.get(url) do
      {:ok, tarball} ->
        actual = checksum(tarball)

        if actual != checksum do
          Mix.raise("""
          the precompiled chunker NIF #{name} does not match its checksum, and was not installed:
            expected (#{@checksum_file}): #{checksum}
            downloaded from #{url}: #{actual}
          The file at that URL is not the one this release of chunker was published with.
          Check CHUNKER_PRECOMPILED_BASE_URL (or config :chunker, precompiled_base_url:), or
          build from source instead with CHUNKER_BUILD=1 (needs cargo, https://rustup.rs).
          """)
        end

        write_atomically!(cached, tarball)
        tarball

      {:error, why} ->
        Mix.raise("""
        could not download the precompiled chunker NIF
          from #{url}: #{why}
        Point CHUNKER_PRECOMPILED_BASE_URL (or config :chunker, precompiled_base_url:) at a
        server that has #{name}, or build from source instead with CHUNKER_BUILD=1 (needs
        cargo, https://rustup.rs).
        """)
    end
  end

  @doc """
  Writes `bytes` to `path` (creating its directory) through a temporary file of this process's
  own and a rename: a reader never sees a half-written file, and two compiles writing at once
  cannot mix their writes.
  """
  def write_atomically!(path, bytes) do
    File.mkdir_p!(Path.dirname(path))
    tmp = "#{path}.#{System.pid()}-#{System.unique_integer([:positive])}.tmp"
    File.write!(tmp, bytes)
    File.rename!(tmp, path)
  end

  # In memory: a member's name cannot point outside the install directory.
  defp extract!(tarball, lib_name, name) do
    case :erl_tar.extract({:binary, tarball}, [:compressed, :memory]) do
      {:ok, [{member, library}]} when is_binary(library) ->
        if List.to_string(member) == lib_name do
          library
        else
          Mix.raise("#{name} holds #{member}, not #{lib_name}")
        end

      {:ok, members} ->
        Mix.raise("#{name} should hold #{lib_name} alone, and holds #{length(members)} files")

      {:error, reason} ->
        Mix.raise("#{name} is not a gzipped tar: #{inspect(reason)}")
    end
  end

  @doc """
  Where downloaded tarballs are kept: `CHUNKER_PRECOMPILED_CACHE`, or `chunker/precompiled`
  in the user's cache directory (`:filename.basedir(:user_cache, _)`: `~/.cache` on Linux,
  `~/Library/Caches` on macOS).
  """
  def cache_dir do
    case env("CHUNKER_PRECOMPILED_CACHE") do
      nil -> :filename.basedir(:user_cache, "chunker/precompiled") |> List.to_string()
      dir -> Path.expand(dir)
    end
  end

  @doc """
  Where the tarballs are downloaded from: `CHUNKER_PRECOMPILED_BASE_URL`, `config :chunker,
  precompiled_base_url:`, or the project's release URL for its version (mix.exs).
  """
  def base_url(default) do
    env("CHUNKER_PRECOMPILED_BASE_URL") ||
      Application.get_env(:chunker, :precompiled_base_url) || default
  end

  # An empty variable counts as unset, as in a shell's `VAR= mix compile`.
  defp env(name) do
    case System.get_env(name) do
      "" -> nil
      value -> value
    end
  end
end
