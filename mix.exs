# The NIF compiler (and the precompile task, which shares its build code) must exist before
# `compilers:` is read, and lib/ is not compiled yet then.
for file <- ~w(chunker_native/cargo chunker_native/download chunker_native/precompiled
               compile.chunker_native tasks/chunker.precompile) do
  Code.require_file("mix/#{file}.exs", __DIR__)
end

defmodule Chunker.MixProject do
  use Mix.Project

  @version "0.1.0"
  @source_url "https://github.com/chunker-beam/chunker"
  # guides/, in reading order (each is also linked from README.md).
  @guides ~w(getting-started streaming chunk-sizes nix-binary-cache scheduling-and-performance
             telemetry cluster erlang)

  def project do
    [
      app: :chunker,
      version: @version,
      elixir: "~> 1.14",
      description:
        "Content-defined chunking (FastCDC), BLAKE3/SHA-256 chunk hashes, from a Rust NIF",
      compilers: [:chunker_native] ++ Mix.compilers(),
      elixirc_paths: elixirc_paths(Mix.env()),
      erlc_paths: erlc_paths(Mix.env()),
      start_permanent: Mix.env() == :prod,
      deps: [],
      # Only `mix chunker.bench` calls :crypto (random input, SHA-256 reference); the library
      # itself does not need it at run time. :telemetry is called only when it is loaded
      # (Chunker.Telemetry).
      xref: [exclude: [:crypto, :telemetry]],
      # Where the compiler step downloads precompiled NIFs from (the files that the checksum
      # file lists), unless CHUNKER_PRECOMPILED_BASE_URL or config says otherwise.
      precompiled_base_url: "#{@source_url}/releases/download/v#{@version}",
      source_url: @source_url,
      homepage_url: @source_url,
      docs: [
        main: "readme",
        source_ref: "v#{@version}",
        extras:
          ["README.md"] ++
            Enum.map(@guides, &"guides/#{&1}.md") ++ ["CHANGELOG.md", "LICENSE"],
        groups_for_extras: [Guides: Path.wildcard("guides/*.md")]
      ],
      package: package()
    ]
  end

  # The native sources go in whole (chunker_testdata too: a workspace member, and the core's
  # dev-dependency, without which cargo cannot read the workspace); no build output does.
  # The checksum file exists in a release only (RELEASING.md; without it, users build from
  # source), and hex refuses a listed file that is missing.
  defp package do
    checksums = "checksum-Elixir.Chunker.Native.exs"

    [
      files:
        ~w(lib mix native/Cargo.toml native/Cargo.lock native/chunker_core native/chunker_nif
           native/chunker_testdata guides mix.exs .formatter.exs README.md CHANGELOG.md LICENSE) ++
          if(File.exists?(Path.join(__DIR__, checksums)), do: [checksums], else: []),
      licenses: ["MIT"],
      links: %{"GitHub" => @source_url, "Changelog" => "#{@source_url}/blob/main/CHANGELOG.md"}
    ]
  end

  def application do
    [extra_applications: [:logger]]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]

  defp erlc_paths(:test), do: ["src", "test/support"]
  defp erlc_paths(_), do: ["src"]
end
