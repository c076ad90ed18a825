defmodule Chunker.InstallTest do
  # chunker installed as a user installs it: the package tarball (built as `mix hex.build`
  # builds it) unpacked into a fresh directory, used by fresh Mix apps in their own `mix`
  # processes. Slow (one cold cargo build of the NIF), so tagged :install and run by
  # script/test on its own.
  use ExUnit.Case, async: false

  @moduletag :install
  @moduletag timeout: 900_000

  alias Chunker.{FileServer, HexPackage}

  @project Path.expand("..", __DIR__)
  # The same bytes in this VM and in the apps' (a command-line argument holds the expression,
  # not the 1 MB).
  @input ~S"(:rand.seed(:exsss, {1, 2, 3}); :rand.bytes(1_000_000))"

  setup_all do
    root = Path.join(System.tmp_dir!(), "chunker-install-#{System.unique_integer([:positive])}")
    File.mkdir_p!(root)
    on_exit(fn -> File.rm_rf!(root) end)

    tar = HexPackage.build!(@project, root)
    package = HexPackage.unpack!(tar, Path.join(root, "package/chunker"))
    # On a release commit the package carries the release's checksum file: these tests make
    # their own, from this package's sources.
    File.rm(Path.join(package, "checksum-Elixir.Chunker.Native.exs"))
    before = tree(package)

    # A fresh app, building the NIF from source (the package has no checksum file), then
    # using it, then compiling again: recorded here, checked by the tests below.
    source_app = new_app!(root, "source_app", package)
    first = mix(source_app, ["compile"])
    built = %{compile: first, tree_after: tree(package), run: run_chunk(source_app)}
    built = Map.put(built, :again, mix(source_app, ["compile"]))

    # The release step in the package: the tarball and the checksum file. cargo reuses the
    # source app's target directory (same sources, same paths), so it has nothing left to do.
    dist = Path.join(root, "dist")
    target_dir = Path.join(source_app, "_build/dev/lib/chunker/native/target")

    {output, status} =
      mix(package, ["chunker.precompile", "--out", dist], [{"CARGO_TARGET_DIR", target_dir}])

    assert status == 0, output
    [tarball] = File.ls!(dist)

    %{
      root: root,
      package: package,
      before: before,
      source_app: source_app,
      built: built,
      dist: dist,
      tarball: tarball,
      checksums: Path.join(package, "checksum-Elixir.Chunker.Native.exs")
    }
  end

  describe "from source, as a path dependency" do
    test "builds under the app's _build, writes nothing into the package, loads, and cleans",
         ctx do
      {output, status} = ctx.built.compile
      assert status == 0, output
      assert output =~ "Compiling chunker NIF"
      assert ctx.built.tree_after == ctx.before, "the build wrote into the package's source tree"

      build = Path.join(ctx.source_app, "_build/dev/lib/chunker")
      assert File.regular?(Path.join(build, "priv/native/libchunker_nif.so"))
      assert File.dir?(Path.join(build, "native/target/release"))
      refute File.exists?(Path.join(ctx.package, "native/target"))

      assert_chunks_as_here(ctx.built.run, build)

      # Compiling again does nothing. Everything is under the app's build directory (above),
      # so `mix clean --deps` (Mix's own, which deletes it) removes the library and cargo's
      # outputs, as it would not if they were anywhere else.
      {output, 0} = ctx.built.again
      refute output =~ "Compiling chunker NIF"

      {output, 0} = mix(ctx.source_app, ["clean", "--deps"])
      refute File.exists?(Path.join(build, "priv/native/libchunker_nif.so")), output
      refute File.exists?(Path.join(build, "native/target")), output
    end
  end

  describe "precompiled" do
    test "mix chunker.precompile names the tarball for the target and lists its SHA-256", ctx do
      {:ok, target} = Chunker.Build.Precompiled.host_target()
      nif = Chunker.Build.Precompiled.nif_version!(Path.join(@project, "native"))
      assert ctx.tarball == "libchunker_nif-v#{version()}-nif-#{nif}-#{target}.so.tar.gz"
      assert nif == "2.15"

      bytes = File.read!(Path.join(ctx.dist, ctx.tarball))
      digest = Base.encode16(:crypto.hash(:sha256, bytes), case: :lower)
      assert {%{} = entries, _} = Code.eval_file(ctx.checksums)
      assert entries == %{ctx.tarball => "sha256:" <> digest}

      # The tarball holds the library of the same name, and nothing else.
      {:ok, [{name, library}]} = :erl_tar.extract({:binary, bytes}, [:compressed, :memory])
      assert List.to_string(name) == String.trim_trailing(ctx.tarball, ".tar.gz")
      assert <<0x7F, "ELF", _::binary>> = library
    end

    test "a fresh app downloads, verifies and loads it with no cargo anywhere, then reuses the cache",
         ctx do
      {url, server} = FileServer.start_link!(ctx.dist)
      cache = Path.join(ctx.root, "cache-fresh")
      env = no_cargo_env(ctx.root) ++ precompiled_env(url, cache)
      assert {_, status} = System.cmd("sh", ["-c", "command -v cargo"], env: env)
      assert status != 0, "cargo is still reachable"

      app = new_app!(ctx.root, "precompiled_app", ctx.package)
      {output, status} = mix(app, ["compile"], env)
      assert status == 0, output
      assert output =~ "installed the precompiled NIF #{ctx.tarball}"
      refute output =~ "Compiling chunker NIF"
      assert FileServer.requests(server, "/" <> ctx.tarball) == 1
      assert File.regular?(Path.join(cache, ctx.tarball))

      assert_chunks_as_here(run_chunk(app, env), Path.join(app, "_build/dev/lib/chunker"))

      # Another app on the same machine: the cached tarball, verified again, no download.
      other = new_app!(ctx.root, "precompiled_app_2", ctx.package)
      {output, 0} = mix(other, ["compile"], env)
      assert output =~ "installed the precompiled NIF"
      assert FileServer.requests(server, "/" <> ctx.tarball) == 1

      # A library replaced behind Mix's back is installed again, from the cache.
      library = Path.join(other, "_build/dev/lib/chunker/priv/native/libchunker_nif.so")
      installed = File.read!(library)
      File.write!(library, "not a library")
      {output, 0} = mix(other, ["compile"], env)
      assert output =~ "installed the precompiled NIF"
      assert File.read!(library) == installed
      assert FileServer.requests(server, "/" <> ctx.tarball) == 1
    end

    test "as a git dependency of an umbrella child: under the umbrella's _build, the checkout untouched",
         ctx do
      # The released package as a git repository with its checksum file committed.
      repo = Path.join(ctx.root, "chunker.git")
      File.cp_r!(ctx.package, repo)
      File.rm_rf!(Path.join(repo, "_build"))
      git = fn args -> {_, 0} = System.cmd("git", args, cd: repo, stderr_to_stdout: true) end
      git.(["init", "--quiet"])
      git.(["add", "."])

      git.(["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "v"])

      umbrella = Path.join(ctx.root, "umbrella")
      File.mkdir_p!(Path.join(umbrella, "apps"))

      File.write!(Path.join(umbrella, "mix.exs"), """
      defmodule Umbrella.MixProject do
        use Mix.Project
        def project, do: [apps_path: "apps", deps: []]
      end
      """)

      new_app!(Path.join(umbrella, "apps"), "child_app", {:git, repo})
      {url, _server} = FileServer.start_link!(ctx.dist)
      env = no_cargo_env(ctx.root) ++ precompiled_env(url, Path.join(ctx.root, "cache-git"))

      {_, 0} = mix(umbrella, ["deps.get"], env)
      {output, status} = mix(umbrella, ["compile"], env)
      assert status == 0, output
      assert output =~ "installed the precompiled NIF"

      checkout = Path.join(umbrella, "deps/chunker")
      {changes, 0} = System.cmd("git", ["status", "--porcelain", "--ignored"], cd: checkout)
      # .fetch is Mix's own mark of a fresh checkout.
      changes = changes |> String.split("\n", trim: true) |> List.delete("?? .fetch")
      assert changes == [], "the build wrote into the git checkout: #{inspect(changes)}"

      assert_chunks_as_here(
        run_chunk(umbrella, env),
        Path.join(umbrella, "_build/dev/lib/chunker")
      )
    end

    test "a fresh clone of the project with the checksum file compiles and loads without cargo",
         ctx do
      {url, _server} = FileServer.start_link!(ctx.dist)
      env = no_cargo_env(ctx.root) ++ precompiled_env(url, Path.join(ctx.root, "cache-clone"))
      # (A clone has what is committed: run with uncommitted changes, this tests HEAD's code.)
      clone = Path.join(ctx.root, "clone")

      {_, 0} = System.cmd("git", ["clone", "--quiet", @project, clone], stderr_to_stdout: true)

      File.cp!(ctx.checksums, Path.join(clone, "checksum-Elixir.Chunker.Native.exs"))

      {output, status} = mix(clone, ["compile"], env)
      assert status == 0, output
      assert output =~ "installed the precompiled NIF"

      {output, status} =
        mix(
          clone,
          ["run", "-e", "{:ok, [_ | _]} = Chunker.chunk(\"abc\"); IO.puts(:loaded)"],
          env
        )

      assert status == 0 and output =~ "loaded", output
    end

    test "a tampered tarball is refused, named with both digests, and neither installed nor cached",
         ctx do
      served = Path.join(ctx.root, "tampered")
      File.mkdir_p!(served)
      bytes = File.read!(Path.join(ctx.dist, ctx.tarball))
      <<head::binary-size(100), byte, rest::binary>> = bytes
      tampered = <<head::binary, Bitwise.bxor(byte, 1), rest::binary>>
      File.write!(Path.join(served, ctx.tarball), tampered)

      {url, _server} = FileServer.start_link!(served)
      cache = Path.join(ctx.root, "cache-tampered")
      env = no_cargo_env(ctx.root) ++ precompiled_env(url, cache)
      app = new_app!(ctx.root, "tampered_app", ctx.package)
      {output, status} = mix(app, ["compile"], env)

      assert status != 0
      assert output =~ "the precompiled chunker NIF #{ctx.tarball} does not match its checksum"
      assert output =~ "sha256:" <> hex(bytes)
      assert output =~ "sha256:" <> hex(tampered)
      refute File.exists?(Path.join(app, "_build/dev/lib/chunker/priv/native/libchunker_nif.so"))
      refute File.exists?(Path.join(cache, ctx.tarball))
    end

    test "an unreachable URL fails saying the URL and how to build from source", ctx do
      url = FileServer.unreachable_url()
      env = no_cargo_env(ctx.root) ++ precompiled_env(url, Path.join(ctx.root, "cache-none"))
      app = new_app!(ctx.root, "unreachable_app", ctx.package)
      {output, status} = mix(app, ["compile"], env)

      assert status != 0
      assert output =~ "could not download the precompiled chunker NIF"
      assert output =~ "from #{url}/#{ctx.tarball}: cannot connect"
      assert output =~ "CHUNKER_BUILD=1"
    end

    test "CHUNKER_BUILD=1 builds from source even with a checksum entry (here: asks for cargo)",
         ctx do
      {url, server} = FileServer.start_link!(ctx.dist)
      env = no_cargo_env(ctx.root) ++ precompiled_env(url, Path.join(ctx.root, "cache-build"))
      app = new_app!(ctx.root, "forced_app", ctx.package)
      {output, status} = mix(app, ["compile"], [{"CHUNKER_BUILD", "1"} | env])

      assert status != 0
      assert output =~ "cargo was not found"
      assert FileServer.requests(server, "/" <> ctx.tarball) == 0
    end
  end

  # `mix run` in the app: where chunker's priv is, and the chunks of @input.
  defp run_chunk(app, env \\ []) do
    script = """
    {:ok, chunks} = Chunker.chunk(#{@input})
    IO.puts("priv=" <> List.to_string(:code.priv_dir(:chunker)))
    IO.puts("chunks=" <> Base.encode64(:erlang.term_to_binary(Enum.map(chunks, &{&1.offset, &1.length, &1.hash}))))
    """

    mix(app, ["run", "-e", script], env)
  end

  # The app loaded the NIF from its build path and chunked exactly as this VM does.
  defp assert_chunks_as_here({output, status}, build) do
    assert status == 0, output
    assert output =~ "priv=" <> Path.join(build, "priv")

    [_, encoded] = Regex.run(~r/^chunks=(\S+)$/m, output)
    {input, _} = Code.eval_string(@input)
    {:ok, expected} = Chunker.chunk(input)
    expected = Enum.map(expected, &{&1.offset, &1.length, &1.hash})
    assert :erlang.binary_to_term(Base.decode64!(encoded)) == expected
  end

  defp new_app!(root, name, package) do
    # A git dependency here is an umbrella child's, with the paths `mix new --umbrella` gives.
    {dep, umbrella} =
      case package do
        {:git, repo} ->
          {"{:chunker, git: #{inspect(repo)}}",
           ~s(build_path: "../../_build", config_path: "../../config/config.exs", ) <>
             ~s(deps_path: "../../deps", lockfile: "../../mix.lock", )}

        path ->
          {"{:chunker, path: #{inspect(path)}}", ""}
      end

    app = Path.join(root, name)
    File.mkdir_p!(Path.join(app, "lib"))

    File.write!(Path.join(app, "mix.exs"), """
    defmodule #{Macro.camelize(name)}.MixProject do
      use Mix.Project

      def project do
        [app: :#{name}, version: "0.1.0", elixir: "~> 1.14", #{umbrella}deps: [#{dep}]]
      end

      def application, do: [extra_applications: [:logger]]
    end
    """)

    File.write!(Path.join(app, "lib/#{name}.ex"), "defmodule #{Macro.camelize(name)} do\nend\n")
    app
  end

  # `mix` in `dir`, in the dev environment, with none of this run's build settings.
  defp mix(dir, args, env \\ []) do
    clean =
      for name <- ~w(CARGO_TARGET_DIR CHUNKER_BUILD CHUNKER_CARGO CHUNKER_PRECOMPILED_BASE_URL
                     CHUNKER_PRECOMPILED_CACHE MIX_BUILD_PATH MIX_BUILD_ROOT MIX_DEPS_PATH MIX_EXS
                     MIX_LOCKFILE MIX_TARGET CHUNKER_TEST_TELEMETRY),
          do: {name, nil}

    System.cmd("mix", args,
      cd: dir,
      env: clean ++ [{"MIX_ENV", "dev"} | env],
      stderr_to_stdout: true
    )
  end

  # A PATH of one directory linking every command of this PATH but cargo's and rustup's
  # (a distribution's cargo may sit beside erl and git), and a HOME without ~/.cargo.
  defp no_cargo_env(root) do
    bin = Path.join(root, "bin-without-cargo")

    unless File.dir?(bin) do
      File.mkdir_p!(bin)

      for dir <- String.split(System.get_env("PATH"), ":", trim: true),
          {:ok, names} <- [File.ls(dir)],
          name <- names,
          not (name in ~w(cargo rustc rustup rustdoc) or String.starts_with?(name, "cargo-")),
          link = Path.join(bin, name),
          not File.exists?(link) do
        File.ln_s!(Path.join(dir, name), link)
      end
    end

    home = Path.join(root, "home")
    File.mkdir_p!(home)
    [{"PATH", bin}, {"HOME", home}]
  end

  defp precompiled_env(url, cache),
    do: [{"CHUNKER_PRECOMPILED_BASE_URL", url}, {"CHUNKER_PRECOMPILED_CACHE", cache}]

  # Every file under `dir` with its size and modification time.
  defp tree(dir) do
    for path <- Path.wildcard(Path.join(dir, "**"), match_dot: true), into: %{} do
      %File.Stat{size: size, mtime: mtime, type: type} = File.stat!(path)
      {Path.relative_to(path, dir), {type, size, mtime}}
    end
  end

  defp hex(bytes), do: Base.encode16(:crypto.hash(:sha256, bytes), case: :lower)
  defp version, do: Mix.Project.config()[:version]
end
