defmodule Chunker.BuildTest do
  # The pure parts of the install machinery (mix/chunker_native/, loaded by mix.exs): target
  # names, NIF versions, the checksum file. test/install_test.exs runs the whole of it.
  # Not async: one test sets CARGO_TARGET_DIR for the VM.
  use ExUnit.Case, async: false

  alias Chunker.Build.Precompiled

  test "machines are named as rustler_precompiled names them" do
    for {architecture, target} <- [
          {"x86_64-pc-linux-gnu", "x86_64-unknown-linux-gnu"},
          {"aarch64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"},
          {"x86_64-pc-linux-musl", "x86_64-unknown-linux-musl"},
          {"x86_64-alpine-linux-musl", "x86_64-unknown-linux-musl"},
          {"arm-unknown-linux-gnueabihf", "arm-unknown-linux-gnueabihf"},
          {"riscv64-unknown-linux-gnu", "riscv64gc-unknown-linux-gnu"},
          {"aarch64-apple-darwin23.1.0", "aarch64-apple-darwin"},
          {"arm-apple-darwin22.4.0", "aarch64-apple-darwin"},
          {"x86_64-apple-darwin21.6.0", "x86_64-apple-darwin"},
          {"amd64-portbld-freebsd14.0", "x86_64-unknown-freebsd"}
        ] do
      assert Precompiled.target(architecture) == {:ok, target}, architecture
    end

    assert Precompiled.target("win32") == :error
  end

  test "file names follow rustler_precompiled's" do
    assert Precompiled.tarball_name("0.1.0", "2.15", "x86_64-unknown-linux-gnu") ==
             "libchunker_nif-v0.1.0-nif-2.15-x86_64-unknown-linux-gnu.so.tar.gz"

    assert Precompiled.nif_version!(Path.expand("../../native", __DIR__)) == "2.15"
  end

  test "a library for an older NIF minor version loads; a newer one or another major does not" do
    [major, minor] = :erlang.system_info(:nif_version) |> List.to_string() |> String.split(".")

    assert Precompiled.loadable?("#{major}.#{minor}")
    assert Precompiled.loadable?("#{major}.0")
    refute Precompiled.loadable?("#{major}.#{String.to_integer(minor) + 1}")
    refute Precompiled.loadable?("#{String.to_integer(major) + 1}.0")
  end

  @tag :tmp_dir
  test "the checksum file is read as data: written entries come back, code is refused unrun",
       %{tmp_dir: dir} do
    path = Path.join(dir, "checksum-Elixir.Chunker.Native.exs")
    assert Precompiled.read_checksums!(path) == %{}

    entries = %{
      "b.so.tar.gz" => Precompiled.checksum("b"),
      "a.so.tar.gz" => Precompiled.checksum("a")
    }

    Precompiled.write_checksums!(path, entries)
    assert Precompiled.read_checksums!(path) == entries
    assert {^entries, _} = Code.eval_file(path)

    marker = Path.join(dir, "ran")
    File.write!(path, ~s|%{"a" => File.write!(#{inspect(marker)}, "x")}|)

    assert_raise Mix.Error, ~r/is not a map of file name/, fn ->
      Precompiled.read_checksums!(path)
    end

    refute File.exists?(marker)

    File.write!(path, ~s|%{"a" => "sha256:abc"}|)

    assert_raise Mix.Error, ~r/is not a map of file name/, fn ->
      Precompiled.read_checksums!(path)
    end
  end

  test "a relative CARGO_TARGET_DIR is the top-level project's, never a dependency's directory" do
    saved = System.get_env("CARGO_TARGET_DIR")

    try do
      System.put_env("CARGO_TARGET_DIR", "shared/target")
      top = Path.dirname(Path.expand(Mix.Project.deps_path()))
      assert Chunker.Build.Cargo.target_dir() == Path.join(top, "shared/target")

      System.put_env("CARGO_TARGET_DIR", "")
      assert Chunker.Build.Cargo.target_dir() == Chunker.Build.Cargo.default_target_dir()

      assert Chunker.Build.Cargo.default_target_dir() =~
               ~r{/_build/test/lib/chunker/native/target$}
    after
      if saved,
        do: System.put_env("CARGO_TARGET_DIR", saved),
        else: System.delete_env("CARGO_TARGET_DIR")
    end
  end
end
