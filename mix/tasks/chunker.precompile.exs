defmodule Mix.Tasks.Chunker.Precompile do
  @shortdoc "Builds this machine's precompiled NIF tarball and updates the checksum file"

  @moduledoc """
  Makes the precompiled NIF of a release, for the machine it runs on (a release runs it once
  per target, each on a machine of that target; see RELEASING.md):

      mix chunker.precompile --out DIR
      mix chunker.precompile --out DIR --checksum-only

  builds the library from source (`cargo build --release --locked`, without test hooks,
  whatever `MIX_ENV`), packs it as
  `DIR/libchunker_nif-v<version>-nif-<nif version>-<target>.so.tar.gz` (the library inside
  has the same name without `.tar.gz`, as rustler_precompiled's), and writes
  `checksum-Elixir.Chunker.Native.exs` at the project root anew: one `"sha256:<hex>"` entry
  for each tarball of this version in DIR (tarballs built elsewhere and copied there are
  included), and no other. `--checksum-only` skips the build and only writes the checksum
  file from DIR.

  The target is named from the VM (`:erlang.system_info(:system_architecture)`), as the
  compiler step names it on a user's machine, and must be the target rustc builds for.
  """

  use Mix.Task

  alias Chunker.Build.{Cargo, Precompiled}

  @root Path.expand("../..", __DIR__)
  @usage "usage: mix chunker.precompile --out DIR [--checksum-only]"

  @impl Mix.Task
  def run(args) do
    {opts, rest, invalid} =
      OptionParser.parse(args, strict: [out: :string, checksum_only: :boolean])

    out = opts[:out]
    if rest != [] or invalid != [] or out == nil, do: Mix.raise(@usage)

    if Mix.Project.config()[:app] != :chunker do
      Mix.raise(
        "mix chunker.precompile runs in chunker's own checkout, not in a project that depends on it"
      )
    end

    version = Mix.Project.config()[:version]
    File.mkdir_p!(out)
    unless opts[:checksum_only], do: build!(version, out)
    write_checksums!(version, out)
  end

  defp build!(version, out) do
    native = Cargo.native_dir(@root)
    nif_version = Precompiled.nif_version!(native)

    target =
      case Precompiled.host_target() do
        {:ok, target} ->
          target

        :error ->
          Mix.raise("no Rust target is known for #{:erlang.system_info(:system_architecture)}")
      end

    rustc_target = Cargo.host_triple!()

    if rustc_target != target do
      Mix.raise("""
      rustc builds for #{rustc_target}, but this VM names its machine #{target}: a tarball
      named for #{target} would hold a library for another target. Build on a machine of the
      target, with rustc's host matching the VM's.
      """)
    end

    built = Cargo.build!(native, "", locked: true)
    lib_name = Precompiled.lib_name(version, nif_version, target)
    tarball = Path.join(out, lib_name <> ".tar.gz")
    Precompiled.pack!(built, lib_name, tarball)
    Mix.shell().info("wrote #{tarball}")
  end

  defp write_checksums!(version, out) do
    prefix = "libchunker_nif-v#{version}-nif-"

    tarballs =
      out
      |> File.ls!()
      |> Enum.filter(&(String.starts_with?(&1, prefix) and String.ends_with?(&1, ".tar.gz")))

    if tarballs == [], do: Mix.raise("#{out} holds no #{prefix}*.tar.gz")

    path = Precompiled.checksum_path(@root)

    # Exactly DIR's tarballs: an entry whose file was never uploaded would make its target
    # fail to install instead of building from source.
    checksums = Map.new(tarballs, &{&1, Precompiled.checksum(File.read!(Path.join(out, &1)))})

    Precompiled.write_checksums!(path, checksums)
    Mix.shell().info("wrote #{path} (#{map_size(checksums)} targets)")
  end
end
