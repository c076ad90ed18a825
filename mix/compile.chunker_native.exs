defmodule Mix.Tasks.Compile.ChunkerNative do
  @moduledoc """
  Installs the chunker NIF as `priv/native/libchunker_nif.so` under the app's build path
  (`_build/ENV/lib/chunker`), never in the package's source tree, either

    * precompiled: when `checksum-Elixir.Chunker.Native.exs` at the package root lists this
      machine's target and `CHUNKER_BUILD` is not set, the tarball is taken from the cache
      (`CHUNKER_PRECOMPILED_CACHE`, default the user cache directory) or downloaded from
      `CHUNKER_PRECOMPILED_BASE_URL` (or `config :chunker, precompiled_base_url:`, default
      the release URL of this version), checked against its SHA-256 and installed; or
    * from source, with cargo (`CHUNKER_CARGO` names one): `cargo build --release --locked`
      with its target directory under the build path (or `CARGO_TARGET_DIR` when set), when
      there is no entry for this target, or `CHUNKER_BUILD=1`, or the version is a
      pre-release (`0.2.0-dev`: no release has its files), or in this project's own
      `MIX_ENV=test`, whose library has the `test_hooks` feature (a counting allocator,
      `Chunker.Native.allocated_bytes/0`, `inject_panic/0`) that no other build has.

  It does nothing when the installed library is the one it installed last, came the same way
  and, for a source build, no native source (`Cargo.toml`, `Cargo.lock`, `build.rs`,
  `src/**/*.rs`) is newer than it; `--force` installs it again. `mix clean` removes the
  library and the default target directory.

  Mix compiles a hex or git dependency once: to switch an installed dependency to a source
  build, `CHUNKER_BUILD=1 mix deps.compile chunker --force`.
  """
  use Mix.Task.Compiler

  alias Chunker.Build.{Cargo, Precompiled}

  @root Path.expand("..", __DIR__)

  @impl Mix.Task.Compiler
  def run(args) do
    check_no_source_priv!()
    library = library_path()
    origin = origin()

    if "--force" in args or stale?(origin, library) do
      bytes = install!(origin, library)
      File.mkdir_p!(Path.dirname(manifest_path()))
      File.write!(manifest_path(), :erlang.term_to_binary({origin, digest(bytes)}))
      {:ok, []}
    else
      {:noop, []}
    end
  end

  @impl Mix.Task.Compiler
  def manifests, do: [manifest_path()]

  @impl Mix.Task.Compiler
  def clean do
    File.rm(library_path())
    File.rm(manifest_path())
    # Only the default one: a CARGO_TARGET_DIR is the user's, maybe shared.
    File.rm_rf(Cargo.default_target_dir())
    :ok
  end

  @doc false
  # The name :erlang.load_nif/2 looks for (it appends the extension itself).
  def library_path do
    extension = if match?({:win32, _}, :os.type()), do: ".dll", else: ".so"
    Path.join(Mix.Project.app_path(), "priv/native/libchunker_nif" <> extension)
  end

  defp manifest_path, do: Path.join(Mix.Project.manifest_path(), "compile.chunker_native")

  # Where the library comes from: {:built, cargo features} or {:precompiled, tarball, checksum}.
  defp origin do
    features = if test_hooks?(), do: "chunker_nif/test_hooks", else: ""

    cond do
      System.get_env("CHUNKER_BUILD") in ["1", "true"] -> {:built, features}
      features != "" -> {:built, features}
      # A pre-release such as 0.2.0-dev is work in progress on main: no release has its files.
      Version.parse!(Mix.Project.config()[:version]).pre != [] -> {:built, features}
      precompiled = precompiled() -> precompiled
      true -> {:built, features}
    end
  end

  # This project's own tests, not a project that has chunker as a dependency or umbrella app
  # (whose deps/ is elsewhere) and happens to compile it in MIX_ENV=test.
  defp test_hooks?,
    do: Mix.env() == :test and Path.expand(Mix.Project.deps_path()) == Path.join(@root, "deps")

  defp precompiled do
    checksums = Precompiled.read_checksums!(Precompiled.checksum_path(@root))

    with true <- checksums != %{},
         nif_version = Precompiled.nif_version!(Cargo.native_dir(@root)),
         {:ok, target} <- Precompiled.host_target(),
         name = Precompiled.tarball_name(Mix.Project.config()[:version], nif_version, target),
         {:ok, checksum} <- Map.fetch(checksums, name),
         true <- Precompiled.loadable?(nif_version) do
      {:precompiled, name, checksum}
    else
      _ when checksums == %{} ->
        nil

      _ ->
        Mix.shell().info(
          "chunker: no precompiled NIF for this machine (#{architecture()}, NIF " <>
            "#{:erlang.system_info(:nif_version)}) in the checksum file; building from source"
        )

        nil
    end
  end

  defp architecture, do: List.to_string(:erlang.system_info(:system_architecture))

  # Stale unless the manifest records this origin and the library installed then, byte for
  # byte (a library replaced behind Mix's back is installed again), and for a source build no
  # native source is newer than it.
  defp stale?(origin, library) do
    with {:ok, bytes} <- File.read(library),
         {^origin, digest} <- recorded(),
         true <- digest == digest(bytes) do
      match?({:built, _}, origin) and
        Mix.Utils.stale?(Cargo.sources(Cargo.native_dir(@root)), [library])
    else
      _ -> true
    end
  end

  defp digest(bytes), do: :crypto.hash(:sha256, bytes)

  defp recorded do
    with {:ok, binary} <- File.read(manifest_path()),
         {:ok, term} <- safe_term(binary) do
      term
    else
      _ -> nil
    end
  end

  defp safe_term(binary) do
    {:ok, :erlang.binary_to_term(binary, [:safe])}
  rescue
    ArgumentError -> :error
  end

  defp install!({:built, features}, library) do
    built = Cargo.build!(Cargo.native_dir(@root), features, locked: true)
    bytes = File.read!(built)

    # With and without test hooks cargo writes the same file: another build sharing the
    # CARGO_TARGET_DIR may have replaced it since cargo exited. The hooks' NIF names tell.
    if String.contains?(features, "test_hooks") != String.contains?(bytes, "inject_panic") do
      Mix.raise("""
      #{built} is not the library just built (cargo features "#{features}"): another build
      sharing the target directory replaced it. Compile again, one build at a time.
      """)
    end

    place!(library, bytes)
  end

  defp install!({:precompiled, name, checksum}, library) do
    base_url = Precompiled.base_url(Mix.Project.config()[:precompiled_base_url])
    bytes = Precompiled.fetch!(name, checksum, base_url, Precompiled.cache_dir())
    Mix.shell().info("chunker: installed the precompiled NIF #{name} (#{checksum})")
    place!(library, bytes)
  end

  # Atomically: a VM never loads a half-written library.
  defp place!(library, bytes) do
    Precompiled.write_atomically!(library, bytes)
    bytes
  end

  # Mix links the build's priv/ to a source priv/ when there is one, which would put the
  # library back into the source tree (an old checkout still has priv/native from before).
  defp check_no_source_priv! do
    priv = Path.join(@root, "priv")

    if File.exists?(priv) do
      Mix.raise("""
      #{priv} exists: chunker installs its NIF under the build path
      (#{Mix.Project.app_path()}/priv), and Mix would link that to a source priv/. chunker has
      none: this one holds old build outputs (from before 0.1.0's install changes). Remove it
      and compile again.
      """)
    end

    build_priv = Path.join(Mix.Project.app_path(), "priv")

    case File.read_link(build_priv) do
      {:ok, _} -> File.rm!(build_priv)
      {:error, _} -> :ok
    end
  end
end
