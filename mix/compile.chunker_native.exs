defmodule Mix.Tasks.Compile.ChunkerNative do
  @moduledoc """
  Builds the chunker NIF from `native/` with cargo (release profile) and copies it to
  `priv/native/libchunker_nif.so`.

  Cargo runs only when a native source (`Cargo.toml`, `Cargo.lock`, `build.rs`, `src/**/*.rs`
  of a workspace member) is newer than the copied library, or when the library was built with
  other cargo features. Set `CHUNKER_CARGO` to use a specific cargo binary.

  In `MIX_ENV=test` the library is built with the `test_hooks` feature, which adds what the
  tests need to see inside the NIF (a counting allocator, `Chunker.Native.allocated_bytes/0`,
  `inject_panic/0`); other environments never have it.
  """
  use Mix.Task.Compiler

  @root Path.expand("..", __DIR__)
  @library "libchunker_nif"

  @impl Mix.Task.Compiler
  def run(_args) do
    target = target_path()
    features = features()

    if Mix.Utils.stale?(native_sources(), [target]) or built_features() != features do
      build!(target, features)
      File.write!(features_path(), features)
      {:ok, []}
    else
      {:noop, []}
    end
  end

  @impl Mix.Task.Compiler
  def clean do
    File.rm(target_path())
    File.rm(features_path())
    :ok
  end

  defp target_path, do: Path.join([@root, "priv", "native", @library <> ".so"])

  # The cargo features of the library, recorded next to it.
  defp features_path, do: Path.join([@root, "priv", "native", @library <> ".features"])
  defp features, do: if(Mix.env() == :test, do: "chunker_nif/test_hooks", else: "")

  defp built_features do
    case File.read(features_path()) do
      {:ok, features} -> features
      {:error, _} -> nil
    end
  end

  defp native_sources do
    native = Path.join(@root, "native")

    [Path.join(native, "Cargo.toml"), Path.join(native, "Cargo.lock")] ++
      Path.wildcard(Path.join(native, "*/{Cargo.toml,build.rs}")) ++
      Path.wildcard(Path.join(native, "*/src/**/*.rs")) ++
      Path.wildcard(Path.join(native, ".cargo/config.toml"))
  end

  defp build!(target, features) do
    cargo = find_cargo()
    native = Path.join(@root, "native")
    Mix.shell().info("Compiling chunker NIF (cargo build --release)")

    args = ["build", "--release", "--package", "chunker_nif", "--message-format", "short"]
    args = if features == "", do: args, else: args ++ ["--features", features]

    case System.cmd(cargo, args,
           cd: native,
           into: IO.stream(:stdio, :line),
           stderr_to_stdout: true
         ) do
      {_, 0} -> :ok
      {_, status} -> Mix.raise("cargo build of the chunker NIF failed (exit status #{status})")
    end

    built = Path.join([native, "target", "release", @library <> built_extension()])

    unless File.exists?(built) do
      Mix.raise("cargo reported success but #{built} does not exist")
    end

    File.mkdir_p!(Path.dirname(target))
    # Copy to a temporary name and rename, so a VM never loads a half-written library.
    tmp = target <> ".tmp"
    File.cp!(built, tmp)
    File.rename!(tmp, target)
  end

  defp built_extension do
    case :os.type() do
      {:unix, :darwin} -> ".dylib"
      {:win32, _} -> ".dll"
      _ -> ".so"
    end
  end

  defp find_cargo do
    home_cargo = Path.join([System.user_home() || "", ".cargo", "bin", "cargo"])

    cond do
      cargo = System.get_env("CHUNKER_CARGO") -> cargo
      cargo = System.find_executable("cargo") -> cargo
      File.exists?(home_cargo) -> home_cargo
      true -> Mix.raise(missing_cargo_message())
    end
  end

  defp missing_cargo_message do
    """
    cargo was not found, and the chunker package needs it to build its native code.
    Install the Rust toolchain with rustup (https://rustup.rs):

        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh

    then make sure `cargo` is on PATH (or set CHUNKER_CARGO) and run `mix compile` again.
    """
  end
end
