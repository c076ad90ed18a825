defmodule Chunker.Build.Cargo do
  @moduledoc false
  # Building the NIF from source: finding cargo, where its outputs go, the build itself.
  # Loaded by mix.exs (Mix needs it before lib/ is compiled); used by the compiler step and
  # `mix chunker.precompile`.

  @library "libchunker_nif"

  @doc "The workspace of the native sources of the project at `root`."
  def native_dir(root), do: Path.join(root, "native")

  @doc """
  cargo's target directory: `CARGO_TARGET_DIR` when the user set one (a shared target for
  several checkouts, as cargo itself honours it; a relative one is taken from the top-level
  project's directory), otherwise under the app's build path, as
  rustler does (`_build/ENV/lib/chunker/native/target`), which `mix clean` removes.
  """
  def target_dir do
    case System.get_env("CARGO_TARGET_DIR") do
      dir when dir in [nil, ""] -> default_target_dir()
      # Relative to the project the user runs mix in (Mix runs a dependency's compile in the
      # dependency's directory, which must not receive it).
      dir -> Path.expand(dir, Path.dirname(Path.expand(Mix.Project.deps_path())))
    end
  end

  @doc "The target directory used when `CARGO_TARGET_DIR` is not set."
  def default_target_dir, do: Path.join(Mix.Project.app_path(), "native/target")

  @doc "The source files whose change makes the library stale."
  def sources(native) do
    [Path.join(native, "Cargo.toml"), Path.join(native, "Cargo.lock")] ++
      Path.wildcard(Path.join(native, "*/{Cargo.toml,build.rs}")) ++
      Path.wildcard(Path.join(native, "*/src/**/*.rs")) ++
      Path.wildcard(Path.join(native, ".cargo/config.toml"))
  end

  @doc """
  Builds the NIF crate (release profile, `features` a comma-separated list or "") and returns
  the path of the built library. `locked: true` refuses to touch `Cargo.lock`: a dependency's
  source tree is not ours to write into.
  """
  def build!(native, features, opts \\ []) do
    cargo = find!()
    target = target_dir()
    Mix.shell().info("Compiling chunker NIF (cargo build --release, into #{target})")

    args =
      ["build", "--release", "--package", "chunker_nif", "--message-format", "short"] ++
        ["--target-dir", target] ++
        if(opts[:locked], do: ["--locked"], else: []) ++
        if(features == "", do: [], else: ["--features", features])

    case System.cmd(cargo, args,
           cd: native,
           into: IO.stream(:stdio, :line),
           stderr_to_stdout: true
         ) do
      {_, 0} -> :ok
      {_, status} -> Mix.raise("cargo build of the chunker NIF failed (exit status #{status})")
    end

    built = Path.join([target, "release", @library <> built_extension()])

    unless File.exists?(built) do
      Mix.raise("cargo reported success but #{built} does not exist")
    end

    built
  end

  @doc """
  Builds the release example `name` of chunker_core (the references and oracles of the
  benchmarks and tests) into the same target directory as the NIF, so that they share the
  compiled crates, and returns its path. Raises with cargo's output when the build fails.
  """
  def example!(native, name) do
    target = target_dir()

    args =
      ~w(build --release --quiet --package chunker_core --example) ++
        [name, "--target-dir", target]

    case System.cmd(find!(), args, cd: native, stderr_to_stdout: true) do
      {_, 0} -> Path.join([target, "release", "examples", name])
      {output, _} -> Mix.raise("building the Rust example #{name} failed:\n#{output}")
    end
  end

  @doc "The target triple rustc builds for by default (its host), from `rustc -vV`."
  def host_triple! do
    rustc = Path.join(Path.dirname(find!()), "rustc")
    rustc = if File.exists?(rustc), do: rustc, else: System.find_executable("rustc") || "rustc"

    case System.cmd(rustc, ["-vV"], stderr_to_stdout: true) do
      {output, 0} ->
        case Regex.run(~r/^host: (\S+)$/m, output) do
          [_, triple] -> triple
          nil -> Mix.raise("`rustc -vV` did not name its host target:\n#{output}")
        end

      {output, _} ->
        Mix.raise("`rustc -vV` failed:\n#{output}")
    end
  end

  defp built_extension do
    case :os.type() do
      {:unix, :darwin} -> ".dylib"
      {:win32, _} -> ".dll"
      _ -> ".so"
    end
  end

  @doc "cargo's path: `CHUNKER_CARGO`, `cargo` on PATH, or rustup's `~/.cargo/bin/cargo`."
  def find! do
    home_cargo = Path.join([System.user_home() || "", ".cargo", "bin", "cargo"])

    cond do
      cargo = System.get_env("CHUNKER_CARGO") -> cargo
      cargo = System.find_executable("cargo") -> cargo
      File.exists?(home_cargo) -> home_cargo
      true -> Mix.raise(missing_message())
    end
  end

  defp missing_message do
    """
    cargo was not found, and building chunker's native code from source needs it.
    Either install the Rust toolchain with rustup (https://rustup.rs):

        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh

    then make sure `cargo` is on PATH (or set CHUNKER_CARGO) and run `mix compile` again;
    or use a release of chunker that ships a precompiled NIF for this machine (its
    checksum-Elixir.Chunker.Native.exs lists the targets) without CHUNKER_BUILD set.
    """
  end
end
