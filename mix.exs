# The NIF compiler must exist before `compilers:` is read, and lib/ is not compiled yet then.
Code.require_file("mix/compile.chunker_native.exs", __DIR__)

defmodule Chunker.MixProject do
  use Mix.Project

  @version "0.1.0"

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
      package: [
        files:
          ~w(lib mix native/Cargo.toml native/Cargo.lock native/chunker_core native/chunker_nif
                  priv/native/.gitignore mix.exs README.md),
        licenses: ["MIT"]
      ]
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
